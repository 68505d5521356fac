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
    exchange_subsidy: EUR per unit exchanged between park companies, paid by the government to
    the receiving company (it makes a unit from a park partner worth that much more to it).
    """

    carbon_tax: float = 0.0
    landfill_tax: float = 0.0
    virgin_tax: float = 0.0
    exchange_subsidy: float = 0.0

    def buy_tax(self, r: Resource) -> float:
        """Tax paid on one unit of `r` bought outside the park."""
        return self.carbon_tax * r.co2_virgin + (self.virgin_tax if r.virgin_material else 0.0)

    def dispose_tax(self, r: Resource) -> float:
        """Tax paid on one unit of `r` disposed of."""
        return self.carbon_tax * r.co2_disposal + (self.landfill_tax if r.landfill else 0.0)

    def buy_price(self, r: Resource) -> float:
        """A buyer's reservation price: the full cost of its outside option."""
        return r.virgin_price + self.buy_tax(r)

    def park_buy_value(self, r: Resource) -> float:
        """What a unit received from a park partner saves a buyer: its outside cost plus the
        exchange subsidy. A buyer's truthful bid."""
        return self.buy_price(r) + self.exchange_subsidy

    def dispose_price(self, r: Resource) -> float:
        """A seller's avoided cost: what disposal would cost it, taxes included."""
        return r.disposal_cost + self.dispose_tax(r)
