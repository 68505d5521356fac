"""Incentive schemes as data: the taxes that shape every company's outside options."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from market.paths import YearPath
from market.resources import Resource


class Coordination(str, Enum):
    """Who plans production, storage and exchanges: each company for itself at the prices it
    expects (`agents.production`), or a park operator's synchronised plan that the companies
    follow, with side payments so that none is worse off than under its own plans
    (`agents.synchronised`)."""

    DECENTRALISED = "decentralised"
    SYNCHRONISED = "synchronised"


class GainSharing(str, Enum):
    """How the park operator shares the gains of exchange among companies (`market.sharing`):
    as the market split them, or pooled and re-split by Shapley value or Nash bargaining."""

    MARKET = "market"
    SHAPLEY = "shapley"
    NASH = "nash"


# The transfers in a reservation price, each reported apart (`market.welfare.exchange_values`).
TRANSFER_PARTS = ("carbon_tax", "landfill_tax", "virgin_tax", "exchange_subsidy")


@dataclass(frozen=True, slots=True)
class Policy:
    """Taxes a government sets on the park's outside options.

    carbon_tax: EUR per t CO2 emitted by virgin supply or by disposal.
    landfill_tax: EUR per unit disposed of resources marked `landfill`.
    virgin_tax: EUR per unit bought outside of resources marked `virgin_material`.
    exchange_subsidy: EUR per unit exchanged between park companies, paid by the government to
    the receiving company (it makes a unit from a park partner worth that much more to it).
    investment_subsidy: share (0-1) of a new pipeline's investment the government pays.
    information: information-sharing level, 0-1. At 1 a platform shows every surplus and need,
    so every company knows every other; at 0 a company knows only the partners it is linked to
    and finds others by searching, slowly and at a cost (`agents.cooperation` settings
    `search_rate`, `search_cost_eur`); in between, a search finds a partner with probability
    information + (1 - information) * search_rate and costs (1 - information) * search_cost_eur.
    shared_vision: the mean weight a company puts on the park's gains against its own (0-1) when
    it judges a contract; shared_vision_spread: weights start uniform in mean +- spread (clipped
    to 0-1); shared_vision_imitation: whether weights spread by imitation of more successful
    peers; shared_vision_co2_value: EUR per t CO2 avoided that the programme adds to the park's
    gains on top of the carbon tax already in prices.
    gain_sharing: how the park operator shares the gains of exchange (`GainSharing`).
    coordination: who plans production and exchanges (`Coordination`).
    carbon_tax_path: the carbon price by calendar year (`market.paths.YearPath`), in place of
    the constant `carbon_tax` when set (a scenario's `[policy] carbon_tax_path`); setting
    `policy.carbon_tax` for a run replaces the path with that constant.
    social_cost_of_carbon: EUR per t CO2 at which a run values the CO2 it avoids
    (`co2_value_eur`), apart from any carbon tax: a valuation, not an instrument; it changes no
    decision. Default 100: the central climate-change avoidance cost for 2016-2030 of the
    European Commission's Handbook on the external costs of transport (van Essen et al. 2019,
    CE Delft for DG MOVE).
    landfill_tax_path: the landfill tax by calendar year, in place of the constant
    `landfill_tax`, the same way (a scenario's or history's `[policy] landfill_tax_path`).
    """

    carbon_tax: float = 0.0
    landfill_tax: float = 0.0
    virgin_tax: float = 0.0
    exchange_subsidy: float = 0.0
    investment_subsidy: float = 0.0
    information: float = 1.0
    shared_vision: float = 0.0
    shared_vision_spread: float = 0.0
    shared_vision_imitation: bool = False
    shared_vision_co2_value: float = 0.0
    gain_sharing: GainSharing = GainSharing.MARKET
    coordination: Coordination = Coordination.DECENTRALISED
    social_cost_of_carbon: float = 100.0
    carbon_tax_path: YearPath | None = None
    landfill_tax_path: YearPath | None = None

    def in_year(self, year: int | None) -> "Policy":
        """This policy with the carbon price and landfill tax of `year` (itself when it has no
        path)."""
        if year is None:
            return self
        out = self
        if self.carbon_tax_path is not None:
            out = replace(out, carbon_tax=self.carbon_tax_path.at(year))
        if self.landfill_tax_path is not None:
            out = replace(out, landfill_tax=self.landfill_tax_path.at(year))
        return out

    def buy_tax(self, r: Resource) -> float:
        """Tax paid on one unit of `r` bought outside the park."""
        return self.carbon_tax * r.co2_virgin + (self.virgin_tax if r.virgin_material else 0.0)

    def dispose_tax(self, r: Resource) -> float:
        """Tax paid on one unit of `r` disposed of."""
        return self.carbon_tax * r.co2_disposal + (self.landfill_tax if r.landfill else 0.0)

    def transfer_parts(self, r: Resource) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        """The parts of `r`'s reservation prices that are transfers, not real costs, in the
        order of `TRANSFER_PARTS`: per unit a buyer receives from the park (its outside purchase's
        taxes avoided and the exchange subsidy), per unit a seller keeps for its own use (the
        taxes of the purchase it saves), and per unit a seller would have disposed of (minus the
        disposal taxes it avoids by shipping it)."""
        carbon_in = self.carbon_tax * r.co2_virgin
        virgin = self.virgin_tax if r.virgin_material else 0.0
        bid = (carbon_in, 0.0, virgin, self.exchange_subsidy)
        keep = (carbon_in, 0.0, virgin, 0.0)
        dispose = (-self.carbon_tax * r.co2_disposal, -(self.landfill_tax if r.landfill else 0.0), 0.0, 0.0)
        return bid, keep, dispose

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
