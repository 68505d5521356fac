"""The live park page: the run bar, KPI cards, map, charts and a company's own panel, and the
settings drawer (`viz.settings_panel`)."""

from __future__ import annotations

import threading
import time

import solara

from experiments.problems import InputError
from viz import fields, html, palette, pool, svg_chart
from viz.click_layers import ChartsLayer, MapLayer
from viz.session import LiveSession, Settings
from viz.settings_panel import Controls, NumberField

FRAME_S = 0.25  # pace of Play: at most four frames a second
IDLE_S = 0.15  # and after each drawn frame a pause with no change, so a click's render can finish
DAYS_PER_FRAME = (1, 7, 30)
WINDOWS = ("all", "30", "90", "365")  # the charts' zoom: the whole run, or its last 30, 90 or 365 days

MECHANISM_LABELS = {"call": "call market", "cda": "continuous double auction", "mcafee": "McAfee double auction",
                    "bilateral": "bilateral negotiation", "planner": "central planner"}
STRATEGY_LABELS = {"truthful": "truthful", "zic": "ZI-C (Gode & Sunder)", "ziu": "ZI-U (Gode & Sunder)",
                   "zip": "ZIP (Cliff)", "roth_erev": "Roth-Erev learning"}


@solara.component
def Kpi(label: str, value: str, key: str, hint: str = ""):
    with solara.Div(classes=["ecopark-kpi", f"kpi-{key}"],
                    style="padding: 4px 10px; border-radius: 6px; background: #f5f7fa; min-width: 112px;"):
        solara.Text(label, style="font-size: 12px; color: #555; display: block;")
        solara.Text(value, classes=["kpi-value"], style="font-size: 18px; font-weight: 600; display: block;")
        if hint:
            solara.Text(hint, style="font-size: 11px; color: #777; display: block;")


@solara.component
def CompanyPanel(session: LiveSession, selected: int, on_select, on_break, version: int):
    run = session.run
    names = [c.name for c in run.park.companies]
    steps = solara.use_reactive(7)
    with solara.Card("Company", margin=0, classes=["company-panel"]):
        solara.Select("Company", values=names, value=names[selected] if selected < len(names) else names[0],
                      on_value=lambda name: on_select(names.index(name)))
        view = run.company_view(selected)
        with solara.Row(gap="6px", style="align-items: center;"):
            NumberField("Days down", steps.value, fields.parse_days, steps.set, "days-down")
            solara.Button("Break now", icon_name="mdi-flash-alert", color="error", classes=["btn-break"],
                          on_click=lambda: on_break(selected, steps.value))
        if view["down"]:
            solara.Error(f"{view['name']} is down: {view['down_steps_left']} more day(s).", dense=True)
        elif view["cut_off"]:
            solara.Warning("Lost an exchange partner since the failure.", dense=True)
        savings = view["profit_eur"] - view["baseline_profit_eur"]
        strategy = STRATEGY_LABELS.get(view["strategy"].lower(), view["strategy"])
        parts = [
            html.para(html.bold(view["name"]), html.text(f" ({view['sector']}; bids {strategy})")),
            html.para(html.text("Profit this run: "), html.bold(palette.money(view["profit_eur"])),
                      html.text(f" ({palette.money(savings)} against no symbiosis)")),
            html.para(html.text(f"Output today: {palette.money(view['output_value_eur'])}")),
            html.para(html.text("Shared-vision weight: "), html.bold(f"{view['sv_weight']:.2f}"),
                      html.text(" (weight on the park's gains against its own)"), classes="sv-weight"),
        ]
        parts.append(html.heading("Contracts in force", 5))
        if view["contracts"]:
            rows = []
            for k in view["contracts"]:
                u = k["unit"]
                pipe = (f"new pipe ({palette.money(k['investment'])}), the seller pays {100 * k['seller_share']:.0f} %"
                        if k["investment"] > 0 else f"no new pipe (seller's share {100 * k['seller_share']:.0f} %)")
                rows.append([k["role"], k["partner"],
                             f"{k['resource'].replace('_', ' ')}: {palette.quantity(k['quantity'], u)} a day at "
                             f"{palette.unit_price(k['price'], u)}; penalty {palette.unit_price(k['penalty'], u)} "
                             f"short; {pipe}; to day {k['end']}"])
            parts.append(html.table(["", "partner", "terms"], rows, classes="contracts", font_size=12))
        else:
            parts.append(html.para(html.text("none")))
        parts.append(html.heading("Partners this run", 5))
        if view["partners"]:
            parts.append(html.table(["", "partner", "resource", "total"],
                                    [[d, who, r.replace("_", " "), palette.quantity(q, u)]
                                     for d, who, r, q, u in view["partners"]], classes="partners"))
        else:
            parts.append(html.para(html.text("none yet")))
        if view["trust"]:
            parts += [html.heading("Trust (chance a delivery is kept)", 5),
                      html.table(["partner", "its trust in them", "their trust in it"],
                                 [[who, palette.percent(mine), palette.percent(theirs)]
                                  for who, mine, theirs in view["trust"]], classes="trust")]
        if view["stock"]:
            parts += [html.heading("Stock", 5),
                      html.table(["resource", "in store", "capacity"],
                                 [[r.replace("_", " "), palette.quantity(q, u), palette.quantity(cap, u)]
                                  for r, q, cap, u in view["stock"]])]
        parts.append(html.heading("Processes", 5))
        for p in view["processes"]:
            ins = ", ".join(f"{r.replace('_', ' ')} {q:.3g} {u}" for r, (q, u) in p["inputs"].items()) or "none"
            outs = ", ".join(f"{r.replace('_', ' ')} {q:.3g} {u}" for r, (q, u) in p["byproducts"].items()) or "none"
            parts.append(html.para(
                html.bold(p["name"]),
                html.text(f": up to {palette.quantity(p['capacity'], p['unit'])} a day at "
                          f"{palette.money(p['sale_price'])}/{p['unit']}, {100 * p['utilisation']:.0f} % load on average. "),
                html.text(f"Needs per {p['unit']}: {ins}. Yields per {p['unit']}: {outs}."),
                style="margin: 2px 0 6px 0; font-size: 13px;"))
        solara.HTML(unsafe_innerHTML="".join(parts), classes=["company-details"])


