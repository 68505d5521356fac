"""Sale prices that answer back: a product's price passes through a share of the change in its
unit cost.

A park's products are sold on markets outside the park, where the price is set by the sector,
not by one plant. When a carbon tax, a fuel price or an input price moves every producer's
cost, the sector's price moves by a share of that change: the pass-through rate (Weyl &
Fabinger 2013, "Pass-through as an economic tool", Journal of Political Economy 121(3), for
the theory: 1 under perfect competition with constant costs, below 1 with market power or
competitors who do not pay the cost). Empirical rates differ by sector; the defaults below come
from the studies named beside each.

The cost that moves the price is the *outside* unit cost: every input bought outside and every
by-product disposed of outside, taxes included. That is what a competitor outside the park
pays, so a plant that saves on inputs through the park keeps the saving as margin. The change
is measured against the scenario's own world (its prices, with their paths, under its own
policy): with the scenario's own policy and no price paths, every price is the file's.

    price(t) = base(t) + rate x scale x (outside unit cost(t) - reference unit cost(t))

`base(t)` is the process's `sale_price`, or its product's price path (`market.paths`) when the
scenario has one; then the reference cost also moves with the input price paths, since the
product's path already carries them, and only the run's policy change is passed through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agents.scenario import CompanySpec, ProcessSpec
from market.policy import Policy
from market.resources import Resource

# Sector -> (pass-through rate of a unit-cost change, its source). Keys are lower case.
_POWER = (0.8, "Fabra & Reguant (2014), American Economic Review 104(9): emission costs almost fully passed "
               "through to Spanish wholesale electricity prices, above 80 % on average; Sijm, Neuhoff & Chen (2006), "
               "Climate Policy 6(1): 60-100 % in Germany and the Netherlands")
_REFINING = (0.9, "CE Delft & Oeko-Institut (2015), Ex-post investigation of cost pass-through in the EU ETS, "
                  "for the European Commission: 80-100 % for refined oil products")
_STEEL = (0.7, "CE Delft & Oeko-Institut (2015): 55-85 % for iron and steel products")
_CEMENT = (0.3, "CE Delft & Oeko-Institut (2015): 20-40 % for cement")
_BUILDING = (0.3, "assumption: as cement (CE Delft & Oeko-Institut 2015, 20-40 %): regional building materials "
                  "that compete with imports")
_CHEMICALS = (0.8, "CE Delft & Oeko-Institut (2015): high rates for fertilisers and organic basic chemicals, "
                   "less conclusive than for refineries")
_MANUFACTURING = (0.7, "Ganapati, Shapiro & Walker (2020), American Economic Journal: Applied Economics 12(2): "
                       "about 70 % of energy-driven cost changes passed through in US manufacturing")
_PHARMA = (0.0, "assumption: priced on value and regulation; energy and carbon are a negligible share of cost")
_UTILITY = (1.0, "assumption: regulated tariffs at cost (Danish Heat Supply Act's non-profit rule for district "
                 "heat; water and wastewater tariffs at cost)")
_COMMODITY = (0.0, "assumption: farm and fish products priced on world markets, outside the EU ETS: "
                   "a park's cost change is not passed on")

SECTOR_PASS_THROUGH: dict[str, tuple[float, str]] = {
    "energy": _POWER, "power": _POWER, "electricity": _POWER,
    "refining": _REFINING,
    "steel": _STEEL,
    "cement": _CEMENT,
    "construction materials": _BUILDING, "construction": _BUILDING, "building materials": _BUILDING,
    "chemicals": _CHEMICALS, "petrochemicals": _CHEMICALS, "fertiliser": _CHEMICALS, "fertilizer": _CHEMICALS,
    "plastics": _CHEMICALS,
    "paper": _MANUFACTURING, "wood": _MANUFACTURING, "food": _MANUFACTURING, "waste": _MANUFACTURING,
    "manufacturing": _MANUFACTURING, "glass": _MANUFACTURING,
    "pharma": _PHARMA, "pharmaceuticals": _PHARMA,
    "utility": _UTILITY,
    "agriculture": _COMMODITY, "aquaculture": _COMMODITY, "horticulture": _COMMODITY,
}
# A sector the table does not name: the cross-industry estimate.
DEFAULT_PASS_THROUGH = _MANUFACTURING


def sector_rate(sector: str) -> tuple[float, str]:
    """The default pass-through rate of a sector and its source."""
    return SECTOR_PASS_THROUGH.get(sector.strip().lower(), DEFAULT_PASS_THROUGH)


def process_rate(company: CompanySpec, process: ProcessSpec) -> float:
    """A process's own `pass_through`, else its company's sector default."""
    return process.pass_through if process.pass_through is not None else sector_rate(company.sector)[0]


class ProductPrices:
    """The sale price of every process of the park (in the model's order: companies, then their
    processes), from its base price, its pass-through rate and the change of its outside unit
    cost. `scale` multiplies every rate (`production.pass_through`; 0 keeps prices fixed).

    A product has one market: every process making it moves with the cost and rate of the
    product's reference process, the first one in the park that makes it from the start (not a
    technology option). A plant that switches to a cleaner process then sells at the market's
    price, not at one of its own."""

    def __init__(self, companies: Sequence[CompanySpec], resources: Mapping[str, Resource], scale: float = 1.0):
        procs = [(c, p) for c in companies for p in c.processes]
        names = sorted(resources)
        col = {r: k for k, r in enumerate(names)}
        self.resources = names
        self.products = [p.product for _, p in procs]
        self.base = np.array([p.sale_price for _, p in procs], dtype=float)
        self.rate = np.array([process_rate(c, p) for c, p in procs], dtype=float) * float(scale)
        self.inputs = np.zeros((len(procs), len(names)))
        self.byproducts = np.zeros((len(procs), len(names)))
        for k, (_, p) in enumerate(procs):
            for r, q in p.inputs.items():
                self.inputs[k, col[r]] = q
            for r, q in p.byproducts.items():
                self.byproducts[k, col[r]] = q
        ref: dict[str, int] = {}
        for k, (_, p) in enumerate(procs):
            if not p.option:
                ref.setdefault(p.product, k)
        for k, (_, p) in enumerate(procs):
            ref.setdefault(p.product, k)
        self.reference = np.array([ref[p.product] for _, p in procs], dtype=np.int64)
        self.rate = self.rate[self.reference] if len(procs) else self.rate

    def unit_cost(self, resources: Mapping[str, Resource], policy: Policy) -> np.ndarray:
        """Each process's outside unit cost: inputs bought and by-products disposed of outside,
        taxes included."""
        buy = np.array([policy.buy_price(resources[r]) for r in self.resources])
        dispose = np.array([policy.dispose_price(resources[r]) for r in self.resources])
        return self.inputs @ buy + self.byproducts @ dispose

    def best_cost(self, resources: Mapping[str, Resource], policy: Policy) -> np.ndarray:
        """Each process's unit cost on the park's best terms: inputs at the lowest price a
        seller would take (minus its disposal cost), by-products at their buyer's outside price
        plus the exchange subsidy. A process that loses money even so never runs."""
        buy = np.array([policy.park_buy_value(resources[r]) for r in self.resources])
        dispose = np.array([policy.dispose_price(resources[r]) for r in self.resources])
        return -(self.inputs @ dispose) - self.byproducts @ buy

    def prices(self, base: np.ndarray, resources: Mapping[str, Resource], policy: Policy,
               reference: np.ndarray) -> np.ndarray:
        """Sale prices under `resources` and `policy`, from `base` prices and the `reference`
        unit costs (`unit_cost` in the scenario's own world)."""
        if not self.rate.any():
            return base.copy()
        change = self.unit_cost(resources, policy) - reference
        return base + self.rate * change[self.reference]
