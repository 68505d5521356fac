"""The browser page without a browser: the live run, its figures, the result loader, and the
Solara components rendered headless with `solara.render`."""

import dataclasses
import json
import math
import time
import xml.etree.ElementTree as ET

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
import solara.widgets

from experiments import runner
from experiments.config import keys, resolve
from experiments.outputs import write_run
from experiments.problems import InputError
from experiments import scenario_io
from viz import results
from viz import charts, fields, palette, svg_chart
from viz.live_run import COOP_SERIES, LiveRun, build_config
from viz.park_map import MapLayout, ParkMap
from viz.render import png, svg
from viz.session import ACCOUNTING, LiveSession, operations_fields, policy_fields, policy_levers, settings_for

# ---- the live run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kalundborg_run():
    run = LiveRun.from_settings("kalundborg", {})
    run.step(5)
    return run


def test_live_run_steps_the_model_and_its_baseline_as_the_runner_does():
    run = LiveRun.from_settings("kalundborg", {"steps": 5})
    run.step(5)
    assert run.t == run.baseline.t == 5
    assert not run.baseline.market.exchanges and run.model.market.exchanges
    ref = runner.simulate(run.cfg, run.park).timeseries
    for key in ("gains_from_trade_eur", "co2_avoided_t", "active_links", "symbiosis_share", "savings_vs_baseline_eur",
                "market_efficiency", "exchange_surplus_eur", "transfers_eur", "social_surplus_eur"):
        assert np.allclose(run.series[key], ref[key].to_numpy(), equal_nan=True), key
    totals = run.totals()
    assert totals["steps"] == 5
    assert totals["gains_from_trade_eur"] == pytest.approx(ref["gains_from_trade_eur"].sum())


def test_breaking_a_company_takes_it_down_in_run_and_baseline_for_n_steps():
    run = LiveRun.from_settings("kalundborg", {})
    run.step(2)
    links_before = run.series["active_links"][-1]
    asnaes = run.park.company_index()["Asnaes power station"]
    run.break_company(asnaes, 3)
    assert run.down()[asnaes] and run.baseline.capacity_left(run.t)[asnaes] == 0.0
    run.step(1)
    assert run.snapshot.down[asnaes] and run.snapshot.output_value[asnaes] == 0
    # The same outage path as a scenario's: the output lost is counted (it stayed at 0 when the
    # page switched the company off by hand), and the outage is a shock of the run.
    assert run.totals()["lost_failure_eur"] > 0
    assert [s.label for s in run.model.shocks] == ["Break now"]
    # The cascade: the hub's partners lose their exchanges.
    assert run.series["active_links"][-1] < links_before
    assert run.snapshot.cut_off.any()
    run.step(2)
    assert not run.down()[asnaes] and run.baseline.capacity_left(run.t)[asnaes] == 1.0
    assert run.break_spans == [(asnaes, 2, 4)]
    run.step(1)
    assert run.series["active_links"][-1] == links_before
    with pytest.raises(IndexError):
        run.break_company(99, 1)


def test_company_view_lists_processes_stock_partners_and_profit(kalundborg_run):
    i = kalundborg_run.park.company_index()["Asnaes power station"]
    view = kalundborg_run.company_view(i)
    assert view["name"] == "Asnaes power station" and view["processes"][0]["product"] == "electricity"
    partners = {(d, who, r) for d, who, r, _, _ in view["partners"]}
    assert ("sells to", "Gyproc", "gypsum") in partners
    assert {r for r, *_ in view["stock"]} == {"fly_ash", "gypsum"}
    assert view["profit_eur"] == kalundborg_run.model.companies[i].profit_eur


def test_settings_become_the_same_config_as_the_command_line():
    s = settings_for("kalundborg")
    assert s.lever("landfill_tax") == 45.0  # the scenario's own [policy] is the starting point
    s = dataclasses.replace(s.with_lever("carbon_tax", 20.0), mechanism="cda", strategy="zic", seed=3)
    run = LiveRun.from_settings(s.scenario_name, s.assignments())
    cli, _ = resolve("kalundborg", None, 3, {"policy.carbon_tax": 20.0, "market.mechanism": "cda",
                                             "market.strategies.zic": 1.0})
    assert dataclasses.replace(run.cfg, steps=cli.steps) == cli
    assert "--set policy.carbon_tax=20" in s.command_line() and "--seed 3" in s.command_line()
    with pytest.raises(InputError):
        LiveRun.from_settings("kalundborg", {"policy.carbon_tax": -1.0})


def test_cooperation_levers_reach_the_run_and_the_command_line():
    from experiments.config import parse_sets

    fields = policy_fields()
    assert {"investment_subsidy", "information", "shared_vision", "shared_vision_spread"} <= set(policy_levers())
    assert fields["shared_vision_imitation"] is bool and fields["gain_sharing"].__name__ == "GainSharing"
    s = settings_for("kalundborg")
    assert s.lever("gain_sharing") == "market" and s.lever("shared_vision_imitation") is False
    s = (s.with_lever("investment_subsidy", 0.3).with_lever("information", 0.5).with_lever("shared_vision", 0.4)
         .with_lever("shared_vision_spread", 0.2).with_lever("shared_vision_imitation", True)
         .with_lever("gain_sharing", "shapley"))
    run = LiveRun.from_settings(s.scenario_name, s.assignments())
    p = run.cfg.policy
    assert (p.investment_subsidy, p.information, p.shared_vision, p.shared_vision_spread) == (0.3, 0.5, 0.4, 0.2)
    assert p.shared_vision_imitation is True and p.gain_sharing.value == "shapley"
    line = s.command_line()
    assert "--set policy.shared_vision_imitation=true" in line and "--set policy.gain_sharing=shapley" in line
    # The printed command stands for the same run: its --set values parse back to the same config.
    sets = parse_sets([part for part in line.split() if "=" in part])
    cli, _ = resolve("kalundborg", None, 0, sets)
    assert dataclasses.replace(run.cfg, steps=cli.steps) == cli


def test_every_number_of_the_policy_is_a_lever():
    levers = policy_levers()
    assert {"carbon_tax", "landfill_tax", "virgin_tax"} <= set(levers)
    assert set(levers) == {k.split(".", 1)[1] for k, t in keys().items() if k.startswith("policy.") and t is float}


def test_session_keeps_the_previous_run_for_comparison_and_rebuilds_on_change():
    session = LiveSession()
    session.step(3)
    first = session.run
    session.configure(session.settings.with_lever("carbon_tax", 10.0))
    assert session.run is not first and session.run.t == 0
    assert session.run.cfg.policy.carbon_tax == 10.0
    assert session.previous["gains_from_trade_eur"] == first.series["gains_from_trade_eur"]
    gen = session.generation
    with pytest.raises(InputError):
        session.configure(dataclasses.replace(session.settings, scenario="synthetic", size=1))
    assert session.generation == gen and session.run.cfg.policy.carbon_tax == 10.0
    session.configure(dataclasses.replace(session.settings, scenario="synthetic", size=30))
    assert session.previous is None and len(session.run.park.companies) == 30


def test_number_fields_say_what_is_wrong():
    assert fields.parse_size("40") == (40, "") and fields.parse_size(" 1,000 ")[0] is None
    value, message = fields.parse_size("abc")
    assert value is None and "whole number" in message
    assert "at least 2" in fields.parse_size("1")[1]
    value, message = fields.parse_size(str(fields.MAX_PAGE_COMPANIES + 1))
    assert value is None and f"at most {fields.MAX_PAGE_COMPANIES}" in message and "run.py simulate" in message
    assert fields.parse_seed("-3") == (None, "0 or more") and fields.parse_seed("7") == (7, "")
    assert fields.parse_days("0")[0] is None and fields.parse_days("5") == (5, "")
    assert fields.parse_amount("nan")[0] is None and fields.parse_amount("80") == (80.0, "")
    # The estimate shown beside the size grows with the park.
    assert fields.frame_seconds(50) < fields.frame_seconds(500) < 1.0
    assert "about 0.7 s a day at 500" in fields.size_hint(500)


def test_the_session_refuses_a_park_above_the_pages_bound():
    session = LiveSession()
    with pytest.raises(InputError, match="at most"):
        session.configure(dataclasses.replace(session.settings, scenario="synthetic",
                                              size=fields.MAX_PAGE_COMPANIES + 1))
    assert session.run.park.name == "kalundborg"


def test_sector_styles_stay_distinct_for_any_number_of_sectors():
    for n in (5, 12, 15, 40):
        styles = palette.sector_styles([f"sector {i}" for i in range(n)])
        assert len(set(styles.values())) == n
    assert {m for _, m in palette.sector_styles([f"s{i:02d}" for i in range(12)]).values()} == {"o"}
    run = LiveRun.from_settings("synthetic:200", {})
    run.step(1)
    canvas = ParkMap(run.park, run.model.network.positions)
    canvas.update(run)
    assert len(canvas.sstyle) == len(set(canvas.sectors))


