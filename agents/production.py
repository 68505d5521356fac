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

from market.orders import COLUMNS_FROM, columns_of

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

    # The averages, in their order in `_all`.
    FIELDS = ("got", "got_spot", "paid", "sold", "sold_spot", "netted", "unsold", "unmet")

    got: np.ndarray  # units received, all park trades
    got_spot: np.ndarray  # of which on the spot market
    paid: np.ndarray  # paid on the spot market
    sold: np.ndarray
    sold_spot: np.ndarray
    netted: np.ndarray
    unsold: np.ndarray
    unmet: np.ndarray

    def __init__(self, n: int, resources: Sequence[str], memory: int):
        self.col = {r: k for k, r in enumerate(resources)}
        self.a = 1.0 / memory
        # The averages as slices of one array, smoothed in one pass a step (eight passes on a
        # small park's arrays cost more than the arithmetic).
        self._all = np.zeros((len(self.FIELDS), n, len(resources)))
        self._name_slices()
        self._sums = np.zeros(self._all.size)  # `observe`'s sums of the step by cell: zeros between steps
        self.steps = 0

    def _name_slices(self) -> None:
        for name, view in zip(self.FIELDS, self._all):
            setattr(self, name, view)

    def __getstate__(self) -> dict:
        # A copy (a digital twin's) or a pickle keeps `_all` and makes its own views of it.
        return {k: v for k, v in self.__dict__.items() if k not in self.FIELDS}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._name_slices()

    def observe(self, trades: Sequence, spot: Sequence, unsold: dict[tuple[int, str], float],
                unmet: dict[tuple[int, str], float]) -> None:
        """One step of trades (`trades` all of them, `spot` those of the spot market) and what
        was left after them."""
        _, n, nr = self._all.shape
        size = n * nr
        # Every term of the step with its cell of `_all` (flattened): each cell's terms are added
        # in the order of the trades, onto 0.0, by one np.add.at into `_sums` (zeros between steps).
        # The trades are read into columns and their cells and terms worked out across them: the
        # same elementwise arithmetic (the same bits) as per trade, without a Python step each.
        got, sold, delivered, shipped = self._columns(trades)
        cells = [got, 3 * size + sold]
        terms = [delivered, shipped]
        if spot:
            got, sold, delivered, shipped = self._columns(spot)
            m = len(spot)
            if m >= COLUMNS_FROM:
                cols = columns_of(spot)
                price, seller_price, transport = cols.price, cols.seller_unit_price, cols.transport_cost
            else:
                price = np.fromiter([t.price for t in spot], float, m)
                seller_price = np.fromiter([t.price if t.seller_price is None else t.seller_price for t in spot], float, m)
                transport = np.fromiter([t.transport_cost for t in spot], float, m)
            cells += [size + got, 2 * size + got, 4 * size + sold, 5 * size + sold]  # got_spot, paid, sold_spot, netted
            terms += [delivered, price * delivered, shipped, seller_price * delivered - transport]  # t.payment, receipt - cost
        col = self.col
        for first, left in ((6 * size, unsold), (7 * size, unmet)):
            cells.append(np.fromiter([first + c * nr + col[res] for c, res in left], np.intp, len(left)))
            terms.append(np.fromiter(left.values(), float, len(left)))
        # Smoothing that starts from the first observation rather than from zero: the weight
        # of a new step is max(1 / memory, 1 / steps seen) (a running mean until `memory` steps).
        self.steps += 1
        a = max(self.a, 1.0 / self.steps)
        # avg = avg * (1 - a) + a * new, without a step's arrays of mostly zeros: a cell without
        # a term gets + 0.0 (a * 0.0, which turns -0.0 into 0.0), the others a * their sum.
        avg = self._all
        flat = avg.reshape(-1)  # a view: `_all` is contiguous
        at = np.concatenate(cells)
        sums = self._sums
        np.add.at(sums, at, np.concatenate(terms))
        new = sums[at]  # a cell's sum as often as it has terms
        sums[at] = 0.0
        before = flat[at]
        avg *= 1.0 - a
        avg += 0.0
        flat[at] = before * (1.0 - a) + a * new

    def _columns(self, trades: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The trades' cells in one field of `_all` (flattened) for their buyers and for their
        sellers, and what they delivered and shipped."""
        nr = self._all.shape[2]
        m = len(trades)
        if m >= COLUMNS_FROM:  # a large park's (a `TradeList`'s columns, read once for every pass)
            cols = columns_of(trades)
            r = np.fromiter(map(self.col.__getitem__, cols.resource), np.intp, m)
            return cols.buyer * nr + r, cols.seller * nr + r, cols.delivered, cols.shipped
        r = np.fromiter([self.col[t.resource] for t in trades], np.intp, m)
        buyer = np.fromiter([t.buyer for t in trades], np.intp, m)
        seller = np.fromiter([t.seller for t in trades], np.intp, m)
        delivered = np.fromiter([t.delivered for t in trades], float, m)
        shipped = np.fromiter([t.shipped for t in trades], float, m)
        return buyer * nr + r, seller * nr + r, delivered, shipped

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
