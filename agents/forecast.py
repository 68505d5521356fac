"""Planning ahead: a company that sees a supplier's stop coming prepares for it.

What a company can see of its partners' plans depends on the information-sharing level: a
platform (`policy.information` = 1) shows each partner's planned maintenance and announced
outages (`announced`) `operations.forecast_steps` ahead; at level x a company sees x of that horizon; at 0 it
sees nothing coming. Unplanned failures cannot be foreseen. A company that sees a supplier's
stop coming
- orders the outside substitute in time: its order for the day the supplier is down counts on
  nothing from that supplier (`agents.cascade.Cascade.record`), so the substitute arrives when
  it is needed rather than a lead time later;
- fills its store, if it keeps one of that input, from whatever surplus the park has,
  bidding the price it would otherwise pay outside (`stock_up`, which otherwise keeps such
  stores full as a safety stock from surplus nobody else values more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from market.orders import Side

if TYPE_CHECKING:
    from agents.model import ParkModel


def planned_stops(model: "ParkModel", t: int, horizon: int) -> set[int]:
    """Companies with a planned stop (maintenance due, or an announced outage) starting in
    the next `horizon` steps."""
    if horizon < 1:
        return set()
    rel = model.reliability
    out = set()
    due = (rel.every > 0) & (rel.next_due >= t) & (rel.next_due < t + horizon)
    for p in np.flatnonzero(due).tolist():
        out.add(int(rel.company[p]))
    for p in np.flatnonzero(rel.scheduled >= 0).tolist():
        if rel.scheduled[p] < t + horizon:
            out.add(int(rel.company[p]))
    for e, c in model.outages():
        if e.announced and t <= e.at < t + horizon:
            out.add(c)
    return out


def foresight(model: "ParkModel", t: int):
    """A function telling whether company j will be stopped at step s, as far as a company can
    see at step t: planned maintenance windows and announced outages within the horizon. None
    when nothing can be seen: no horizon, or no stop to see (no process has a calendar of stops
    or is stopped now, and the park has no outages), so that it would always say False."""
    horizon = int(model.policy.information * model.operations.forecast_steps)
    rel = model.reliability
    if horizon <= 0 or not (model.events or rel.calendar or rel.kind.any()):
        return None

    def stopped(j: int, s: int) -> bool:
        if s - t >= horizon or s < t:
            return False
        lo, hi = rel.first_of[j], (rel.first_of[j + 1] if j + 1 < len(rel.first_of) else rel.n)
        for p in range(lo, hi):
            start = rel.scheduled[p] if rel.scheduled[p] >= 0 else rel.next_due[p]
            if rel.every[p] > 0 and start >= 0 and start <= s < start + max(1, rel.days[p]):
                return True
            if rel.kind[p] == 2 and s < rel.until[p]:  # a planned stop under way
                return True
        for e, c in model.outages():
            cap = e.capacity(s) if c == j and e.announced else None
            if cap is not None and cap < 1.0:
                return True
        return False

    return stopped


def stock_up(model: "ParkModel", t: int, stock: Callable[[int, str], float] | None = None
             ) -> list[tuple[int, str, Side, float, float]]:
    """Bids to keep the stores of inputs full, from park surplus that would otherwise be
    disposed of: a safety stock against surprises. Ahead of a supplier's stop a company can see,
    it bids what it would pay outside; otherwise that less one step's holding cost, so the store
    fills only from surplus worth less to its owner than keeping it. `stock`: the levels to
    count instead of the stores' own (the optimum's planner's, `market.optimum`). As
    (company, resource, side, quantity, price) rows: `ParkModel._truthful` makes them orders,
    numbered with the rest of the park's."""
    ledger = model.ledger
    companies, alive = model.companies, model.investor.alive
    stopping: set[int] | None = None  # `planned_stops`, looked up once a store has room
    out = []
    for (c, r), store in ledger.stores.items():
        room = store.capacity - (store.level if stock is None else stock(c, r))
        if room <= 1e-9 or r not in companies[c].uses or not alive[c]:
            continue
        if stopping is None:
            stopping = planned_stops(model, t, int(model.policy.information * model.operations.forecast_steps))
        price = ledger.park_buy_value(r)
        if stopping:
            suppliers = model.cascade.last_in.get((c, r), {}) or _suppliers(model, c, r)
            if not any(j in stopping for j in suppliers):
                price -= ledger.resources[r].holding_cost
        else:
            price -= ledger.resources[r].holding_cost
        out.append((c, r, Side.BUY, room, price))
    return out


def _suppliers(model: "ParkModel", c: int, r: str) -> set[int]:
    return {k.seller for k in model.partners.contracts if k.buyer == c and k.resource == r and k.active(model.t)}
