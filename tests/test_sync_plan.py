"""`market.sync_plan`: the operator's multi-period plan, against hand figures and oracles.

- Hand-computed parks: a by-product shared between two companies, a resource with no outside
  substitute, storage across periods, the dual values.
- An independent formulation of the same LP, written here densely with loops from the module
  docstring and solved by scipy's `linprog`, must reach the same optimum on random small parks.
- Without edges or stores every company stands alone and its profit, given its production, is
  a closed form: a grid search over production must find the plan's optimum.
- Simple plans (nothing produced; every process on its own at capacity) never beat the plan.
- Every balance and bound holds in the returned plan; discounting and the horizon behave.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from market import sync_plan
from market.sync_plan import PlanProblem, PlanResult, solve
from tests.strategies import tenths

TOL = 1e-6
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def periods(a, h: int) -> np.ndarray:
    """A per-item column repeated over h periods: [[1], [2]] -> (2, h)."""
    return np.tile(np.asarray(a, dtype=float).reshape(-1, 1), (1, h))


def with_changes(pb: PlanProblem, **changes) -> PlanProblem:
    fields = {name: getattr(pb, name) for name in PlanProblem.__dataclass_fields__}
    fields.update(changes)
    return PlanProblem(**fields)


def with_stock(pb: PlanProblem, company: int, resource: int, units: float) -> PlanProblem:
    """The same park with `units` more of `resource` at `company` in period 0 (an extra store of
    capacity 0, so it can only be used, shipped or disposed of at once)."""
    return with_changes(
        pb,
        store_company=np.append(pb.store_company, company),
        store_resource=np.append(pb.store_resource, resource),
        store_capacity=np.append(pb.store_capacity, 0.0),
        store_level=np.append(pb.store_level, units),
        store_hold=np.append(pb.store_hold, 0.0),
        store_decay=np.append(pb.store_decay, 0.0),
    )


# ---------------------------------------------------------------- an independent formulation


def node_roles(pb: PlanProblem) -> dict[tuple[int, int], dict[str, bool]]:
    """Every (company, resource) in the park and what can happen there, by plain loops."""
    P, R = pb.inputs.shape
    roles: dict[tuple[int, int], dict[str, bool]] = {}

    def role(c, r):
        return roles.setdefault((int(c), int(r)), dict(consumes=False, yields=False, stores=False,
                                                         sends=False, receives=False))

    for p in range(P):
        for r in range(R):
            if pb.inputs[p, r] > 0:
                role(pb.proc_company[p], r)["consumes"] = True
            if pb.byproducts[p, r] > 0:
                role(pb.proc_company[p], r)["yields"] = True
    for e in range(len(pb.edge_from)):
        role(pb.edge_from[e], pb.edge_resource[e])["sends"] = True
        role(pb.edge_to[e], pb.edge_resource[e])["receives"] = True
    for s in range(len(pb.store_company)):
        role(pb.store_company[s], pb.store_resource[s])["stores"] = True
    for (_c, r), q in roles.items():
        q["buy"] = q["consumes"] and bool(pb.can_buy[r])
        q["dispose"] = q["yields"] or q["stores"]
        q["arrivals"] = (q["sends"] or q["dispose"]) and (q["receives"] or q["buy"])
    return roles


def oracle(pb: PlanProblem) -> float:
    """The plan's optimum, from the LP written out again variable by variable."""
    P = len(pb.proc_company)
    H, E, S = pb.horizon, len(pb.edge_from), len(pb.store_company)
    roles = node_roles(pb)
    var: dict[tuple, int] = {}
    gain: list[float] = []
    bounds: list[tuple[float, float | None]] = []

    def new(key, g, upper=None):
        var[key] = len(gain)
        gain.append(g)
        bounds.append((0.0, upper))

    for h in range(H):
        d = pb.discount ** h
        for p in range(P):
            new(("x", p, h), d * pb.price[p, h], pb.capacity[p, h])
        for e in range(E):
            new(("f", e, h), d * (pb.subsidy * pb.edge_share[e] - pb.edge_cost[e]))
        for (c, r), q in roles.items():
            if q["buy"]:
                new(("buy", c, r, h), -d * pb.buy_price[r, h])
            if q["dispose"]:
                new(("disp", c, r, h), -d * pb.dispose_price[r, h])
        for s in range(S):
            new(("y", s, h), -d * pb.store_hold[s], pb.store_capacity[s])
    n = len(gain)
    eq_rows, eq_rhs, ub_rows = [], [], []
    for (c, r), q in roles.items():
        for h in range(H):
            row, arrive, rhs = np.zeros(n), np.zeros(n), 0.0
            for p in range(P):
                if pb.proc_company[p] == c:
                    row[var["x", p, h]] += pb.byproducts[p, r] - pb.inputs[p, r]
                    arrive[var["x", p, h]] -= pb.inputs[p, r]
            for e in range(E):
                if pb.edge_resource[e] != r:
                    continue
                if pb.edge_to[e] == c:
                    row[var["f", e, h]] += pb.edge_share[e]
                    arrive[var["f", e, h]] += pb.edge_share[e]
                if pb.edge_from[e] == c:
                    row[var["f", e, h]] -= 1.0
            if q["buy"]:
                row[var["buy", c, r, h]] += 1.0
                arrive[var["buy", c, r, h]] += 1.0
            if q["dispose"]:
                row[var["disp", c, r, h]] -= 1.0
            for s in range(S):
                if pb.store_company[s] == c and pb.store_resource[s] == r:
                    row[var["y", s, h]] -= 1.0
                    arrive[var["y", s, h]] -= 1.0
                    if h == 0:
                        rhs -= (1 - pb.store_decay[s]) * pb.store_level[s]
                    else:
                        row[var["y", s, h - 1]] += 1 - pb.store_decay[s]
            eq_rows.append(row)
            eq_rhs.append(rhs)
            if q["arrivals"]:
                ub_rows.append(arrive)
    res = linprog(-np.array(gain),
                  A_ub=np.array(ub_rows) if ub_rows else None, b_ub=np.zeros(len(ub_rows)) if ub_rows else None,
                  A_eq=np.array(eq_rows) if eq_rows else None, b_eq=np.array(eq_rhs) if eq_rows else None,
                  bounds=bounds, method="highs")
    assert res.status == 0, res.message
    return -res.fun


