"""`market.transport.solve` against an LP built independently here and solved by scipy.

The oracle states the problem from the module docstring again, from scratch: one row per seller
(sum of shipments <= supply), one per buyer (sum of delivered shipments <= demand), maximise the
gain. Random problems go through each of the three code paths of `solve`: one seller, one buyer
(both solved by sorting) and the general case (HiGHS).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from market.transport import solve
from tests.strategies import tenths

TOL = 1e-7


def oracle(supply, demand, i, j, gain, share) -> float:
    """Optimal objective of the transportation problem with losses, by scipy's HiGHS."""
    n = len(gain)
    if n == 0:
        return 0.0
    a = np.zeros((len(supply) + len(demand), n))
    for e in range(n):
        a[i[e], e] = 1.0
        a[len(supply) + j[e], e] = share[e]
    res = linprog(-np.asarray(gain), A_ub=a, b_ub=np.concatenate([supply, demand]),
                  bounds=[(0, None)] * n, method="highs")
    assert res.status == 0, res.message
    return -res.fun


@st.composite
def problems(draw, sellers=(1, 3), buyers=(1, 3), one_seller=False, one_buyer=False):
    """(supply, demand, i, j, gain, share) on a random subset of the seller x buyer pairs."""
    ns = draw(st.integers(*sellers))
    nb = draw(st.integers(*buyers))
    pairs = [(a, b) for a in range(ns) for b in range(nb)]
    if one_seller:
        s = draw(st.integers(0, ns - 1))
        pairs = [(a, b) for a, b in pairs if a == s]
    if one_buyer:
        t = draw(st.integers(0, nb - 1))
        pairs = [(a, b) for a, b in pairs if b == t]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1, max_size=len(pairs)))
    n = len(chosen)
    supply = np.array([draw(tenths(0, 10)) for _ in range(ns)])
    demand = np.array([draw(tenths(0, 10)) for _ in range(nb)])
    gain = np.array([draw(tenths(-10, 10)) for _ in range(n)])
    # share in (0.5, 1]
    share = np.array([draw(st.integers(51, 100)) / 100 for _ in range(n)])
    i = np.array([a for a, _ in chosen], dtype=np.int64)
    j = np.array([b for _, b in chosen], dtype=np.int64)
    return supply, demand, i, j, gain, share


def check(supply, demand, i, j, gain, share) -> np.ndarray:
    """Assert `solve` is feasible, ships nothing at a loss, and reaches the oracle's optimum."""
    x = solve(supply, demand, i, j, gain, share)
    assert x.shape == gain.shape
    assert np.all(x >= 0)
    assert np.all(x[gain <= 0] == 0), "shipped on an edge that gains nothing"
    shipped = np.bincount(i, weights=x, minlength=len(supply))
    delivered = np.bincount(j, weights=share * x, minlength=len(demand))
    assert np.all(shipped <= supply + TOL), (shipped, supply)
    assert np.all(delivered <= demand + TOL), (delivered, demand)
    best = oracle(supply, demand, i, j, gain, share)
    got = float(gain @ x)
    assert abs(got - best) <= TOL * max(1.0, abs(best)), (got, best, x)
    return x


def arrays(supply, demand, i, j, gain, share):
    return (np.array(supply, float), np.array(demand, float), np.array(i, np.int64), np.array(j, np.int64),
            np.array(gain, float), np.array(share, float))


@settings(max_examples=60, deadline=None)
@given(problems(one_seller=True, buyers=(1, 5)))
def test_one_seller_matches_lp(p):
    check(*p)


@settings(max_examples=60, deadline=None)
@given(problems(one_buyer=True, sellers=(1, 5)))
def test_one_buyer_matches_lp(p):
    check(*p)


@settings(max_examples=80, deadline=None)
@given(problems(sellers=(2, 3), buyers=(2, 3)))
# Two sellers and two buyers on every pair: the general (HiGHS) path.
@example(arrays([4, 3], [5, 2], [0, 0, 1, 1], [0, 1, 0, 1], [3, 5, 4, -1], [0.9, 1.0, 0.6, 1.0]))
# Two sellers, but one has only losing edges: after dropping those, one seller is left.
@example(arrays([4, 3], [5, 2], [0, 0, 1, 1], [0, 1, 0, 1], [3, 5, -4, 0], [0.9, 1.0, 0.6, 1.0]))
def test_general_matches_lp(p):
    check(*p)


def test_one_buyer_ranks_by_gain_per_unit_delivered():
    # Seller 0 gains more per unit shipped (1.0 vs 0.9) but half of it is lost on the way:
    # per unit of the buyer's demand it is worth 2.0, seller 1's is worth 0.9. The buyer's
    # 1 unit of demand goes to seller 0 (2 shipped, 1 delivered).
    s, d, i, j, g, f = arrays([5, 5], [1], [0, 1], [0, 0], [1.0, 0.9], [0.5, 1.0])
    x = check(s, d, i, j, g, f)
    np.testing.assert_allclose(x, [2.0, 0.0])