# ---- figures ------------------------------------------------------------------------------------


def test_map_layout_compresses_kalundborgs_far_partners_only():
    run = LiveRun.from_settings("kalundborg", {})
    layout = MapLayout(run.model.network.positions)
    assert layout.compressed
    far = {run.park.companies[i].name for i in np.flatnonzero(layout.far)}
    assert far == {"Aalborg Portland", "Kemira"}
    synthetic = LiveRun.from_settings("synthetic:60", {})
    assert not MapLayout(synthetic.model.network.positions).compressed


def test_map_and_charts_draw_every_state(kalundborg_run):
    canvas = ParkMap(kalundborg_run.park, kalundborg_run.model.network.positions)
    image = canvas.update(kalundborg_run, selected=0)
    assert image.startswith(b"<?xml") and b"Asnaes power station" in image and b"pipeline (infrastructure)" in image
    assert b"biomass sludge" in image  # the legend names the resources flowing today
    run = LiveRun.from_settings("kalundborg", {})
    fresh = ParkMap(run.park, run.model.network.positions).update(run)  # day 0: nothing stepped yet
    assert b"day 0" in fresh
    for drawn_map in (image, fresh):  # well-formed: a browser shows nothing of a broken SVG image
        assert ET.fromstring(drawn_map).tag == "{http://www.w3.org/2000/svg}svg"
    drawn = charts.kpi_panels(kalundborg_run.series, kalundborg_run.series, [(0, 1, 2)])
    assert "Gains from trade" in drawn and drawn.count('class="ts-span"') == len(charts.PANELS)
    assert drawn.count('class="ts-ghost"') == len(charts.PANELS)  # the run before, in grey
    assert "ts-line" not in charts.kpi_panels(run.series)  # day 0: axes, no line


def test_chart_panels_read_out_each_day_on_hover(kalundborg_run):
    s = kalundborg_run.series
    drawn = charts.kpi_panels(s)
    days = len(s["step"])
    # One hover strip a day in each panel, reading out that day's values with their units.
    assert drawn.count('class="ts-col"') == days * len(charts.PANELS)
    gains = s["gains_from_trade_eur"][2] / 1e3
    read = charts._reader(1e-3, "kEUR")
    assert 'data-day="3"' in drawn and f"gains: {read(gains)}" in drawn and read(gains).endswith(" kEUR")
    assert f"social optimum: {read(s['optimal_gains_eur'][2] / 1e3)}" in drawn
    # A long run: strips cover several days, never more than MAX_COLUMNS a panel.
    long = {k: list(v) * 80 for k, v in s.items()}
    long["step"] = list(range(len(long["step"])))
    panel = charts.kpi_panels(long).split('<div class="ts-panel')[1]
    assert 0 < panel.count('class="ts-col"') <= svg_chart.MAX_COLUMNS and "days 1-" in panel


def test_the_charts_zoom_to_the_last_days():
    steps = list(range(100))
    series = {"step": steps, **{key: [float(i) for i in steps] for key, *_ in charts.PANELS},
              "optimal_gains_eur": [float(i) for i in steps]}
    previous = {k: list(v[:80]) for k, v in series.items()}
    shown, before, spans, decisions = charts.window(series, previous, 30, [(0, 10, 20), (1, 65, 75)],
                                                    [(5, "A", "exit", ""), (90, "B", "enter", "")])
    assert shown["step"] == steps[70:] and shown["gains_from_trade_eur"][0] == 70.0
    assert before["step"] == list(range(70, 80))  # the run before over the same days
    assert spans == [(1, 70, 75)] and decisions == [(90, "B", "enter", "")]
    drawn = charts.kpi_panels(shown, before, spans)
    first = drawn.split('<div class="ts-panel')[1]
    assert first.count('class="ts-col"') == 30 and 'data-day="71"' in first and 'data-day="70"' not in first
    assert charts.window(series, previous, 0)[0] is series  # all of it
    assert charts.window(series, previous, 365)[0] is series


def test_a_legend_click_hides_a_line_and_another_shows_it(kalundborg_run):
    from viz.click_layers import ChartsLayer
    from viz.live_page import LivePage

    s = kalundborg_run.series
    shown = charts.welfare_panel(s)
    line = "panel-welfare|transfers"
    assert f'data-line="{line}"' in shown and "transfers: " in shown
    off = charts.welfare_panel(s, hidden={line})
    assert "transfers: " not in off and "social surplus: " in off and 'text-decoration="line-through"' in off
    box, rc = solara.render(LivePage(), handle_error=False)
    rc.find(v.Btn, class_="btn-step").widget.click()
    _settle(rc)
    layer = lambda: rc.find(ChartsLayer).widget  # noqa: E731
    assert "transfers: " in layer().html
    layer().vue_toggle(line)  # what the template calls with the clicked legend entry's data-line
    assert "transfers: " not in layer().html
    layer().vue_toggle(line)
    assert "transfers: " in layer().html


def test_nice_ticks_are_round_and_cover_the_range():
    assert svg_chart.nice_ticks(0, 100) == [0, 25, 50, 75, 100]
    assert svg_chart.nice_ticks(-3, 7, 4) == [-2.5, 0, 2.5, 5]
    assert svg_chart.nice_ticks(5, 5) == [5]


def test_live_run_splits_the_gains_into_social_surplus_and_transfers():
    cfg, park = build_config("kalundborg", {"policy.carbon_tax": 30.0})
    run = LiveRun(cfg, park)
    run.step(20)
    s = run.series
    realised = float(np.sum(s["gains_from_trade_eur"]))
    split = runner.welfare_kpis(run.model, realised, float(np.sum(s["co2_avoided_t"])), 100.0)
    assert run.totals()["social_surplus_eur"] == pytest.approx(split["social_surplus_eur"])
    assert run.totals()["transfers_eur"] == pytest.approx(split["transfers_eur"]) and split["transfers_eur"] > 0
    # Production at sale prices: the run's output value is what the company panel sums.
    assert len(s["output_value_eur"]) == len(s["baseline_output_value_eur"]) == 20
    assert s["output_value_eur"][-1] == pytest.approx(float(run.snapshot.output_value.sum()))
    assert min(s["baseline_output_value_eur"]) > 0
    assert "no symbiosis" in charts.production_panel(s)
    panel = charts.welfare_panel(s, None, [], [(4, "Gyproc", "invest", "new kiln")])
    assert "social surplus" in panel and "transfers" in panel
    assert panel.count('class="ts-mark"') == 1 and "invest: Gyproc (new kiln)" in panel


def test_prices_are_what_buyers_paid_per_unit_each_day(kalundborg_run):
    run = kalundborg_run
    assert run.prices and all(len(v) == run.t for v in run.prices.values())
    day = run.t - 1
    for r, values in run.prices.items():
        today = [t for t in run.model.trade_log if t.step == day and t.resource == r and t.delivered > 0]
        if today:
            assert values[-1] == pytest.approx(sum(t.payment for t in today) / sum(t.delivered for t in today))
        else:
            assert math.isnan(values[-1])
    drawn = LiveSession().charts_html()  # day 0: the panel stands, with no line
    assert "Exchange prices" in drawn
    units = {r: res.unit for r, res in run.park.resources.items()}
    panel = charts.price_panel({"step": run.series["step"], **{f"price:{r}": v for r, v in run.prices.items()}},
                               units, {})
    assert panel.count('class="ts-legend"') == min(charts.PRICE_LINES, len(run.prices)) and "(EUR/t)" in panel


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_the_value_of_synchronised_planning_is_the_runs():
    run = LiveRun.from_settings("synthetic:30", {"steps": 20})
    run.step(20)
    ref = runner.simulate(run.cfg, run.park).summary["kpis"]["value_of_synchronisation_eur"]
    assert ref != 0 and run.totals()["value_of_synchronisation_eur"] == pytest.approx(ref, rel=1e-9)
    assert "value of synchronised planning" in charts.welfare_panel(run.series)
    # Break now reaches the plan beside too: the same outage on the same loads.
    run.break_company(0, 3)
    assert run.other.capacity_left(run.t)[0] == 0.0
    big = LiveRun.from_settings("synthetic:30", {"production.yardstick_max_companies": 10})
    big.step(1)
    assert big.other is None and big.totals()["value_of_synchronisation_eur"] is None
    assert "synchronised" not in charts.welfare_panel(big.series)