def alone_profit(pb: PlanProblem, x: np.ndarray) -> float | None:
    """Discounted profit of production x (P, H) with no shipments and nothing stored (the opening
    stock is used or disposed of in period 0), each node buying and disposing at its cheapest; None when
    x needs an input that cannot be bought."""
    total = 0.0
    roles = node_roles(pb)
    for h in range(pb.horizon):
        d = pb.discount ** h
        total += d * float(pb.price[:, h] @ x[:, h])
        for (c, r), q in roles.items():
            mine = pb.proc_company == c
            yielded = float(pb.byproducts[mine, r] @ x[mine, h])
            used = float(pb.inputs[mine, r] @ x[mine, h])
            if h == 0:
                at = (pb.store_company == c) & (pb.store_resource == r)
                yielded += float(((1 - pb.store_decay[at]) * pb.store_level[at]).sum())
            b, dp = pb.buy_price[r, h], pb.dispose_price[r, h]
            lo = max(0.0, used - yielded)  # purchases: enough to cover the need, at most the need
            hi = used if q["dispose"] else lo
            if lo > TOL and not q["buy"]:
                return None
            if not q["buy"]:
                hi = 0.0
            buy = hi if (b + (dp if q["dispose"] else 0.0)) < 0 else lo
            total -= d * (b * buy + (dp * (yielded + buy - used) if q["dispose"] else 0.0))
    return total


def residuals(pb: PlanProblem, res: PlanResult) -> list[float]:
    """Balance residual of every node and period, recomputed from the returned plan; also
    checks every bound and the arrivals rule."""
    H = pb.horizon
    roles = node_roles(pb)
    assert sorted(roles) == res.nodes
    assert np.all(res.production >= -TOL) and np.all(res.production <= pb.capacity + TOL)
    assert np.all(res.flow >= -TOL) and np.all(res.buy >= -TOL) and np.all(res.dispose >= -TOL)
    assert np.all(res.store >= -TOL) and np.all(res.store <= pb.store_capacity[:, None] + TOL)
    out = []
    for i, (c, r) in enumerate(res.nodes):
        q = roles[c, r]
        if not q["buy"]:
            assert np.all(res.buy[i] == 0)
        if not q["dispose"]:
            assert np.all(res.dispose[i] == 0)
        mine = pb.proc_company == c
        into = (pb.edge_to == c) & (pb.edge_resource == r)
        outof = (pb.edge_from == c) & (pb.edge_resource == r)
        at = (pb.store_company == c) & (pb.store_resource == r)
        for h in range(H):
            made = pb.byproducts[mine, r] @ res.production[mine, h]
            used = pb.inputs[mine, r] @ res.production[mine, h]
            arrived = pb.edge_share[into] @ res.flow[into, h]
            opening = (1 - pb.store_decay[at]) @ (pb.store_level[at] if h == 0 else res.store[at, h - 1])
            supply = made + arrived + res.buy[i, h] + opening
            demand = used + res.flow[outof, h].sum() + res.dispose[i, h] + res.store[at, h].sum()
            out.append(abs(supply - demand) / max(1.0, supply, demand))
            if q["arrivals"]:
                assert arrived + res.buy[i, h] <= used + res.store[at, h].sum() + TOL * max(1.0, supply)
    return out


# ---------------------------------------------------------------- random parks