@solara.component
def RunBar(playing: solara.Reactive[bool], days: solara.Reactive[int], day: int, busy: bool,
           drawer: solara.Reactive[bool], on_step, on_reset):
    """Play, Step (1, 7 or 30 days), Reset, the day and the busy indicator: the first thing on
    the page, above the KPI cards. Step and Reset wait while a step or a rebuild runs."""
    with solara.Div(classes=["run-bar"]):
        solara.Button("Settings", icon_name="mdi-tune", on_click=lambda: drawer.set(not drawer.value),
                      classes=["btn-settings"], small=True, outlined=not drawer.value, color="primary")
        solara.Button("Pause" if playing.value else "Play", icon_name="mdi-pause" if playing.value else "mdi-play",
                      on_click=lambda: playing.set(not playing.value), color="primary", classes=["btn-play"],
                      small=True, disabled=busy and not playing.value)
        solara.Button("Step", icon_name="mdi-step-forward", on_click=on_step, classes=["btn-step"], small=True,
                      disabled=busy or playing.value)
        with solara.Div(classes=["days-per-step"]):
            solara.ToggleButtonsSingle(value=days.value, values=list(DAYS_PER_FRAME), on_value=days.set, dense=True)
        solara.Text("days a step", style="font-size: 12px; color: #555;")
        solara.Button("Reset", icon_name="mdi-restart", on_click=on_reset, classes=["btn-reset"], small=True,
                      disabled=busy)
        with solara.Div(classes=["kpi-day"], style="font-size: 16px; font-weight: 600; margin-left: 6px;"):
            solara.Text("Day ")
            solara.Text(f"{day}", classes=["kpi-value"])
        with solara.Div(classes=["busy-indicator"] + (["busy"] if busy else [])):
            if busy:
                # A still icon, not a spinner: ten tabs animating a spinner at 60 frames a second
                # cost their browsers about 40 % of their CPU while a step ran (benchmarks/page_load.py).
                solara.v.Icon(children=["mdi-timer-sand"], small=True, color="primary")
                solara.Text("running\u2026", style="font-size: 12px; color: #555;")


