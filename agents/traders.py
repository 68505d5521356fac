"""The park's companies as the `Traders` a mechanism talks to: re-quotes, market events and
negotiators go to each order's owner, and nothing else of the company is exposed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from agents.strategies import Quote
from market.bilateral import Deal
from market.mechanism import Negotiator
from market.orders import MarketEvent, Order, OrderList, Side
from market.settlement import Ledger

if TYPE_CHECKING:
    from agents.company import Company


def order_ranks(orders: Sequence[Order]) -> dict[int, int]:
    """For each order's `ref`, its rank among its owner's orders of the same resource and side,
    best first (a seller's lowest reservation, a buyer's highest), as a trader's units are
    ranked in a step schedule (Smith 1962). Ties keep the orders' sequence."""
    groups: dict[tuple[int, str, Side], list[Order]] = defaultdict(list)
    for o in orders:
        groups[(o.owner, o.resource, o.side)].append(o)
    ranks = {}
    for (_, _, side), group in groups.items():
        group.sort(key=lambda o: o.price if side is Side.SELL else -o.price)
        for k, o in enumerate(group):
            ranks[o.ref] = k
    return ranks


class ParkTraders:
    """Routes a mechanism's questions to the companies behind this step's orders.

    `true_orders` are the companies' truthful orders of the step; a posted order is matched to
    its true order by the `ref` the model gave it (found by the property tests: matching by
    owner, resource and side re-quoted the part a company could keep at its disposal price).

    `post` prices the orders. A company whose strategy keeps a state per unit ("per_unit", as
    ZIP after Cliff 1997) posts each true order as `units` equal orders, unit k of the order
    ranked r among its orders of the resource and side (`order_ranks`) being unit r * units + k
    of its quotes; each unit has its own ref and hears every event of its resource with its
    own quote. A park order is a quantity of tonnes or MWh at one reservation: cut into units,
    the part that sells keeps its margin while the unsold rest learns to ask less, as a lab
    trader's units do, instead of one margin the unsold rest drags to 0. The cost: `units`
    orders and listeners where there was one, so in a continuous auction, where every unit
    shouts and hears every shout, about units^2 times the learning work (market.units_per_order,
    2 by default). Other event learners hear each event once per resource and side, however
    many orders they have.

    Units are never spent here (`Quote.held` stays true): the lab's rule that a unit traded
    this period only raises its margin (Cliff's inactive traders) needs a long period to bring
    the raised margins down again, as a lab day of up to 600 arrival rounds does. A park step
    is one CDA session of `market.rounds` (10) rounds, or one sealed-bid clearing, and with the
    rule the units that traded started each step too greedy to trade again: on synthetic:200
    (CDA, all ZIP, 10 steps) efficiency fell to 89.0 % against 95.4 % without it (ZI-C 94.7 %).
    """

    def __init__(self, companies: Sequence["Company"], ledger: Ledger, true_orders: Sequence[Order],
                 rng: np.random.Generator, units: int = 2):
        if units < 1:
            raise ValueError(f"ParkTraders: units={units} must be at least 1")
        self._units_per_order = units
        self._companies = companies
        self._ledger = ledger
        self._rng = rng
        # (An `OrderList` is kept as it is: its orders are made only if read.)
        self._orders = true_orders if isinstance(true_orders, OrderList) else list(true_orders)
        # The step's bilateral negotiations, as the mechanism reports them (`negotiated`).
        self.deals: list[Deal] = []
        # Each true order by its number, and each company's by resource and side (its cheapest
        # ask): made when first asked for (`_index`). A step of truthful companies in a sealed-bid
        # market never asks, and at 1,000 companies making them cost 1 % of a year.
        self._true_index: tuple[dict[tuple[int, str, Side], Order], dict[int, Order]] | None = None
        # Posted units of per-unit companies: ref -> (true order, unit).
        self._units: dict[int, tuple[Order, int]] = {}
        # Who hears an event of a resource, with which quote: in `_listeners` every event
        # learner; those that learn nothing from an untaken shout of the other side
        # ("rival_shouts_only") also by side in `_rivals`, the others in `_others`, so an
        # untaken shout goes to the listeners it can teach. (Quoted now, on the ledger as it is.)
        self._listeners: dict[str, list[tuple["Company", Quote]]] = defaultdict(list)
        self._rivals: dict[tuple[str, Side], list[tuple["Company", Quote]]] = defaultdict(list)
        self._others: dict[str, list[tuple["Company", Quote]]] = defaultdict(list)
        if any(_listens(c) for c in companies):
            for o in self._index()[0].values():
                company = companies[o.owner]
                if _listens(company):
                    self._listen(company, company.quote(o, ledger))

    def _index(self) -> tuple[dict[tuple[int, str, Side], Order], dict[int, Order]]:
        """The true orders by (owner, resource, side), a company's cheapest ask of a resource
        where it has several, and by their numbers."""
        if self._true_index is None:
            true: dict[tuple[int, str, Side], Order] = {}
            for o in self._orders:
                key = (o.owner, o.resource, o.side)
                if key not in true or (o.side is Side.SELL and o.price < true[key].price):
                    true[key] = o
            self._true_index = (true, {o.ref: o for o in self._orders if o.ref >= 0})
        return self._true_index

    def _listen(self, company: "Company", q: Quote) -> None:
        self._listeners[q.resource].append((company, q))
        if company.strategy.traits.get("rival_shouts_only"):
            self._rivals[(q.resource, q.side)].append((company, q))
        else:
            self._others[q.resource].append((company, q))

    def post(self, rng: np.random.Generator) -> list[Order]:
        """The orders the companies post for their true orders, priced by their strategies."""
        out = []
        ranks = order_ranks([o for o in self._orders if o.ref >= 0])
        fresh = max((o.ref for o in self._orders), default=-1) + 1
        for true in self._orders:
            company = self._companies[true.owner]
            if not company.strategy.traits.get("per_unit") or true.ref < 0:
                out.append(company.price(true, self._ledger, rng))
                continue
            n = self._units_per_order
            size = true.quantity / n
            first = ranks[true.ref] * n
            listens = company.strategy.traits.get("memory") == "event"
            for k in range(n):
                unit = replace(true, quantity=size, ref=fresh)
                self._units[fresh] = (true, first + k)
                q = company.quote(true, self._ledger, first + k)
                if listens:
                    self._listen(company, q)
                out.append(replace(unit, price=company.shade(q, rng)))
                fresh += 1
        return out

    def true_of(self, order: Order) -> Order:
        """The true order behind a posted one."""
        unit = self._units.get(order.ref)
        if unit is not None:
            return unit[0]
        true, by_ref = self._index()
        mine = by_ref.get(order.ref)
        if mine is not None and mine.owner == order.owner:
            return mine
        return true.get((order.owner, order.resource, order.side), order)

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        company = self._companies[order.owner]
        unit = self._units.get(order.ref)
        if unit is not None:
            return company.shade(company.quote(unit[0], self._ledger, unit[1]), rng)
        return company.shade(company.quote(self.true_of(order), self._ledger), rng)

    def observe(self, event: MarketEvent) -> None:
        rng = self._rng
        if event.accepted:
            listeners = self._listeners.get(event.resource, ())
        else:
            listeners = self._others.get(event.resource, []) + self._rivals.get((event.resource, event.side), [])
        for company, q in listeners:
            company.strategy.on_market(q, event, rng)

    def price_range(self, resource: str) -> tuple[float, float]:
        """The resource's public price range, as every strategy's quote has it: minus the
        disposal price (a seller's worst outside option) to the park buy value (a buyer's)."""
        return -self._ledger.dispose_price(resource), self._ledger.park_buy_value(resource)

    def negotiator(self, order: Order, reservation: float, floor: float, ceiling: float) -> Negotiator:
        return self._companies[order.owner].tactic.negotiator(reservation, floor, ceiling, order.side)

    def negotiated(self, deal: Deal) -> None:
        """A bilateral negotiation ended (`market.bilateral.Deal`): kept for the step's tally."""
        self.deals.append(deal)