@st.composite
def parks(draw, max_h=2, edges=True, stores=True, one_process=False, max_companies=3):
    n_c = draw(st.integers(2, max_companies))
    R = draw(st.integers(1, 2))
    H = draw(st.integers(1, max_h))
    proc_company = [c for c in range(n_c) for _ in range(1 if one_process else draw(st.integers(1, 2)))]
    P = len(proc_company)
    amounts = st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.0, 2.0])
    inputs = [[draw(amounts) for _ in range(R)] for _ in range(P)]
    byproducts = [[draw(amounts) for _ in range(R)] for _ in range(P)]

    def grid(lo, hi, shape):
        return [[draw(tenths(lo, hi)) for _ in range(shape[1])] for _ in range(shape[0])]

    kw = {}
    if edges:
        triples = [(a, b, r) for a in range(n_c) for b in range(n_c) for r in range(R) if a != b]
        chosen = draw(st.lists(st.sampled_from(triples), unique=True, max_size=4))
        kw.update(edge_from=[t[0] for t in chosen], edge_to=[t[1] for t in chosen],
                  edge_resource=[t[2] for t in chosen],
                  edge_share=[draw(st.integers(50, 100)) / 100 for _ in chosen],
                  edge_cost=[draw(tenths(0, 5)) for _ in chosen],
                  subsidy=draw(st.sampled_from([0.0, 0.0, 1.0, 5.0])))
    if stores:
        n_s = draw(st.integers(0, 2))
        kw.update(store_company=[draw(st.integers(0, n_c - 1)) for _ in range(n_s)],
                  store_resource=[draw(st.integers(0, R - 1)) for _ in range(n_s)],
                  store_capacity=[draw(tenths(0, 10)) for _ in range(n_s)],
                  store_level=[draw(tenths(0, 10)) for _ in range(n_s)],
                  store_hold=[draw(tenths(0, 3)) for _ in range(n_s)],
                  store_decay=[draw(st.sampled_from([0.0, 0.1, 0.5])) for _ in range(n_s)])
    return PlanProblem(
        horizon=H, proc_company=proc_company, capacity=grid(0, 10, (P, H)), price=grid(-5, 40, (P, H)),
        inputs=np.array(inputs).reshape(P, R), byproducts=np.array(byproducts).reshape(P, R),
        buy_price=grid(0, 30, (R, H)), can_buy=[draw(st.booleans()) for _ in range(R)],
        dispose_price=grid(-10, 20, (R, H)), discount=draw(st.sampled_from([1.0, 0.9, 0.5])), **kw)


def random_park(rng: np.random.Generator, companies: int, edges: int, horizon: int, resources: int = 20,
                stores: int = 6) -> PlanProblem:
    """A park of the given size: 1-2 processes a company, each using and yielding 1-2 of the
    resources, edges from a yielder to a user of the same resource."""
    proc_company = np.repeat(np.arange(companies), rng.integers(1, 3, companies))
    P = len(proc_company)
    inputs = np.zeros((P, resources))
    byproducts = np.zeros((P, resources))
    for p in range(P):
        inputs[p, rng.choice(resources, rng.integers(1, 3), replace=False)] = rng.uniform(0.2, 2)
        byproducts[p, rng.choice(resources, rng.integers(1, 3), replace=False)] = rng.uniform(0.1, 1)
    pairs = set()
    while len(pairs) < edges:
        r = rng.integers(resources)
        makers = np.unique(proc_company[byproducts[:, r] > 0])
        users = np.unique(proc_company[inputs[:, r] > 0])
        if len(makers) and len(users):
            a, b = rng.choice(makers), rng.choice(users)
            if a != b:
                pairs.add((int(a), int(b), int(r)))
    e = np.array(sorted(pairs)).reshape(-1, 3)
    return PlanProblem(
        horizon=horizon, proc_company=proc_company, capacity=rng.uniform(0, 100, (P, horizon)),
        price=rng.uniform(10, 80, (P, horizon)), inputs=inputs, byproducts=byproducts,
        buy_price=rng.uniform(5, 40, (resources, horizon)), can_buy=rng.random(resources) < 0.8,
        dispose_price=rng.uniform(-5, 20, (resources, horizon)),
        edge_from=e[:, 0], edge_to=e[:, 1], edge_resource=e[:, 2], edge_share=rng.uniform(0.7, 1, len(e)),
        edge_cost=rng.uniform(0, 5, len(e)), subsidy=1.0,
        store_company=rng.integers(0, companies, stores), store_resource=rng.integers(0, resources, stores),
        store_capacity=rng.uniform(0, 50, stores), store_level=rng.uniform(0, 50, stores),
        store_hold=rng.uniform(0, 2, stores), store_decay=rng.uniform(0, 0.2, stores), discount=0.99)


# ---------------------------------------------------------------- hand-computed parks

# Case (a): company 0 makes a product (price 8, capacity 10) yielding 0.5 g per unit; company 1's
# process needs 1 g per unit and sells at 5, below g's outside price of 20; g costs 10 to
# dispose of; the route 0 -> 1 costs 1 per unit and loses nothing. Resource 0 is unused.


