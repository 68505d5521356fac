"""Incentive schemes as data: the taxes that shape every company's outside options."""

from __future__ import annotations

from dataclasses import dataclass

from market.resources import Resource


@dataclass(frozen=True, slots=True)
class Policy:
    """Taxes a government sets on the park's outside options.

    carbon_tax: EUR per t CO2 emitted by virgin supply or by disposal.
    landfill_tax: EUR per unit disposed of resources marked `landfill`.
    virgin_tax: EUR per unit bought outside of resources marked `virgin_material`.
    """

    carbon_tax: float = 0.0
    landfill_tax: float = 0.0
    virgin_tax: float = 0.0

    def buy_tax(self, r: Resource) -> float:
        """Tax paid on one unit of `r` bought outside the park."""
        return self.carbon_tax * r.co2_virgin + (self.virgin_tax if r.virgin_material else 0.0)

    def dispose_tax(self, r: Resource) -> float:
        """Tax paid on one unit of `r` disposed of."""
        return self.carbon_tax * r.co2_disposal + (self.landfill_tax if r.landfill else 0.0)

    def buy_price(self, r: Resource) -> float:
        """A buyer's reservation price: the full cost of its outside option."""
        return r.virgin_price + self.buy_tax(r)

    def dispose_price(self, r: Resource) -> float:
        """A seller's avoided cost: what disposal would cost it, taxes included."""
        return r.disposal_cost + self.dispose_tax(r)