def test_one_seller_ranks_by_gain_per_unit_shipped():
    # One unit of supply: the edge that gains more per unit shipped wins, whatever its loss.
    s, d, i, j, g, f = arrays([1], [5, 5], [0, 0], [0, 1], [1.0, 0.9], [0.6, 1.0])
    x = check(s, d, i, j, g, f)
    np.testing.assert_allclose(x, [1.0, 0.0])


def test_nothing_to_gain_ships_nothing():
    s, d, i, j, g, f = arrays([3, 3], [3, 3], [0, 0, 1, 1], [0, 1, 0, 1], [0, -1, -2, 0], [1, 1, 1, 1])
    assert np.all(solve(s, d, i, j, g, f) == 0)


def test_no_edges():
    s, d, i, j, g, f = arrays([3], [3], [], [], [], [])
    assert solve(s, d, i, j, g, f).shape == (0,)


def test_tiny_integer_instance_by_enumeration():
    # A second oracle that does not use an LP at all: every whole-unit shipment plan of a
    # 2 x 2 lossless instance (whole-unit data has a whole-unit optimum).
    s, d, i, j, g, f = arrays([2, 3], [3, 2], [0, 0, 1, 1], [0, 1, 0, 1], [4, 6, 5, 1], [1, 1, 1, 1])
    best = -np.inf
    for x in itertools.product(range(4), repeat=4):
        x = np.array(x, float)
        if (np.bincount(i, x, 2) <= s).all() and (np.bincount(j, x, 2) <= d).all():
            best = max(best, g @ x)
    assert best == 6 * 2 + 5 * 3  # seller 0 -> buyer 1 (2 units), seller 1 -> buyer 0 (3 units)
    x = solve(s, d, i, j, g, f)
    assert g @ x == pytest.approx(best, rel=TOL)


def test_two_routes_between_the_same_pair():
    # Found by the property tests: the sorting shortcuts assume one edge per pair.
    # Supply 2, demand 1. Route 0 gains 2 a unit shipped but loses half (4 per unit delivered);
    # route 1 gains 3 and loses nothing. Best: ship 2 on route 0 (gain 4), not 1 on route 1 (3).
    s, d, i, j, g, f = arrays([2], [1], [0, 0], [0, 0], [2.0, 3.0], [0.5, 1.0])
    assert oracle(s, d, i, j, g, f) == pytest.approx(4.0)
    check(s, d, i, j, g, f)


def test_shipments_do_not_depend_on_what_the_process_solved_before():
    """The general path's HiGHS instance (primal simplex, no presolve) is reused by every LP of the
    process: an LP's shipments are the same bits solved first or after others, so a run's
    figures never depend on the runs, tests or planners before it."""
    from market import transport
    rng = np.random.default_rng(5)

    def lp(seed):
        r = np.random.default_rng(seed)
        i, j = (a.ravel() for a in np.meshgrid(np.arange(9), np.arange(7), indexing="ij"))
        return (r.uniform(1, 20, 9), r.uniform(1, 20, 7), i, j, r.uniform(-1, 10, len(i)), r.uniform(0.6, 1.0, len(i)))

    target = lp(0)
    transport._primal = None  # a fresh instance, as in a new process
    transport._SOLVED.clear()
    first = solve(*target)
    for seed in rng.integers(1, 1000, 5):
        solve(*lp(int(seed)))
    transport._SOLVED.clear()  # solve it again, not from the process's memory of it
    assert np.array_equal(solve(*target), first)
    check(*target)


def solve_by_arrays(*p) -> np.ndarray:
    """`solve` with its small-book shortcut in lists turned off: the numpy path, the reference."""
    from market import transport
    saved = transport.SMALL
    transport.SMALL = -1
    try:
        return solve(*p)
    finally:
        transport.SMALL = saved


@settings(max_examples=150, deadline=None)
@given(st.one_of(problems(one_seller=True, buyers=(1, 6)), problems(one_buyer=True, sellers=(1, 6)),
                 problems(sellers=(1, 3), buyers=(1, 3))))
def test_small_books_walked_in_lists_give_the_same_bits(p):
    """`_solve_small` (Python lists, for books of a few edges) takes the same steps as the
    numpy shortcuts: the same shipments to the last bit, or None where HiGHS is needed."""
    from market import transport
    small = transport._solve_small(*p)
    full = solve_by_arrays(*p)
    if small is None:
        ei, ej = p[2][p[4] > 1e-9], p[3][p[4] > 1e-9]
        assert len(set(ei.tolist())) > 1 and len(set(ej.tolist())) > 1
    else:
        assert np.array_equal(small, full) and small.dtype == full.dtype