def shared_byproduct(cap_b: float, edge: bool = True, horizon: int = 1) -> PlanProblem:
    kw = dict(edge_from=[0], edge_to=[1], edge_resource=[1], edge_share=[1.0], edge_cost=[1.0]) if edge else {}
    return PlanProblem(
        horizon=horizon, proc_company=[0, 1], capacity=periods([10, cap_b], horizon),
        price=periods([8, 5], horizon), inputs=[[0, 0], [0, 1]], byproducts=[[0, 0.5], [0, 0]],
        buy_price=periods([0, 20], horizon), can_buy=[True, True], dispose_price=periods([0, 10], horizon), **kw)


@pytest.mark.parametrize(("cap_b", "x_b", "objective"), [
    (3.0, 3.0, 80 + 3 * 5 - 3 * 1 - 2 * 10),   # B full; 2 g left over and disposed of
    (8.0, 5.0, 80 + 5 * 5 - 5 * 1),            # B limited by A's 5 g
])
def test_byproduct_goes_to_the_user_that_cannot_buy_it(cap_b, x_b, objective):
    res = solve(shared_byproduct(cap_b))
    assert res.production[:, 0] == pytest.approx([10.0, x_b])
    assert res.flow[0, 0] == pytest.approx(x_b)
    assert res.objective == pytest.approx(objective)
    assert res.profit_first == pytest.approx(objective)
    assert res.buy.sum() == pytest.approx(0.0)
    assert res.dispose[res.nodes.index((0, 1)), 0] == pytest.approx(5 - x_b)
    assert max(residuals(shared_byproduct(cap_b), res)) < TOL


def test_without_the_route_the_user_stops():
    res = solve(shared_byproduct(8.0, edge=False))
    assert res.production[:, 0] == pytest.approx([10.0, 0.0])
    assert res.objective == pytest.approx(80 - 5 * 10)


def test_input_without_substitute_runs_on_what_arrives():
    # Company 1 needs h (1 per unit, price 50) and h cannot be bought; company 0 yields 1 h per
    # unit of a product sold at 1 (capacity 4), h costs 2 to dispose of; 20 % is lost on the way.
    def park(edge: bool) -> PlanProblem:
        kw = dict(edge_from=[0], edge_to=[1], edge_resource=[0], edge_share=[0.8], edge_cost=[0.0]) if edge else {}
        return PlanProblem(horizon=1, proc_company=[0, 1], capacity=[[4.0], [10.0]], price=[[1.0], [50.0]],
                           inputs=[[0.0], [1.0]], byproducts=[[1.0], [0.0]], buy_price=[[100.0]], can_buy=[False],
                           dispose_price=[[2.0]], **kw)
    alone = solve(park(False))
    assert alone.production[:, 0] == pytest.approx([0.0, 0.0])  # A loses 1 per unit on its own
    assert alone.objective == pytest.approx(0.0)
    linked = solve(park(True))
    assert linked.production[:, 0] == pytest.approx([4.0, 3.2])
    assert linked.flow[0, 0] == pytest.approx(4.0)
    assert linked.objective == pytest.approx(4 * 1 + 3.2 * 50)


def stored_byproduct(hold: float, store_cap: float = 10.0) -> PlanProblem:
    """Two days. Company 0 makes 5 units (price 10) yielding 1 g each on day 0 and is down on
    day 1; company 1 is down on day 0 and can turn 5 g into a product worth nothing on day 1
    (g bought outside costs 20); g costs 3 to dispose of; company 0 can store g."""
    return PlanProblem(
        horizon=2, proc_company=[0, 1], capacity=[[5.0, 0.0], [0.0, 5.0]], price=[[10.0, 10.0], [0.0, 0.0]],
        inputs=[[0.0], [1.0]], byproducts=[[1.0], [0.0]], buy_price=[[20.0, 20.0]], can_buy=[True],
        dispose_price=[[3.0, 3.0]], edge_from=[0], edge_to=[1], edge_resource=[0], edge_share=[1.0],
        edge_cost=[0.0], store_company=[0], store_resource=[0], store_capacity=[store_cap], store_level=[0.0],
        store_hold=[hold], store_decay=[0.0])


def test_stores_when_holding_costs_less_than_the_disposal_it_saves():
    res = solve(stored_byproduct(hold=1.0))
    assert res.store[0] == pytest.approx([5.0, 0.0])
    assert res.flow[0] == pytest.approx([0.0, 5.0])
    assert res.production[1] == pytest.approx([0.0, 5.0])
    assert res.dispose.sum() == pytest.approx(0.0)
    assert res.objective == pytest.approx(50 - 5 * 1)
    assert res.profit_first == pytest.approx(50 - 5 * 1)