@dataclass(frozen=True, slots=True)
class PairTally:
    """Bilateral negotiations between buyers of one tactic and sellers of another, summed over
    a run: how many, how many agreed, the gains at the pair's limits they could have realised
    (`possible`), realised (`realised`) and the sellers' part of what was realised (`sellers`).
    Faratin, Sierra & Jennings (1998): the tougher tactic keeps more of the gain."""

    negotiations: int = 0
    agreed: int = 0
    possible: float = 0.0
    realised: float = 0.0
    sellers: float = 0.0

    def add(self, deal: Deal) -> PairTally:
        gain = deal.gain if deal.agreed else 0.0
        return PairTally(self.negotiations + 1, self.agreed + deal.agreed, self.possible + deal.gain,
                         self.realised + gain, self.sellers + deal.seller_gain)

    @property
    def agreement_rate(self) -> float:
        return self.agreed / self.negotiations if self.negotiations else float("nan")

    @property
    def seller_share(self) -> float:
        """The sellers' share of the realised gains (nan with none)."""
        return self.sellers / self.realised if self.realised > 0 else float("nan")


def tally_deals(tally: dict[tuple[str, str], PairTally], deals: Sequence[Deal], companies: Sequence["Company"]) -> None:
    """Adds `deals` to `tally`, keyed by (buyer's tactic, seller's tactic) names."""
    for d in deals:
        key = (companies[d.buyer].tactic.name, companies[d.seller].tactic.name)
        tally[key] = tally.get(key, PairTally()).add(d)


def _listens(company: "Company") -> bool:
    """Whether the company's strategy hears the market's events with one quote per true order
    (not per unit): `ParkTraders` quotes it at the start of a step."""
    traits = company.strategy.traits
    return traits.get("memory") == "event" and not traits.get("per_unit")