def test_decisions_are_starred_on_the_map(kalundborg_run):
    canvas = ParkMap(kalundborg_run.park, kalundborg_run.model.network.positions)
    assert b"an investment, switch" not in canvas.update(kalundborg_run)
    gyproc = kalundborg_run.park.company_index()["Gyproc"]
    kalundborg_run.decisions = lambda: [(3, "Gyproc", "invest", "new_kiln"), (3, "Gyproc", "pipe", "steam")]
    try:
        image = canvas.update(kalundborg_run)
    finally:
        del kalundborg_run.decisions
    assert b"an investment, switch, entry or exit" in image
    stars = ET.fromstring(image).findall(".//*[@class='decision']")
    assert [star.get("data-company") for star in stars] == [str(gyproc)]  # one star, on Gyproc
    circle = canvas.hover_svg().split(f'data-company="{gyproc}"')[1].split("</circle>")[0]
    assert "invest new kiln (day 4)" in circle and "pipe" not in circle  # pipes are drawn as pipes


def test_decisions_are_marked_on_the_day_after_their_step():
    marks = charts.decision_marks([(9, "Kemira", "exit", ""), (2, "Asnaes", "switch", "wood chips")])
    assert [(m.day, m.text) for m in marks] == [(10, "exit: Kemira"), (3, "switch: Asnaes (wood chips)")]
    assert marks[0].colour != marks[1].colour


@pytest.fixture(scope="module")
def coop_run():
    """Kalundborg without its pipelines, 60 days: companies sign contracts and build pipes
    (with the default cooperation settings, at the ends of the first two periods)."""
    cfg, park = build_config("kalundborg", {})
    run = LiveRun(cfg, dataclasses.replace(scenario_io.load("kalundborg"), pipelines=()))
    run.step(60)
    return run


def test_live_run_keeps_the_cooperation_series(coop_run):
    s = coop_run.series
    for key in COOP_SERIES:
        assert len(s[key]) == 60, key
        assert s[key] == pytest.approx([float(getattr(r, key)) for r in coop_run.model.records], nan_ok=True), key
    assert s["pipes_built"][-1] == len(coop_run.model.partners.pipes) >= 1
    assert max(s["contracts_active"]) >= 1 and sum(s["deliveries_kept"]) >= 1
    snap = coop_run.snapshot
    assert snap.pipes == coop_run.model.partners.pipes
    assert snap.contracts == [c for c in coop_run.model.partners.contracts if c.active(59)]
    totals = coop_run.totals()
    assert totals["contracts_active"] == s["contracts_active"][-1] and totals["pipes_built"] == s["pipes_built"][-1]


def test_cooperation_chart_draws_the_new_series(coop_run):
    drawn = charts.coop_panels(coop_run.series, coop_run.series, [(0, 40, 42)])
    for text in ("Contracts, pipes and deliveries", "Cooperation (0-1)", "contracts in force", "pipes built (total)",
                 "cooperative (weight", "mean shared-vision weight", "network density",
                 "deliveries kept today", "deliveries breached today"):
        assert text in drawn, text
    assert drawn.count('class="ts-ghost"') == 8 and drawn.count('class="ts-span"') == 2
    pipes = coop_run.series["pipes_built"][-1]
    assert f"pipes built (total): {pipes:,.1f}" in drawn
    assert "grey: the run before" in charts.notes(True, True, False)
    fresh = LiveRun.from_settings("kalundborg", {})
    assert "ts-ghost" not in charts.coop_panels(fresh.series)  # day 0: nothing stepped yet


def test_map_draws_built_pipes_and_contracts_with_their_terms(coop_run):
    canvas = ParkMap(coop_run.park, coop_run.model.network.positions)
    image = canvas.update(coop_run, selected=0)
    pipes = coop_run.model.partners.pipes
    assert f"pipe built this run ({len(pipes)})".encode() in image
    assert image.count(b'class="built-pipe"') == len(pipes)
    assert b"under contract (" in image
    hover = canvas.hover_svg()
    assert hover.startswith('<svg class="map-hover"') and hover.count('class="hover-pipe"') == len(pipes)
    assert hover.count('class="hover-contract"') == len(coop_run.snapshot.contracts) >= 1
    assert hover.count('class="hover-company"') == len(coop_run.park.companies)
    first = coop_run.snapshot.contracts[0]
    names = [c.name for c in coop_run.park.companies]
    assert f"Contract: {names[first.seller]} \u2192 {names[first.buyer]}" in hover
    for text in ("a day at EUR", "seller&#x27;s pipe share", "penalty: EUR", "shared-vision weight",
                 f"in service from day {pipes[0].built + 1}"):
        assert text in hover, text
    # The scenario's own pipes only: no built pipe in the legend.
    canvas = ParkMap(coop_run.park, coop_run.model.network.positions)
    fresh = LiveRun(coop_run.cfg, coop_run.park)
    assert b"pipe built this run" not in canvas.update(fresh)
    assert 'class="hover-pipe"' not in canvas.hover_svg()


def test_company_view_has_shared_vision_contracts_and_trust(coop_run):
    i = coop_run.park.company_index()["Asnaes power station"]
    view = coop_run.company_view(i)
    assert view["sv_weight"] == coop_run.model.weights[i]
    mine = [c for c in coop_run.snapshot.contracts if i in (c.seller, c.buyer)]
    assert len(view["contracts"]) == len(mine) >= 1
    assert {c["role"] for c in view["contracts"]} <= {"sells to", "buys from"}
    k = next(c for c in mine if c.seller == i)
    row = next(c for c in view["contracts"] if c["role"] == "sells to" and c["resource"] == k.resource
               and c["partner"] == coop_run.park.companies[k.buyer].name)
    assert (row["price"], row["quantity"], row["penalty"], row["seller_share"]) == (
        k.terms.price, k.terms.quantity, k.terms.penalty, k.terms.seller_share)
    trust = {who: (mine_, theirs) for who, mine_, theirs in view["trust"]}
    j = k.buyer
    assert trust[coop_run.park.companies[j].name] == (coop_run.model.partners.trust.trust(i, j),
                                                       coop_run.model.partners.trust.trust(j, i))


def test_a_large_synthetic_park_draws_without_labels():
    run = LiveRun.from_settings("synthetic:200", {})
    run.step(1)
    image = ParkMap(run.park, run.model.network.positions).update(run)
    assert run.park.companies[0].name.encode() not in image


SVG = "{http://www.w3.org/2000/svg}"


def _centre(element) -> tuple[float, float]:
    """A drawn marker's centre: a circle's cx, cy, any other shape's translate(x,y)."""
    if element.tag == SVG + "circle":
        return float(element.get("cx")), float(element.get("cy"))
    x, y = element.get("transform").removeprefix("translate(").removesuffix(")").split(",")
    return float(x), float(y)


def _drawn_companies(image: bytes) -> dict[str, tuple[float, float]]:
    root = ET.fromstring(image)
    return {el.get("data-company"): _centre(el) for el in root.iter()
            if el.get("class", "").split(" ")[0] == "company"}


def test_each_companys_hover_circle_sits_on_its_drawn_marker():
    """The tooltip layer is laid over the image at the same size: each company's hover circle
    must have the centre of the marker drawn for it, in the same user units."""
    run = LiveRun.from_settings("kalundborg", {})
    run.step(2)
    run.break_company(run.park.company_index()["Gyproc"], 2)  # a down company is drawn apart
    run.step(1)
    big = LiveRun.from_settings("synthetic:60", {})  # squares and circles; a drill-down greys the others
    big.step(1)
    sector = big.park.companies[0].sector
    for r, kwargs in ((run, {"selected": 1}), (big, {}), (big, {"focus": sector})):
        canvas = ParkMap(r.park, r.model.network.positions)
        image = canvas.update(r, **kwargs)
        hover = ET.fromstring(canvas.hover_svg())
        assert ET.fromstring(image).get("viewBox") == hover.get("viewBox")
        drawn = _drawn_companies(image)
        circles = {c.get("data-company"): (float(c.get("cx")), float(c.get("cy")))
                   for c in hover.iter(SVG + "circle")}
        assert drawn.keys() == circles.keys() == {str(i) for i in range(len(r.park.companies))}
        for i, centre in drawn.items():
            assert centre == pytest.approx(circles[i], abs=0.06), (r.park.name, kwargs, i)
        if not kwargs:  # the whole park: every company inside the map's frame
            x0, y0 = canvas.plot.left, canvas.plot.top
            assert all(x0 < x < x0 + canvas.plot.width and y0 < y < y0 + canvas.plot.height
                       for x, y in drawn.values())