def test_disposes_when_holding_costs_more():
    res = solve(stored_byproduct(hold=4.0))
    assert res.store[0] == pytest.approx([0.0, 0.0])
    assert res.dispose[res.nodes.index((0, 0))] == pytest.approx([5.0, 0.0])
    assert res.production[1] == pytest.approx([0.0, 0.0])
    assert res.objective == pytest.approx(50 - 5 * 3)


def test_store_capacity_limits_what_waits():
    res = solve(stored_byproduct(hold=1.0, store_cap=3.0))
    assert res.store[0] == pytest.approx([3.0, 0.0])
    assert res.dispose[res.nodes.index((0, 0))] == pytest.approx([2.0, 0.0])
    assert res.objective == pytest.approx(50 - 3 * 1 - 2 * 3)


def test_opening_stock_decays_and_what_is_left_at_the_end_is_worth_nothing():
    # 10 units in a store of capacity 4 that loses half per day, nobody to use them.
    pb = PlanProblem(horizon=2, proc_company=np.zeros(0, int), capacity=np.zeros((0, 2)), price=np.zeros((0, 2)),
                     inputs=np.zeros((0, 1)), byproducts=np.zeros((0, 1)), buy_price=[[1.0, 1.0]], can_buy=[True],
                     dispose_price=[[2.0, 2.0]], store_company=[0], store_resource=[0], store_capacity=[4.0],
                     store_level=[10.0], store_hold=[0.1], store_decay=[0.5])
    res = solve(pb)
    # 5 units are left after the day's decay: 4 kept at 0.1, 1 disposed of at 2. The next day
    # 2 are left; keeping them (0.1 each) beats disposing of them, as stock at the end of the
    # horizon is worth nothing, not minus its disposal price.
    assert res.store[0] == pytest.approx([4.0, 2.0])
    assert res.dispose[0] == pytest.approx([1.0, 0.0])
    assert res.objective == pytest.approx(-(2 * 1 + 0.1 * 4 + 0.1 * 2))
    assert max(residuals(pb, res)) < TOL


# ---------------------------------------------------------------- dual values


def buyer_and_seller() -> PlanProblem:
    """Company 0 yields 5 g (disposal 10, capacity 10 at 0.5 g per unit); company 1 needs g for
    a process worth 30 per g-unit with capacity 10, and buys outside at 20 what company 0 cannot
    send; the route costs 1 per unit."""
    return with_changes(shared_byproduct(10.0), price=[[8.0], [30.0]])


def test_value_is_the_buy_price_at_a_buyer_and_minus_the_disposal_price_at_a_disposer():
    res = solve(buyer_and_seller())
    assert res.production[:, 0] == pytest.approx([10.0, 10.0])
    assert res.buy[res.nodes.index((1, 1)), 0] == pytest.approx(5.0)
    assert res.value_at(1, 1) == pytest.approx(20.0)       # a unit more at the buyer saves a purchase
    assert res.value_at(0, 1) == pytest.approx(20.0 - 1)   # ... and at the seller, after the journey
    assert res.value_at(0, 0) is None and res.value_at(5, 1) is None
    # A disposing seller: the user is full (case a with capacity 3).
    full = solve(shared_byproduct(3.0))
    assert full.value_at(0, 1) == pytest.approx(-10.0)
    assert full.value_at(1, 1) == pytest.approx(-10.0 + 1)  # a unit there saves a journey


@pytest.mark.parametrize(("pb", "company", "resource"), [
    (buyer_and_seller(), 1, 1), (buyer_and_seller(), 0, 1), (shared_byproduct(3.0), 0, 1),
    (shared_byproduct(3.0), 1, 1), (shared_byproduct(8.0), 1, 1),
])
def test_value_is_the_gain_from_one_more_unit(pb, company, resource):
    res = solve(pb)
    more = solve(with_stock(pb, company, resource, 0.5))
    assert (more.objective - res.objective) / 0.5 == pytest.approx(res.value_at(company, resource))


@PROPS
@given(parks())
def test_value_is_a_supergradient_at_disposal_nodes(pb):
    """Where disposal exists, one more unit is worth at least minus its disposal price and the
    objective grows by at most the value per unit (the LP's value is concave in supply)."""
    res = solve(pb)
    for (c, r), q in node_roles(pb).items():
        if not q["dispose"]:
            continue
        v = res.value_at(c, r)
        assert v >= -pb.dispose_price[r, 0] - TOL * max(1.0, abs(v))
        more = solve(with_stock(pb, c, r, 0.7))
        assert more.objective <= res.objective + 0.7 * v + TOL * max(1.0, abs(res.objective))


# ---------------------------------------------------------------- oracles and properties


@PROPS
@given(parks(max_h=1, stores=False))
def test_single_period_matches_an_independent_lp(pb):
    res = solve(pb)
    best = oracle(pb)
    assert res.objective == pytest.approx(best, rel=1e-6, abs=1e-6)


