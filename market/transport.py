"""The transportation problem with losses: ship surplus to needs for the largest total gain.

    maximise   sum_e g_e x_e
    subject to sum_{e from seller s} x_e            <= supply_s
               sum_{e into buyer b}  share_e * x_e  <= demand_b,   x_e >= 0

`x_e` is the quantity shipped on edge e and `share_e` the part that arrives. This is a
generalised transportation problem (a network with gains), so a plain min-cost-flow code does
not fit once losses are present; it is solved by HiGHS (Huangfu & Hall 2018) as an LP. Two
cases that dominate real parks (one seller or one buyer of a resource) are fractional knapsacks
and are solved exactly by sorting, which avoids a solver call for most steps.
"""

from __future__ import annotations

import os
import sys

import highspy
import numpy as np

EPS = 1e-9
_solver: highspy.Highs | None = None


def _highs_solver() -> highspy.Highs:
    """One HiGHS instance per process, reused: building one costs more than solving a small
    LP. HiGHS prints a banner from C on the first construction, before any option can silence
    it; standard output is pointed at /dev/null for that one call so runs print only our text."""
    global _solver
    if _solver is None:
        sys.stdout.flush()
        saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            _solver = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        _solver.setOptionValue("output_flag", False)
        serial(_solver)
    return _solver


def serial(h: highspy.Highs) -> None:
    """HiGHS on one thread, whatever the machine: with more than one it may choose its parallel
    dual simplex, which can end at another optimal vertex, so a run's figures would depend on
    the cores it was given (a pinned and an unpinned run differed in their last digits)."""
    h.setOptionValue("threads", 1)
    h.setOptionValue("parallel", "off")


def solve(
    supply: np.ndarray,
    demand: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    gain: np.ndarray,
    share: np.ndarray,
    warm: Warm | None = None,
) -> np.ndarray:
    """Optimal shipments per edge. Edges with gain <= 0 never carry anything. `warm`, a run's
    memory of its LPs (`Warm`), starts an LP from the optimal basis of the last LP on the same
    routes that this memory solved; without it every LP starts afresh."""
    if len(gain) <= SMALL:
        found = _solve_small(supply, demand, i, j, gain, share)
        if found is not None:
            return found
    x = np.zeros(len(gain))
    use = gain > EPS
    if not use.any():
        return x
    idx = np.flatnonzero(use)
    ei, ej, g, f = i[idx], j[idx], gain[idx], share[idx]
    # The sorting shortcuts assume one edge per (seller, buyer) pair; two routes between the
    # same pair make a knapsack with two constraints, left to HiGHS.
    pair = ei * (int(ej.max()) + 1) + ej
    # (Sets and comparisons instead of np.unique: most books are small, where numpy's calls
    # cost more than the work; the same tests.)
    simple = len(set(pair.tolist())) == len(pair)
    if simple and bool((ei == ei[0]).all()):
        x[idx] = _one_seller(supply[ei[0]], demand, ej, g, f)
    elif simple and bool((ej == ej[0]).all()):
        x[idx] = _one_buyer(supply, demand[ej[0]], ei, g, f)
    else:
        x[idx] = _highs(supply, demand, ei, ej, g, f) if warm is None else warm.solve(supply, demand, ei, ej, g, f)
    return x


# Books of at most this many edges (a 10-company park's, most of the day's books of any park)
# are walked in Python lists by `_solve_small`: numpy's calls cost more than the work there.
SMALL = 16


def _solve_small(supply: np.ndarray, demand: np.ndarray, i: np.ndarray, j: np.ndarray, gain: np.ndarray,
                 share: np.ndarray) -> np.ndarray | None:
    """`solve`'s two sorting shortcuts on Python lists, the same steps and arithmetic (so the same
    bits); None when the book needs HiGHS (several sellers and several buyers, or two routes
    between one pair)."""
    x = solve_lists(np.asarray(supply, dtype=float).tolist(), np.asarray(demand, dtype=float).tolist(), i.tolist(),
                    j.tolist(), gain.tolist(), share.tolist())
    return None if x is None else np.array(x)


