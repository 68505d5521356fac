"""Operations of the park over time, as a user meets them: outages set with
`--set events.outage=NAME@STEP:DURATION`, failures and repairs, maintenance policies, seasonal,
weekly and campaign profiles, and the cascade a missing input sets off down a chain
(`agents.operations`, `agents.reliability`, `agents.cascade`, `experiments.shocks`).

The chain park (tests/data/ops_chain.toml) is A -> B -> C: A's by-product x is B's only source
of input x, B's by-product y is C's input y, neither with an outside substitute; no variability,
full load, so every figure is exact: A makes 100 a (100 EUR) and 100 x; B makes 50 b (200 EUR)
from 100 x and yields 50 y; C makes 25 c (300 EUR) from 50 y.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.model import ParkModel
from agents.operations import Outage, parse_outage
from agents.reliability import RUNNING
from agents.scenario import Scenario
from experiments import scenario_io, shocks
from experiments.config import parse_sets, resolve
from experiments.problems import InputError
from experiments.runner import models, simulate
from market.settlement import settle as real_settle

DATA = Path(__file__).resolve().parent / "data"
CHAIN = str(DATA / "ops_chain.toml")
PROFILES = str(DATA / "ops_profiles.toml")
EXAMPLE = str(DATA / "example.toml")
A, B, C = 0, 1, 2
FULL = {A: 100.0, B: 50.0, C: 25.0}  # each company's output per step at full load
PRICE = {A: 100.0, B: 200.0, C: 300.0}
TOL = 1e-9


# --- helpers -----------------------------------------------------------------------------------

class Watch:
    """Hooks the settlement of every step of the models registered with it. Per step and model
    it keeps each company's output, which processes were not running, every store's level and
    what was bought outside; it checks, as it goes, that every resource account balances and
    that no store leaves [0, capacity]."""

    def __init__(self, *watched: ParkModel):
        self.models = {id(m.ledger): m for m in watched}
        self.steps: dict[int, list[dict]] = {id(m): [] for m in watched}
        self.problems: list[str] = []

    def settle(self, ledger, acc, plans, trades):
        out = real_settle(ledger, acc, plans, trades)
        model = self.models.get(id(ledger))
        if model is None:
            return out
        for r, ra in acc.resources.items():
            scale = max(1.0, ra.produced + ra.bought_outside + ra.stock_before)
            if abs(ra.imbalance()) > 1e-6 * scale:
                self.problems.append(f"step {acc.step}: {r} imbalance {ra.imbalance():g} ({ra})")
        for (c, r), store in ledger.stores.items():
            level = store.level
            if level < -1e-9 or level > store.capacity * (1 + 1e-9) + 1e-9 or any(q < -1e-9 for _, q in store.batches):
                self.problems.append(f"step {acc.step}: store of {r} at company {c} holds {level:g} of {store.capacity:g}")
        self.steps[id(model)].append({
            "t": acc.step,
            "plans": list(plans),
            "output": {p.company: sum(p.output.values()) for p in plans},
            "not_running": model.reliability.kind != RUNNING,
            "stock": {k: s.level for k, s in ledger.stores.items()},
            "bought": {r: ra.bought_outside for r, ra in acc.resources.items()},
        })
        return out

    def run(self, model: ParkModel, steps: int) -> list[dict]:
        with mock.patch("agents.model.settle", self.settle):
            model.run(steps)
        return self.steps[id(model)]


def chain_park(**changes) -> Scenario:
    """The chain park with changes: `x=dict(shelf_life=30)` to a resource, `B=dict(storage=...)`
    to a company (`byx`: the company's x per unit of its product)."""
    park = scenario_io.read_file(Path(CHAIN))
    res = dict(park.resources)
    comps = list(park.companies)
    for key, ch in changes.items():
        if key in res:
            res[key] = dataclasses.replace(res[key], **ch)
        else:
            i = park.company_index()[key]
            ch = dict(ch)
            if "byx" in ch:
                proc = dataclasses.replace(comps[i].processes[0], byproducts={"x": ch.pop("byx")})
                ch["processes"] = (proc,)
            comps[i] = dataclasses.replace(comps[i], **ch)
    return dataclasses.replace(park, resources=res, companies=tuple(comps))


def run_chain(park: Scenario | None = None, outage: str | None = "A@10:5", steps: int = 25,
              key: str = "events.outage"):
    """The chain run (not its baseline) with `--set KEY=OUTAGE` (none for None), watched."""
    cfg, loaded = resolve(CHAIN, steps, 0, parse_sets([f"{key}={outage}"] if outage else []))
    model, _ = models(cfg, park or loaded)
    watch = Watch(model)
    seen = watch.run(model, steps)
    assert not watch.problems, watch.problems[:5]
    return model, seen


def out_of(seen: list[dict], company: int) -> list[float]:
    return [s["output"][company] for s in seen]


# --- 1. a scripted outage down a chain ---------------------------------------------------------

def test_the_chain_file_declares_its_inputs_critical():
    park = scenario_io.read_file(Path(CHAIN))
    assert not park.resources["x"].substitute and not park.resources["y"].substitute
    model = ParkModel(park, seed=0)
    assert model.cascade.active
    assert model.cascade.critical == {"x", "y"}


def test_outage_of_the_supplier_stops_the_whole_chain_and_it_restarts():
    model, seen = run_chain()
    down = range(10, 15)
    for s in seen:
        t = s["t"]
        for c in (A, B, C):
            if t in down:
                assert s["output"][c] == 0.0, (t, c)
            else:
                assert s["output"][c] == pytest.approx(FULL[c]), (t, c)
        # x and y have no outside substitute: nobody ever buys them outside.
        assert s["bought"].get("x", 0.0) == 0.0 and s["bought"].get("y", 0.0) == 0.0, t
        # A's own loss is an outage (failure) loss, not a cascade cut of A.
        assert s["plans"][A].output == {} if t in down else s["plans"][A].output == {"a": FULL[A]}
    # B is cut in the first round, C in the second, during the outage only.
    assert sorted(model.cuts) == list(down)
    for t in down:
        assert model.cuts[t] == {B: (1, pytest.approx(FULL[B] * PRICE[B])), C: (2, pytest.approx(FULL[C] * PRICE[C]))}
    recs = model.records
    assert [r.cascade_depth for r in recs] == [2 if r.step in down else 0 for r in recs]
    assert [r.cascade_cut for r in recs] == [2 if r.step in down else 0 for r in recs]
    lost_fail = [r.lost_failure_eur for r in recs]
    lost_cascade = [r.lost_cascade_eur for r in recs]
    assert lost_fail == [pytest.approx(FULL[A] * PRICE[A]) if t in down else 0.0 for t in range(len(recs))]
    assert lost_cascade == [pytest.approx(FULL[B] * PRICE[B] + FULL[C] * PRICE[C]) if t in down else 0.0
                            for t in range(len(recs))]
    assert model.lost_failure_by_company.tolist() == pytest.approx([5 * 10_000.0, 0.0, 0.0])
    assert model.lost_cascade_by_company.tolist() == pytest.approx([0.0, 5 * 10_000.0, 5 * 7_500.0])


def test_shock_analysis_reports_the_chain_cascade_and_recovery():
    model, _ = run_chain()
    [shock] = shocks.analyse(model)
    assert (shock["company"], shock["kind"], shock["start"], shock["end"]) == ("A", "outage", 10, 15)
    assert shock["cascade_size"] == 2
    assert shock["cascade_depth"] == 2
    assert shock["cascade_companies"] == ["B", "C"]
    assert shock["cascade_lost_eur"] == pytest.approx(5 * (10_000.0 + 7_500.0))
    # The park's gains are back at step 15, the first step after the outage.
    assert shock["recovery_steps"] == 0


def test_simulate_summarises_the_chain_outage():
    cfg, park = resolve(CHAIN, 25, 0, parse_sets(["events.outage=A@10:5"]))
    result = simulate(cfg, park)
    k = result.summary["kpis"]
    assert k["lost_to_failures_eur"] == pytest.approx(50_000.0)
    assert k["lost_to_cascades_eur"] == pytest.approx(87_500.0)
    assert (k["shocks"], k["max_cascade_size"], k["max_cascade_depth"]) == (1, 2, 2)
    assert k["mean_recovery_steps"] == 0.0
    lost = {row["company"]: row for row in result.summary["lost_output_eur"]}
    assert lost["A"]["to_failures"] == pytest.approx(50_000.0) and lost["A"]["to_cascades"] == 0.0
    assert lost["C"]["to_cascades"] == pytest.approx(37_500.0)
    ts = result.timeseries.set_index("step")
    assert (ts.loc[10:14, "cascade_depth"] == 2).all() and (ts.loc[15:, "cascade_depth"] == 0).all()


def test_a_staged_restart_halves_the_chain():
    """A stopped 2 steps, then at half capacity 3: B and C run at half while A does."""
    park = scenario_io.read_file(Path(CHAIN))
    model = ParkModel(park, seed=0, events=(Outage("A", 10, ((2, 0.0), (3, 0.5))),))
    watch = Watch(model)
    seen = watch.run(model, 20)
    assert not watch.problems, watch.problems[:5]
    for c in (A, B, C):
        got = out_of(seen, c)
        assert got[10:12] == [0.0, 0.0], c
        assert got[12:15] == pytest.approx([FULL[c] / 2] * 3), c
        assert got[15:] == pytest.approx([FULL[c]] * 5), c
    assert {t: {c: d for c, (d, _) in cut.items()} for t, cut in model.cuts.items()} == \
        {t: {B: 1, C: 2} for t in range(10, 15)}


def test_an_outside_substitute_with_lead_time_cuts_the_user_until_it_arrives():
    """y has an outside substitute that takes 3 steps: C is cut for the first 3 steps of B's
    stop, then makes its full output from y bought outside."""
    model, seen = run_chain(chain_park(y=dict(substitute=True, lead_time=3)))
    c_out = out_of(seen, C)
    assert out_of(seen, B)[10:15] == [0.0] * 5
    for t in (10, 11, 12):
        assert C in model.cuts[t] and model.cuts[t][C][0] == 2, t
        assert c_out[t] < FULL[C] - 1e-6, t
    for t in (13, 14):
        assert C not in model.cuts.get(t, {}), t
        assert c_out[t] == pytest.approx(FULL[C]), t
        assert seen[t]["bought"]["y"] == pytest.approx(2 * FULL[C]), t
    assert c_out[15:] == pytest.approx([FULL[C]] * 10)
    assert all(s["bought"].get("y", 0.0) == 0.0 for s in seen[:10])
    [shock] = shocks.analyse(model)
    assert (shock["cascade_size"], shock["cascade_depth"]) == (2, 2)


def test_a_suppliers_store_buffers_the_gap_while_its_stock_lasts():
    """A makes 150 x a step and B takes 100: A stores 50 a step (500 after 10 steps), which
    carries B and C through 5 steps of A's stop and no further."""
    park = chain_park(x=dict(shelf_life=30), A=dict(storage={"x": 1000.0}, byx=1.5))
    model, seen = run_chain(park, outage="A@10:8", steps=22)
    assert seen[9]["stock"][(A, "x")] == pytest.approx(500.0)
    assert [s["stock"][(A, "x")] for s in seen[10:15]] == pytest.approx([400.0, 300.0, 200.0, 100.0, 0.0])
    for c in (B, C):
        got = out_of(seen, c)
        assert got[10:15] == pytest.approx([FULL[c]] * 5), c  # the store carries them
        assert got[15:18] == [0.0] * 3, c  # then it is empty and A is still down
        assert got[18:] == pytest.approx([FULL[c]] * 4), c
    assert sorted(model.cuts) == [15, 16, 17]


def test_the_users_own_store_buffers_an_announced_stop():
    """B keeps a store of x and sees A's announced stop coming: it fills the store from A's
    surplus (50 a step) and keeps producing while its stock lasts (100 x a step)."""
    park = chain_park(x=dict(shelf_life=30), B=dict(storage={"x": 1000.0}), A=dict(byx=1.5))
    model, seen = run_chain(park, outage="A@10:5", key="events.announced_outage")
    stock = [s["stock"][(B, "x")] for s in seen]
    assert stock[9] >= 300.0
    b_out = out_of(seen, B)
    full_steps = int(stock[9] // 100.0)
    assert b_out[10:10 + full_steps] == pytest.approx([FULL[B]] * full_steps)
    assert sum(b_out[10:15]) == pytest.approx(min(stock[9] / 2.0, 5 * FULL[B]))
    assert b_out[15:] == pytest.approx([FULL[B]] * 10)
    assert all(t >= 10 + full_steps for t in model.cuts)


def test_the_users_own_store_buffers_a_surprise_stop():
    park = chain_park(x=dict(shelf_life=30), B=dict(storage={"x": 1000.0}), A=dict(byx=1.5))
    model, seen = run_chain(park, outage="A@10:5")
    assert seen[9]["stock"][(B, "x")] > 0.0
    assert out_of(seen, B)[10] == pytest.approx(FULL[B])


def test_decay_shrinks_a_store():
    levels = {}
    for decay in (0.0, 0.5):
        park = chain_park(x=dict(shelf_life=30, decay=decay), A=dict(storage={"x": 1000.0}, byx=1.5))
        _, seen = run_chain(park, outage=None, steps=10)
        levels[decay] = seen[9]["stock"][(A, "x")]
    assert levels[0.5] < levels[0.0] - 1.0


def test_holding_cost_is_charged_on_stock():
    profit = {}
    for cost in (0.0, 1.0):
        park = chain_park(x=dict(shelf_life=30, holding_cost=cost), A=dict(storage={"x": 1000.0}, byx=1.5))
        model, _ = run_chain(park, outage=None, steps=10)
        profit[cost] = model.companies[A].profit_eur
    # 50, 100, ..., 500 t held at the end of steps 0-9: at least 2,250 EUR of holding.
    assert profit[1.0] < profit[0.0] - 2000.0


# --- 2. properties of runs with failures on ---------------------------------------------------

@st.composite
def failing_runs(draw):
    """A short run of the example or chain park with failures on, some resources made critical,
    maybe a store at the chain's supplier, and maybe an outage."""
    which = draw(st.sampled_from(["example", "chain"]))
    path = EXAMPLE if which == "example" else CHAIN
    steps = draw(st.integers(15, 40))
    policy = draw(st.sampled_from(["none", "calendar", "coordinated", "predictive"]))
    sets = ["operations.mtbf=20", "operations.mttr=3", f"operations.maintenance={policy}",
            f"operations.maintenance_every={draw(st.sampled_from([0, 10]))}", "operations.maintenance_days=2"]
    park = scenario_io.read_file(Path(path))
    if draw(st.booleans()):
        company = draw(st.sampled_from([c.name for c in park.companies]))
        sets.append(f"events.outage={company}@{draw(st.integers(0, steps - 1))}:{draw(st.integers(1, 8))}")
    cfg, park = resolve(path, steps, draw(st.integers(0, 2**16)), parse_sets(sets))
    res = dict(park.resources)
    for r in sorted(res):
        res[r] = dataclasses.replace(res[r], substitute=draw(st.booleans()), lead_time=draw(st.integers(0, 3)))
    comps = list(park.companies)
    if which == "chain" and draw(st.booleans()):
        res["x"] = dataclasses.replace(res["x"], shelf_life=draw(st.integers(1, 10)))
        proc = dataclasses.replace(comps[A].processes[0], byproducts={"x": draw(st.sampled_from([1.0, 1.5]))})
        comps[A] = dataclasses.replace(comps[A], storage={"x": draw(st.sampled_from([50.0, 300.0]))}, processes=(proc,))
    return cfg, dataclasses.replace(park, resources=res, companies=tuple(comps))


@pytest.mark.slow  # 4 s: the quick subset keeps under a minute; tests/test_settlement.py's books stay in it
@settings(max_examples=25, deadline=None)
@given(failing_runs())
def test_runs_with_failures_keep_their_books(run):
    """No process makes anything while it is stopped, a company under a full outage plans
    nothing, stores stay within [0, capacity], every resource account balances, and output
    lost to failures and to cascades is never negative; in the run and in its baseline."""
    cfg, park = run
    watched = models(cfg, park)
    watch = Watch(*watched)
    names = park.company_index()
    for model in watched:
        seen = watch.run(model, cfg.steps)
        rel = model.reliability
        for s in seen:
            t = s["t"]
            for i, comp in enumerate(park.companies):
                first = rel.first_of[i]
                down = s["not_running"][first:first + len(comp.processes)]
                made_by_running = {p.product for p, d in zip(comp.processes, down) if not d}
                for p, d in zip(comp.processes, down):
                    if d and p.product not in made_by_running:
                        assert s["plans"][i].output.get(p.product, 0.0) == 0.0, (t, comp.name, p.name)
            for e in cfg.events:
                if e.capacity(t) == 0.0:
                    plan = s["plans"][names[e.company]]
                    assert plan.output == {} and plan.byproducts == {} and plan.revenue == 0.0, (t, e)
        for r in model.records:
            assert r.lost_failure_eur >= 0.0 and r.lost_cascade_eur >= 0.0, r
            assert r.cascade_cut <= len(park.companies) and r.cascade_depth >= 0
        assert (model.lost_failure_by_company >= 0).all() and (model.lost_cascade_by_company >= 0).all()
        for cut in model.cuts.values():
            assert all(d >= 1 and eur >= 0.0 for d, eur in cut.values()), cut
        for r, tot in model.resource_totals.items():
            assert all(v >= -1e-9 for v in tot.values()), (r, tot)
    assert not watch.problems, watch.problems[:5]


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([EXAMPLE, CHAIN]))
def test_failures_off_means_nothing_fails(seed, path):
    cfg, park = resolve(path, 40, seed, parse_sets(["operations.mtbf=5", "operations.mttr=3",
                                                    "operations.maintenance=none", "operations.failures=false"]))
    model, _ = models(cfg, park)
    model.run(cfg.steps)
    assert model.reliability.failures == 0
    assert all(r.failures == 0 and r.processes_down == 0 and r.lost_failure_eur == 0.0 for r in model.records)
    assert model.shocks == []


def test_processes_down_counts_the_processes_stopped_in_that_step():
    cfg, park = resolve(EXAMPLE, 100, 1, parse_sets(["operations.mtbf=40", "operations.mttr=4"]))
    model, _ = models(cfg, park)
    watch = Watch(model)
    seen = watch.run(model, cfg.steps)
    assert any(r.failures for r in model.records)
    assert [r.processes_down for r in model.records] == [int(s["not_running"].sum()) for s in seen]


# --- 3. maintenance policies on common seeds ---------------------------------------------------

POLICIES = ("none", "calendar", "coordinated", "predictive")
KPIS = ("lost_to_failures_eur", "lost_to_cascades_eur", "failures", "maintenance_stops", "gains_from_trade_eur")
MAINTAINED = ["operations.mtbf=120", "operations.mttr=5", "operations.maintenance_every=60",
              "operations.maintenance_days=3"]


def kalundborg_kpis(*sets: str, steps: int = 180, seed: int = 0) -> dict:
    cfg, park = resolve("kalundborg", steps, seed, parse_sets(list(sets)))
    k = simulate(cfg, park).summary["kpis"]
    return {key: k[key] for key in KPIS}


@pytest.fixture(scope="module")
def policy_runs() -> dict[str, list[dict]]:
    return {p: [kalundborg_kpis(*MAINTAINED, f"operations.maintenance={p}") for _ in range(2)] for p in POLICIES}


@pytest.mark.slow
def test_each_policy_run_twice_gives_identical_figures(policy_runs):
    for p, (first, second) in policy_runs.items():
        assert first == second, p


@pytest.mark.slow
def test_policies_differ_as_they_should(policy_runs):
    k = {p: runs[0] for p, runs in policy_runs.items()}
    assert k["none"]["maintenance_stops"] == 0
    assert k["none"]["failures"] > k["predictive"]["failures"]
    for p in ("calendar", "coordinated", "predictive"):
        assert k[p]["maintenance_stops"] > 0, p
    # Every process with an mtbf stops 3 steps every 60: in 180 steps each stops 3 times.
    assert k["calendar"]["maintenance_stops"] == k["coordinated"]["maintenance_stops"]
    assert k["calendar"]["maintenance_stops"] % 3 == 0
    assert all(v["lost_to_failures_eur"] > 0 and v["lost_to_cascades_eur"] >= 0 for v in k.values())


@pytest.mark.slow
def test_with_failures_off_nothing_fails_on_kalundborg():
    off = kalundborg_kpis(*MAINTAINED, "operations.maintenance=none", "operations.failures=false")
    assert off["failures"] == 0 and off["maintenance_stops"] == 0 and off["lost_to_failures_eur"] == 0.0
    calendar = kalundborg_kpis(*MAINTAINED, "operations.maintenance=calendar", "operations.failures=false",
                               steps=61)
    assert calendar["failures"] == 0 and calendar["maintenance_stops"] > 0


def test_without_a_calendar_the_policy_changes_nothing():
    runs = {}
    for p in POLICIES:
        cfg, park = resolve(EXAMPLE, 200, 1, parse_sets(["operations.mtbf=40", "operations.mttr=4",
                                                          f"operations.maintenance={p}"]))
        model, _ = models(cfg, park)
        model.run(cfg.steps)
        runs[p] = [(r.failures, r.lost_failure_eur) for r in model.records]
    assert any(f for f, _ in runs["none"])
    for p in POLICIES:
        assert runs[p] == runs["none"], p


# --- 4. profiles and a process's own calendar -------------------------------------------------

def profile_outputs(steps: int, *sets: str) -> dict[str, list[float]]:
    cfg, park = resolve(PROFILES, steps, 0, parse_sets(list(sets)))
    model, _ = models(cfg, park)
    seen = Watch(model).run(model, steps)
    products = [p.product for c in park.companies for p in c.processes]
    return {prod: [sum(pl.output.get(prod, 0.0) for pl in s["plans"]) for s in seen] for prod in products}


@pytest.fixture(scope="module")
def year() -> dict[str, list[float]]:
    return profile_outputs(212)


def test_a_seasonal_process_makes_more_in_january_than_in_july(year):
    heat = year["heat"]
    january, july = heat[0:31], heat[181:212]
    assert min(january) > max(july)
    assert max(heat) == pytest.approx(75.0)  # 0.5 x (1 + 0.5) x 100 at the peak, day 15
    assert heat[15] == max(heat)
    assert heat[196] == pytest.approx(50.0 * (1 + 0.5 * math.cos(2 * math.pi * (196 - 15) / 365)))


def test_weekend_halves_output(year):
    parts = year["parts"]
    for t, q in enumerate(parts):
        assert q == pytest.approx(5.0 if t % 7 >= 5 else 10.0), t


def test_a_campaign_stops_on_its_off_days(year):
    batch = year["batch"]
    for t, q in enumerate(batch):
        assert q == (0.0 if t % 7 >= 5 else pytest.approx(10.0)), t


def test_profiles_off_runs_flat():
    flat = profile_outputs(14, "operations.profiles=false")
    assert flat["heat"] == pytest.approx([50.0] * 14)
    assert flat["parts"] == pytest.approx([10.0] * 14) and flat["batch"] == pytest.approx([10.0] * 14)


def test_a_process_calendar_stops_it_as_planned():
    """The kiln stops 2 steps every 10 under the calendar policy and never under none."""
    cfg, park = resolve(PROFILES, 40, 0, {})
    model, _ = models(cfg, park)
    seen = Watch(model).run(model, 40)
    clinker = [s["plans"][1].output.get("clinker", 0.0) for s in seen]
    stopped = [t for t, q in enumerate(clinker) if q == 0.0]
    assert len(stopped) == 8
    assert all(b - a == 10 for a, b in zip(stopped[::2], stopped[2::2]))
    assert all(stopped[k + 1] == stopped[k] + 1 for k in range(0, 8, 2))
    assert sum(r.maintenance_stops for r in model.records) == 4
    assert sum(r.lost_failure_eur for r in model.records) == pytest.approx(8 * 10 * 100.0)
    assert [s.kind for s in model.shocks] == ["maintenance"] * 4
    none = profile_outputs(40, "operations.maintenance=none")
    assert none["clinker"] == pytest.approx([10.0] * 40)


# --- 5. outages on the command line ------------------------------------------------------------

def what(o: Outage) -> tuple:
    return o.company, o.at, o.stages


def test_parse_outage_reads_name_step_and_duration():
    o = parse_outage("Asnaes power station@100:14")
    assert what(o) == ("Asnaes power station", 100, ((14, 0.0),))
    assert o.duration == 14 and not o.announced
    assert [o.capacity(t) for t in (99, 100, 113, 114)] == [None, 0.0, 0.0, None]
    assert what(parse_outage("Plant @North@ 3 : 2 ")) == ("Plant @North", 3, ((2, 0.0),))


@pytest.mark.parametrize("text", ["Asnaes power station", "Asnaes power station@100", "@100:14",
                                  "Asnaes power station@x:14", "Asnaes power station@100:0",
                                  "Asnaes power station@100:-3", "Asnaes power station@1.5:3",
                                  "Asnaes power station@100:14:2"])
def test_parse_outage_refuses_malformed_text(text):
    with pytest.raises(ValueError, match="NAME@STEP:DURATION"):
        parse_outage(text)


def test_events_outage_on_the_command_line_is_repeatable():
    one, _ = resolve("kalundborg", 200, 0, parse_sets(['events.outage="Asnaes power station@100:14"']))
    assert [what(e) for e in one.events] == [("Asnaes power station", 100, ((14, 0.0),))]
    two, _ = resolve("kalundborg", 200, 0, parse_sets(['events.outage="Asnaes power station@100:14"',
                                                       "events.outage=Gyproc@5:2"]))
    assert [what(e) for e in two.events] == [("Asnaes power station", 100, ((14, 0.0),)), ("Gyproc", 5, ((2, 0.0),))]
    assert not any(e.announced for e in two.events)
    assert two.to_dict()["events"][1]["company"] == "Gyproc"
    told, _ = resolve("kalundborg", 200, 0, parse_sets(["events.announced_outage=Gyproc@5:2"]))
    assert [(what(e), e.announced) for e in told.events] == [(("Gyproc", 5, ((2, 0.0),)), True)]


@pytest.mark.parametrize("value", ['"Asnaes power station@100"', '"Asnaes power station@soon:14"', "@1:2"])
def test_a_malformed_outage_is_an_input_error_with_the_fix(value):
    with pytest.raises(InputError) as err:
        resolve("kalundborg", 50, 0, parse_sets([f"events.outage={value}"]))
    [problem] = err.value.problems
    assert "events.outage" in problem and "NAME@STEP:DURATION" in problem, problem


def test_an_outage_of_an_unknown_company_is_an_input_error_with_the_fix():
    with pytest.raises(InputError) as err:
        resolve("kalundborg", 50, 0, parse_sets(['events.outage="Asnes power station@10:3"',
                                                 "events.outage=Nobody at all@1:1"]))
    assert len(err.value.problems) == 2
    typo, nobody = err.value.problems
    assert "unknown company 'Asnes power station'" in typo
    assert "did you mean 'Asnaes power station'" in typo, typo
    assert "unknown company 'Nobody at all'" in nobody and "Gyproc" in nobody, nobody  # lists the companies


def test_an_unknown_company_error_names_the_key_typed():
    for key in ("events.outage", "events.announced_outage"):
        with pytest.raises(InputError) as err:
            resolve("kalundborg", 50, 0, parse_sets([f"{key}=Asnes power station@10:3"]))
        [problem] = err.value.problems
        assert f"--set {key}:" in problem, problem


def test_an_outage_of_asnaes_lowers_the_parks_gains_while_it_lasts():
    at, steps = 20, 36
    cfg, park = resolve("kalundborg", steps, 0, parse_sets([f'events.outage="Asnaes power station@{at}:10"']))
    plain, _ = resolve("kalundborg", steps, 0, {})
    hit, _ = models(cfg, park)
    hit.run(steps)
    calm, _ = models(plain, park)
    calm.run(steps)
    g_hit = [r.gains_from_trade_eur for r in hit.records]
    g_calm = [r.gains_from_trade_eur for r in calm.records]
    assert g_hit[:at] == g_calm[:at]  # the same seed: the same park until the outage
    for t in range(at, at + 10):
        assert g_hit[t] < g_calm[t], t
    assert sum(g_hit[at:at + 10]) < 0.5 * sum(g_calm[at:at + 10])
    asnaes = park.company_index()["Asnaes power station"]
    assert hit.lost_failure_by_company[asnaes] > 0 and calm.lost_failure_by_company.sum() == 0.0
    # Cuts appear only where a critical resource is used.
    if not hit.cascade.active:
        assert hit.cuts == {}
    users = {i for i, c in enumerate(park.companies) for p in c.processes
             if any(r in hit.cascade.critical for r in p.inputs)}
    assert all(set(cut) <= users for cut in hit.cuts.values())
    assert hit.cascade.active == bool(users)


def test_without_critical_resources_an_outage_cuts_no_one():
    """Kalundborg with every resource bought outside at once: Asnaes' outage costs its own
    output only; the chain park, whose resources have no substitute, cuts."""
    park = scenario_io.load("kalundborg")
    res = {r: dataclasses.replace(v, substitute=True, lead_time=0) for r, v in park.resources.items()}
    easy = dataclasses.replace(park, resources=res)
    model = ParkModel(easy, seed=0, events=(parse_outage("Asnaes power station@5:5"),))
    model.run(12)
    assert not model.cascade.active
    assert model.cuts == {} and all(r.lost_cascade_eur == 0.0 for r in model.records)
    assert sum(r.lost_failure_eur for r in model.records) > 0
    chain, _ = run_chain()
    assert chain.cascade.active and chain.cuts
