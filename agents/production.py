"""Production as each company's decision: how much of each process to run this step.

Every step a company chooses each process's level, up to what its capacity, the day's load and
its equipment allow, to maximise the profit it expects. A unit of product earns its sale price
and costs its inputs and the disposal of its by-products; what an input costs and what a
by-product fetches depend on where they come from and go to, cheapest source and best outlet
first (so the company's cost is convex in its output and its problem a small linear programme):

- inputs: its contracts (at the contract price less the penalty it would owe for not taking the
  contracted quantity), the park's spot market (the quantity it has been receiving and the
  price it has been paying, learnt by exponential smoothing: adaptive expectations, Nerlove
  1958), surplus it sees going unsold in the park (on the platform, or among the partners it
  knows) at half the pair's gain (the call market's k = 0.5 split), then the outside market at
  the outside price (none for a resource without an outside substitute);
- by-products: its contracts (at the contract price plus the penalty it would owe for not
  delivering), the park's spot market, needs it sees bought outside, then disposal.

A process that pays even when every input is bought and every by-product disposed of outside
runs at full load, and one that loses money even with the park's best terms never runs: only
the processes in between need the tiers. With `decision = "outside"` every process is judged at
outside prices alone, which is the rule the model had before production was a decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

EPS = 1e-9


class Decision(str, Enum):
    """How a company judges what a process earns: `expected` at the prices and quantities it
    expects from contracts, the park and outside; `outside` as if it could only buy and
    dispose of outside (the worst case)."""

    EXPECTED = "expected"
    OUTSIDE = "outside"


@dataclass(frozen=True, slots=True)
class ProductionSettings:
    """decision: how companies judge their processes (`Decision`). memory: steps over which a
    company's expectations of the park are smoothed (the weight of a new step is 1 / memory).
    pass_through: multiplies every product's pass-through rate of unit-cost changes
    (`agents.pricing`; 0 keeps sale prices fixed, 1 uses the sector rates). horizon: steps the
    synchronised plan looks ahead (`agents.synchronised`). yardstick_max_companies: a run of a
    park up to this size also runs the synchronised plan on the same loads and reports the
    value of synchronisation (0: never)."""

    decision: Decision = Decision.EXPECTED
    memory: int = 10
    pass_through: float = 1.0
    horizon: int = 7
    yardstick_max_companies: int = 60


CHECKS = {
    "production.memory": lambda v: None if v >= 1 else "must be at least 1 (steps)",
    "production.pass_through": lambda v: None if 0 <= v <= 2 else "must be between 0 (fixed prices) and 2",
    "production.horizon": lambda v: None if 1 <= v <= 90 else "must be between 1 and 90 (steps)",
    "production.yardstick_max_companies": lambda v: None if v >= 0 else "must be >= 0 (0: never)",
}


# A tier: up to `qty` units at `value` each (for an input, value = - its cost per unit).
Tier = tuple[float, float]


def consume(tiers: list[Tier], qty: float) -> list[Tier]:
    """The tiers left after taking `qty` from the best ones first."""
    out = []
    left = qty
    for q, v in tiers:
        if left <= EPS:
            out.append((q, v))
            continue
        take = min(q, left)
        left -= take
        if q - take > EPS:
            out.append((q - take, v))
    return out


def best_level(price: float, cap: float, terms: Sequence[tuple[float, list[Tier]]]) -> float:
    """The profit-maximising level in [0, cap] of one process whose resources no other process
    of the company shares. `terms`: (units of the resource per unit of product, its tiers
    sorted best first, for an input ending with the outside market unless it has no
    substitute). The marginal profit only falls as cheaper tiers run out, so the level is
    where it first turns negative."""
    x = 0.0
    pos = [0] * len(terms)
    used = [0.0] * len(terms)
    while cap - x > EPS * max(1.0, cap):
        marginal = price
        step = cap - x
        for n, (coef, tiers) in enumerate(terms):
            if pos[n] >= len(tiers):
                return x  # an input with no source left (no outside substitute)
            q, v = tiers[pos[n]]
            marginal += coef * v
            step = min(step, (q - used[n]) / coef)
        if marginal <= EPS:
            return x
        x += step
        for n, (coef, tiers) in enumerate(terms):
            if pos[n] < len(tiers):
                used[n] += coef * step
                if used[n] >= tiers[pos[n]][0] - EPS * max(1.0, tiers[pos[n]][0]):
                    pos[n] += 1
                    used[n] = 0.0
    return cap


def best_levels(prices: np.ndarray, caps: np.ndarray, net: np.ndarray, tiers_in: list[list[Tier]],
                tiers_out: list[list[Tier]]) -> np.ndarray:
    """The profit-maximising levels of several processes that share resources: a small LP
    (HiGHS through SciPy). `net[k, r]` is what process k needs of resource r per unit (negative:
    what it yields); tiers as in `best_level`, inputs by cost and by-products by value."""
    from scipy.optimize import linprog

    k_n, r_n = net.shape
    cols_in = [(r, q, v) for r in range(r_n) for q, v in tiers_in[r]]
    cols_out = [(r, q, v) for r in range(r_n) for q, v in tiers_out[r]]
    nv = k_n + len(cols_in) + len(cols_out)
    c = np.zeros(nv)
    c[:k_n] = -prices
    bounds: list[tuple[float, float | None]] = [(0.0, float(cap)) for cap in caps]  # None: no upper bound
    for n, (_r, q, v) in enumerate(cols_in):
        c[k_n + n] = -v  # v = - cost
        bounds.append((0.0, None if not np.isfinite(q) else float(q)))
    for n, (_r, q, v) in enumerate(cols_out):
        c[k_n + len(cols_in) + n] = -v
        bounds.append((0.0, None if not np.isfinite(q) else float(q)))
    a = np.zeros((r_n, nv))
    a[:, :k_n] = net.T
    for n, (r, _, _) in enumerate(cols_in):
        a[r, k_n + n] = -1.0
    for n, (r, _, _) in enumerate(cols_out):
        a[r, k_n + len(cols_in) + n] = 1.0
    res = linprog(c, A_eq=a, b_eq=np.zeros(r_n), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"a company's production plan could not be solved: {res.message}")
    return np.clip(res.x[:k_n], 0.0, caps)


def tier_profit(prices: np.ndarray, x: np.ndarray, net: np.ndarray, tiers_in: list[list[Tier]],
                tiers_out: list[list[Tier]]) -> float:
    """The profit of running processes at levels `x`: sales, less the company's net need of each
    resource filled from its cheapest sources first, plus its net surplus sold to its best
    outlets first (`net` and the tiers as in `best_levels`)."""
    total = float(prices @ x)
    need = net.T @ x
    for r, q in enumerate(need):
        tiers = tiers_in[r] if q > 0 else tiers_out[r]
        left = abs(float(q))
        for tq, v in tiers:
            if left <= EPS:
                break
            take = min(tq, left)
            total += take * v
            left -= take
        if left > EPS:
            return float("-inf")  # an input with no source left
    return total


class Expectations:
    """What each company has seen of the park, smoothed over `memory` steps: per company and
    resource, the units it received from park partners (contracts and spot market) and what it
    paid on the spot market, the units it shipped and what it netted, and the surplus it could
    not sell and the need it bought outside (what others can see of it). Arrays of companies x
    resources.

    A contract moves supply from the spot market to the contract, it does not add to it: the
    spot market a company expects is what it has been receiving in all, less what its contracts
    now cover."""

    def __init__(self, n: int, resources: Sequence[str], memory: int):
        self.col = {r: k for k, r in enumerate(resources)}
        self.a = 1.0 / memory
        shape = (n, len(resources))
        self.got = np.zeros(shape)  # units received, all park trades
        self.got_spot = np.zeros(shape)  # of which on the spot market
        self.paid = np.zeros(shape)  # paid on the spot market
        self.sold = np.zeros(shape)
        self.sold_spot = np.zeros(shape)
        self.netted = np.zeros(shape)
        self.unsold = np.zeros(shape)
        self.unmet = np.zeros(shape)
        self.steps = 0

    def observe(self, trades: Sequence, spot: Sequence, unsold: dict[tuple[int, str], float],
                unmet: dict[tuple[int, str], float]) -> None:
        """One step of trades (`trades` all of them, `spot` those of the spot market) and what
        was left after them."""
        shape = self.got.shape
        new = {name: np.zeros(shape) for name in ("got", "got_spot", "paid", "sold", "sold_spot", "netted",
                                                   "unsold", "unmet")}
        col = self.col
        # np.add.at adds entry by entry in the given order, as the loop over trades did, with
        # one call per column instead of one numpy scalar operation per trade and field.
        add = np.add.at
        if trades:
            r = [col[t.resource] for t in trades]
            add(new["got"], ([t.buyer for t in trades], r), [t.delivered for t in trades])
            add(new["sold"], ([t.seller for t in trades], r), [t.shipped for t in trades])
        if spot:
            r = [col[t.resource] for t in spot]
            buyer, seller = [t.buyer for t in spot], [t.seller for t in spot]
            add(new["got_spot"], (buyer, r), [t.delivered for t in spot])
            add(new["paid"], (buyer, r), [t.payment for t in spot])
            add(new["sold_spot"], (seller, r), [t.shipped for t in spot])
            add(new["netted"], (seller, r), [t.receipt - t.transport_cost for t in spot])
        for name, left in (("unsold", unsold), ("unmet", unmet)):
            if left:
                add(new[name], ([c for c, _ in left], [col[res] for _, res in left]), list(left.values()))
        # Smoothing that starts from the first observation rather than from zero: the weight
        # of a new step is max(1 / memory, 1 / steps seen) (a running mean until `memory` steps).
        self.steps += 1
        a = max(self.a, 1.0 / self.steps)
        for name, x in new.items():
            avg = getattr(self, name)
            avg *= 1.0 - a
            avg += a * x

    def inputs(self, c: int, r: str, contracted: float = 0.0) -> Tier | None:
        """The spot tier of an input: units a step (received in all, less what contracts now
        cover) and their price, or None."""
        k = self.col[r]
        q = self.got[c, k] - contracted
        spot = self.got_spot[c, k]
        if q <= EPS or spot <= EPS:
            return None
        return (float(q), -float(self.paid[c, k] / spot))

    def outlets(self, c: int, r: str, contracted: float = 0.0) -> Tier | None:
        """The spot tier of a by-product: units a step shipped (less what contracts now take)
        and their net value per unit, or None."""
        k = self.col[r]
        q = self.sold[c, k] - contracted
        spot = self.sold_spot[c, k]
        if q <= EPS or spot <= EPS:
            return None
        return (float(q), float(self.netted[c, k] / spot))