@PROPS
@given(parks(max_h=3))
def test_multi_period_with_stores_matches_an_independent_lp(pb):
    res = solve(pb)
    assert res.objective == pytest.approx(oracle(pb), rel=1e-6, abs=1e-6)
    assert max(residuals(pb, res), default=0.0) < TOL


@settings(max_examples=30, deadline=None)
@given(parks(max_h=1, edges=False, stores=False, one_process=True))
def test_companies_alone_match_a_grid_search(pb):
    """With no routes and no stores each company's profit is linear in its one process's
    output (the cheapest purchase and disposal follow in closed form), so the best point of a
    grid over production that includes both ends is the optimum."""
    grids = [np.linspace(0.0, pb.capacity[p, 0], 5) for p in range(len(pb.proc_company))]
    best = -np.inf
    for point in itertools.product(*grids):
        profit = alone_profit(pb, np.array(point).reshape(-1, 1))
        if profit is not None:
            best = max(best, profit)
    assert solve(pb).objective == pytest.approx(best, rel=1e-6, abs=1e-6)


@PROPS
@given(parks(max_h=3))
def test_no_simple_plan_beats_the_optimum(pb):
    res = solve(pb)
    idle = alone_profit(pb, np.zeros_like(pb.capacity))
    assert idle is not None, "doing nothing must always be possible"
    plans = [idle]
    # Every process at capacity on its own, where all its inputs can be bought.
    buyable = np.all((pb.inputs == 0) | pb.can_buy[None, :], axis=1)
    flat_out = alone_profit(pb, pb.capacity * buyable[:, None])
    if flat_out is not None:
        plans.append(flat_out)
    for profit in plans:
        assert res.objective >= profit - TOL * max(1.0, abs(profit))


@PROPS
@given(parks(max_h=3))
def test_every_balance_holds(pb):
    res = solve(pb)
    assert max(residuals(pb, res), default=0.0) < TOL
    disc = pb.discount ** np.arange(pb.horizon)
    # The objective is the plan's discounted profit, recomputed from its parts.
    node_res = np.array([r for _, r in res.nodes], dtype=int)
    per_period = (pb.price * res.production).sum(0) \
        + ((pb.subsidy * pb.edge_share - pb.edge_cost)[:, None] * res.flow).sum(0) \
        - (pb.buy_price[node_res] * res.buy).sum(0) - (pb.dispose_price[node_res] * res.dispose).sum(0) \
        - (pb.store_hold[:, None] * res.store).sum(0)
    assert res.objective == pytest.approx(float(disc @ per_period), rel=1e-9, abs=1e-9)
    assert res.profit_first == pytest.approx(float(per_period[0]), rel=1e-9, abs=1e-9)


@PROPS
@given(parks(max_h=3, stores=False))
def test_without_stores_periods_are_separate(pb):
    """Without stores nothing links the periods: the plan is H single-period plans, its
    objective their discounted sum and its first period the plan of a one-day horizon."""
    res = solve(pb)
    singles = []
    for h in range(pb.horizon):
        one = with_changes(pb, horizon=1, capacity=pb.capacity[:, [h]], price=pb.price[:, [h]],
                           buy_price=pb.buy_price[:, [h]], dispose_price=pb.dispose_price[:, [h]])
        singles.append(solve(one).objective)
    disc = pb.discount ** np.arange(pb.horizon)
    assert res.objective == pytest.approx(float(disc @ singles), rel=1e-6, abs=1e-6)
    assert res.profit_first == pytest.approx(singles[0], rel=1e-6, abs=1e-6)


def test_first_period_production_does_not_depend_on_the_horizon():
    """Case (a) over a week whose later days differ: without stores day 0 is planned alike
    whatever the horizon."""
    rng = np.random.default_rng(3)
    week = shared_byproduct(3.0, horizon=7)
    later = rng.uniform(0.5, 1.5, (2, 6))
    week = with_changes(week, capacity=np.column_stack([week.capacity[:, :1], week.capacity[:, 1:] * later]),
                        price=np.column_stack([week.price[:, :1], week.price[:, 1:] * later[::-1]]), discount=0.9)
    day = solve(shared_byproduct(3.0))
    for h in (1, 2, 7):
        res = solve(with_changes(week, horizon=h, capacity=week.capacity[:, :h], price=week.price[:, :h],
                                 buy_price=week.buy_price[:, :h], dispose_price=week.dispose_price[:, :h]))
        assert res.production[:, 0] == pytest.approx(day.production[:, 0])
        assert res.flow[:, 0] == pytest.approx(day.flow[:, 0])
        assert res.profit_first == pytest.approx(day.objective)


