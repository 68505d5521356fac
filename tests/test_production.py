"""Production as a decision and prices that pass costs on (agents.production, agents.decisions,
agents.pricing)."""

import copy
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from agents.model import ParkModel
from agents.pricing import DEFAULT_PASS_THROUGH, SECTOR_PASS_THROUGH, ProductPrices, sector_rate
from agents.production import Decision, Expectations, ProductionSettings, best_level, best_levels
from agents.scenario import CompanySpec, PipelineSpec, ProcessSpec, Scenario
from experiments import runner
from experiments.config import resolve
from market.orders import Trade
from market.policy import Policy
from market.resources import Mode, Resource

# ---------------------------------------------------------------- a park where B lives off A


def _pair(with_a: bool = True, pipe: bool = False) -> Scenario:
    """A makes widgets and yields 0.5 t of slag per widget (landfill at 30 EUR/t). B makes
    blocks from 1 t of slag each: slag bought outside costs 40 EUR/t and a block sells at 25,
    so B loses 15 a block on its own; with A's slag (worth -30 to A, 40 to B) it pays."""
    slag = Resource("slag", "t", virgin_price=40.0, disposal_cost=30.0, transport=Mode.PIPELINE if pipe else Mode.TRUCK,
                    transport_cost=0.5)
    ore = Resource("ore", "t", virgin_price=10.0, disposal_cost=0.0)
    a = CompanySpec("A", "steel", (0.0, 0.0), (ProcessSpec("widgets", "widget", "t", 100.0, 50.0, {"ore": 1.0},
                                                            {"slag": 0.5}),))
    b = CompanySpec("B", "construction", (2.0, 0.0), (ProcessSpec("blocks", "block", "t", 80.0, 25.0, {"slag": 1.0}),))
    companies = (a, b) if with_a else (b,)
    pipes = (PipelineSpec("A", "B", "slag"),) if pipe and with_a else ()
    return Scenario("pair", "", {"slag": slag, "ore": ore}, companies, pipes)


def _run(park: Scenario, steps: int = 60, **production) -> runner.RunResult:
    cfg, _ = resolve("kalundborg", steps, 0, {})  # a default config; the park is passed in
    cfg = dataclasses.replace(cfg, scenario=park.name, policy=park.policy,
                              production=ProductionSettings(**production))
    return runner.simulate(cfg, park)


def _made(result: runner.RunResult, company: str) -> float:
    p = result.production
    return float(p.loc[p.company == company, "produced"].sum())


def test_a_plant_that_pays_only_with_its_neighbours_by_product_runs_with_it_and_not_without():
    with_a = _run(_pair())
    alone = _run(_pair(with_a=False))
    assert _made(alone, "B") == 0.0
    # B learns of A's unsold slag (the platform shows it), starts, and takes it all from then on.
    assert _made(with_a, "B") > 0.9 * 50.0 * 59
    p = with_a.production
    b = p[p.company == "B"].set_index("step")
    # About what A's slag covers (expectations adapt with a lag when a contract replaces spot trade).
    assert (b.loc[5:, "decided"] <= 1.1 * 50.0).all()
    assert b.loc[5:, "decided"].mean() == pytest.approx(50.0, rel=0.03)
    # The baseline (no exchanges) has no B, and the savings count B's output.
    assert with_a.summary["kpis"]["savings_vs_baseline_eur"] > 0
    comp = {c["name"]: c for c in with_a.summary["companies"]}
    assert comp["B"]["baseline_output_eur"] == 0.0 and comp["B"]["output_eur"] > 0


def test_judged_at_outside_prices_the_dependent_plant_never_runs():
    r = _run(_pair(), decision=Decision.OUTSIDE)
    assert _made(r, "B") == 0.0
    assert _made(r, "A") > 0


def test_without_a_route_the_plant_does_not_run():
    # Slag by pipe, and no pipe between A and B: nothing can reach B.
    r = _run(dataclasses.replace(_pair(pipe=True), pipelines=()))
    assert _made(r, "B") == 0.0


