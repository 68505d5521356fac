"""Investment under uncertainty, technology options, entry and exit (agents.investment)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.investment import InvestmentSettings, annuity_factor, npv, threshold, volatility, waiting_multiple
from agents.production import ProductionSettings
from agents.scenario import CompanySpec, EntrySpec, OptionSpec, PipelineSpec, ProcessSpec, Scenario
from experiments.config import RunConfig
from experiments.runner import simulate
from market.paths import PriceSchedule, YearPath
from market.resources import Mode, Resource

SPY = 20  # short "years" keep the runs fast: 20 steps a year


def _config(park, steps, **investment):
    return RunConfig(scenario=park.name, steps=steps, seed=0, policy=park.policy,
                     production=ProductionSettings(yardstick_max_companies=0),
                     investment=InvestmentSettings(**investment))


# ---------------------------------------------------------------- the rule, by hand


def test_npv_and_threshold_by_hand():
    # b = 1/2 + sqrt(1/4 + 2 x 0.1 / 0.2^2) = 2.7913; b / (b - 1) = 1.5583
    assert waiting_multiple(0.2, 0.1) == pytest.approx(2.79129 / 1.79129, rel=1e-5)
    assert waiting_multiple(0.0, 0.1) == 1.0
    # EUR 1 M a year for 25 years from a year after the decision, at 10 %, less EUR 5 M now
    assert annuity_factor(25, 0.1) == pytest.approx((1 - 1.1**-25) / 0.1)
    value = npv(1e6, 5e6, 25, 1, 0.1)
    assert value == pytest.approx(9.077040e6 / 1.1 - 5e6, rel=1e-6)
    bar = threshold(5e6, 0.2, 0.1)
    assert bar == pytest.approx(0.5583 * 5e6, rel=1e-3)
    assert value > bar  # 3.25 M against 2.79 M: invest
    assert npv(0.8e6, 5e6, 25, 1, 0.1) < threshold(5e6, 0.2, 0.1)  # 1.6 M against 2.79 M: wait
    assert threshold(5e6, 0.2, 0.1, real_options=False) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.floats(0.0, 1.5), st.floats(0.0, 1.5), st.floats(0.01, 0.3))
def test_more_uncertainty_asks_more_of_a_project(s1, s2, rate):
    lo, hi = sorted((s1, s2))
    assert waiting_multiple(hi, rate) >= waiting_multiple(lo, rate) >= 1.0


def test_volatility_is_shrunk_towards_the_prior_while_few_years_are_seen():
    assert volatility([10.0], 0.2) == 0.2
    flat = volatility([10.0] * 11, 0.2)
    assert flat == pytest.approx(math.sqrt(2 * 0.04 / 12))
    jumpy = volatility([10.0, 30.0, 10.0, 30.0], 0.2)
    assert jumpy > 0.5


# ---------------------------------------------------------------- options in a park


def _switch_park(final_price: float = 60.0) -> Scenario:
    """A plant sells widgets; its price rises year by year (a price path) and an option to
    switch to a process that saves half its fuel becomes worth its capital at some point."""
    fuel = Resource("fuel", "t", virgin_price=10.0, disposal_cost=0.0)
    old = ProcessSpec("widgets", "widget", "t", 100.0, 30.0, {"fuel": 2.0})
    new = ProcessSpec("widgets, efficient", "widget", "t", 100.0, 30.0, {"fuel": 1.0}, option="retrofit")
    option = OptionSpec("retrofit", "switch", new.name, capex=300_000.0, lifetime_years=20, lead_time_years=0.05,
                        replaces=old.name)
    plant = CompanySpec("Plant", "manufacturing", (0.0, 0.0), (old, new), options=(option,))
    prices = PriceSchedule(start_year=2000, resources={"fuel": YearPath(((2000, 10.0), (2010, final_price)))})
    return Scenario("switch", "", {"fuel": fuel}, (plant,), steps_per_year=SPY, prices=prices)


def _first(result, kind):
    rows = [d for d in result.summary["decisions"] if d["kind"] == kind]
    return rows[0] if rows else None


def test_an_option_is_taken_when_its_npv_clears_the_threshold_and_the_new_process_replaces_the_old():
    park = _switch_park()
    r = simulate(_config(park, 12 * SPY, hurdle_rate=0.1, volatility=0.1), park)
    d = _first(r, "switch")
    assert d is not None and d["option"] == "retrofit"
    assert d["npv_eur"] > d["threshold_eur"] > 0
    p = r.production
    after = p[p.step > d["step"] + 2]
    assert (after.loc[after.process == "widgets", "produced"] == 0).all()
    assert (after.loc[after.process == "widgets, efficient", "produced"] > 0).all()
    assert r.summary["kpis"]["capex_eur"] == 300_000.0


def test_higher_volatility_means_a_later_investment():
    park = _switch_park()
    years = []
    for sigma in (0.05, 0.4, 1.2):
        r = simulate(_config(park, 12 * SPY, hurdle_rate=0.1, volatility=sigma), park)
        d = _first(r, "switch")
        years.append(d["year"] if d else 9999)
    assert years[0] <= years[1] <= years[2]
    assert years[0] < years[2]


def test_without_the_value_of_waiting_the_option_is_taken_at_the_first_positive_npv():
    park = _switch_park()
    plain = _first(simulate(_config(park, 12 * SPY, volatility=0.4, real_options=False), park), "switch")
    waited = _first(simulate(_config(park, 12 * SPY, volatility=0.4), park), "switch")
    assert plain is not None and plain["threshold_eur"] == 0.0
    assert waited is None or waited["year"] > plain["year"]


def test_a_regulation_requires_an_option_whatever_it_earns():
    park = _switch_park(final_price=10.0)  # fuel never dearer: the retrofit never pays
    plant = park.companies[0]
    opt = dataclasses.replace(plant.options[0], mandatory_from=2004)
    park = dataclasses.replace(park, companies=(dataclasses.replace(plant, options=(opt,)),))
    r = simulate(_config(park, 8 * SPY), park)
    d = _first(r, "switch")
    assert d is not None and d["year"] <= 2004 and "required from 2004" in d["note"]
    assert d["npv_eur"] < d["threshold_eur"]


# ---------------------------------------------------------------- entry


def _entry_park(with_supplier: bool = True) -> Scenario:
    """A makes widgets and yields slag it must landfill; a candidate B would make blocks from
    slag (1 t a block, a block sells at 25): slag bought outside (40 EUR/t) loses money, A's
    slag by pipe (which B's project builds) pays."""
    slag = Resource("slag", "t", virgin_price=40.0, disposal_cost=30.0, transport=Mode.PIPELINE, transport_cost=0.5)
    ore = Resource("ore", "t", virgin_price=10.0, disposal_cost=0.0)
    a = CompanySpec("A", "steel", (0.0, 0.0), (ProcessSpec("widgets", "widget", "t", 100.0, 50.0, {"ore": 1.0},
                                                            {"slag": 0.5 if with_supplier else 0.0}
                                                            if with_supplier else {}),))
    entry = EntrySpec(capex=50_000.0, lifetime_years=20, lead_time_years=0.1, earliest_year=2001,
                      pipelines=(PipelineSpec("A", "B", "slag"),))
    b = CompanySpec("B", "construction", (2.0, 0.0), (ProcessSpec("blocks", "block", "t", 80.0, 25.0, {"slag": 1.0}),),
                    entry=entry)
    return Scenario("entry", "", {"slag": slag, "ore": ore}, (a, b), steps_per_year=SPY,
                    prices=PriceSchedule(start_year=2000))


def test_an_entrant_comes_when_the_park_offers_what_it_needs_and_not_before_its_year():
    r = simulate(_config(_entry_park(), 5 * SPY), _entry_park())
    d = _first(r, "enter")
    assert d is not None and d["company"] == "B" and d["year"] >= 2001
    comp = {c["name"]: c for c in r.summary["companies"]}
    assert comp["B"]["status"].startswith("entered")
    p = r.production
    assert p.loc[(p.company == "B") & (p.step < d["step"]), "produced"].sum() == 0
    assert p.loc[(p.company == "B") & (p.step > d["step"] + 5), "produced"].sum() > 0
    # In the baseline (no exchanges) nobody offers B anything: it never comes.
    assert r.summary["baseline_decisions"] == 0
    assert comp["B"]["baseline_output_eur"] == 0.0


def test_an_entrant_stays_out_when_the_park_has_nothing_for_it():
    park = _entry_park(with_supplier=False)
    r = simulate(_config(park, 5 * SPY), park)
    assert _first(r, "enter") is None
    assert {c["name"]: c for c in r.summary["companies"]}["B"]["status"] == "candidate, did not enter"


# ---------------------------------------------------------------- exit and its cascade


def _losing_park() -> Scenario:
    """A yields gas that B cannot buy anywhere else (no outside substitute); A's own product
    does not cover its fixed costs, so it closes after two years of losses; B goes down with it."""
    gas = Resource("gas", "GJ", virgin_price=20.0, disposal_cost=0.0, transport=Mode.PIPELINE, substitute=False)
    a = CompanySpec("A", "energy", (0.0, 0.0), (ProcessSpec("power", "electricity", "MWh", 100.0, 10.0, {},
                                                             {"gas": 1.0}, fixed_opex=3_000_000.0,
                                                             pass_through=0.0),))
    b = CompanySpec("B", "chemicals", (1.0, 0.0), (ProcessSpec("methanol", "methanol", "t", 50.0, 100.0,
                                                                {"gas": 2.0}),))
    return Scenario("losing", "", {"gas": gas}, (a, b), (PipelineSpec("A", "B", "gas"),), steps_per_year=SPY)


def test_a_company_that_keeps_losing_closes_and_its_partner_goes_down_with_it():
    park = _losing_park()
    r = simulate(_config(park, 6 * SPY, exit_years=2.0), park)
    d = _first(r, "exit")
    assert d is not None and d["company"] == "A"
    assert d["step"] == 2 * SPY  # two yearly rounds of losses
    p = r.production
    assert p.loc[(p.company == "A") & (p.step >= d["step"]), "produced"].sum() == 0
    assert p.loc[(p.company == "B") & (p.step >= d["step"] + 3), "produced"].sum() == 0
    assert p.loc[(p.company == "B") & (p.step < d["step"]), "produced"].sum() > 0
    closure = [s for s in r.summary["shocks"] if s["kind"] == "closure"]
    assert closure and closure[0]["company"] == "A"
    assert "B" in closure[0]["cascade_companies"]
    assert {c["name"]: c for c in r.summary["companies"]}["A"]["status"].startswith("closed")


def test_investment_can_be_switched_off():
    park = _losing_park()
    r = simulate(_config(park, 4 * SPY, enabled=False), park)
    assert r.summary["decisions"] == []