@pytest.mark.parametrize(("discount", "stored", "objective"), [
    (1.0, 5.0, 50 - 5 * 4 + 5 * 4),    # keep 5 g at 4 for a product worth 4 tomorrow; saves 3 now
    (0.5, 5.0, 50 - 5 * 4 + 0.5 * 5 * 4),
    (0.2, 0.0, 50 - 5 * 3),            # tomorrow's 4 is worth 0.8 today: dispose of it now
])
def test_discount_weights_later_periods(discount, stored, objective):
    pb = with_changes(stored_byproduct(hold=4.0), price=[[10.0, 10.0], [0.0, 4.0]], discount=discount)
    res = solve(pb)
    assert res.store[0] == pytest.approx([stored, 0.0])
    assert res.production[1, 1] == pytest.approx(stored)
    assert res.objective == pytest.approx(objective)


# ---------------------------------------------------------------- boundedness and edge cases


def test_subsidy_on_a_round_trip_earns_nothing():
    """A subsidy above the transport cost on routes both ways: shipping round and round would
    earn the subsidy on every lap; deliveries must be used or stored, so nothing moves."""
    pb = PlanProblem(horizon=1, proc_company=[0, 1], capacity=[[5.0], [5.0]], price=[[1.0], [1.0]],
                     inputs=[[0.0], [0.0]], byproducts=[[1.0], [1.0]], buy_price=[[5.0]], can_buy=[True],
                     dispose_price=[[0.0]], edge_from=[0, 1], edge_to=[1, 0], edge_resource=[0, 0],
                     edge_share=[1.0, 1.0], edge_cost=[0.0, 0.0], subsidy=5.0)
    res = solve(pb)
    assert res.flow.sum() == pytest.approx(0.0)
    assert res.objective == pytest.approx(10.0)


def test_outside_purchases_are_not_passed_on_for_disposal():
    """Sulphur sold outside at 60 (disposal price -60), bought outside at 50 by a user that can
    ship to the producer: buying to resell would pay without limit; it is not allowed."""
    pb = PlanProblem(horizon=1, proc_company=[0, 1], capacity=[[2.0], [2.0]], price=[[0.0], [0.0]],
                     inputs=[[0.0], [1.0]], byproducts=[[1.0], [0.0]], buy_price=[[50.0]], can_buy=[True],
                     dispose_price=[[-60.0]], edge_from=[1], edge_to=[0], edge_resource=[0], edge_share=[1.0],
                     edge_cost=[0.0], subsidy=3.0)
    res = solve(pb)
    assert res.flow.sum() == pytest.approx(0.0)
    assert res.objective == pytest.approx(2 * 60.0)
    assert max(residuals(pb, res)) < TOL


def test_empty_park_and_park_without_resources():
    empty = PlanProblem(horizon=3, proc_company=np.zeros(0, int), capacity=np.zeros((0, 3)), price=np.zeros((0, 3)),
                        inputs=np.zeros((0, 0)), byproducts=np.zeros((0, 0)), buy_price=np.zeros((0, 3)),
                        can_buy=np.zeros(0, bool), dispose_price=np.zeros((0, 3)))
    res = solve(empty)
    assert res.objective == 0.0 and res.nodes == [] and res.production.shape == (0, 3)
    plain = PlanProblem(horizon=2, proc_company=[0, 1], capacity=[[1.0, 2.0], [3.0, 4.0]],
                        price=[[5.0, -1.0], [2.0, 2.0]], inputs=np.zeros((2, 0)), byproducts=np.zeros((2, 0)),
                        buy_price=np.zeros((0, 2)), can_buy=np.zeros(0, bool), dispose_price=np.zeros((0, 2)))
    res = solve(plain)
    assert res.production == pytest.approx(np.array([[1.0, 0.0], [3.0, 4.0]]))
    assert res.objective == pytest.approx(5 + 6 + 8)
    assert res.profit_first == pytest.approx(11)


@pytest.mark.parametrize("bad", [
    dict(horizon=0),
    dict(edge_share=[1.2]),
    dict(edge_share=[0.0]),
    dict(capacity=[[-1.0], [1.0]]),
    dict(price=[[1.0, 2.0], [1.0, 2.0]]),
    dict(edge_resource=[5]),
    dict(discount=0.0),
    dict(price=[[np.nan], [1.0]]),
    dict(buy_price=[[0.0], [np.inf]]),
    dict(edge_cost=[-1.0]),
    dict(inputs=[[0, 0], [0, -1]]),
    dict(edge_from=[-1]),
    dict(edge_resource=[-1]),
    dict(edge_share=[1.0 + 1e-12]),
    dict(store_company=[0], store_resource=[1], store_capacity=[1.0], store_level=[-1.0], store_hold=[0.0],
         store_decay=[0.0]),
    dict(store_company=[0], store_resource=[1], store_capacity=[1.0], store_level=[1.0], store_hold=[0.0],
         store_decay=[1.0]),
    dict(store_company=[0], store_resource=[2], store_capacity=[1.0], store_level=[1.0], store_hold=[0.0],
         store_decay=[0.0]),
])
def test_rejects_malformed_problems(bad):
    pb = shared_byproduct(3.0)
    with pytest.raises(ValueError, match="|".join(bad)):  # the message names a field at fault
        with_changes(pb, **bad)