def test_information_limits_what_a_company_expects():
    # At information level 0 B does not know A (no pipe, no search luck in a short run) and
    # cannot count on A's slag; at level 1 it can.
    park = dataclasses.replace(_pair(), policy=Policy(information=0.0))
    cfg, _ = resolve("kalundborg", 20, 0, {"cooperation.search_rate": 0.0})
    cfg = dataclasses.replace(cfg, scenario=park.name, policy=park.policy)
    r = runner.simulate(cfg, park)
    assert _made(r, "B") == 0.0


# ---------------------------------------------------------------- the tiers


def test_best_level_stops_where_cheap_supply_runs_out():
    # 50 units at -10 (cheap), then outside at -40; price 25, one unit of input per unit.
    assert best_level(25.0, 80.0, [(1.0, [(50.0, -10.0), (float("inf"), -40.0)])]) == pytest.approx(50.0)
    assert best_level(45.0, 80.0, [(1.0, [(50.0, -10.0), (float("inf"), -40.0)])]) == pytest.approx(80.0)
    assert best_level(5.0, 80.0, [(1.0, [(50.0, -10.0), (float("inf"), -40.0)])]) == 0.0
    # An input with no outside source: the level stops where supply ends.
    assert best_level(45.0, 80.0, [(2.0, [(50.0, -10.0)])]) == pytest.approx(25.0)


@settings(max_examples=60, deadline=None)
@given(st.floats(-50, 100), st.floats(0.1, 100), st.lists(
    st.tuples(st.floats(0.05, 3), st.lists(st.tuples(st.floats(0.1, 60), st.floats(-60, 20)), min_size=1, max_size=3),
              st.floats(-60, 20)), min_size=1, max_size=3))
def test_best_level_matches_brute_force(price, cap, raw):
    """The walk over the tiers' breakpoints finds the profit-maximising level: compared with a
    fine grid of levels, each valued by filling the need from the best tiers first."""
    terms = []
    for coef, tiers, last in raw:
        t = sorted(tiers, key=lambda x: -x[1]) + [(float("inf"), min(last, min(v for _, v in tiers)))]
        terms.append((coef, t))

    def profit(x):
        total = price * x
        for coef, tiers in terms:
            need = coef * x
            for q, v in tiers:
                take = min(q, need)
                total += take * v
                need -= take
                if need <= 0:
                    break
        return total

    x = best_level(price, cap, terms)
    grid = np.linspace(0, cap, 2001)
    best = max(profit(g) for g in grid)
    assert profit(x) >= best - 1e-6 * max(1.0, abs(best))
    assert 0.0 <= x <= cap + 1e-9


def test_best_levels_shares_a_cheap_input_with_the_more_profitable_process():
    # Two processes need the same input, 1 unit each; 30 cheap units at 5, then 40 outside.
    # Process 0 sells at 30 (pays only on cheap input), process 1 at 50 (pays either way).
    net = np.array([[1.0], [1.0]])
    x = best_levels(np.array([30.0, 50.0]), np.array([40.0, 40.0]), net,
                    [[(30.0, -5.0), (float("inf"), -40.0)]], [[(float("inf"), 0.0)]])
    assert x[1] == pytest.approx(40.0)
    assert x[0] == pytest.approx(0.0, abs=1e-6)  # process 1 pays 45 on cheap input vs 25: both pay, but cheap runs out
    x = best_levels(np.array([30.0, 50.0]), np.array([20.0, 5.0]), net,
                    [[(30.0, -5.0), (float("inf"), -40.0)]], [[(float("inf"), 0.0)]])
    assert x[1] == pytest.approx(5.0) and x[0] == pytest.approx(20.0)


# ---------------------------------------------------------------- pass-through