@solara.component
def RunView(session: LiveSession, tick: solara.Reactive[int], settings: Settings, selected: int, on_select, on_break,
            playing: solara.Reactive[bool], days: solara.Reactive[int], busy: bool, drawer: solara.Reactive[bool],
            on_step, on_reset):
    """Everything that changes with each step. Only this component reads `tick`, so a step
    redraws it and leaves the settings drawer alone (re-rendering it cost about a third of a step)."""
    version = tick.value
    timing = solara.use_ref(0.0)
    run = session.run
    t0 = time.perf_counter()
    view_choice = solara.use_reactive("")  # "", "companies" or "sectors"; "" is the park's default
    focus = solara.use_reactive("")  # a sector drilled down to, or ""
    view = view_choice.value or session.default_view()
    map_svg, map_hover = solara.use_memo(lambda: session.map_layers(selected, view, focus.value or None),
                                         [version, selected, session.generation, view, focus.value])

    def drill(sector: str):
        focus.set(sector)
        view_choice.set("companies")

    def pick_view(v: str):
        view_choice.set(v)
        if v == "sectors":
            focus.set("")
    zoom = solara.use_reactive("all")  # the charts' window: the whole run, or the last N days
    hidden = solara.use_reactive(frozenset())  # lines hidden from the legend, by `svg_chart.line_id`
    charts_html = solara.use_memo(lambda: session.charts_html(0 if zoom.value == "all" else int(zoom.value),
                                                              hidden.value),
                                  [version, session.generation, zoom.value, hidden.value])

    def toggle(line: str):
        hidden.set(hidden.value ^ {line})
    drawn_ms = (time.perf_counter() - t0) * 1000
    if drawn_ms > 1:
        timing.current = drawn_ms
    totals = run.totals()
    # Tell Play this frame is on screen: it steps again only then (see LivePage.play).
    solara.use_effect(lambda: session.frame_drawn.set(), [version])
    first = (run.park.description.strip().splitlines() or [""])[0]
    started = totals["steps"] > 0
    with solara.Div(classes=["run-view"]):
        solara.HTML(unsafe_innerHTML=html.heading(f"{run.park.name.capitalize()}: live park", 3)
                    + html.para(html.text(first), style="margin: 0 0 4px 0; color: #555; font-size: 13px;"),
                    classes=["park-head"])
        RunBar(playing, days, totals["steps"], busy, drawer, on_step, on_reset)
        # Always there, empty after day 0: a child that comes and goes would shift its
        # siblings, and the widgets after it (the map, the charts) would be built anew.
        solara.Text("" if started else "Day 0: press Play to run the park day by day, or Step to advance 1, 7 or "
                    "30 days; Settings opens the policy levers.", classes=["day0-hint"],
                    style="font-size: 13px; color: #1565c0; display: block; margin: 2px 0 4px 0;")
        with solara.Div(classes=["kpi-row"]):
            Kpi("Gains from trade", palette.money(totals["gains_from_trade_eur"]), "gains", "private, this run")
            Kpi("Social surplus", palette.money(totals["social_surplus_eur"]), "surplus",
                "gains less transfers and link costs")
            Kpi("Transfers", palette.money(totals["transfers_eur"]), "transfers", "taxes avoided, subsidies")
            Kpi("Synchronised planning", palette.money(totals["value_of_synchronisation_eur"]), "sync",
                "its profit less the companies' own" if totals["value_of_synchronisation_eur"] is not None
                else "not run beside a park this large")
            Kpi("CO2 avoided", palette.quantity(totals["co2_avoided_t"], "t"), "co2", "vs no symbiosis")
            Kpi("Market efficiency", palette.percent(totals["market_efficiency"]) if started else "\u2013",
                "efficiency", "of the optimum" if started else "from day 1")
            Kpi("Active links", f"{totals['active_links']:.0f}", "links", "today")
            Kpi("In an exchange", palette.percent(totals["symbiosis_share"]), "share", "of companies, today")
            Kpi("Savings", palette.money(totals["savings_vs_baseline_eur"]), "savings", "vs no symbiosis")
            Kpi("Contracts \u00b7 pipes", f"{totals['contracts_active']:.0f} \u00b7 {totals['pipes_built']:.0f}",
                "coop", "in force today \u00b7 built this run")
            Kpi("Lost output", palette.money(totals["lost_failure_eur"] + totals["lost_cascade_eur"]), "lost",
                "to failures and cascades, this run")
        with solara.Div(classes=["map-and-panel"]):
            with solara.Div(classes=["map-column"]):
                with solara.Div(classes=["map-bar"]):
                    solara.Text("Map:", style="font-size: 12px; color: #555;")
                    solara.ToggleButtonsSingle(value=view, values=["companies", "sectors"], on_value=pick_view,
                                               dense=True, classes=["map-view"])
                    sectors = {c.sector for c in run.park.companies}
                    shown = focus.value if view == "companies" and focus.value in sectors else ""
                    solara.Text(f"sector {shown}: click Whole park to see all" if shown else
                                "click a sector to see its companies" if view == "sectors" else
                                "click a company to select it", classes=["map-focus"],
                                style="font-size: 12px; color: #555;")
                    solara.Button("Whole park", icon_name="mdi-arrow-expand-all", small=True, text=True,
                                  on_click=lambda: focus.set(""), classes=["btn-whole-park"], disabled=not shown)
                # The map image with its tooltip layer laid over it (`ParkMap.hover_svg`); the
                # image loses the widget margin, so that the two line up.
                with solara.Div(style="position: relative; line-height: 0;", classes=["park-map-box"]):
                    solara.Image(map_svg, format="svg+xml", width="100%", classes=["park-map"])
                    MapLayer.element(svg=map_hover, on_pick=on_select, on_sector=drill)  # a click selects
            with solara.Div(classes=["company-column"]):
                CompanyPanel(session, selected, on_select, on_break, version)
        with solara.Div(classes=["chart-window"]):
            solara.Text("Charts: days shown", style="font-size: 12px; color: #555;")
            solara.ToggleButtonsSingle(value=zoom.value, values=list(WINDOWS), on_value=zoom.set, dense=True,
                                       classes=["chart-zoom"])
        ChartsLayer.element(html=charts_html if started else "", on_toggle=toggle)  # a legend click toggles
        solara.Text(f"Map and charts drawn in {timing.current:.0f} ms. The same run from the command line: "
                    f"{settings.command_line()}", classes=["run-command"], style="font-size: 12px; color: #777;")