def test_problem_copies_and_freezes_its_arrays():
    cap = np.array([[10.0], [3.0]])
    pb = with_changes(shared_byproduct(3.0), capacity=cap)
    cap[0, 0] = 0.0
    assert pb.capacity[0, 0] == 10.0
    with pytest.raises(ValueError):
        pb.capacity[0, 0] = 1.0


@pytest.mark.parametrize(("companies", "edges"), [(10, 15), (300, 3000)])
def test_park_sized_problems_solve_and_balance(companies, edges):
    # How long the 300-company problem takes is benchmarks/bench.py's (bar: < 10 s), not a test's.
    pb = random_park(np.random.default_rng(companies), companies, edges, horizon=7)
    res = solve(pb)
    assert res.objective > 0
    if companies <= 10:
        assert max(residuals(pb, res)) < TOL
        assert res.objective == pytest.approx(oracle(pb), rel=1e-6)


def another_day(pb: PlanProblem, rng: np.random.Generator) -> PlanProblem:
    """The same park (same structure: same matrix) on another day: other capacities, prices,
    costs and stock, some capacities and stocks at 0 (ties and degenerate vertices)."""
    P, H = pb.capacity.shape
    R, S = pb.buy_price.shape[0], len(pb.store_company)
    return with_changes(
        pb, capacity=rng.uniform(0, 100, (P, H)) * (rng.random((P, H)) < 0.8), price=rng.uniform(10, 80, (P, H)),
        buy_price=rng.uniform(5, 40, (R, H)), dispose_price=rng.uniform(-5, 20, (R, H)),
        edge_cost=rng.uniform(0, 5, len(pb.edge_from)), subsidy=float(rng.uniform(0, 3)),
        store_capacity=rng.uniform(0, 50, S), store_level=rng.uniform(0, 50, S) * (rng.random(S) < 0.7),
        store_hold=rng.uniform(0, 2, S), discount=float(rng.uniform(0.9, 1)))


@pytest.mark.parametrize("seed", range(4))
def test_a_plan_from_yesterdays_basis_reaches_the_optimum_from_scratch(seed, monkeypatch):
    monkeypatch.setattr(sync_plan, "_MODELS", {})
    pb = random_park(np.random.default_rng(10), 10, 15, horizon=5)
    rng = np.random.default_rng(seed)
    last = None
    for _ in range(25):
        day = another_day(pb, rng)
        warm = solve(day, start=None if last is None else last.basis)
        monkeypatch.setattr(sync_plan, "_MODELS", {})  # a fresh HiGHS instance for the plan from scratch
        cold = solve(day)
        assert warm.basis is not None and warm.basis.matrix is cold.basis.matrix  # same structure
        assert warm.objective == pytest.approx(cold.objective, rel=1e-9, abs=1e-7)
        assert max(residuals(day, warm)) < TOL
        last = warm


def test_a_plan_depends_on_its_start_not_on_what_was_solved_before(monkeypatch):
    """`solve` loads the start afresh: the solver's leftovers from earlier solves (another
    basis, its factors) change nothing, to the last bit; a copied basis starts the same plan."""
    pb = random_park(np.random.default_rng(10), 10, 15, horizon=5)
    rng = np.random.default_rng(7)
    days = [another_day(pb, rng) for _ in range(6)]
    monkeypatch.setattr(sync_plan, "_MODELS", {})
    start = solve(days[0]).basis
    clean = solve(days[1], start=start)
    for d in days[2:]:
        solve(d)  # other plans on the same HiGHS instance, from scratch ...
    solve(days[2], start=clean.basis)  # ... and from another basis
    for again in (solve(days[1], start=start), solve(days[1], start=copy.deepcopy(start))):
        assert np.array_equal(again.production, clean.production)
        assert np.array_equal(again.flow, clean.flow)
        assert np.array_equal(again.store, clean.store)
        assert np.array_equal(again.value, clean.value)
        assert again.objective == clean.objective
    fresh = solve(days[1])  # from scratch after all that: as from scratch on a new instance
    monkeypatch.setattr(sync_plan, "_MODELS", {})
    new = solve(days[1])
    assert np.array_equal(fresh.production, new.production) and np.array_equal(fresh.value, new.value)


def test_a_basis_of_another_structure_is_ignored_and_the_solvers_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(sync_plan, "_MODELS", {})
    rng = np.random.default_rng(3)
    parks = [random_park(rng, 6 + k, 8, horizon=3) for k in range(sync_plan._MODELS_MAX + 3)]
    last = None
    for pb in parks:
        res = solve(pb, start=None if last is None else last.basis)  # the last basis is another park's
        assert res.objective == pytest.approx(oracle(pb), rel=1e-6)
        assert len(sync_plan._MODELS) <= sync_plan._MODELS_MAX
        last = res
    assert len(sync_plan._MODELS) == sync_plan._MODELS_MAX
