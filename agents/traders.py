"""The park's companies as the `Traders` a mechanism talks to: re-quotes, market events and
negotiators go to each order's owner, and nothing else of the company is exposed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from market.mechanism import Negotiator
from market.orders import MarketEvent, Order, Side
from market.settlement import Ledger

if TYPE_CHECKING:
    from agents.company import Company


class ParkTraders:
    """Routes a mechanism's questions to the companies behind this step's orders.

    `true_orders` are the companies' truthful orders of the step; a posted order is matched to
    its true order by the `ref` the model gave it (found by the property tests: matching by
    owner, resource and side re-quoted the part a company could keep at its disposal price)."""

    def __init__(self, companies: Sequence["Company"], ledger: Ledger, true_orders: Sequence[Order],
                 rng: np.random.Generator):
        self._companies = companies
        self._ledger = ledger
        self._rng = rng
        self._true: dict[tuple[int, str, Side], Order] = {}
        self._by_ref: dict[int, Order] = {o.ref: o for o in true_orders if o.ref >= 0}
        for o in true_orders:
            key = (o.owner, o.resource, o.side)
            if key not in self._true or (o.side is Side.SELL and o.price < self._true[key].price):
                self._true[key] = o
        # Each company hears an event once per resource and side, however many orders it has.
        self._by_resource: dict[str, list[Order]] = defaultdict(list)
        for o in self._true.values():
            self._by_resource[o.resource].append(o)

    def _true_of(self, order: Order) -> Order:
        mine = self._by_ref.get(order.ref)
        if mine is not None and mine.owner == order.owner:
            return mine
        return self._true.get((order.owner, order.resource, order.side), order)

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        true = self._true_of(order)
        company = self._companies[order.owner]
        return company.shade(company.quote(true, self._ledger), rng)

    def observe(self, event: MarketEvent) -> None:
        for o in self._by_resource.get(event.resource, ()):
            company = self._companies[o.owner]
            company.strategy.on_market(company.quote(o, self._ledger), event, self._rng)

    def negotiator(self, order: Order, reservation: float, floor: float, ceiling: float) -> Negotiator:
        return self._companies[order.owner].tactic.negotiator(reservation, floor, ceiling, order.side)