def test_a_hostile_company_or_sector_name_is_text_on_the_map():
    cfg, park = build_config("kalundborg", {})
    hostile = '<script>&"\''
    old = park.companies[0].name
    companies = (dataclasses.replace(park.companies[0], name=hostile + " plant", sector=hostile + " sector"),) \
        + park.companies[1:]
    pipelines = tuple(dataclasses.replace(p, source=hostile + " plant" if p.source == old else p.source,
                                          target=hostile + " plant" if p.target == old else p.target)
                      for p in park.pipelines)
    run = LiveRun(cfg, dataclasses.replace(park, companies=companies, pipelines=pipelines))
    run.step(2)
    from viz.sector_map import SectorMap

    for canvas in (ParkMap(run.park, run.model.network.positions), SectorMap(run.park, run.model.network.positions)):
        image = canvas.update(run)
        assert b"<script" not in image and b"<script" not in canvas.hover_svg().encode()
        texts = ["".join(t.itertext()) for t in ET.fromstring(image).iter(SVG + "text")]
        assert any(hostile in t for t in texts)  # shown as it is written, not interpreted
        titles = [t.text for t in ET.fromstring(canvas.hover_svg()).iter(SVG + "title")]
        assert any(hostile in t for t in titles)
    assert {c.get("data-sector") for c in ET.fromstring(canvas.hover_svg()).iter(SVG + "circle")} \
        >= {hostile + " sector"}  # the drill-down's click reads the sector back unharmed


def test_a_down_company_is_crossed_out_and_says_for_how_long():
    run = LiveRun.from_settings("kalundborg", {})
    run.step(2)
    gyproc = run.park.company_index()["Gyproc"]
    run.break_company(gyproc, 3)
    run.step(1)
    canvas = ParkMap(run.park, run.model.network.positions)
    root = ET.fromstring(canvas.update(run))
    left = run.breaks[gyproc]
    assert left >= 2
    texts = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    assert texts.count(f"DOWN, {left} more days") == 1 and "Gyproc" in texts
    down = root.findall(".//*[@class='company down']")
    assert [d.get("data-company") for d in down] == [str(gyproc)] and down[0].get("fill") == palette.DOWN
    assert b"down (broken)" in canvas.update(run)
    run.step(left + 1)  # repaired (the last day down is drawn with the plain DOWN): no cross, no label
    root = ET.fromstring(canvas.update(run))
    assert not root.findall(".//*[@class='company down']")
    assert not any("DOWN" in "".join(t.itertext()) for t in root.iter(SVG + "text"))


def test_each_flow_is_one_arrow_in_its_resources_colour(kalundborg_run, monkeypatch):
    from matplotlib.colors import to_hex

    from viz import park_map

    run = kalundborg_run
    canvas = ParkMap(run.park, run.model.network.positions)
    image = canvas.update(run)
    root = ET.fromstring(image)
    flows = run.snapshot.flows
    colours = {r: to_hex(c) for r, c in palette.resource_colours(list(run.park.resources)).items()}
    curves, heads = root.findall(".//*[@class='flow']"), root.findall(".//*[@class='flow-head']")
    assert len(curves) == len(heads) == len(flows) >= 5
    assert [c.get("stroke") for c in curves] == [h.get("fill") for h in heads] == [colours[f.resource] for f in flows]
    widths = [float(c.get("stroke-width")) for c in curves]
    assert widths == pytest.approx([0.8 + 5.2 * math.sqrt(f.delivered / run.flow_max[f.resource]) for f in flows],
                                   abs=0.006)
    # From just outside the seller's marker to the head's tip just outside the buyer's.
    centres = _drawn_companies(image)
    for f, curve, head in zip(flows, curves, heads):
        start = [float(v) for v in curve.get("d").split()[0].removeprefix("M").split(",")]
        tip = [float(v) for v in head.get("d").split()[0].removeprefix("M").split(",")]
        assert "Q" in curve.get("d")
        assert math.dist(start, centres[str(f.seller)]) == pytest.approx(9, abs=1.5)
        assert math.dist(tip, centres[str(f.buyer)]) == pytest.approx(11, abs=1.5)
    # Beyond MAX_ARROWS: plain lines, still one a flow in its resource's colour, and no heads.
    monkeypatch.setattr(park_map, "MAX_ARROWS", 3)
    root = ET.fromstring(canvas.update(run))
    lines = root.findall(".//*[@class='flow']")
    assert [c.get("stroke") for c in lines] == [colours[f.resource] for f in flows]
    assert not root.findall(".//*[@class='flow-head']") and all("Q" not in c.get("d") for c in lines)


# ---- result folders -----------------------------------------------------------------------------


def _simulate_into(folder, carbon_tax: float, seed: int, steps: int = 8):
    cfg, park = resolve("kalundborg", steps, seed, {"policy.carbon_tax": carbon_tax})
    return write_run(runner.simulate(cfg, park), folder)


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    runs = root / "taxes"
    for tax in (0.0, 20.0):
        for seed in (1, 2):
            _simulate_into(runs / f"tax{tax:g}-seed{seed}", tax, seed)
    _simulate_into(root / "single", 0.0, 5)
    return root


def test_a_folder_of_simulate_outputs_is_one_row_per_run(run_folders):
    rs = results.load(run_folders / "taxes")
    assert rs.layout == "runs" and len(rs.runs) == 4
    assert rs.swept == ["policy.carbon_tax"]  # seeds are replicates, not schemes
    assert {"gains_from_trade_eur", "co2_avoided_t", "market_efficiency"} <= set(rs.kpis)
    table = results.summarise(rs)
    assert list(table["policy.carbon_tax"]) == [0.0, 20.0] and list(table["n"]) == [2, 2]
    zero = rs.runs[rs.runs["policy.carbon_tax"] == 0.0]["gains_from_trade_eur"].to_numpy()
    mean, half, n = results.mean_ci(zero)
    assert table.loc[0, "gains_from_trade_eur"] == pytest.approx(zero.mean())
    assert table.loc[0, "gains_from_trade_eur_ci"] == pytest.approx(half)
    # t(0.975, 1) x sd / sqrt(2)
    assert half == pytest.approx(12.7062047 * np.std(zero, ddof=1) / np.sqrt(2))


def test_a_single_run_folder_loads_alone(run_folders):
    rs = results.load(run_folders / "single")
    assert len(rs.runs) == 1 and rs.swept == [] and rs.runs.loc[0, "seed"] == 5
    assert math.isnan(results.summarise(rs).loc[0, "gains_from_trade_eur_ci"])


def test_candidates_lists_result_folders(run_folders, tmp_path):
    found = results.candidates(run_folders)
    assert {p.name for p in found} >= {"taxes", "single"}
    assert results.candidates(tmp_path / "nothing") == []
    with pytest.raises(results.ResultError, match="no results.parquet"):
        results.load(tmp_path)


def _sweep_rows(prefixed: bool) -> pd.DataFrame:
    rows = []
    for point, (tax, mech) in enumerate([(0.0, "call"), (10.0, "call"), (0.0, "cda"), (10.0, "cda")]):
        for rep in range(3):
            kpi = {"gains_from_trade_eur": 100.0 + 10 * tax + rep, "co2_avoided_t": 5.0 + tax,
                   "market_efficiency": 1.0 if mech == "call" else 0.9}
            rows.append({"run_id": f"p{point}-r{rep}", "point": point, "policy.carbon_tax": tax,
                         "market.mechanism": mech, "replicate": rep, "seed": 100 + rep,
                         **{(f"kpis.{k}" if prefixed else k): v for k, v in kpi.items()},
                         "status": "ok", "error": "", "wall_s": 0.1, "worker_pid": 7})
    rows.append({**rows[0], "run_id": "p0-r9", "status": "error", "error": "ValueError: boom",
                 **{(f"kpis.{k}" if prefixed else k): np.nan for k in ("gains_from_trade_eur",)}})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("prefixed", [True, False])
def test_a_hand_built_sweep_table_loads_with_either_kpi_naming(tmp_path, prefixed):
    _sweep_rows(prefixed).to_parquet(tmp_path / "results.parquet", index=False)
    rs = results.load(tmp_path)
    assert rs.layout == "sweep" and rs.failed == 1 and len(rs.runs) == 12 and rs.notes
    assert rs.swept == ["policy.carbon_tax", "market.mechanism"]
    assert rs.kpis[:3] == ["gains_from_trade_eur", "co2_avoided_t", "market_efficiency"]
    assert "worker_pid" not in rs.kpis and "point" not in rs.kpis
    table = results.summarise(rs)
    row = table[(table["policy.carbon_tax"] == 10.0) & (table["market.mechanism"] == "cda")].iloc[0]
    assert row["gains_from_trade_eur"] == pytest.approx(201.0) and row["n"] == 3
    assert row["gains_from_trade_eur_ci"] == pytest.approx(4.30265273 * 1.0 / np.sqrt(3))
    assert results.scheme_label(row, rs.swept) == "Carbon tax 10 EUR/t CO2, Mechanism: cda"


def test_compare_labels_come_with_units_and_never_as_raw_names():
    from viz import labels

    assert labels.param_label("policy.carbon_tax") == "Carbon tax (EUR/t CO2)"
    assert labels.param_label("cooperation.trust_memory") == "Trust memory"  # not in the table: still readable
    assert labels.kpi_label("social_surplus_eur") == "Social surplus (EUR)"
    assert labels.kpi_label("market_efficiency") == "Market efficiency (% of optimum)"
    assert labels.kpi_label("co2_avoided_t", "k ") == "CO2 avoided (k t CO2)"
    for kpi in results.KPI_LABELS:
        assert "_" not in results.KPI_LABELS[kpi], kpi


