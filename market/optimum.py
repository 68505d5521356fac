"""The optimum a run is measured against, with each unit counted once.

A storable unit the market leaves unsold goes into its owner's store and is offered again the
next day. Measured on each day's truthful orders, the optimum would count it again on every day
it is re-offered: it grows when bidders fail to trade, and a strategic market looks less
efficient than it is (issue 13: call market and ZI-C bidders, Kalundborg's 60-day optimum
EUR 9.0 M against 6.7 M under truthful bidding).

So the optimum is the record of a planner who carries out its own allocation. The planner
starts with the park's (empty) stores, and every step:

1. its stores age as the park's do: batches past their shelf life are gone, a share `decay`
   of the rest is lost (`market.settlement.open_step`);
2. the park's truthful orders are built from this step's production, as the companies build
   theirs, but on the planner's stock instead of the park's: surplus is what was made this
   step plus what the planner kept, never what the market failed to sell;
3. the planner allocates them at the largest total gain (`market.welfare.optimal_allocation`,
   the same transportation problem as before);
4. its stores take what it left unsold and the stocking-up it bought, by the rule that books
   the park (`market.storage.carry`).

A unit the planner sold is gone from its world, so re-offering it in the park adds nothing to
the optimum; a unit the planner could not sell either stays in its store, ages and may be sold
later, counted then. The planner's state depends on production alone, not on what the market
did: on the same production the optimum is the same whatever the bidders' strategies.
Under truthful bidding in a mechanism that reaches the step's optimum (the call market, with a
platform that shows every route) the planner's stores are the park's and the figures are the
per-step optimum of before.

Two planners run side by side. The private one values units at the companies' reservation
prices (taxes avoided and subsidies included): `optimal_gains_eur`, the yardstick of the gains
from trade. The social one values them at real costs, each order's transfers
(`Ledger.transfer_of`) taken out of its price: the largest exchange surplus (outside purchases
and disposals avoided, less transport and losses), the yardstick of `market_efficiency`. They
may allocate differently: a landfill tax makes shipping waste far worth it privately and not
socially.

Limits. The planner is myopic, as each day's optimum was: it values stock at the reservation
the truthful orders give it (a keepable unit at its outside price, the rest at minus its
disposal cost) and does not hold units back for a better buyer tomorrow. A market that leaves
a unit unsold and sells it later to a buyer who values it more, or over a cheaper route, can
beat it by the difference; one whose stock decays or expires before it sells does worse than
the planner by what was lost. So a day's realised gains can exceed that day's optimum (stock
the planner sold yesterday sold today); over a run they stay at or below it within those
differences. Holding costs are paid in the profits, not in gains, as before. The optimum is
conditional on the run's production: where companies decide production on what the market did
(`production.decision = "expected"`), other bidders lead to other production and another
optimum. An intertemporal optimum (a multi-period LP over the run, as `market.sync_plan` plans
a horizon) would value stock by its best later use; it would need the run's future loads and
is left for later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from market.network import Network
from market.transport import Warm
from market.orders import COLUMNS_FROM, Order, OrderList, Side
from market.settlement import Ledger, Plan, PlanList
from market.storage import Store, carry
from market.welfare import optimal_allocation

# A stock level per (company, resource).
Stock = Callable[[int, str], float]
# The truthful orders of the step on a stock (None: the park's own stores).
OrdersFor = Callable[[Stock | None], Sequence[Order]]


@dataclass(frozen=True, slots=True)
class StepOptimum:
    """One step's optimum, each unit counted once."""

    gains_eur: float  # at the companies' reservation prices: the private planner's gain
    surplus_eur: float  # at real costs, transfers left out: the social planner's surplus


