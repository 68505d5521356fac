"""Properties of whole runs on generated parks (2-6 companies, 1-4 resources, 10-20 steps).

Every company bids truthfully (the default market settings; the other strategies have their
own tests in tests/test_strategies.py), so each trade must leave both parties at least as well
off as their outside options, and with nothing storable the park must do at least as well as
its no-exchange baseline.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agents.model import ParkModel
from agents.production import Decision, ProductionSettings
from agents.scenario import CompanySpec, ProcessSpec, Scenario
from experiments.config import RunConfig
from experiments.runner import simulate
from market import transport
from market.resources import Resource
from tests.strategies import parks

TOL = 1e-6


def config(park: Scenario, steps: int, seed: int, decision: str = "expected") -> RunConfig:
    return RunConfig(scenario=park.name, steps=steps, seed=seed, policy=park.policy,
                     production=ProductionSettings(decision=Decision(decision)))


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
@settings(max_examples=25, deadline=None)
@given(parks(), st.integers(10, 20), st.integers(0, 2**16))
def test_every_trade_beats_both_outside_options(park, steps, seed):
    model = ParkModel(park, seed=seed)
    model.run(steps)
    for t in model.trade_log:
        r = park.resources[t.resource]
        buy, dispose = model.policy.buy_price(r), model.policy.dispose_price(r)
        size = TOL * max(1.0, abs(buy), abs(dispose)) * max(1.0, t.shipped)
        assert t.seller != t.buyer
        assert t.price <= buy + TOL * max(1.0, abs(buy)), t
        assert t.payment - t.transport_cost >= -dispose * t.shipped - size, t


@settings(max_examples=20, deadline=None)
@given(parks(), st.integers(0, 2**16), st.sampled_from(["expected", "outside"]))
def test_no_company_produces_beyond_capacity_or_at_a_certain_loss(park, seed, decision):
    """Each process (each has its own product in generated parks) makes at most its capacity
    per step, and nothing at all if it loses money even on the park's best terms (inputs at
    the lowest price a seller would take, by-products at their buyers' outside price); judged
    at outside prices alone, nothing if it loses money when every input is bought and every
    by-product disposed of outside."""
    model = ParkModel(park, seed=seed, production=ProductionSettings(decision=Decision(decision)))
    caps = {(i, p.product): p.capacity for i, c in enumerate(park.companies) for p in c.processes}
    bound = model.decisions.worst if decision == "outside" else model.decisions.best
    margins = {(c.index, p.product): m for c in model.companies
               for p, m in zip(park.companies[c.index].processes, bound[c.index])}
    before: dict = {}
    for _ in range(12):
        model.step()
        for key, total in model.output_totals.items():
            made = total - before.get(key, 0.0)
            assert -1e-12 <= made <= caps[key] * (1 + 1e-12), (key, made)
            if margins[key] <= 0:
                assert made == 0, (key, margins[key])
        before = dict(model.output_totals)


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
@settings(max_examples=25, deadline=None)
@given(parks(storable=False), st.integers(10, 20), st.integers(0, 2**16))
def test_without_storage_exchange_never_costs_the_park(park, steps, seed):
    """With nothing storable and production judged at outside prices, a step with exchanges
    differs from its baseline only in the trades (same loads, same plans): each unit shipped is
    one the seller would have disposed of, each unit delivered one the buyer would have bought.
    So the park's savings in every step equal its gains from trade, which truthful bids keep
    >= 0. (When companies produce on what they expect of the park, a plant that runs only
    thanks to it adds its own profit, or its loss when the park lets it down.)"""
    result = simulate(config(park, steps, seed, decision="outside"), park)
    ts = result.timeseries
    size = TOL * max(1.0, ts["profit_eur"].abs().max(), ts["baseline_profit_eur"].abs().max())
    assert (ts["savings_vs_baseline_eur"] >= -size).all()
    assert ts["savings_vs_baseline_eur"].to_numpy() == pytest.approx(ts["gains_from_trade_eur"].to_numpy(), abs=size)
    assert result.summary["kpis"]["savings_vs_baseline_eur"] >= -size * steps


def stored_surplus_park() -> Scenario:
    """A maker of ash that also uses ash, with a store; a buyer 10 km away whose trade gains
    only 5 EUR a unit (50 avoided purchase - 45 truck)."""
    ash = Resource("ash", "t", virgin_price=50, disposal_cost=0, transport_cost=4.5, shelf_life=10)
    a = CompanySpec("A", "test", (0.0, 0.0), (
        ProcessSpec("make", "a1", "t", capacity=10, sale_price=100, byproducts={"ash": 1.0},
                    utilisation=0.5, variability=0.8),
        ProcessSpec("use", "a2", "t", capacity=5, sale_price=100, inputs={"ash": 1.0}),
    ), storage={"ash": 100})
    b = CompanySpec("B", "test", (10.0, 0.0), (ProcessSpec("use", "b", "t", capacity=100, sale_price=100,
                                                           inputs={"ash": 1.0}),))
    return Scenario("stored surplus", "", {"ash": ash}, (a, b))


@pytest.mark.parametrize("room", [5, 100])
@pytest.mark.parametrize("seed", range(4))
def test_with_storage_exchange_never_costs_the_park(room, seed):
    # Found by the property tests: with a truthful ask of minus the disposal cost, A sold its
    # surplus for 5 EUR of gain a unit and bought back at 50 on deficit days what the baseline
    # took from its store. What fits A's store is now asked at A's own outside price.
    import dataclasses

    park = stored_surplus_park()
    a = dataclasses.replace(park.companies[0], storage={"ash": room})
    park = dataclasses.replace(park, companies=(a, park.companies[1]))
    kpis = simulate(config(park, 30, seed), park).summary["kpis"]
    assert kpis["savings_vs_baseline_eur"] >= -1e-6
    if room == 5:
        assert kpis["gains_from_trade_eur"] > 0


@pytest.mark.slow  # 4 s: the quick subset keeps under a minute; tests/test_settlement.py's books stay in it
@settings(max_examples=8, deadline=None)
@given(parks(), st.integers(0, 2**16))
def test_same_seed_same_run(park, seed):
    one = simulate(config(park, 10, seed), park)
    two = simulate(config(park, 10, seed), park)
    pd.testing.assert_frame_equal(one.trades, two.trades)
    pd.testing.assert_frame_equal(one.timeseries, two.timeseries)
    assert one.summary == two.summary
    a, b = ParkModel(park, seed=seed), ParkModel(park, seed=seed)
    a.run(10)
    b.run(10)
    assert list(a.trade_log) == list(b.trade_log) and a.trade_log.flows == b.trade_log.flows


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
@settings(max_examples=8, deadline=None)
@given(parks(max_utilisation=0.9), st.integers(0, 2**16))
def test_another_seed_another_run_when_loads_vary(park, seed):
    model = ParkModel(park, seed=seed)
    varies = any(p.variability > 0 and m > 0 for c in model.companies
                 for p, m in zip(park.companies[c.index].processes, model.decisions.worst[c.index]))
    assume(varies)
    one = simulate(config(park, 10, seed), park)
    two = simulate(config(park, 10, seed + 1), park)
    assert not one.timeseries.equals(two.timeseries)


@pytest.mark.slow  # 1.5 s; tests/test_transport.py holds the LPs themselves to it in the quick subset
def test_a_run_with_warm_started_lps_does_not_depend_on_the_runs_before_it():
    """A park whose books need HiGHS (several sellers and buyers: `synthetic:40` solves 160 LPs in
    20 days, each warm-started from the run's own memory, `market.transport.Warm`) gives the same
    trades and figures run first, or after a run of another seed in the same process."""
    from experiments import runner
    from experiments.config import parse_sets

    def run(seed):
        cfg, scenario = runner.resolve("synthetic:40", 20, seed, parse_sets([]))
        return simulate(cfg, scenario)

    transport._primal = None  # a fresh HiGHS instance, as in a new process
    one = run(0)
    run(1)
    two = run(0)
    pd.testing.assert_frame_equal(one.trades, two.trades, check_exact=True)
    pd.testing.assert_frame_equal(one.timeseries, two.timeseries, check_exact=True)
