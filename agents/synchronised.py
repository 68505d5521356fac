"""Synchronised planning: a park operator plans production, storage and exchanges for the whole
park, over a rolling horizon, and the companies follow.

Each step the operator builds the park's multi-period plan (`market.sync_plan`: one LP over
every process's output, every route, every outside purchase and disposal and every store, for
the next `production.horizon` steps), carries out its first step and plans again the next day
with what happened (Sethi & Sorger 1991 on rolling horizons). It knows what each process can
make today (loads, failures and outages included) and expects the average load, with its
seasonal and weekly profile, for the days after. The plan's exchanges are carried out as
trades after the contracts have delivered, each unit priced at the plan's dual value of the
resource at the receiving company (its locational marginal value, as the `planner` mechanism
prices a single day), kept within both sides' outside options.

The same plan run beside the companies' own decisions on the same loads is the yardstick of
the value of synchronisation (`experiments.runner`); as a policy (`policy.coordination =
"synchronised"`), the operator also pays side payments so that no company ends a period below
what it made under its own plans (`side_payments`).
"""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from market import sync_plan
from market.planner import Planner
from market.orders import Order, Side, Trade
from market.resources import Mode

if TYPE_CHECKING:
    from agents.model import ParkModel

EPS = 1e-9


class Operator:
    """The park operator's rolling plan. `plan(t, able)` returns each company's production for
    step t; `execute(t, orders)` turns the plan's shipments of step t into trades."""

    def __init__(self, model: "ParkModel"):
        self.model = model
        self._edges_for: tuple | None = None
        self._edges = None
        self._result: sync_plan.PlanResult | None = None
        self._keep: np.ndarray | None = None

    def _routes(self):
        """Every route the park's network offers between a company that yields (or stores) a
        resource and one that uses it, whoever knows whom: the operator sees the whole park."""
        m = self.model
        net = m.network
        key = (id(net.pipelines), len(net.pipelines), id(net.resources))
        if self._edges_for == key:
            return self._edges
        pricing = m.pricing
        col = {r: k for k, r in enumerate(pricing.resources)}
        owner = m.process_owner
        made = pricing.byproducts > 0
        used = pricing.inputs > 0
        stores = {(c, r) for (c, r) in m.ledger.stores}
        ef, et, er, es, ec, ed = [], [], [], [], [], []
        full = net if net.known is None else replace(net, known=None)
        for r, k in col.items():
            sellers = np.unique(np.concatenate([owner[made[:, k]], [c for c, rr in stores if rr == r]]).astype(np.int64))
            buyers = np.unique(owner[used[:, k]]).astype(np.int64)
            if len(sellers) == 0 or len(buyers) == 0:
                continue
            res = net.resources[r]
            max_km = np.inf
            if res.transport is not Mode.PIPELINE and res.transport_cost > 0:
                bid = m.ledger.park_buy_value(r)
                ask = -m.ledger.dispose_price(r)
                max_km = max(0.0, bid - ask) / res.transport_cost
            e = full.edges(r, sellers, buyers, max_km=max_km)
            if len(e.i) == 0:
                continue
            ef.append(sellers[e.i])
            et.append(buyers[e.j])
            er.append(np.full(len(e.i), k))
            es.append(e.share)
            ec.append(e.cost)
            ed.append(e.distance)
        cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt))  # noqa: E731
        self._edges = (cat(ef, np.int64), cat(et, np.int64), cat(er, np.int64), cat(es, float), cat(ec, float),
                       cat(ed, float))
        self._edges_for = key
        return self._edges

    def problem(self, t: int, able: list[np.ndarray], up: np.ndarray,
                flipped: frozenset[tuple[int, int]] = frozenset()) -> sync_plan.PlanProblem:
        """Step t's plan over the horizon; `flipped`: the (company, resource column) nodes that
        make and use a resource whose side is the other one than today's capacity gives (`_one_way`)."""
        m = self.model
        # Without stores the days do not interact: today's plan is the one-day plan whatever the
        # horizon (market.sync_plan's tests), so one day is solved.
        h = m.production.horizon if m.ledger.stores else 1
        pricing = m.pricing
        names = pricing.resources
        ledger = m.ledger
        spy = m.park.steps_per_year
        today = np.concatenate(able) if able else np.zeros(0)
        cap = np.empty((len(today), h))
        cap[:, 0] = today
        if h > 1:
            # Later days: the average load (with its profile), on the equipment up today (`up`:
            # each process's share of capacity not stopped by failures, maintenance or outages).
            # A company without a profile expects the same every day: computed once, not h - 1 times.
            profiled = [m.operations.profiles and c._profiled for c in m.companies]
            flat: list[np.ndarray | None] = [None if p else c._caps * np.clip(c._util, 0.0, 1.0)
                                             for c, p in zip(m.companies, profiled)]
            for d in range(1, h):
                expect: list[np.ndarray] = [c._caps * np.clip(c._util * c._profile(t + d, spy), 0.0, 1.0) if f is None
                                            else f for c, f in zip(m.companies, flat)]
                cap[:, d] = (np.concatenate(expect) if expect else np.zeros(0)) * up
        price = np.repeat(np.concatenate([c.sale for c in m.companies])[:, None], h, axis=1) if len(today) else np.zeros((0, h))
        buy = np.array([ledger.buy_price(r) for r in names])
        dispose = np.array([ledger.dispose_price(r) for r in names])
        can_buy = np.array([ledger.resources[r].substitute for r in names], dtype=bool)
        ef, et, er, es, ec, _ = self._routes()
        col = {r: k for k, r in enumerate(names)}
        skeys = sorted(ledger.stores)
        stores = [ledger.stores[key] for key in skeys]
        keep, closed = self._one_way(today, er, ef, et, {(c, col[r]) for c, r in skeys}, flipped)
        self._keep = keep
        return sync_plan.PlanProblem(
            horizon=h, proc_company=m.process_owner, capacity=cap, price=price,
            inputs=pricing.inputs, byproducts=pricing.byproducts,
            buy_price=np.repeat(buy[:, None], h, axis=1), can_buy=can_buy,
            dispose_price=np.repeat(dispose[:, None], h, axis=1),
            edge_from=ef[keep], edge_to=et[keep], edge_resource=er[keep], edge_share=es[keep], edge_cost=ec[keep],
            subsidy=m.policy.exchange_subsidy,
            store_company=np.array([c for c, _ in skeys], dtype=np.int64),
            store_resource=np.array([col[r] for _, r in skeys], dtype=np.int64),
            store_capacity=np.array([s.capacity for s in stores], dtype=float),
            store_level=np.array([s.level for s in stores], dtype=float),
            store_hold=np.array([ledger.resources[r].holding_cost for _, r in skeys], dtype=float),
            store_decay=np.array([ledger.resources[r].decay for _, r in skeys], dtype=float),
            closed_nodes=closed,
        )

    def _one_way(self, x: np.ndarray, er: np.ndarray, ef: np.ndarray, et: np.ndarray,
                 stored: set[tuple[int, int]], flipped: frozenset[tuple[int, int]] = frozenset()
                 ) -> tuple[np.ndarray, np.ndarray]:
        """A company that both makes and uses a resource uses its own first (as settlement
        does), so it either has some left to ship or dispose of, or needs more to receive or
        buy, never both: its side is fixed from what it can make today, `x` (net surplus: it
        may only ship or dispose of; net need: only receive or buy, unless it has a store), but
        for the nodes in `flipped`, which take the other side (`plan` tries them).
        Returns which routes stay open and the closed (company, resource, side) nodes."""
        mixed = self._mixed()
        if not mixed.any():
            return np.ones(len(ef), dtype=bool), np.zeros((0, 3), dtype=np.int64)
        pr = self.model.pricing
        surplus = self._by_node((pr.byproducts - pr.inputs) * x[:, None]) >= 0
        for c, k in flipped:
            surplus[c, k] = not surplus[c, k]
        bad_out = mixed[ef, er] & ~surplus[ef, er]
        bad_in = mixed[et, er] & surplus[et, er]
        closed = [(c, k, 0 if surplus[c, k] else 1) for c, k in zip(*np.nonzero(mixed))
                  if surplus[c, k] or (int(c), int(k)) not in stored]
        return ~(bad_out | bad_in), np.array(closed, dtype=np.int64).reshape(-1, 3)

    def plan(self, t: int, able: list[np.ndarray], up: np.ndarray) -> list[np.ndarray]:
        """Each company's production this step under the operator's plan, solved from the basis
        of yesterday's plan (`sync_plan.Basis`: the same plan as from scratch, found faster)."""
        last = self._result
        start = None if last is None else last.basis
        res = sync_plan.solve(self.problem(t, able, up), start=start)
        keep = self._keep
        flipped: frozenset[tuple[int, int]] = frozenset()
        # A node's side, fixed from today's capacity, can rule out the better plan: a company
        # whose own by-product comes from a loss-making process is better off making less and
        # buying the rest, which its side forbids when at full capacity it would have a surplus
        # (a random park's day 7: EUR 22,075 planned against 22,111 by the companies' own
        # decisions). The plan's value is concave in what such a node makes, with its kink where
        # the node makes exactly what it uses; a plan away from the kink is the better side's
        # (the other side's best is at the kink at most), so the other side is tried only for
        # the nodes the plan leaves at it, one at a time, and kept if the plan gains.
        for node in self._at_kink(res.production[:, 0]):
            trial = flipped ^ {node}
            other = sync_plan.solve(self.problem(t, able, up, trial), start=start)
            if other.objective > res.objective + 1e-9 * max(1.0, abs(res.objective)):
                res, keep, flipped = other, self._keep, trial
        self._keep = keep
        self._result = res
        x = res.production[:, 0]
        out, k = [], 0
        for a in able:
            out.append(np.minimum(x[k:k + len(a)], a))
            k += len(a)
        return out

    def _at_kink(self, x: np.ndarray) -> list[tuple[int, int]]:
        """The (company, resource column) nodes that make and use a resource and, producing `x`,
        make exactly what they use (to a millionth of it)."""
        mixed = self._mixed()
        if not mixed.any():
            return []
        pr = self.model.pricing
        made = self._by_node(pr.byproducts * x[:, None])
        used = self._by_node(pr.inputs * x[:, None])
        kink = mixed & (np.abs(made - used) <= 1e-6 * np.maximum(1.0, used))
        return [(int(c), int(k)) for c, k in zip(*np.nonzero(kink))]

    def _mixed(self) -> np.ndarray:
        """Which companies (rows) both make and use which resources (columns)."""
        pr = self.model.pricing
        return (self._by_node(pr.byproducts) > 0) & (self._by_node(pr.inputs) > 0)

    def _by_node(self, per_process: np.ndarray) -> np.ndarray:
        """Rows of processes by resource columns, summed over each company's processes in order."""
        m = self.model
        out = np.zeros((len(m.companies), per_process.shape[1]))
        np.add.at(out, m.process_owner, per_process)
        return out

    def execute(self, t: int, orders: Sequence[Order]) -> list[Trade]:
        """The plan's shipments of step t as trades, within what each company has left after
        its contracts delivered, each priced at the plan's value of the resource at the buyer
        (kept between the seller's and the buyer's outside options)."""
        res = self._result
        if res is None:
            return []
        ef, et, er, es, ec, ed = (a[self._keep] for a in self._routes())
        flow = res.flow[:, 0] if res.flow.size else np.zeros(0)
        names = self.model.pricing.resources
        ledger = self.model.ledger
        supply: dict[tuple[int, str], float] = {}
        demand: dict[tuple[int, str], float] = {}
        for o in orders:
            book = supply if o.side is Side.SELL else demand
            book[(o.owner, o.resource)] = book.get((o.owner, o.resource), 0.0) + o.quantity
        trades = []
        for e in np.flatnonzero(flow > EPS):
            a, b, r = int(ef[e]), int(et[e]), names[int(er[e])]
            share = float(es[e])
            ship = min(float(flow[e]), supply.get((a, r), 0.0), demand.get((b, r), 0.0) / share)
            if ship <= EPS:
                continue
            supply[(a, r)] -= ship
            demand[(b, r)] -= ship * share
            cost = float(ec[e]) * ship
            bid = ledger.park_buy_value(r)
            floor = (-ledger.dispose_price(r) * ship + cost) / (ship * share)  # the seller's outside option
            value = res.value_at(b, int(er[e]))
            price = min(bid, max(floor, value if value is not None else bid))
            trades.append(Trade(t, a, b, r, ship, ship * share, price, cost, float(ed[e])))
        # What the plan could not route as it meant (its day differed from the plan's view of
        # it) is matched at the day's optimum, priced at its dual values.
        left = [o2 for o2 in (self._left(o, supply, demand) for o in orders) if o2 is not None]
        if left:
            net = self.model.network
            full = net if net.known is None else replace(net, known=None)
            trades += Planner().clear(left, full, t, self.model.market_rng)
        return trades

    @staticmethod
    def _left(o: Order, supply: dict, demand: dict) -> Order | None:
        """`o` cut to what its owner still has of the resource (one order per owner, resource and
        side takes the rest; a second order of the same kind gets what the first left)."""
        book = supply if o.side is Side.SELL else demand
        key = (o.owner, o.resource)
        q = min(o.quantity, book.get(key, 0.0))
        if q <= EPS:
            return None
        book[key] -= q
        return Order(o.owner, o.resource, o.side, q, o.price, o.ref)


def side_payments(synchronised: np.ndarray, own: np.ndarray, period: int) -> tuple[np.ndarray, float]:
    """The operator's side payments to each company under synchronised planning, settled every
    `period` rows (steps, or periods already summed: the model keeps one row per cooperation
    period): each company first gets back what following the plan cost it against its own plans
    on the same loads (`own`, rows x companies of profit), then an equal share of the
    park's gain from synchronising in that period (the symmetric Nash bargaining solution with
    the companies' own plans as the disagreement point: Nash 1950, Econometrica 18(2)). When
    the plan did worse than the companies' own plans over a period, the operator makes each
    whole and bears the difference. Returns the payments per company (summed over the run) and
    what the operator paid out of its own pocket."""
    steps, n = synchronised.shape
    pay = np.zeros(n)
    guarantee = 0.0
    for start in range(0, steps, max(1, period)):
        s = synchronised[start:start + period].sum(axis=0)
        d = own[start:start + period].sum(axis=0)
        gain = float(s.sum() - d.sum())
        pay += d - s + (max(gain, 0.0) / n if n else 0.0)
        guarantee += max(-gain, 0.0)
    return pay, guarantee