# The page's layout: the settings drawer beside the run on wide windows, above it on narrow
# ones; the map and the company panel side by side down to about 800 px, then stacked with
# the map first and full width. Nothing is wider than the window.
PAGE_STYLE = svg_chart.STYLE + """
.ecopark-live { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; max-width: 100%; }
.ecopark-live > .controls { flex: 0 0 300px; max-width: 100%; }
.ecopark-live > .controls.busy { pointer-events: none; opacity: 0.6; }
.run-view { flex: 1 1 520px; min-width: 0; max-width: 100%; }
.run-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 2px 0 6px 0; }
.busy-indicator { display: flex; align-items: center; gap: 4px; min-width: 90px; }
.kpi-row { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 10px; }
.map-bar { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin-bottom: 4px; }
.map-and-panel { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.map-column { flex: 2 1 460px; min-width: 0; }
.company-column { flex: 1 1 300px; min-width: 0; max-width: 100%; }
.company-details { overflow-x: auto; }
.park-map-box img.park-map { margin: 0; display: block; }
.park-charts { margin-top: 4px; }
.chart-window { display: flex; align-items: center; gap: 6px; margin-top: 10px; flex-wrap: wrap; }
.chart-notes { font-size: 12px; color: #555; margin: 4px 0; }
.ts-panel:hover { position: relative; z-index: 2; }
@media (max-width: 1100px) { .ecopark-live > .controls { flex: 1 1 100%; } }
@media (max-width: 900px) { .company-column { flex-basis: 100%; } }
"""


@solara.component
def LivePage():
    # The run steps in the server's worker pool when it has one (`viz.pool`), else here.
    session = solara.use_memo(lambda: LiveSession(pool=pool.current()), [])
    solara.use_effect(lambda: session.close, [])  # a closed page frees its run at once
    settings, set_settings = solara.use_state(session.settings)
    tick = solara.use_memo(lambda: solara.reactive(0), [])  # bumped by every step; read by RunView only
    playing = solara.use_reactive(False)
    days = solara.use_reactive(1)
    drawer = solara.use_reactive(False)
    selected, set_selected = solara.use_state(0)
    problems, set_problems = solara.use_state([])

    def redraw():
        tick.value = tick.peek() + 1

    # Steps and rebuilds run in a thread of their own, so that the page can say it is busy
    # and keep Step and Reset from queueing more work meanwhile.
    work = solara.lab.use_task(lambda job: job(), dependencies=None, raise_error=False)
    busy = work.pending

    def configure(new: Settings):
        try:
            session.configure(new)
        except InputError as e:
            set_problems(list(e.problems))
            return
        set_problems([])
        set_settings(new)
        if selected >= len(session.run.park.companies):
            set_selected(0)
        redraw()

    def on_settings(new: Settings):
        playing.set(False)
        work(lambda: configure(new))

    def on_step():
        n = days.value
        work(lambda: (session.step(n), redraw()))

    def on_reset():
        playing.set(False)
        work(lambda: (session.reset(), redraw()))

    def on_break(index: int, steps: int):
        session.run.break_company(index, steps)
        redraw()

    def play(cancel: threading.Event):
        # One step, then wait until its frame is drawn, then a moment with no change. Stepping
        # on a clock instead changed the state during every render pass once drawing took
        # longer than the clock, and a click's render never finished ("too many renders").
        if not playing.value:
            return
        while not cancel.is_set():
            t0 = time.perf_counter()
            session.frame_drawn.clear()
            session.step(days.value)
            redraw()
            session.frame_drawn.wait(timeout=10)
            cancel.wait(max(IDLE_S, FRAME_S - (time.perf_counter() - t0)))

    solara.use_thread(play, dependencies=[playing.value, session.generation, days.value], intrusive_cancel=False)

    solara.Title("Ecopark: live park")
    solara.Style(PAGE_STYLE)
    with solara.Div(classes=["ecopark-live"]):
        if drawer.value:
            with solara.Card(margin=0, classes=["controls"] + (["busy"] if busy else [])):
                with solara.Column(gap="2px"):
                    Controls(settings, on_settings, problems, busy)
        RunView(session, tick, settings, selected, set_selected, on_break, playing, days, busy, drawer,
                on_step, on_reset)
