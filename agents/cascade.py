"""How a problem at one plant travels down the exchanges, within a step.

Before the market opens each company checks its critical inputs: resources it cannot buy
outside at all (`substitute = false`) and resources whose outside substitute takes a lead time
(`lead_time > 0`). For each it counts what it can rely on: its own stock and by-products, its
share (as of last step's deliveries) of each park supplier's surplus now, and what it ordered
from outside `lead_time` steps ago. If that falls short of its
need, it cuts its output to the share it can make (inputs in fixed proportion, Leontief), which
cuts its own by-products, and so on down the chain: the cut is found as a fixed point, and the
round in which a company is first cut is its depth in the cascade. Stores buffer the gap: a
supplier's store of its surplus, and a user's store of the input, kept full from park surplus
and filled ahead of a stop it saw coming (`agents.forecast`). Once the outside substitute
ordered after the loss arrives, the user is whole again.

Each step the company orders from outside, for delivery `lead_time` steps later, what it
needs beyond its own and the park's supply today plus a safety margin of Z standard deviations
of the day-to-day change of that gap (the classic safety stock, e.g. Silver, Pyke & Peterson
1998, Inventory Management and Production Planning and Scheduling, ch. 7) and SLACK of its
need; the outside supplier delivers up to that, no more (a shipload of natural gypsum is
ordered weeks ahead, an oil boiler takes days to fire up). A normal day's swing is covered; a
partner's failure is not, until the order placed after it arrives.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

import numpy as np

from agents.scenario import Scenario
from market.orders import Trade
from market.settlement import Ledger

EPS = 1e-9
SLACK = 0.02  # share of its need a company keeps on outside order beyond the safety margin
Z = 3.0  # safety margin in standard deviations of the day-to-day change of the gap
MEMORY = 0.05  # weight of a new day in the running variance of that change


class Cascade:
    def __init__(self, park: Scenario):
        n = len(park.companies)
        self.respec(park)
        self.last_in: dict[tuple[int, str], dict[int, float]] = {}
        self.last_out: dict[tuple[int, str], float] = {}
        self.orders: dict[tuple[int, str], deque] = defaultdict(deque)
        self._gap: dict[tuple[int, str], float] = {}
        self._var: dict[tuple[int, str], float] = {}
        self._need1: dict[tuple[int, str], float] = {}
        self._by1: dict[tuple[int, str], float] = {}
        self._demand: dict[str, float] = {}
        self.n = n

    def respec(self, park: Scenario) -> None:
        """Which inputs are critical and, per unit of each process, the critical inputs and
        by-products; called again when prices or processes change (`ParkModel.reprice`), the
        history of deliveries and orders kept."""
        self.resources = park.resources
        self.critical = {r for r, res in park.resources.items() if not res.substitute or res.lead_time > 0}
        self._in = [[{r: q for r, q in p.inputs.items() if r in self.critical} for p in c.processes]
                    for c in park.companies]
        self._by = [[{r: q for r, q in p.byproducts.items() if r in self.critical} for p in c.processes]
                    for c in park.companies]
        self.users = [i for i in range(len(park.companies)) if any(self._in[i])]
        # Per critical input: whether it has an outside substitute, and its lead time (`_outside_cap`, `record`).
        self._outside = {r: (park.resources[r].substitute, park.resources[r].lead_time) for r in self.critical}
        # Per company with a critical input or by-product, each process's (inputs, by-products)
        # as tuples: what `_totals` walks every day (the other companies add nothing to it).
        self._recipes = [(i, [(tuple(ins.items()), tuple(by.items())) for ins, by in zip(self._in[i], self._by[i])])
                         for i in range(len(park.companies)) if any(self._in[i]) or any(self._by[i])]

    @property
    def active(self) -> bool:
        return bool(self.users)

    def _totals(self, qty: Sequence[Sequence[float]]) -> None:
        need: dict[tuple[int, str], float] = {}
        made: dict[tuple[int, str], float] = {}
        for i, recipes in self._recipes:
            for (ins, by), q in zip(recipes, qty[i]):
                if q <= 0:
                    continue
                for r, a in ins:
                    need[(i, r)] = need.get((i, r), 0.0) + a * q
                for r, a in by:
                    made[(i, r)] = made.get((i, r), 0.0) + a * q
        self._need1, self._by1 = need, made
        demand: dict[str, float] = {}
        for (_, r), q in need.items():
            demand[r] = demand.get(r, 0.0) + q
        self._demand = demand

    def cut(self, t: int, qty: Sequence[Sequence[float]], ledger: Ledger, max_rounds: int = 50
            ) -> tuple[np.ndarray, np.ndarray]:
        """Each company's share of its planned output it can make (1: all), and the round of
        the cascade in which it was first cut (0: not cut). `qty`: each company's planned
        quantity of each process (the model passes lists of Python floats, faster to walk)."""
        if not self.users:
            return np.ones(self.n), np.zeros(self.n, dtype=np.int64)
        self._totals(qty)
        # The shares as Python floats: a few companies are cut, if any, so numpy's per-call
        # overhead on arrays of every company would cost more than the rounds' own work.
        f = [1.0] * self.n
        depth = [0] * self.n
        by1, last_in, last_out = self._by1, self.last_in, self.last_out
        stock, surplus, outside_cap = ledger.stock, self._surplus, self._outside_cap
        for k in range(1, max_rounds + 1):
            new = f.copy()
            lowered = []
            pools: dict[str, float] = {}
            for key, need in self._need1.items():
                if need <= EPS:
                    continue
                i, r = key
                head = stock(i, r) + by1.get(key, 0.0) * f[i]  # its stock and its own by-product
                cap = outside_cap(i, r)
                wanted = need * (1 - 1e-9)
                if not head + cap < wanted:
                    # Enough without the park's surplus, which is never negative: and adding it
                    # could not bring the sum below, each rounded addition being monotonic.
                    continue
                came = last_in.get(key)
                if came:
                    # Each supplier's surplus now, shared as its deliveries were last step.
                    park = 0.0
                    for j, got in came.items():
                        sent = last_out.get((j, r), 0.0)
                        if sent > EPS:
                            park += surplus(j, r, f, ledger) * got / sent
                else:
                    # Nothing came from the park last step: count on a share, by need, of the
                    # park's whole surplus now, and let the market find the route.
                    pool = pools.get(r)
                    if pool is None:
                        pool = pools[r] = sum(surplus(j, r, f, ledger) for (j, rr) in by1 if rr == r)
                    park = pool * need / max(self._demand[r], EPS)
                avail = head + park + cap
                if avail < wanted:
                    new[i] = min(new[i], max(0.0, avail / need))
                    lowered.append(i)
            changed = [i for i in lowered if new[i] < f[i] - 1e-12]
            if not changed:
                break
            for i in changed:
                if depth[i] == 0:
                    depth[i] = k
            f = new
        return np.array(f, dtype=float), np.array(depth, dtype=np.int64)

    def _surplus(self, j: int, r: str, f: Sequence[float], ledger: Ledger) -> float:
        key = (j, r)
        return max(0.0, self._by1.get(key, 0.0) * f[j] + ledger.stock(j, r) - self._need1.get(key, 0.0) * f[j])

    def _outside_cap(self, i: int, r: str) -> float:
        substitute, lead_time = self._outside[r]
        if not substitute:
            return 0.0
        q = self.orders.get((i, r))
        if q is None or len(q) < lead_time:
            return np.inf  # no history yet: the company starts with what it needs on order
        return q[0]

    def record(self, trades: Sequence[Trade], f: np.ndarray, ledger: Ledger, t: int = 0,
               stopped: Callable[[int, int], bool] | None = None) -> None:
        """After step t: who delivered what, and the outside orders placed for `lead_time`
        steps ahead. `stopped(j, s)` tells whether supplier j is known to be stopped at step s
        (`agents.forecast.foresight`); the order for that step then counts on nothing from it."""
        if not self.users:
            return
        shares = f.tolist()  # Python floats: the same values, cheaper arithmetic
        critical = self.critical
        got: dict[tuple[int, str], dict[int, float]] = {}
        for tr in trades:
            r = tr.resource
            if r in critical:
                came = got.get((tr.buyer, r))
                if came is None:
                    came = got[(tr.buyer, r)] = {}
                came[tr.seller] = came.get(tr.seller, 0.0) + tr.delivered
        self.last_in = got
        sent: dict[tuple[int, str], float] = {}
        for (_i, r), by in got.items():
            for j, q in by.items():
                sent[(j, r)] = sent.get((j, r), 0.0) + q
        self.last_out = sent
        for key, need in self._need1.items():
            substitute, lead_time = self._outside[key[1]]
            if not substitute or lead_time <= 0:
                continue
            i, r = key
            came = got.get(key, {})
            if stopped is not None:
                park = sum(q for j, q in came.items() if not stopped(j, t + lead_time))
            else:
                park = sum(came.values())
            own = self._by1.get(key, 0.0) * shares[i] + ledger.stock(i, r)
            gap = max(0.0, need - own - park)
            # Until it has seen its gap move, a company allows for a 10 % swing of its need.
            var = self._var.get(key)
            if var is None:
                var = (0.1 * need) ** 2
            last = self._gap.get(key)
            if last is not None:
                change = gap - last
                var = self._var[key] = (1 - MEMORY) * var + MEMORY * change * change
            self._gap[key] = gap
            pending = self.orders[key]
            # (math.sqrt: the same correctly rounded root as np.sqrt, without numpy's per-call cost.)
            pending.append(gap + Z * math.sqrt(var) + SLACK * need)
            while len(pending) > lead_time:
                pending.popleft()