def test_ci_text_is_true_to_the_replicates():
    from viz.compare_charts import replicates_text

    assert replicates_text(np.array([1, 1])) == "one run each, so no confidence interval"
    assert replicates_text(np.array([2, 2])) == "mean of 2 replicates; bars: 95 % confidence interval"
    assert replicates_text(np.array([1, 3])).startswith("mean of 1 to 3 replicates") and "none for a scheme" in \
        replicates_text(np.array([1, 3]))


def test_sampled_designs_and_wide_sobol_intervals_are_told_apart(tmp_path):
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"policy.carbon_tax": rng.uniform(0, 100, 16), "policy.landfill_tax": rng.uniform(0, 50, 16),
                         "seed": 1, "gains_from_trade_eur": rng.uniform(0, 1, 16)})
    rows.to_parquet(tmp_path / "results.parquet", index=False)
    rs = results.load(tmp_path)
    assert results.continuous(rs, 12)
    _sweep_rows(True).to_parquet(tmp_path / "results.parquet", index=False)
    assert not results.continuous(results.load(tmp_path), 12)
    wide = pd.DataFrame({"kpi": "", "parameter": ["a", "b"], "kind": ["S1", "ST"], "value": [0.3, 0.5],
                         "conf": [0.85, 0.1]})
    assert "\u00b1 0.85" in results.sensitivity_warning(wide) and "larger N" in results.sensitivity_warning(wide)
    assert results.sensitivity_warning(wide.assign(conf=[0.05, 0.1])) == ""


def test_a_parent_folder_lists_its_result_folders(tmp_path, monkeypatch):
    from viz.compare_page import ComparePage

    parent = tmp_path / "parent"
    for name in ("sweep-a", "sweep-b"):
        (parent / name).mkdir(parents=True)
        _sweep_rows(True).to_parquet(parent / name / "results.parquet", index=False)
    (parent / "notes").mkdir()
    assert [p.name for p in results.child_results(parent)] != [] and \
        {p.name for p in results.child_results(parent)} == {"sweep-a", "sweep-b"}
    assert results.child_results(tmp_path / "nothing") == []
    monkeypatch.setenv("ECOPARK_RESULTS", str(tmp_path / "empty"))
    box, rc = solara.render(ComparePage(), handle_error=False)
    # No result folders at all: one message, not an Info and an Error for the same state.
    assert len(rc.find(v.Alert).widgets) == 1
    path = rc.find(v.TextField, label="or a folder path").widget
    path.v_model = str(parent)
    path.fire_event("keyup.enter", None)
    buttons = rc.find(v.Btn, class_="child-result").widgets
    assert sorted(b.children[-1] for b in buttons) == ["sweep-a", "sweep-b"]
    assert not rc.find(v.Alert).widgets  # a list, not an error
    next(b for b in buttons if b.children[-1] == "sweep-a").click()
    assert "sweep-a" in rc.find(solara.widgets.HTML, attributes={"class": "result-head"}).widget.unsafe_innerHTML


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_the_against_chart_zooms_into_a_range_and_hides_lines(tmp_path, monkeypatch):
    """/compare: a range of the swept parameter to zoom into, and lines switched off and on
    (the legend toggling of issue 17), each redrawing the chart."""
    from viz.compare_page import ComparePage

    _sweep_rows(True).to_parquet(tmp_path / "results.parquet", index=False)
    monkeypatch.setenv("ECOPARK_RESULTS", str(tmp_path))
    box, rc = solara.render(ComparePage(), handle_error=False)

    def picture() -> bytes:
        return next(w for w in rc.find(ipywidgets.Image).widgets if "against-figure" in w._dom_classes).value

    before = picture()
    zoom = rc.find(v.RangeSlider, label="Zoom: Carbon tax (EUR/t CO2)").widget
    lo, hi = zoom.v_model
    zoom.v_model = [lo, (lo + hi) / 2]
    zoomed = picture()
    assert zoomed != before
    lines = rc.find(v.Select, class_="lines-shown").widget
    shown = list(lines.v_model)
    assert len(shown) >= 2
    lines.v_model = shown[:1]
    assert picture() != zoomed


def test_sensitivity_in_either_layout(tmp_path):
    wide = tmp_path / "wide"
    wide.mkdir()
    _sweep_rows(False).to_parquet(wide / "results.parquet", index=False)
    pd.DataFrame({"parameter": ["policy.carbon_tax", "policy.landfill_tax"], "index kind": ["S1", "S1"],
                  "value": [0.7, 0.2], "conf": [0.1, 0.05]}).to_csv(wide / "sensitivity.csv", index=False)
    sens = results.load(wide).sensitivity
    assert list(sens["kind"]) == ["S1", "S1"] and list(sens["conf"]) == [0.1, 0.05]
    long = tmp_path / "long"
    (long / "report").mkdir(parents=True)
    _sweep_rows(False).to_parquet(long / "results.parquet", index=False)
    pd.DataFrame({"kpi": ["gains_from_trade_eur"] * 4, "parameter": ["policy.carbon_tax"] * 4,
                  "index": ["S1", "S1_conf", "ST", "ST_conf"], "value": [0.6, 0.1, 0.8, 0.2]}
                 ).to_csv(long / "report" / "sensitivity.csv", index=False)
    sens = results.load(long).sensitivity
    assert sens[["kind", "value", "conf"]].values.tolist() == [["S1", 0.6, 0.1], ["ST", 0.8, 0.2]]


def test_a_compare_folder_groups_by_scheme_in_its_own_order(tmp_path):
    df = _sweep_rows(False).iloc[:12]
    df = df.assign(scheme=[["zero-call", "ten-call", "zero-cda", "ten-cda"][p] for p in df["point"]])
    df.to_parquet(tmp_path / "runs.parquet", index=False)
    rs = results.load(tmp_path)
    assert rs.swept == ["scheme"]
    assert list(results.summarise(rs)["scheme"]) == ["zero-call", "ten-call", "zero-cda", "ten-cda"]


def test_comparison_figures_draw(tmp_path, run_folders):
    from viz import compare_charts

    _sweep_rows(True).to_parquet(tmp_path / "results.parquet", index=False)
    rs = results.load(tmp_path)
    kpis = ["gains_from_trade_eur", "market_efficiency"]
    assert b"Schemes side by side: mean of 3 replicates" in svg(compare_charts.schemes_figure(rs, kpis))
    assert b"KPIs against Carbon tax (EUR/t CO2)" in svg(compare_charts.against_figure(rs, "policy.carbon_tax", kpis,
                                                                                   "market.mechanism"))
    assert b"KPIs against Mechanism" in svg(compare_charts.against_figure(rs, "market.mechanism", kpis))
    # Shares end at 100 %: market efficiency is 100 % for every call-market run here.
    flat = compare_charts.against_figure(rs, "policy.carbon_tax", ["market_efficiency"], "market.mechanism")
    assert flat.axes[0].get_ylim()[1] == 100.0
    bars = compare_charts.schemes_figure(rs, ["market_efficiency"])
    assert bars.axes[0].get_xlim()[1] == 100.0
    sens = pd.DataFrame({"kpi": "", "parameter": ["a", "b"], "kind": ["S1", "S1"], "value": [0.5, 0.1],
                         "conf": [0.1, np.nan]})
    assert b"Sensitivity indices" in svg(compare_charts.sensitivity_figure(sens))
    assert png(compare_charts.sensitivity_figure(sens)).startswith(b"\x89PNG")


def test_comparison_charts_read_out_each_bar_and_point_on_hover(tmp_path):
    """Hovering a bar or a point of the comparison charts shows its scheme and value (an SVG
    <title> the browser shows as a tooltip)."""
    import re

    from viz import compare_charts

    _sweep_rows(True).to_parquet(tmp_path / "results.parquet", index=False)
    rs = results.load(tmp_path)
    table = results.summarise(rs, rs.swept, ["gains_from_trade_eur"])
    bars = svg(compare_charts.schemes_figure(rs, ["gains_from_trade_eur"])).decode()
    tips = re.findall(r"<title>([^<]*)</title>", bars)
    assert len(tips) == len(table)
    first = table.iloc[0]
    assert any(results.scheme_label(first, rs.swept) in t and "(3 runs)" in t for t in tips), tips
    lines = svg(compare_charts.against_figure(rs, "policy.carbon_tax", ["gains_from_trade_eur"],
                                              "market.mechanism")).decode()
    assert len(re.findall(r"<title>Carbon tax \(EUR/t CO2\) [0-9.]+, ", lines)) == len(table)


