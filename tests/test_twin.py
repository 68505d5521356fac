"""The digital twin (agents.twin), the prescriptive maintenance policy and `run.py whatif`."""

from __future__ import annotations

import argparse
import dataclasses
import math

import pytest

from agents import twin as twin_module
from agents.operations import Outage
from agents.twin import Plan, best, prescriptive_chooser, snapshot, whatif
from experiments import runner, scenario_io
from experiments import whatif as cli
from experiments.config import RunConfig, apply
from experiments.problems import InputError

STREAMS = ("rng", "ops_rng", "market_rng", "coop_rng", "rel_rng")
OPS = {"operations.mtbf": 120, "operations.mttr": 3, "operations.maintenance_every": 60,
       "operations.maintenance_days": 3}


@pytest.fixture(scope="module")
def park():
    return scenario_io.load("kalundborg")


def build(park, **sets):
    model, _ = runner.models(apply(RunConfig(), sets), park)
    return model


def plain(records) -> list[tuple]:
    """Records as comparable tuples (NaN == NaN: a step with no contract has a NaN mean trust)."""
    def fix(v):
        return "nan" if isinstance(v, float) and math.isnan(v) else v
    return [tuple(fix(getattr(r, f.name)) for f in dataclasses.fields(r)) for r in records]


def streams(model) -> dict:
    return {name: getattr(model, name).bit_generator.state for name in STREAMS}


def outage(company: str, at: int, steps: int) -> Plan:
    return Plan(f"{company} down {steps}", (Outage(company, at, ((steps, 0.0),)),))


def test_snapshot_continues_exactly_as_the_park_would(park):
    model = build(park, **OPS)
    model.run(15)
    twin = snapshot(model)
    assert twin is not model and all(c.model is twin for c in twin.companies)
    assert {id(a) for a in twin.agents} == {id(c) for c in twin.companies}
    assert streams(twin) == streams(model)
    twin.run(20)
    model.run(20)
    assert plain(twin.records) == plain(model.records)
    assert twin.ledger.cash.tolist() == model.ledger.cash.tolist()


def test_a_whatif_leaves_the_running_park_untouched(park):
    model = build(park, **OPS)
    model.run(15)
    before = (plain(model.records), streams(model), model.ledger.cash.copy(), model.reliability.condition.copy(),
              len(model.events), len(model.shocks), model.t, model.steps)
    whatif(model, [outage("Gyproc", 16, 5)], horizon=10)
    after = (plain(model.records), streams(model), model.ledger.cash.copy(), model.reliability.condition.copy(),
             len(model.events), len(model.shocks), model.t, model.steps)
    assert before[:2] == after[:2]
    assert before[2].tolist() == after[2].tolist() and before[3].tolist() == after[3].tolist()
    assert before[4:] == after[4:]
    model.run(20)
    never = build(park, **OPS)
    never.run(35)
    assert plain(model.records) == plain(never.records)


@pytest.fixture(scope="module")
def asnaes_vs_fish(park):
    model = build(park)
    model.run(30)
    plans = [outage("Asnaes power station", 30, 10), outage("Fish farm", 30, 10)]
    return model, plans, whatif(model, plans, horizon=30)


def test_the_power_station_down_costs_the_park_more_than_the_fish_farm(asnaes_vs_fish):
    _, _, (asnaes, fish) = asnaes_vs_fish
    assert asnaes.lost_profit_eur > fish.lost_profit_eur > 0
    assert asnaes.lost_gains_eur > fish.lost_gains_eur
    assert asnaes.lost_to_failures_eur > fish.lost_to_failures_eur > 0
    # The power station's steam, fly ash and gypsum feed its users: its stop cuts them too.
    assert asnaes.lost_to_cascades_eur > 0
    assert (asnaes.start, asnaes.horizon) == (30, 30)


def test_best_picks_the_cheaper_plan_and_says_what_it_compared(asnaes_vs_fish):
    _, plans, outcomes = asnaes_vs_fish
    plan, why = best(outcomes)
    assert plan is plans[1]
    assert "Fish farm" in why and "2 plans" in why
    # Ties go to the earliest listed.
    tie = [dataclasses.replace(outcomes[0], lost_profit_eur=5.0), dataclasses.replace(outcomes[1], lost_profit_eur=5.0)]
    assert best(tie)[0] is plans[0]