def solve_lists(supply: list[float], demand: list[float], i: list[int], j: list[int], gain: list[float],
                share: list[float]) -> list[float] | None:
    """`_solve_small` on a book already in Python lists (what the mechanisms' small-book paths
    hold): the shipments per edge, or None when the book needs HiGHS."""
    if len(gain) == 1:  # one route (most of a small park's books): `_seller_walk`'s one step
        s = supply[i[0]]
        q = min(s, demand[j[0]] / share[0]) if gain[0] > EPS else 0.0
        return [q if q > EPS else 0.0]
    use = [e for e, g in enumerate(gain) if g > EPS]
    x = [0.0] * len(gain)
    if not use:
        return x
    ei = [i[e] for e in use]
    ej = [j[e] for e in use]
    if len(set(zip(ei, ej))) != len(use):
        return None
    g = [gain[e] for e in use]
    f = [share[e] for e in use]
    if all(a == ei[0] for a in ei):
        # `_one_seller`'s walk: the best gain first (a stable sort on -gain, as numpy's argsort).
        shipped = _seller_walk(supply[ei[0]], demand, ej, f, sorted(range(len(use)), key=lambda k: -g[k]))
    elif all(b == ej[0] for b in ej):
        # `_one_buyer`'s walk: the best gain per unit delivered first.
        per = [-(a / b) for a, b in zip(g, f)]
        shipped = _buyer_walk(demand[ej[0]], supply, ei, f, sorted(range(len(use)), key=per.__getitem__))
    else:
        return None
    for e, q in zip(use, shipped):
        x[e] = q
    return x


# The two sorting shortcuts walk the edges in Python floats: the same arithmetic as on numpy
# scalars, at a fraction of the cost per edge.
def _one_seller(s: float, demand: np.ndarray, ej: np.ndarray, g: np.ndarray, f: np.ndarray) -> np.ndarray:
    # One unit shipped uses one unit of supply whatever the edge: take the best gain first.
    return np.array(_seller_walk(float(s), np.asarray(demand, dtype=float).tolist(), ej.tolist(), f.tolist(),
                                 np.argsort(-g, kind="stable").tolist()))


def _one_buyer(supply: np.ndarray, d: float, ei: np.ndarray, g: np.ndarray, f: np.ndarray) -> np.ndarray:
    # The buyer's capacity is in delivered units: rank by gain per unit delivered.
    return np.array(_buyer_walk(float(d), np.asarray(supply, dtype=float).tolist(), ei.tolist(), f.tolist(),
                                np.argsort(-(g / f), kind="stable").tolist()))


def _seller_walk(left: float, need: list[float], to: list[int], share: list[float], order: list[int]) -> list[float]:
    """One seller's `left` units shipped along its edges in `order`, each edge up to its buyer's
    `need` still open (in delivered units, `share` of a unit shipped arriving)."""
    x = [0.0] * len(to)
    taken = [0.0] * len(need)
    for e in order:
        if left <= EPS:
            break
        b = to[e]
        room = (need[b] - taken[b]) / share[e]
        q = min(left, room)
        if q > EPS:
            x[e] = q
            left -= q
            taken[b] += q * share[e]
    return x


def _buyer_walk(left: float, have: list[float], frm: list[int], share: list[float], order: list[int]) -> list[float]:
    """One buyer's `left` units of need (delivered) filled along its edges in `order`, each edge
    up to its seller's supply `have` still unshipped."""
    x = [0.0] * len(frm)
    used = [0.0] * len(have)
    for e in order:
        if left <= EPS:
            break
        a = frm[e]
        q = min(have[a] - used[a], left / share[e])
        if q > EPS:
            x[e] = q
            left -= q * share[e]
            used[a] += q
    return x