def test_an_optimisation_folder_shows_its_pareto_front(tmp_path):
    from viz import compare_charts

    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "optimisation", "objectives": [
        "max:co2_avoided_t", "min:government_net_cost_eur"]}))
    cands = pd.DataFrame({"generation": [0, 0, 0], "candidate": [0, 1, 2], "policy.carbon_tax": [10.0, 50.0, 90.0],
                          "max:co2_avoided_t": [100.0, 150.0, 120.0],
                          "min:government_net_cost_eur": [5.0, 2.0, 9.0], "feasible": [True, True, True],
                          "front": [False, True, False]})
    cands.to_csv(tmp_path / "candidates.csv", index=False)
    front = cands[cands["front"]].drop(columns=["feasible", "front"])
    front.insert(0, "scheme", ["front-01"])
    front["co2_avoided_t_mean"] = 150.0
    front["runs"] = 2
    front.to_csv(tmp_path / "pareto.csv", index=False)
    p = results.load_pareto(tmp_path)
    assert p.objectives == ["max:co2_avoided_t", "min:government_net_cost_eur"] and p.levers == ["policy.carbon_tax"]
    drawn = svg(compare_charts.pareto_figure(p.candidates, p.front, p.objectives, p.levers)).decode()
    assert "<title>front-01: CO2 avoided" in drawn and "Carbon tax (EUR/t CO2) 50" in drawn
    assert "more is better" in drawn and "less is better" in drawn
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "sweep"}))
    assert results.load_pareto(tmp_path) is None  # a sweep folder has no front


# ---- components, rendered headless ---------------------------------------------------------------


def _divs(rc) -> list:
    """Every div of the rendered page (`rc.find` stops at the first div it matches)."""
    out, todo = [], [rc.container]
    while todo:
        w = todo.pop()
        if isinstance(w, v.Html) and w.tag == "div":
            out.append(w)
        todo += [c for c in (getattr(w, "children", None) or []) if isinstance(c, ipywidgets.Widget)]
    return out


def _settle(rc, timeout: float = 30.0) -> None:
    """Wait until the page's step or rebuild (run in a thread of its own) is done."""
    deadline = time.time() + timeout
    idle = 0  # seen idle this many times in a row: a render in the task's thread may still land
    while time.time() < deadline:
        idle = idle + 1 if not any("busy" in (w.class_ or "").split() for w in _divs(rc)) else 0
        if idle >= 3:
            return
        time.sleep(0.05)
    raise AssertionError("the page stayed busy")


def _open_settings(rc) -> None:
    rc.find(v.Btn, class_="btn-settings").widget.click()


def _kpis(rc) -> dict[str, str]:
    _settle(rc)
    out = {}
    for box in _divs(rc):
        cls = box.class_ or ""
        if "ecopark-kpi" in cls:
            key = cls.split("kpi-")[-1]
            out[key] = next(c.children[0] for c in box.children if c.class_ == "kpi-value")
        elif cls == "kpi-day":  # the day sits in the run bar, beside Play and Step
            out["day"] = next(c.children[0] for c in box.children if c.class_ == "kpi-value")
    return out


@pytest.mark.slow
def test_live_page_renders_steps_and_rebuilds_on_a_policy_change():
    from viz.live_page import LivePage

    box, rc = solara.render(LivePage(), handle_error=False)
    assert _kpis(rc)["day"] == "0"
    assert not rc.find(v.Slider).widgets  # the settings drawer starts closed: the run comes first
    _open_settings(rc)
    operations_sliders = [k for k, t in operations_fields().items() if t in (float, int)]
    # The social cost of carbon values the CO2 avoided; no company responds to it: not a slider.
    assert ACCOUNTING == ("social_cost_of_carbon",) and "social_cost_of_carbon" in policy_levers()
    assert len(rc.find(v.Slider).widgets) == len(policy_levers()) - len(ACCOUNTING) + len(operations_sliders)
    labels = [w.children[0] for w in rc.find(v.Html, class_="slider-label").widgets]
    assert not any(text.startswith("Social cost of carbon") for text in labels)
    assert rc.find(v.TextField, label="Social cost of carbon (EUR/t CO2)").widget.v_model == "100.0"
    rc.find(v.Btn, class_="btn-step").widget.click()
    _settle(rc)
    rc.find(v.Btn, class_="btn-step").widget.click()
    after = _kpis(rc)
    assert after["day"] == "2" and after["gains"] != "EUR 0"
    command = rc.find(v.Html, class_="run-command").widget.children[0]
    assert "--set policy.carbon_tax=0" in command
    # Move the carbon-tax slider: the config is rebuilt and the run restarts from day 0.
    labels = [w.children[0] for w in rc.find(v.Html, class_="slider-label").widgets]
    carbon = next(i for i, text in enumerate(labels) if text.startswith("Carbon tax"))
    rc.find(v.Slider).widgets[carbon].v_model = 25
    _settle(rc)
    assert "--set policy.carbon_tax=25" in rc.find(v.Html, class_="run-command").widget.children[0]
    assert _kpis(rc)["day"] == "0"
    rc.find(v.Btn, class_="btn-step").widget.click()
    assert _kpis(rc)["day"] == "1"


def test_run_view_shows_the_cooperation_chart_built_pipes_and_contracts(coop_run):
    from viz.live_page import RunView
    from viz.park_map import ParkMap as _ParkMap

    session = LiveSession()
    session.run = coop_run
    session.map = _ParkMap(coop_run.park, coop_run.model.network.positions)
    i = coop_run.park.company_index()["Asnaes power station"]
    box, rc = solara.render(RunView(session, solara.reactive(0), session.settings, i, lambda _: None,
                                    lambda *_: None, solara.reactive(False), solara.reactive(1), False,
                                    solara.reactive(False), lambda: None, lambda: None), handle_error=False)
    images = {c: w for w in rc.find(ipywidgets.Image).widgets for c in w._dom_classes}
    assert "park-map" in images
    assert b"pipe built this run" in bytes(images["park-map"].value)
    from viz.click_layers import ChartsLayer

    drawn = rc.find(ChartsLayer).widget.html
    for text in ('class="ts-grid kpi-charts"', 'class="ts-grid coop-charts"', "Contracts, pipes and deliveries",
                 "Welfare (kEUR/day)", "social surplus"):
        assert text in drawn, text
    assert rc.find(v.Html, class_="day0-hint").widget.children == [""]  # day 60: no day-0 hint
    from viz.click_layers import MapLayer

    hover = rc.find(MapLayer).widget.svg
    assert "hover-pipe" in hover and "hover-contract" in hover
    details = rc.find(solara.widgets.HTML, attributes={"class": "company-details"}).widget.unsafe_innerHTML
    for text in ("Shared-vision weight", "Contracts in force", 'class="contracts"', "sells to", "a day at EUR",
                 "Trust (chance a delivery is kept)", 'class="trust"'):
        assert text in details, text
    contracts, pipes = coop_run.series["contracts_active"][-1], len(coop_run.model.partners.pipes)
    assert _kpis(rc)["coop"] == f"{contracts:.0f} \u00b7 {pipes}"


@pytest.mark.slow
def test_live_page_cooperation_controls_restart_the_run():
    from viz.live_page import LivePage

    box, rc = solara.render(LivePage(), handle_error=False)
    _open_settings(rc)

    def command() -> str:
        _settle(rc)
        return rc.find(v.Html, class_="run-command").widget.children[0]

    rc.find(v.Btn, class_="btn-step").widget.click()
    assert _kpis(rc)["day"] == "1" and "--set policy.gain_sharing=market" in command()
    rc.find(v.Select, label="Gain sharing (park operator)").widget.v_model = "nash"
    assert "--set policy.gain_sharing=nash" in command() and _kpis(rc)["day"] == "0"
    rc.find(v.Checkbox, label="Shared vision spreads by imitation").widget.v_model = True
    assert "--set policy.shared_vision_imitation=true" in command()
    labels = [w.children[0] for w in rc.find(v.Html, class_="slider-label").widgets]
    sv = next(i for i, text in enumerate(labels) if text.startswith("Shared vision, mean weight"))
    rc.find(v.Slider).widgets[sv].v_model = 0.4
    assert "--set policy.shared_vision=0.4" in command()
    assert "Shared vision, mean weight: 0.4 on the park's gains" in [
        w.children[0] for w in rc.find(v.Html, class_="slider-label").widgets]
    subsidy = next(i for i, text in enumerate(labels) if text.startswith("Pipe investment subsidy"))
    assert rc.find(v.Slider).widgets[subsidy].max == 1.0
    rc.find(v.Btn, class_="btn-step").widget.click()
    assert _kpis(rc)["day"] == "1"