def _one(rate: float | None, sector: str = "energy") -> Scenario:
    coal = Resource("coal", "t", virgin_price=50.0, disposal_cost=0.0, co2_virgin=2.4)
    power = ProcessSpec("power", "electricity", "MWh", 100.0, 40.0, {"coal": 0.35}, pass_through=rate)
    return Scenario("one", "", {"coal": coal}, (CompanySpec("P", sector, (0.0, 0.0), (power,)),))


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 300))
def test_full_pass_through_keeps_the_margin_under_any_carbon_price(carbon):
    park = _one(1.0)
    m = ParkModel(park, Policy(carbon_tax=carbon))
    p = m.companies[0]
    margin = p.sale[0] - 0.35 * (50.0 + 2.4 * carbon)
    assert margin == pytest.approx(40.0 - 0.35 * 50.0)
    m.run(3)
    assert m.production_log.last()["produced"][0] > 0  # it keeps producing


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 300))
def test_no_pass_through_keeps_the_file_price(carbon):
    m = ParkModel(_one(0.0), Policy(carbon_tax=carbon))
    assert m.companies[0].sale[0] == 40.0
    m2 = ParkModel(_one(None), Policy(carbon_tax=carbon), production=ProductionSettings(pass_through=0.0))
    assert m2.companies[0].sale[0] == 40.0
    # Without pass-through the plant stops where the carbon cost eats its margin: 22.5 / 0.84.
    m.run(2)
    made = m.production_log.last()["produced"][0]
    assert (made > 0) == (40.0 - 0.35 * (50.0 + 2.4 * carbon) > 0)


def test_sector_default_and_its_source():
    m = ParkModel(_one(None), Policy(carbon_tax=100.0))
    rate, source = sector_rate("energy")
    assert rate == SECTOR_PASS_THROUGH["energy"][0] and "Fabra" in source
    assert m.companies[0].sale[0] == pytest.approx(40.0 + rate * 0.35 * 2.4 * 100.0)
    assert sector_rate("Unknown sector") == DEFAULT_PASS_THROUGH
    assert sector_rate(" Energy ") == SECTOR_PASS_THROUGH["energy"]


def test_the_scenarios_own_policy_is_the_reference():
    # A scenario whose own policy already has a carbon tax: its file prices are under that
    # tax, so a run with the same tax keeps them, and only the difference is passed on.
    park = dataclasses.replace(_one(None), policy=Policy(carbon_tax=30.0))
    assert ParkModel(park, Policy(carbon_tax=30.0)).companies[0].sale[0] == pytest.approx(40.0)
    rate = sector_rate("energy")[0]
    assert ParkModel(park, Policy(carbon_tax=50.0)).companies[0].sale[0] == pytest.approx(40.0 + rate * 0.84 * 20.0)


def test_prices_pass_through_unit_costs_of_inputs_and_disposal():
    pp = ProductPrices(_one(0.5).companies, _one(0.5).resources)
    res = _one(0.5).resources
    ref = pp.unit_cost(res, Policy())
    assert ref[0] == pytest.approx(0.35 * 50.0)
    new = pp.prices(pp.base, res, Policy(carbon_tax=10.0), ref)
    assert new[0] == pytest.approx(40.0 + 0.5 * 0.35 * 2.4 * 10.0)


# ---------------------------------------------------------------- the old rule, and Kalundborg


def test_outside_decision_with_no_pass_through_is_the_old_rule():
    """Judged at outside prices with fixed sale prices, a process runs at full load exactly
    when its worst-case margin is positive: the rule before production was a decision."""
    cfg, park = resolve("kalundborg", 20, 3, {"policy.carbon_tax": 25.0, "production.decision": "outside",
                                              "production.pass_through": 0.0})
    r = runner.simulate(cfg, park)
    p = r.production
    asnaes = p[p.company == "Asnaes power station"]
    assert (asnaes.produced == 0).all()  # 35 EUR/MWh against 35.6 of coal, carbon and the rest
    others = p[p.company != "Asnaes power station"]
    ran = others.groupby(["company", "process"], observed=True).produced.sum()
    assert (ran > 0).all()


@pytest.mark.slow
def test_kalundborg_at_80_eur_per_t_keeps_its_power_station():
    cfg, park = resolve("kalundborg", 30, 0, {"policy.carbon_tax": 80.0})
    r = runner.simulate(cfg, park)
    procs = {(p["company"], p["process"]): p for p in r.summary["processes"]}
    power = procs[("Asnaes power station", "power")]
    assert power["share_of_steps_run"] == 1.0
    assert power["mean_price_eur"] > 35.0 + 0.5 * 0.859 * 80.0
    assert r.summary["kpis"]["active_links"] >= 12