def solve_with_prices(
    supply: np.ndarray, demand: np.ndarray, i: np.ndarray, j: np.ndarray, gain: np.ndarray, share: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal shipments and the LP's dual values: the rent of a unit of each seller's supply
    (`u`, per unit shipped) and of each buyer's demand (`v`, per unit delivered), both >= 0.
    On every edge that carries a flow, gain = u_seller + share x v_buyer."""
    x = np.zeros(len(gain))
    u = np.zeros(len(supply))
    v = np.zeros(len(demand))
    idx = np.flatnonzero(gain > EPS)
    if len(idx):
        xs, us, vs = _highs(supply, demand, i[idx], j[idx], gain[idx], share[idx], duals=True)
        x[idx] = xs
        u[np.unique(i[idx])] = us
        v[np.unique(j[idx])] = vs
    return x, u, v


# The last LPs solved without a run's memory (`Warm`), by their exact input: the coalitions of
# `market.sharing`'s park game pose the same books again, and so do mechanisms that solve
# without one.
_SOLVED: dict[bytes, np.ndarray] = {}
_SOLVED_MAX = 64


def _key(*arrays: np.ndarray) -> bytes:
    """The exact content of these arrays (dtype, size and bytes of each), as a dict key."""
    return b"|".join(b"%s:%d:" % (a.dtype.str.encode(), a.size) + np.ascontiguousarray(a).tobytes() for a in arrays)


def _remember(kept: dict[bytes, np.ndarray], key: bytes, x: np.ndarray, limit: int) -> None:
    if len(kept) >= limit:
        del kept[next(iter(kept))]  # the oldest
    kept[key] = x


def _highs(supply: np.ndarray, demand: np.ndarray, ei: np.ndarray, ej: np.ndarray, g: np.ndarray, f: np.ndarray,
           duals: bool = False):
    if duals:
        return _highs_lp(supply, demand, ei, ej, g, f, duals=True)
    key = _key(supply, demand, ei, ej, g, f)
    x = _SOLVED.get(key)
    if x is None:
        x = _highs_lp(supply, demand, ei, ej, g, f)
        _remember(_SOLVED, key, x, _SOLVED_MAX)
    return x.copy()


_primal: highspy.Highs | None = None


def _primal_solver() -> highspy.Highs:
    """The process's HiGHS instance for the shipments of a transportation LP: the primal simplex
    without presolve. Nothing shipped is a feasible start (every row is an upper bound on
    quantities that are >= 0), so the primal simplex goes straight to work; the dual simplex
    (HiGHS's default) must first make the costs dual feasible, and presolve costs more than it
    saves on these sparse LPs with two entries a column. On six late days of `synthetic:1000`
    (180 LPs of about 300 routes) it took 25 instead of 59 ms a day, on three of
    `synthetic:3000` 80 instead of 171 ms a day, each LP at the same optimum (to 2e-16
    relative). The shipments differ from the default's in their last bits (presolve's
    transformations), and where several allocations are optimal it may pick another (1 LP in
    180). The LP's duals (`solve_with_prices`, the planner's prices) stay with the default."""
    global _primal
    if _primal is None:
        _highs_solver()  # HiGHS prints a banner on its first construction only: that one hides it
        _primal = highspy.Highs()
        _primal.setOptionValue("output_flag", False)
        serial(_primal)
        _primal.setOptionValue("presolve", "off")
        _primal.setOptionValue("simplex_strategy", 4)  # primal
    return _primal


class Layout:
    """What a transportation LP's routes alone fix: the sellers and buyers that become rows and
    the constraint matrix, column-wise (each column, an edge, has two entries: its seller's row,
    then its buyer's row), with the arrays HiGHS takes for the columns' bounds and kinds. The
    same routes come back day after day (`Warm`): their layout is made once."""

    __slots__ = ("s_ids", "b_ids", "rows", "starts", "index", "value", "col_lower", "col_upper", "row_lower",
                 "integrality")

    def __init__(self, ei: np.ndarray, ej: np.ndarray, f: np.ndarray):
        # Only sellers and buyers that touch a useful edge become rows.
        self.s_ids, s_row = np.unique(ei, return_inverse=True)
        self.b_ids, b_row = np.unique(ej, return_inverse=True)
        ns, n = len(self.s_ids), len(f)
        self.rows = ns + len(self.b_ids)
        # Written directly rather than through scipy.sparse.
        self.index = np.empty(2 * n, dtype=np.int32)
        self.index[0::2] = s_row
        self.index[1::2] = ns + b_row
        self.value = np.empty(2 * n)
        self.value[0::2] = 1.0
        self.value[1::2] = f
        self.starts = np.arange(0, 2 * n + 1, 2, dtype=np.int32)
        self.col_lower, self.col_upper = np.zeros(n), np.full(n, highspy.kHighsInf)
        self.row_lower = np.full(self.rows, -highspy.kHighsInf)
        self.integrality = np.zeros(n, dtype=np.int32)  # all continuous (HiGHS must be told)


def _pass(h: highspy.Highs, supply: np.ndarray, demand: np.ndarray, ei: np.ndarray, ej: np.ndarray, g: np.ndarray,
          f: np.ndarray, layout: Layout | None = None) -> None:
    """Pass the transportation LP of these edges to `h` (which minimises: costs are -gain), with
    no basis or solution left of the last LP it solved. `layout`, if given, is these routes'."""
    if layout is None:
        layout = Layout(ei, ej, f)
    n = len(g)
    # The arrays straight to HiGHS: filling a HighsLp's fields converts them element by element
    # (half the cost of a small LP's solve).
    status = h.passModel(n, layout.rows, 2 * n, int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
                         0.0, np.ascontiguousarray(-g, dtype=float), layout.col_lower, layout.col_upper,
                         layout.row_lower, np.concatenate([supply[layout.s_ids], demand[layout.b_ids]]).astype(float),
                         layout.starts, layout.index, layout.value, layout.integrality)
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS refused the market's LP: {status}")
    h.clearSolver()  # nothing of the last LP's basis or solution is a start for this one


def _highs_lp(supply: np.ndarray, demand: np.ndarray, ei: np.ndarray, ej: np.ndarray, g: np.ndarray, f: np.ndarray,
              duals: bool = False, start: highspy.HighsBasis | None = None, layout: Layout | None = None):
    """The LP solved by HiGHS: its shipments (and with `duals` the rents of `solve_with_prices`),
    from the basis `start` if given. Shipments come from the primal solver, duals from the default."""
    h = _highs_solver() if duals else _primal_solver()
    _pass(h, supply, demand, ei, ej, g, f, layout)
    if start is not None:
        h.setBasis(start)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS could not clear the market: {h.modelStatusToString(h.getModelStatus())}")
    sol = h.getSolution()
    x = np.asarray(sol.col_value, dtype=float)
    x = np.where(x > EPS, x, 0.0)
    if not duals:
        return x
    # HiGHS minimises -gain: a binding <= row has a non-positive dual; the rent is its negative.
    y = -np.asarray(sol.row_dual, dtype=float)
    y = np.where(y > 0, y, 0.0)
    ns = len(np.unique(ei))  # the sellers' rows come first
    return x, y[:ns], y[ns:]


class Warm:
    """One run's memory of its transportation LPs: the optimal basis of the last LP on each set of
    routes (the same sellers, buyers and edges), and the last solutions by their exact input.

    A park's books repeat their routes day after day with other quantities and gains (the same
    companies make the same by-products): 180 LPs of six days of `synthetic:1000` had 16 sets of
    routes, 45 of three days of `synthetic:10000` had 15. Started from yesterday's optimal basis,
    an LP takes a fifth of the primal simplex iterations from nothing shipped; what that saves
    grows with the LP: measured on those LPs, 16 % of the LP time at 1,000 companies (where
    passing the model costs as much as solving it) and 46 % at 10,000.

    The solution depends only on the LP and the basis it starts from: the model is passed to
    HiGHS anew for every solve and the basis loaded (refactorised), so nothing of earlier solves
    in the process (another run's, another test's) plays a part. (A HiGHS model kept for each set
    of routes, with only its costs and bounds changed, saved a little more, but its results then
    depended on which LP it had seen first.) The bases and solutions are this memory's, which a
    run carries (its market and its optimum share one), so a run's figures never depend on what
    the process ran before, and a copy (`copy.deepcopy`, a digital twin's) solves as the
    original would. At most `KEEP` of each are kept (the oldest dropped first), and bases of at
    most `KEEP_COLUMNS` columns in all, each with its routes' `Layout` (passing an LP then takes
    its costs and bounds, and nothing else is worked out again)."""

    KEEP = 64
    KEEP_COLUMNS = 2_000_000

    def __init__(self) -> None:
        # By routes: the last optimal basis, its number of columns and the routes' `Layout`.
        self.bases: dict[bytes, tuple[highspy.HighsBasis, int, Layout]] = {}
        self.solved: dict[bytes, np.ndarray] = {}
        self._columns = 0

    def __deepcopy__(self, memo: dict) -> Warm:
        twin = Warm()
        twin.bases = {k: (_copy_basis(b), n, layout) for k, (b, n, layout) in self.bases.items()}  # layouts never change
        twin.solved = {k: x.copy() for k, x in self.solved.items()}
        twin._columns = self._columns
        return twin

    def solve(self, supply: np.ndarray, demand: np.ndarray, ei: np.ndarray, ej: np.ndarray, g: np.ndarray,
              f: np.ndarray) -> np.ndarray:
        """`_highs`'s shipments, warm-started: the LP's optimum from the routes' last basis. The
        same LP met again (a step's clearing and its optimum often pose it) gives what it gave."""
        key = _key(supply, demand, ei, ej, g, f)
        x = self.solved.get(key)
        if x is None:
            x = self._solve(_key(ei, ej, f), supply, demand, ei, ej, g, f)
            _remember(self.solved, key, x, self.KEEP)
        return x.copy()

    def _solve(self, routes: bytes, supply: np.ndarray, demand: np.ndarray, ei: np.ndarray, ej: np.ndarray,
               g: np.ndarray, f: np.ndarray) -> np.ndarray:
        start = self.bases.pop(routes, None)
        if start is not None:
            self._columns -= start[1]
            layout = start[2]
        else:
            layout = Layout(ei, ej, f)
        x = _highs_lp(supply, demand, ei, ej, g, f, start=None if start is None else start[0], layout=layout)
        while self.bases and (len(self.bases) >= self.KEEP or self._columns + len(g) > self.KEEP_COLUMNS):
            self._columns -= self.bases.pop(next(iter(self.bases)))[1]  # the oldest
        self.bases[routes] = (_primal_solver().getBasis(), len(g), layout)
        self._columns += len(g)
        return x


def _copy_basis(b: highspy.HighsBasis) -> highspy.HighsBasis:
    """Another basis with the same statuses (highspy's bases do not copy themselves)."""
    c = highspy.HighsBasis()
    c.col_status = list(b.col_status)
    c.row_status = list(b.row_status)
    c.valid = b.valid
    return c


def clear_uniform(bid: np.ndarray, bid_qty: np.ndarray, ask: np.ndarray, ask_qty: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match bids and asks of one market with no transport between traders, by sorting.

    Highest bids meet lowest asks while the bid is above the ask; that greedy match is optimal
    when every unit travels free and whole. Returns (bid index, ask index, quantity) per matched
    pair, in O(n log n).
    """
    bo = np.argsort(-bid, kind="stable")
    ao = np.argsort(ask, kind="stable")
    bq = np.cumsum(bid_qty[bo])
    aq = np.cumsum(ask_qty[ao])
    # Matched volume: walk the merged breakpoints of both cumulative schedules.
    cuts = np.union1d(bq, aq)
    cuts = cuts[cuts <= min(bq[-1], aq[-1]) + EPS]
    lo = np.concatenate([[0.0], cuts[:-1]])
    bi = np.searchsorted(bq, lo, side="right")
    ai = np.searchsorted(aq, lo, side="right")
    ok = (bi < len(bo)) & (ai < len(ao))
    bi, ai, lo, hi = bi[ok], ai[ok], lo[ok], cuts[ok]
    gains = bid[bo[bi]] - ask[ao[ai]]
    keep = (gains > EPS) & (hi - lo > EPS)
    return bo[bi[keep]], ao[ai[keep]], (hi - lo)[keep]