def test_whatif_is_deterministic_and_a_plan_equal_to_the_reference_costs_nothing(asnaes_vs_fish):
    model, plans, outcomes = asnaes_vs_fish
    again = whatif(model, [*plans, Plan("nothing")], horizon=30)
    assert again[:2] == outcomes
    assert (again[2].lost_profit_eur, again[2].lost_gains_eur, again[2].lost_to_failures_eur,
            again[2].lost_to_cascades_eur) == (0.0, 0.0, 0.0, 0.0)


def test_a_snapshot_taken_inside_a_step_replays_that_step(park):
    """The prescriptive chooser copies the park from inside `begin_step`: the copy must replay
    the step under way and go on exactly as the park does."""
    model = build(park, **OPS, **{"operations.maintenance": "prescriptive"})
    taken = []

    def choose(process, candidates):  # deterministic; the copy inherits this very function
        if not taken:
            taken.append((model.t, snapshot(model)))
        return candidates[-1]

    model.reliability.choose = choose
    model.run(40)
    t0, twin = taken[0]
    assert len(twin.records) == t0
    twin.run(40 - t0)
    assert plain(twin.records) == plain(model.records)


@pytest.mark.slow
def test_prescriptive_maintenance_picks_a_candidate_and_runs(park, monkeypatch):
    # Short horizon and two windows keep the test quick (a decision then simulates 2 x 20 steps).
    sets = {**OPS, "operations.maintenance": "prescriptive", "operations.prescriptive_horizon": 20,
            "operations.prescriptive_windows": 2}
    model = build(park, **sets)
    chooser = model.reliability.choose
    assert chooser is not None
    model.run(5)
    copies = []
    monkeypatch.setattr(twin_module, "snapshot", lambda m: copies.append(m) or snapshot(m))
    candidates = [5, 12, 19]
    assert prescriptive_chooser(model)(0, candidates) in candidates
    # One copy per candidate (the first is the reference), none made by the copies themselves.
    assert len(copies) == 3 and all(m is model for m in copies)
    monkeypatch.undo()
    model.run(85)
    assert len(model.records) == 90
    assert sum(r.maintenance_stops for r in model.records) > 0
    assert chooser.decisions and all(d.chosen in d.candidates for d in chooser.decisions)
    assert len(chooser.decisions) == len({(d.step, d.process) for d in chooser.decisions})
    # The copies ran: moving a stop changes what the park loses.
    assert any(o.lost_to_failures_eur != 0 for d in chooser.decisions for o in d.outcomes[1:])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py")
    cli.add_parser(p.add_subparsers(dest="command"))
    return p


@pytest.mark.parametrize("plans, says", [
    ("outage:Fish farm@x:10", "plan 'outage:Fish farm@x:10'"),
    ("maintain:Gyproc@40|50", "maintain:NAME:DAYS@STEP1|STEP2"),
    ("shutdown:Gyproc@40:3", "starts with outage: or maintain:"),
])
def test_the_command_line_rejects_a_malformed_plan(plans, says):
    args = parser().parse_args(["whatif", "--at", "10", "--plans", plans])
    with pytest.raises(InputError) as e:
        cli.run_command(args)
    assert says in str(e.value)


def test_the_command_line_rejects_unknown_companies_and_bad_numbers():
    p = parser()
    with pytest.raises(InputError, match="did you mean 'Asnaes power station'"):
        cli.run_command(p.parse_args(["whatif", "--at", "10", "--plans", "outage:Asnes power station@10:5"]))
    with pytest.raises(InputError) as e:
        cli.run_command(p.parse_args(["whatif", "--at", "-1", "--horizon", "0", "--plan", "outage:Fish farm@1:2"]))
    assert "--at" in str(e.value) and "--horizon" in str(e.value)
    with pytest.raises(InputError, match="before --at 10"):
        cli.run_command(p.parse_args(["whatif", "--at", "10", "--plan", "outage:Fish farm@5:2"]))


def test_the_command_line_prints_the_table_and_writes_a_csv(tmp_path, capsys):
    out = tmp_path / "sub" / "whatif.csv"
    args = parser().parse_args(["whatif", "--at", "5", "--horizon", "6", "--out", str(out), "--plans",
                                "outage:Asnaes power station@5:3+Gyproc@6:2; outage:Fish farm@5:3",
                                "--plan", "maintain:Gyproc:2@5|8"])
    assert cli.run_command(args) == 0
    text = capsys.readouterr().out
    assert "outage:Fish farm@5:3" in text and "maintain:Gyproc:2@8" in text and "Best:" in text
    lines = out.read_text().splitlines()
    assert lines[0].startswith("plan,start,horizon,lost_gains_eur,lost_profit_eur")
    assert len(lines) == 5 and sum(line.endswith(",true") for line in lines) == 1