# ---------------------------------------------------------------- the new keys, as a user meets them


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_bad_production_keys_are_named_and_exit_2(tmp_path):
    from tests.conftest import run_cli

    out = tmp_path / "never"
    r = run_cli("simulate", "--steps", "3", "--set", "production.memory=0", "--set", "production.pass_through=-1",
                "--set", "policy.coordination=sync", "--set", "production.decison=outside", "--out", str(out))
    assert r.returncode == 2, r.stderr
    err = r.stderr
    assert "production.memory" in err and "production.pass_through" in err
    assert "synchronised" in err and "did you mean 'production.decision'" in err
    assert "Traceback" not in err and not out.exists()


def test_the_report_charts_the_kpis_asked_for_and_refuses_unknown_ones(tmp_path):
    from experiments import report
    from experiments.problems import InputError

    assert report.chart_kpis("output_eur, active_links") == ("output_eur", "active_links")
    with pytest.raises(InputError) as e:
        report.chart_kpis("output_euro")
    assert "did you mean 'output_eur'" in str(e.value.problems)


# ---------------------------------------------------------------- expectations: one array, as eight were

class _EightArrays:
    """`Expectations.observe` as it was before issue 15's speed-up: eight arrays, each filled
    with np.add.at and smoothed on its own (the reference the one-array version must match)."""

    def __init__(self, n: int, resources: list[str], memory: int):
        self.col = {r: k for k, r in enumerate(resources)}
        self.a = 1.0 / memory
        self.arrays = {name: np.zeros((n, len(resources))) for name in Expectations.FIELDS}
        self.steps = 0

    def observe(self, trades, spot, unsold, unmet) -> None:
        new = {name: np.zeros(x.shape) for name, x in self.arrays.items()}
        col, add = self.col, np.add.at
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
        self.steps += 1
        a = max(self.a, 1.0 / self.steps)
        for name, x in new.items():
            avg = self.arrays[name]
            avg *= 1.0 - a
            avg += a * x


_AMOUNTS = st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 1e-300, -1e-300, 5e-324, -5e-324, 7.25, 1e6])


@st.composite
def _trade_steps(draw):
    """A few steps of trades among up to 4 companies in 2 resources (amounts that include
    signed zeros and subnormals), with what was left unsold and unmet."""
    n = draw(st.integers(1, 4))
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        trades = [Trade(0, draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1)), draw(st.sampled_from(["a", "b"])),
                        draw(_AMOUNTS), draw(_AMOUNTS), draw(_AMOUNTS), draw(_AMOUNTS), 1.0,
                        draw(st.one_of(st.none(), _AMOUNTS)))
                  for _ in range(draw(st.integers(0, 6)))]
        spot = trades[draw(st.integers(0, len(trades))):]
        left = st.dictionaries(st.tuples(st.integers(0, n - 1), st.sampled_from(["a", "b"])), _AMOUNTS, max_size=4)
        steps.append((trades, spot, draw(left), draw(left)))
    return n, draw(st.integers(1, 4)), steps


@settings(max_examples=120, deadline=None)
@given(case=_trade_steps())
def test_expectations_average_as_eight_arrays_did(case):
    n, memory, steps = case
    new, old = Expectations(n, ["a", "b"], memory), _EightArrays(n, ["a", "b"], memory)
    for trades, spot, unsold, unmet in steps:
        new.observe(trades, spot, unsold, unmet)
        old.observe(trades, spot, unsold, unmet)
        for name in Expectations.FIELDS:
            got, want = getattr(new, name), old.arrays[name]
            assert [repr(x) for x in got.ravel().tolist()] == [repr(x) for x in want.ravel().tolist()], name
        assert not new._sums.any()


def test_a_copy_of_expectations_averages_on_its_own():
    """The named averages are views of one array: a copy (a digital twin's) gets views of its own."""
    e = Expectations(2, ["a"], 3)
    e.observe([Trade(0, 0, 1, "a", 2.0, 2.0, 5.0, 0.0, 1.0)], [], {}, {})
    twin = copy.deepcopy(e)
    twin.observe([Trade(0, 0, 1, "a", 4.0, 4.0, 5.0, 0.0, 1.0)], [], {}, {})
    assert e.got[1, 0] == 2.0 and twin.got[1, 0] == 2.0 * (1 - 0.5) + 0.5 * 4.0
    assert twin.got.base is twin._all and twin.sold[0, 0] == twin._all[3, 0, 0]