class Planner:
    """A planner's stores and what it gains step by step. `social`: value orders at real
    costs (their transfers taken out), else at the companies' reservation prices. `stores`:
    the stores it carries (by default its own, empty, one per store of the park). `warm`: the
    run's memory of its LPs (`market.transport.Warm`), None to solve each afresh."""

    def __init__(self, ledger: Ledger, social: bool = False, stores: dict[tuple[int, str], Store] | None = None,
                 warm: Warm | None = None):
        self.ledger = ledger
        self.social = social
        self.warm = warm
        self.stores: dict[tuple[int, str], Store] = \
            {key: Store(s.capacity) for key, s in ledger.stores.items()} if stores is None else stores
        # The ledger's transfers, the resources with any, and each order's shift (`_at_real_costs`).
        self._shifts: tuple[Mapping[str, Any], set[str], dict[tuple[str, Side, float], float]] | None = None

    def stock(self, company: int, resource: str) -> float:
        store = self.stores.get((company, resource))
        return store.level if store else 0.0

    def step(self, t: int, plans: Sequence[Plan], orders_for: OrdersFor, network: Network,
             memo: dict | None = None) -> float:
        """The planner's gain this step on `plans` (one per company, in company order); `memo`
        as in `optimal_allocation`."""
        self.age(t)
        orders = self.orders(orders_for)
        if self.social:
            orders = self._at_real_costs(orders)
        gain, moved = optimal_allocation(orders, network, memo, self.warm)
        if self.stores:
            self._carry(t, plans, orders, moved)
        return gain

    def age(self, t: int) -> None:
        """The stores age as the park's do (`market.settlement.open_step`)."""
        resources = self.ledger.resources
        for (_, r), store in self.stores.items():
            store.expire(t)
            decay = resources[r].decay
            if decay > 0:
                store.shrink(decay)

    def orders(self, orders_for: OrdersFor) -> Sequence[Order]:
        """The step's truthful orders on the planner's stock."""
        orders = orders_for(None if self._as_park() else self.stock)
        return orders if isinstance(orders, OrderList) else list(orders)  # (an OrderList keeps its columns)

    def _at_real_costs(self, orders: Sequence[Order]) -> Sequence[Order]:
        """The orders with their transfers (taxes avoided, subsidies) taken out of their prices:
        `orders` itself where no order has any."""
        # A resource whose bid, keep and dispose transfers (`Ledger.transfer_of`) each sum to
        # zero shifts none of its orders. Found again, and the shifts by (resource, side, price)
        # forgotten, when the ledger's transfers are new (`Ledger.reprice` replaces them).
        transfers = self.ledger.transfers
        if self._shifts is None or self._shifts[0] is not transfers:
            self._shifts = (transfers, {r for r, parts in transfers.items() if any(float(p.sum()) != 0.0 for p in parts)},
                            {})
        _, shifted, shift = self._shifts
        if not shifted:
            return orders
        out = []
        changed = False
        for o in orders:
            if o.resource not in shifted:
                out.append(o)
                continue
            key = (o.resource, o.side, o.price)
            d = shift.get(key)
            if d is None:
                d = shift[key] = float(self.ledger.transfer_of(o).sum())
            if d == 0.0:
                out.append(o)
            else:
                out.append(Order(o.owner, o.resource, o.side, o.quantity, o.price - d, o.ref))
                changed = True
        return out if changed else orders

    def _as_park(self) -> bool:
        """Whether the planner holds what the park holds (then the park's orders are its own)."""
        park = self.ledger.stores
        return all(abs(s.level - park[key].level) <= 1e-9 * max(1.0, s.capacity) for key, s in self.stores.items())

    def _carry(self, t: int, plans: Sequence[Plan], orders: Sequence[Order], moved: np.ndarray) -> None:
        shipped: dict[tuple[int, str], float] = defaultdict(float)
        got: dict[tuple[int, str], float] = defaultdict(float)
        idx = np.flatnonzero(moved > 0)
        if isinstance(orders, OrderList) and len(orders) >= COLUMNS_FROM:  # the same, from the columns
            cols = orders.columns
            resource = cols.resource
            for k, c, is_ask, x in zip(idx.tolist(), cols.owner[idx].tolist(), cols.is_ask[idx].tolist(),
                                       moved[idx].tolist()):
                key = (c, resource[k])
                if key in self.stores:
                    (shipped if is_ask else got)[key] += x
        else:
            for k in idx.tolist():
                o = orders[k]
                key = (o.owner, o.resource)
                if key in self.stores:
                    (shipped if o.side is Side.SELL else got)[key] += float(moved[k])
        expires = {r: t + res.shelf_life + 1 for r, res in self.ledger.resources.items()}
        if isinstance(plans, PlanList):  # a large park's, on its columns
            made_at, need_at = plans.columns.amounts_at(list(self.stores))
        else:
            made_at = [plans[c].byproducts.get(r, 0.0) for c, r in self.stores]
            need_at = [plans[c].inputs.get(r, 0.0) for c, r in self.stores]
        for (key, store), made, need in zip(self.stores.items(), made_at, need_at):
            r = key[1]
            out, received = shipped.get(key, 0.0), got.get(key, 0.0)
            if made or need or out or received:
                carry(store, made, need, out, received, expires[r])


class Optimum:
    """The private and the social planner of a park (see the module's docstring).

    Both start from the same (empty) stores, and as long as they allocate alike they carry the
    same stores: they share them (`social.stores is private.stores`), aged, offered and carried
    once a step. The step they first allocate differently the social planner takes a copy of
    its own and each goes on alone. `warm`: the run's memory of its LPs, shared with its market
    (`market.transport.Warm`; the run's own either way), None to solve each afresh."""

    def __init__(self, ledger: Ledger, warm: Warm | None = None):
        self.private = Planner(ledger, warm=warm)
        self.social = Planner(ledger, social=True, stores=self.private.stores, warm=warm)

    def step(self, t: int, plans: Sequence[Plan], orders_for: OrdersFor, network: Network) -> StepOptimum:
        # A resource without taxes or subsidies in its prices is the same problem for both
        # planners as long as they hold the same stock of it: solved once.
        memo: dict = {}
        private, social = self.private, self.social
        if social.stores is not private.stores:
            return StepOptimum(private.step(t, plans, orders_for, network, memo),
                               social.step(t, plans, orders_for, network, memo))
        # One set of stores: the same orders for both, and the social planner's differ only in
        # the prices of those with transfers.
        private.age(t)
        orders = private.orders(orders_for)
        real = social._at_real_costs(orders)
        warm = private.warm
        gain, moved = optimal_allocation(orders, network, memo, warm)
        surplus, moved_real = (gain, moved) if real is orders else optimal_allocation(real, network, memo, warm)
        if private.stores:
            if moved_real is not moved and not np.array_equal(moved_real, moved):
                social.stores = {key: s.copy() for key, s in private.stores.items()}
                social._carry(t, plans, real, moved_real)
            private._carry(t, plans, orders, moved)
        return StepOptimum(gain, surplus)