def test_operations_settings_reach_the_run_and_the_command_line():
    from experiments.config import parse_sets

    s = settings_for("kalundborg")
    assert "operations." not in s.command_line()  # at the defaults: the same run without them
    s = (s.with_operation("maintenance", "predictive").with_operation("failures", False)
         .with_operation("mtbf", 120.0).with_operation("mttr", 4.0).with_operation("maintenance_every", 90.0)
         .with_operation("maintenance_days", 3.0))
    run = LiveRun.from_settings(s.scenario_name, s.assignments())
    ops = run.cfg.operations
    assert (ops.maintenance.value, ops.failures, ops.mtbf, ops.mttr) == ("predictive", False, 120.0, 4.0)
    assert (ops.maintenance_every, ops.maintenance_days) == (90, 3) and isinstance(ops.maintenance_every, int)
    line = s.command_line()
    for part in ("operations.maintenance=predictive", "operations.failures=false", "operations.mtbf=120",
                 "operations.maintenance_every=90"):
        assert f"--set {part}" in line, part
    cli, _ = resolve("kalundborg", None, 0, parse_sets([part for part in line.split() if "=" in part]))
    assert dataclasses.replace(run.cfg, steps=cli.steps) == cli


@pytest.mark.slow
def test_live_page_operations_controls_restart_the_run_and_show_lost_output(monkeypatch):
    from agents.operations import Maintenance
    from viz import live_page, palette

    sessions = []

    class Recorded(LiveSession):  # the page's own session, kept for the test to look into
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            sessions.append(self)

    monkeypatch.setattr(live_page, "LiveSession", Recorded)
    box, rc = solara.render(live_page.LivePage(), handle_error=False)
    session = sessions[0]
    _open_settings(rc)

    def command() -> str:
        _settle(rc)
        return rc.find(v.Html, class_="run-command").widget.children[0]


    def step() -> None:
        rc.find(v.Btn, class_="btn-step").widget.click()
        _settle(rc)

    select = rc.find(v.Select, label="Maintenance policy").widget
    assert select.items == ["none", "calendar", "coordinated", "predictive"]  # prescriptive runs from run.py
    assert _kpis(rc)["lost"] == "EUR 0"
    step()
    assert _kpis(rc)["day"] == "1" and "operations." not in command()
    generation = session.generation
    select.v_model = "predictive"
    assert "--set operations.maintenance=predictive" in command() and _kpis(rc)["day"] == "0"
    assert session.generation == generation + 1 and session.run.cfg.operations.maintenance is Maintenance.PREDICTIVE
    labels = [w.children[0] for w in rc.find(v.Html, class_="slider-label").widgets]
    assert "Mean time between failures: 0 (the scenario's own)" in labels
    mtbf = next(i for i, text in enumerate(labels) if text.startswith("Mean time between failures"))
    assert rc.find(v.Slider).widgets[mtbf].max == 365
    rc.find(v.Slider).widgets[mtbf].v_model = 20
    line = command()
    assert "--set operations.mtbf=20" in line and "--set operations.maintenance=predictive" in line
    labels = [w.children[0] for w in rc.find(v.Html, class_="slider-label").widgets]
    assert "Mean time between failures: 20 days" in labels
    ops = session.run.cfg.operations
    assert (ops.maintenance, ops.mtbf, session.run.t) == (Maintenance.PREDICTIVE, 20.0, 0)
    rc.find(v.Checkbox, label="Failures").widget.v_model = False
    assert "--set operations.failures=false" in command() and session.run.cfg.operations.failures is False
    rc.find(v.Checkbox, label="Failures").widget.v_model = True
    _settle(rc)
    # The lost-output card: output lost to failures and cascades over the run's records.
    session.step(59)
    step()
    records = session.run.model.records
    lost = sum(r.lost_failure_eur + r.lost_cascade_eur for r in records)
    assert _kpis(rc)["day"] == "60" and lost > 0
    assert _kpis(rc)["lost"] == palette.money(lost)


@pytest.mark.slow
def test_live_page_breaks_the_selected_company_and_shows_it():
    from viz.live_page import LivePage

    box, rc = solara.render(LivePage(), handle_error=False)
    rc.find(v.Select, label="Company").widget.v_model = "Novo Nordisk"
    details = lambda: rc.find(solara.widgets.HTML, attributes={"class": "company-details"}).widget.unsafe_innerHTML  # noqa: E731
    assert "Novo Nordisk" in details()
    rc.find(v.Btn, class_="btn-break").widget.click()
    rc.find(v.Btn, class_="btn-step").widget.click()
    _settle(rc)
    alerts = " ".join(str(w.children) for w in rc.find(v.Alert).widgets)
    assert "Novo Nordisk is down" in alerts


def test_step_shows_busy_and_holds_the_run_controls_until_done(monkeypatch):
    import threading

    from viz import live_page

    release = threading.Event()

    class Slow(LiveSession):  # a step that waits for the test, as a long one would
        def step(self, n: int = 1) -> None:
            release.wait(10)
            super().step(n)

    monkeypatch.setattr(live_page, "LiveSession", Slow)
    box, rc = solara.render(live_page.LivePage(), handle_error=False)
    button = lambda name: rc.find(v.Btn, class_=name).widget  # noqa: E731
    button("btn-step").click()
    deadline = time.time() + 5
    while not button("btn-step").disabled and time.time() < deadline:
        time.sleep(0.02)
    try:
        assert button("btn-step").disabled and button("btn-reset").disabled
        assert any("busy" in (w.class_ or "").split() for w in _divs(rc))
    finally:
        release.set()
    assert _kpis(rc)["day"] == "1"
    assert not button("btn-step").disabled and not button("btn-reset").disabled


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_a_large_park_opens_by_sector_and_drills_down_to_one():
    from viz.sector_map import SectorMap

    run = LiveRun.from_settings("synthetic:120", {})
    run.step(2)
    sectors = SectorMap(run.park, run.model.network.positions)
    image = sectors.update(run)
    assert b"120 companies in" in image and ET.fromstring(image).tag == SVG + "svg"
    links = sectors.links(run)
    assert sum(n for n, _ in links.values()) == len(run.snapshot.flows)
    hover = sectors.hover_svg()
    assert hover.count('class="hover-sector"') == len(sectors.sectors)
    # Drill-down: the company map zoomed to one sector, its companies named.
    canvas = ParkMap(run.park, run.model.network.positions)
    sector = run.park.companies[0].sector
    members = [i for i, c in enumerate(run.park.companies) if c.sector == sector]
    focused = canvas.update(run, focus=sector)
    assert f"sector {sector} ({len(members)} companies)".encode() in focused
    assert run.park.companies[members[0]].name.encode() in focused
    (x0, x1), (y0, y1) = canvas.plot.xlim, canvas.plot.ylim
    assert x1 - x0 <= np.ptp(canvas.full[0]) + 1e-9 and y1 - y0 <= np.ptp(canvas.full[1]) + 1e-9
    assert b"#e0e0e0" in focused  # the other sectors' companies greyed
    xy = canvas.layout.xy[members]
    assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x1).all() and (xy[:, 1] >= y0).all() and (xy[:, 1] <= y1).all()
    whole = canvas.update(run)
    assert canvas.plot.xlim == canvas.full[0] and run.park.companies[members[0]].name.encode() not in whole


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_the_page_shows_a_large_park_by_sector_and_a_click_drills_down():
    from viz.live_page import LivePage
    from viz.click_layers import MapLayer

    box, rc = solara.render(LivePage(), handle_error=False)
    assert rc.find(v.BtnToggle, class_="map-view").widget.v_model == 0  # Kalundborg: its companies
    _open_settings(rc)
    rc.find(v.Select, label="Scenario").widget.v_model = "synthetic"
    _settle(rc)
    layer = rc.find(MapLayer).widget
    assert "data-sector" in layer.svg and "data-company" not in layer.svg  # 50 companies: by sector
    sector = layer.svg.split('data-sector="')[1].split('"')[0]
    layer.vue_pick_sector(sector)
    layer = rc.find(MapLayer).widget
    assert "data-company" in layer.svg
    assert rc.find(v.Html, class_="map-focus").widget.children[0].startswith(f"sector {sector}")
    rc.find(v.Btn, class_="btn-whole-park").widget.click()
    assert rc.find(v.Html, class_="map-focus").widget.children[0] == "click a company to select it"


def test_clicking_a_company_on_the_map_selects_it():
    from viz.live_page import LivePage
    from viz.click_layers import MapLayer

    box, rc = solara.render(LivePage(), handle_error=False)
    layer = rc.find(MapLayer).widget
    assert 'data-company="3"' in layer.svg
    layer.vue_pick(3)  # what the template calls with the clicked circle's data-company
    name = LiveSession().run.park.companies[3].name
    assert rc.find(v.Select, label="Company").widget.v_model == name
    details = rc.find(solara.widgets.HTML, attributes={"class": "company-details"}).widget.unsafe_innerHTML
    assert name in details


@pytest.mark.slow
def test_live_page_play_advances_until_paused():
    from viz.live_page import LivePage

    box, rc = solara.render(LivePage(), handle_error=False)
    rc.find(v.Btn, class_="btn-play").widget.click()
    deadline = time.time() + 20
    while _kpis(rc)["day"] in ("0", "1") and time.time() < deadline:
        time.sleep(0.1)
    rc.find(v.Btn, class_="btn-play").widget.click()  # pause
    time.sleep(0.6)
    day = int(_kpis(rc)["day"])
    assert day >= 2
    time.sleep(0.8)
    assert int(_kpis(rc)["day"]) == day


