"""The production phase's shortcuts against what they replace, bit for bit: the park's daily
draws (`agents.company.park_noise`), the cascade's cut and outside orders (`agents.cascade`,
checked against the walk they replaced, kept here as the reference) on the states of real
runs with failures, stops and outages, and the park-wide arrays rebuilt when a company takes
other processes."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.cascade import EPS, MEMORY, SLACK, Z, Cascade
from agents.company import park_noise
from experiments import scenario_io
from experiments.config import parse_sets, resolve
from experiments.runner import models

DATA = Path(__file__).parent / "data"
CHAIN = str(DATA / "ops_chain.toml")
EXAMPLE = str(DATA / "example.toml")


# --- the park's draws ------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=12), st.integers(0, 2**32 - 1), st.integers(1, 30))
def test_the_parks_draws_are_each_companys_own(lens, seed, days):
    """`park_noise` (a scalar for a company of one process) draws, day after day, the very
    numbers each company's `standard_normal(k)` would (`Company.draw`)."""
    mine = [np.random.default_rng([seed, i]) for i in range(len(lens))]
    theirs = [np.random.default_rng([seed, i]) for i in range(len(lens))]
    for _ in range(days):
        got = park_noise(mine, lens)
        want = np.concatenate([g.standard_normal(k) for g, k in zip(theirs, lens)])
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


# --- the cascade against the walk it replaced -----------------------------------------------

def reference_totals(cas: Cascade, qty) -> tuple[dict, dict, dict]:
    need: dict = defaultdict(float)
    made: dict = defaultdict(float)
    for i in range(cas.n):
        for k, q in enumerate(np.asarray(qty[i], dtype=float).tolist()):
            if q <= 0:
                continue
            for r, a in cas._in[i][k].items():
                need[(i, r)] += a * q
            for r, a in cas._by[i][k].items():
                made[(i, r)] += a * q
    demand: dict = defaultdict(float)
    for (_, r), q in need.items():
        demand[r] += q
    return dict(need), dict(made), dict(demand)