tiny = st.sampled_from([0.0, 5e-10, 1e-9, 2e-9, 1e-6])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(tenths(0, 10), tiny), min_size=2, max_size=2), st.one_of(tenths(-1, 10), tiny),
       st.floats(0.01, 1.0), st.integers(0, 2), st.integers(0, 2))
def test_one_route_walked_in_lists_gives_the_same_bits(amounts, gain, share, seller, buyer):
    """A book of one route (most of a small park's) takes `solve_lists`' one-step shortcut: the
    same shipment to the last bit as the numpy path, at and around the EPS thresholds."""
    from market import transport
    supply, demand = np.full(3, amounts[0]), np.full(3, amounts[1])
    p = (supply, demand, np.array([seller]), np.array([buyer]), np.array([gain]), np.array([share]))
    small = transport.solve_lists(supply.tolist(), demand.tolist(), [seller], [buyer], [gain], [share])
    assert [repr(v) for v in small] == [repr(v) for v in solve_by_arrays(*p).tolist()]


# ------------------------------------------------------------------ warm starts (`Warm`)
def _days(seed: int, days: int, sellers: int = 12, buyers: int = 10):
    """A book's LPs day after day: the same routes (every seller to every buyer, random shares),
    other quantities and gains each day, as a park's books are."""
    rng = np.random.default_rng(seed)
    i, j = (a.ravel() for a in np.meshgrid(np.arange(sellers), np.arange(buyers), indexing="ij"))
    share = rng.uniform(0.6, 1.0, len(i))
    base = rng.uniform(0.5, 10.0, len(i))
    supply, demand = rng.uniform(1, 20, sellers), rng.uniform(1, 20, buyers)
    return [(supply * rng.uniform(0.9, 1.1, sellers), demand * rng.uniform(0.9, 1.1, buyers), i, j,
             base + rng.uniform(-0.05, 0.05, len(i)), share) for _ in range(days)]


@settings(max_examples=40, deadline=None)
@given(problems(sellers=(2, 4), buyers=(2, 4)), st.integers(0, 3))
def test_warm_solve_matches_lp(p, seed):
    """Started from the basis of another LP on the same routes, the optimum is the oracle's."""
    from market.transport import Warm
    warm = Warm()
    supply, demand, i, j, gain, share = p
    other = np.random.default_rng(seed)
    solve(other.uniform(0, 10, len(supply)), demand[::-1].copy(), i, j, gain[::-1].copy(), share, warm)
    x = solve(supply, demand, i, j, gain, share, warm)
    assert np.all(x >= 0) and np.all(x[gain <= 0] == 0)
    assert np.all(np.bincount(i, weights=x, minlength=len(supply)) <= supply + TOL)
    assert np.all(np.bincount(j, weights=share * x, minlength=len(demand)) <= demand + TOL)
    best = oracle(supply, demand, i, j, gain, share)
    assert abs(float(gain @ x) - best) <= TOL * max(1.0, abs(best))


def test_warm_solutions_depend_only_on_the_run_not_on_the_process():
    """A run's warm-started LPs give the same bits whatever the process solved before on the same
    routes (another run's memory; a new HiGHS instance halfway), and a copy of the memory (a
    digital twin's) goes on as the original; every day reaches the day's optimum, in fewer
    simplex iterations than from nothing shipped."""
    import copy

    from market import transport
    days = _days(0, 12)
    transport._primal = None  # a fresh HiGHS instance, as in a new process
    first = transport.Warm()
    xs = [solve(*d, first) for d in days]
    for d, x in zip(days, xs):
        best = oracle(*d)
        assert abs(float(d[4] @ x) - best) <= TOL * max(1.0, abs(best))
    other = transport.Warm()  # another run on the same routes, its days in another order
    for d in _days(1, 5)[::-1]:
        solve(d[0], d[1], days[0][2], days[0][3], d[4], days[0][5], other)
    second = transport.Warm()
    for k, d in enumerate(days):
        if k == 6:
            twin = copy.deepcopy(second)
            transport._primal = None  # and the process's HiGHS instance is new halfway
        assert np.array_equal(solve(*d, second), xs[k]), k
    for k in range(6, 12):
        assert np.array_equal(solve(*days[k], twin), xs[k]), k
    h = transport._primal_solver()
    day13 = _days(0, 13)[12]
    solve(*day13, transport.Warm())
    cold = h.getInfo().simplex_iteration_count
    solve(*day13, second)  # from day 12's basis
    assert h.getInfo().simplex_iteration_count < cold, (h.getInfo().simplex_iteration_count, cold)


def test_warm_memory_is_bounded():
    from market import transport
    warm = transport.Warm()
    warm.KEEP = 3
    for seed in range(6):
        for d in _days(seed, 2, sellers=3 + seed, buyers=2):
            solve(*d, warm)
    assert len(warm.bases) <= 3 and len(warm.solved) <= 3
    assert warm._columns == sum(len(b.col_status) for b, _, _ in warm.bases.values())