@pytest.mark.slow
def test_compare_page_reads_the_results_folder(monkeypatch, run_folders):
    from viz.compare_page import ComparePage

    monkeypatch.setenv("ECOPARK_RESULTS", str(run_folders))
    box, rc = solara.render(ComparePage(), handle_error=False)
    head = rc.find(solara.widgets.HTML, attributes={"class": "result-head"})
    head.assert_not_empty()
    folder = rc.find(v.Select, label="Result folder").widget
    folder.v_model = str(run_folders / "taxes")
    text = rc.find(solara.widgets.HTML, attributes={"class": "result-head"}).widget.unsafe_innerHTML
    assert "taxes" in text and "Carbon tax (EUR/t CO2): 2 values" in text and "policy.carbon_tax" not in text
    against = rc.find(v.Select, label="Against").widget
    assert against.v_model == "Carbon tax (EUR/t CO2)"
    picker = rc.find(v.Select, label="KPIs").widget
    assert "Social surplus (EUR)" in picker.items and not any("_" in k for k in picker.items)
    path = rc.find(v.TextField, label="or a folder path").widget
    path.v_model = str(run_folders / "nowhere")
    path.fire_event("keyup.enter", None)  # the field reports on Enter or leaving it, as in the browser
    alerts = rc.find(v.Alert).widgets
    assert len(alerts) == 1 and "no such folder" in str(alerts[0].children)  # one message for one state


# ---- the command and the asset cache -------------------------------------------------------------


def test_run_py_viz_refuses_bad_options_before_starting_anything(tmp_path):
    from tests.conftest import run_cli

    r = run_cli("viz", "--port", "70000")
    assert r.returncode == 2 and "--port: must be between 1 and 65535" in r.stderr
    r = run_cli("viz", "--results", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such folder" in r.stderr


def test_asset_cache_reports_what_is_missing_and_unpacks_npm_tarballs(tmp_path):
    import io
    import tarfile

    from tools import solara_assets

    assert set(solara_assets.missing(tmp_path)) == {name for name, _, _ in solara_assets.PACKAGES}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("package/require.js", b"var requirejs;"), ("package/../evil.js", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tgz = tmp_path / "requirejs-2.3.6.tgz"
    tgz.write_bytes(buf.getvalue())
    solara_assets._unpack(tgz, tmp_path / "cache" / "requirejs@2.3.6")
    assert (tmp_path / "cache" / "requirejs@2.3.6" / "require.js").read_bytes() == b"var requirejs;"
    assert not (tmp_path / "cache" / "evil.js").exists()
    assert "requirejs@2.3.6" not in solara_assets.missing(tmp_path / "cache")


# ---- the runs in worker processes (viz.pool) ----------------------------------------------------


@pytest.fixture(scope="module")
def run_pool():
    from viz.pool import RunPool

    pool = RunPool(1, idle_s=3600)  # one worker: importing the models takes it a few seconds
    pool.wait_ready()
    yield pool
    pool.close()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.allclose(a[k], b[k], equal_nan=True) for k in a)


@pytest.mark.slow
def test_a_run_in_a_worker_shows_what_the_same_run_here_shows(run_pool):
    remote = LiveSession(pool=run_pool)
    local = LiveSession()
    for s in (remote, local):
        s.step(3)
        s.run.break_company(0, 2)
        s.step(2)
    assert remote.run.t == local.run.t == 5
    assert _same(remote.run.series, local.run.series) and _same(remote.run.prices, local.run.prices)
    assert remote.run.totals() == pytest.approx(local.run.totals())
    assert remote.run.break_spans == local.run.break_spans and remote.run.decisions() == local.run.decisions()
    assert remote.run.company_view(0) == local.run.company_view(0)
    assert remote.charts_html() == local.charts_html()
    image, hover = remote.map_layers(0, "companies", None)
    assert image.startswith(b"<?xml") and 'class="map-hover"' in hover
    assert remote.map_layers(0, "companies", None)[0] is image  # drawn with the step, not again
    remote.configure(remote.settings.with_lever("carbon_tax", 10.0))  # the old run is freed in its worker
    assert remote.run.t == 0 and remote.previous is not None and run_pool.sessions == 1
    remote.close()
    assert run_pool.sessions == 0


@pytest.mark.slow
def test_an_idle_run_is_freed_and_a_lost_one_starts_again(run_pool):
    from viz.pool import RemoteRun

    session = LiveSession(pool=run_pool)
    run = session.run
    assert isinstance(run, RemoteRun)
    session.step(2)
    assert run_pool.reap() == 0 and run_pool.sessions == 1
    run_pool.idle_s = 0.2
    try:
        time.sleep(0.3)
        assert run_pool.reap() == 1 and run_pool.sessions == 0 and run.closed  # freed in its worker
    finally:
        run_pool.idle_s = 3600
    session.step(1)  # the page comes back: the run starts again from day 0
    assert run.restarts == 1 and run.t == 1 and len(run.series["step"]) == 1
    run.worker.proc.kill()  # a worker lost (out of memory, killed): a fresh one, the run from day 0
    run.worker.proc.wait()
    session.step(1)
    assert run.restarts == 2 and run.t == 1
    session.close()


def test_the_server_pool_follows_the_environment(monkeypatch):
    from viz import pool

    monkeypatch.setenv("ECOPARK_VIZ_WORKERS", "0")
    monkeypatch.setattr(pool, "_pool", None)
    assert pool.serve() is None and pool.current() is None  # no workers: the runs step in the server
    monkeypatch.setenv("ECOPARK_VIZ_WORKERS", "3")
    monkeypatch.setenv("ECOPARK_VIZ_IDLE_S", "90")
    assert pool.workers_from_env() == 3 and pool.idle_from_env() == 90.0
    monkeypatch.delenv("ECOPARK_VIZ_WORKERS")
    assert pool.workers_from_env() >= 1


@pytest.mark.slow
def test_a_long_session_keeps_a_bounded_history_and_exact_totals(monkeypatch):
    """The page keeps the last days whole and halves the older ones (issue 19): the series stay
    under MAX_POINTS however long the run, the KPI cards' totals stay those of every day."""
    from viz import live_run

    whole = LiveSession()
    whole.step(70)
    monkeypatch.setattr(live_run, "MAX_POINTS", 30)
    monkeypatch.setattr(live_run, "RECENT", 15)
    short = LiveSession()
    short.step(70)
    s, w = short.run.series, whole.run.series
    assert len(s["step"]) <= 30 and short.run.compactions >= 3 and len(w["step"]) == 70
    assert s["step"][-15:] == list(range(55, 70))  # the last days at full resolution
    assert s["step"] == sorted(set(s["step"])) and s["step"][0] == 0
    for key in ("gains_from_trade_eur", "co2_avoided_t"):
        assert s[key][-15:] == w[key][-15:]
    assert all(len(v) == len(s["step"]) for v in (*s.values(), *short.run.prices.values()))
    assert short.run.totals() == pytest.approx(whole.run.totals())
    assert "<svg" in short.charts_html()


@pytest.mark.slow
def test_a_worker_run_that_halves_its_history_sends_the_page_all_of_it_again(monkeypatch):
    from viz.pool import RunPool

    monkeypatch.setenv("ECOPARK_VIZ_POINTS", "20")
    pool = RunPool(1, idle_s=3600)
    try:
        pool.wait_ready()
        remote = LiveSession(pool=pool)
        local = LiveSession()
        monkeypatch.setattr("viz.live_run.MAX_POINTS", 20)
        monkeypatch.setattr("viz.live_run.RECENT", 10)
        for s in (remote, local):
            for _ in range(9):
                s.step(4)
        assert remote.run.t == local.run.t == 36 and len(remote.run.series["step"]) <= 20
        assert _same(remote.run.series, local.run.series) and _same(remote.run.prices, local.run.prices)
        assert remote.run.totals() == pytest.approx(local.run.totals())
        remote.close()
    finally:
        pool.close()


@pytest.mark.slow
def test_stopping_run_py_viz_with_sigterm_stops_its_server_and_workers():
    """`kill` on `run.py viz` (a service manager's stop) used to leave Solara and the model
    workers running, orphaned, with the port held."""
    import signal
    import socket
    import subprocess
    import sys

    import psutil

    from tests.conftest import REPO

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "viz", "--port", str(port), "--workers", "1"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        children: list = []
        while time.monotonic() < deadline and len(children) < 2:  # Solara and its worker
            time.sleep(0.5)
            children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in psutil.Process().children(recursive=True):
            if str(port) in " ".join(p.cmdline()):
                p.kill()