def reference_cut(cas: Cascade, qty, ledger, max_rounds: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """The cut as it was: numpy shares, every need's park surplus summed before it is compared."""
    f = np.ones(cas.n)
    depth = np.zeros(cas.n, dtype=np.int64)
    if not cas.users:
        return f, depth
    need1, by1, demand = reference_totals(cas, qty)

    def surplus(j, r, f):
        return max(0.0, by1.get((j, r), 0.0) * f[j] + ledger.stock(j, r) - need1.get((j, r), 0.0) * f[j])

    def outside_cap(i, r):
        res = cas.resources[r]
        if not res.substitute:
            return 0.0
        q = cas.orders.get((i, r))
        if q is None or len(q) < res.lead_time:
            return np.inf
        return q[0]

    for k in range(1, max_rounds + 1):
        new = f.copy()
        pools: dict = {}
        for (i, r), need in need1.items():
            if need <= EPS:
                continue
            stock = ledger.stock(i, r)
            own = by1.get((i, r), 0.0) * f[i]
            park = 0.0
            came = cas.last_in.get((i, r))
            if came:
                for j, got in came.items():
                    sent = cas.last_out.get((j, r), 0.0)
                    if sent > EPS:
                        park += surplus(j, r, f) * got / sent
            else:
                if r not in pools:
                    pools[r] = sum(surplus(j, rr, f) for (j, rr) in by1 if rr == r)
                park = pools[r] * need / max(demand[r], EPS)
            avail = stock + own + park + outside_cap(i, r)
            if avail < need * (1 - 1e-9):
                new[i] = min(new[i], max(0.0, avail / need))
        changed = new < f - 1e-12
        if not changed.any():
            break
        depth[changed & (depth == 0)] = k
        f = new
    return f, depth


def reference_record(cas: Cascade, trades, f, ledger, t, stopped) -> None:
    """The outside orders as they were placed (defaultdicts, np.sqrt, `stopped` always asked
    when there is a horizon)."""
    got: dict = defaultdict(lambda: defaultdict(float))
    for tr in trades:
        if tr.resource in cas.critical:
            got[(tr.buyer, tr.resource)][tr.seller] += tr.delivered
    cas.last_in = {k: dict(v) for k, v in got.items()}
    sent: dict = defaultdict(float)
    for (_i, r), by in cas.last_in.items():
        for j, q in by.items():
            sent[(j, r)] += q
    cas.last_out = dict(sent)
    for (i, r), need in cas._need1.items():
        res = cas.resources[r]
        if not res.substitute or res.lead_time <= 0:
            continue
        came = cas.last_in.get((i, r), {})
        if stopped is not None:
            park = sum(q for j, q in came.items() if not stopped(j, t + res.lead_time))
        else:
            park = sum(came.values())
        own = cas._by1.get((i, r), 0.0) * f[i] + ledger.stock(i, r)
        gap = max(0.0, need - own - park)
        key = (i, r)
        if key in cas._gap:
            change = gap - cas._gap[key]
            cas._var[key] = (1 - MEMORY) * cas._var.get(key, (0.1 * need) ** 2) + MEMORY * change * change
        cas._gap[key] = gap
        pending = cas.orders[key]
        pending.append(gap + Z * np.sqrt(cas._var.get(key, (0.1 * need) ** 2)) + SLACK * need)
        while len(pending) > res.lead_time:
            pending.popleft()


def bits(x) -> object:
    """A value's exact bits, the same for a Python float and a numpy float64 of one value."""
    if isinstance(x, dict):
        return {k: bits(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) or hasattr(x, "popleft"):
        return [bits(v) for v in x]
    return float(x).hex() if not (isinstance(x, float) and math.isnan(x)) else "nan"


def checked(model, seen: list[int]) -> None:
    """Make the model's cascade check each cut and record against the reference on a copy of
    itself; `seen` counts the cuts checked and those that cut some company."""
    cas = model.cascade
    cut, record = cas.cut, cas.record
    horizon = int(model.policy.information * model.operations.forecast_steps)

    def checked_cut(t, qty, ledger, max_rounds=50):
        want = reference_cut(copy.deepcopy(cas), qty, ledger, max_rounds)
        got = cut(t, qty, ledger, max_rounds)
        assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes(), (t, got, want)
        seen[0] += 1
        seen[1] += bool((got[0] < 1.0).any())
        return got

    def checked_record(trades, f, ledger, t=0, stopped=None):
        ref = copy.deepcopy(cas)
        reference_record(ref, trades, f, ledger, t, always_asked(model, t, horizon) if horizon > 0 else None)
        record(trades, f, ledger, t, stopped)
        for name in ("last_in", "last_out", "_gap", "_var", "orders"):
            assert bits(getattr(cas, name)) == bits(getattr(ref, name)), (t, name)

    cas.cut, cas.record = checked_cut, checked_record


def always_asked(model, t: int, horizon: int):
    """`agents.forecast.foresight`'s question as it was asked before it learnt to say None
    when no stop can be seen: asked of every supplier."""
    rel = model.reliability

    def stopped(j: int, s: int) -> bool:
        if s - t >= horizon or s < t:
            return False
        lo, hi = rel.first_of[j], (rel.first_of[j + 1] if j + 1 < len(rel.first_of) else rel.n)
        for p in range(lo, hi):
            start = rel.scheduled[p] if rel.scheduled[p] >= 0 else rel.next_due[p]
            if rel.every[p] > 0 and start >= 0 and start <= s < start + max(1, rel.days[p]):
                return True
            if rel.kind[p] == 2 and s < rel.until[p]:
                return True
        for e, c in model.outages():
            cap = e.capacity(s) if c == j and e.announced else None
            if cap is not None and cap < 1.0:
                return True
        return False

    return stopped


@st.composite
def cascading_runs(draw):
    """A short run of the example or chain park with critical inputs of random lead times,
    maybe failures and stops, maybe an outage, maybe a store at the chain's supplier."""
    path = draw(st.sampled_from([EXAMPLE, CHAIN]))
    steps = draw(st.integers(15, 40))
    sets = []
    if draw(st.booleans()):
        sets += ["operations.mtbf=20", "operations.mttr=3", "operations.maintenance_days=2",
                 f"operations.maintenance={draw(st.sampled_from(['none', 'calendar', 'predictive']))}",
                 f"operations.maintenance_every={draw(st.sampled_from([0, 10]))}"]
    park = scenario_io.read_file(Path(path))
    if draw(st.booleans()):
        company = draw(st.sampled_from([c.name for c in park.companies]))
        sets.append(f"events.outage={company}@{draw(st.integers(0, steps - 1))}:{draw(st.integers(1, 8))}")
    cfg, park = resolve(path, steps, draw(st.integers(0, 2**16)), parse_sets(sets))
    res = dict(park.resources)
    for r in sorted(res):
        res[r] = dataclasses.replace(res[r], substitute=draw(st.booleans()), lead_time=draw(st.integers(0, 3)))
    comps = list(park.companies)
    if path == CHAIN and draw(st.booleans()):
        comps[0] = dataclasses.replace(comps[0], storage={"x": draw(st.sampled_from([50.0, 300.0]))})
    return cfg, dataclasses.replace(park, resources=res, companies=tuple(comps))


@pytest.mark.slow  # about 5 s
@settings(max_examples=25, deadline=None)
@given(cascading_runs())
def test_the_cascade_cuts_and_orders_as_the_walk_it_replaced(run):
    """On every day of runs with and without exchanges, with cuts, failures, stops and
    outages: the same shares and depths (the need covered without the park's surplus is
    not summed), and the same deliveries, gaps, variances and outside orders."""
    cfg, park = run
    seen = [0, 0]
    for model in models(cfg, park):
        checked(model, seen)
        model.run(cfg.steps)
        assert seen[0] > 0 or not model.cascade.users  # no critical input: nothing to cut


def test_the_cascade_check_sees_cuts():
    """The check above meets days that are cut: the chain's supplier out for five days."""
    cfg, park = resolve(CHAIN, 25, 0, parse_sets(["events.outage=A@10:5"]))
    seen = [0, 0]
    for model in models(cfg, park):
        checked(model, seen)
        model.run(cfg.steps)
    assert seen[1] > 0


# --- the park-wide arrays -----------------------------------------------------------------

def test_the_parks_arrays_follow_a_company_that_takes_other_processes():
    """After `reprice` with other capacities the day's loads are computed on the new ones
    (`ParkLoads` is built again), as if the model had started with them."""
    cfg, park = resolve(EXAMPLE, 6, 3, parse_sets([]))
    bigger = dataclasses.replace(park, companies=tuple(
        dataclasses.replace(c, processes=tuple(dataclasses.replace(p, capacity=2 * p.capacity) for p in c.processes))
        for c in park.companies))
    model, _ = models(cfg, park)
    model.run(3)
    model.reprice(bigger)
    model.step()
    fresh, _ = models(cfg, bigger)
    fresh.run(4)
    assert model._loads.caps.tolist() == fresh._loads.caps.tolist() == [
        2 * p.capacity for c in park.companies for p in c.processes]
    ours, theirs = model.production_log.last(), fresh.production_log.last()
    assert ours["available"].tobytes() == theirs["available"].tobytes()
