"""The live page's charts over time: one small panel per KPI, daily values, a row of
cooperation panels (contracts, pipes, shared vision, deliveries) and the welfare panel (the
park's social surplus against the transfers in its gains, with the investment decisions
marked on the time axis).

The run being stepped is drawn in colour; the previous run (before the controls last changed)
in grey, so moving a slider shows its effect against what was there. Days when a company was
broken are shaded red. Panels are inline SVG with hover read-outs (`viz.svg_chart`).
"""

from __future__ import annotations

from typing import Collection, Sequence

from viz import palette
from viz.svg_chart import Line, Mark, panel

# (series, title, scale, colour, unit of the read-out): the value drawn is series x scale.
PANELS = (
    ("gains_from_trade_eur", "Gains from trade (kEUR/day)", 1e-3, "#1565c0", "kEUR"),
    ("co2_avoided_t", "CO2 avoided vs no symbiosis (t/day)", 1.0, "#2e7d32", "t"),
    ("market_efficiency", "Market efficiency (% of the optimal exchange surplus)", 100.0, "#6a1b9a", "%"),
    ("active_links", "Active links", 1.0, "#ef6c00", ""),
    ("symbiosis_share", "Companies in an exchange (%)", 100.0, "#00838f", "%"),
    ("savings_vs_baseline_eur", "Savings vs no symbiosis (kEUR/day)", 1e-3, "#455a64", "kEUR"),
)
# Panels whose natural range is known: kept in view so a flat line reads as what it is.
FLOORS = {"market_efficiency": (0.0, 105.0), "symbiosis_share": (0.0, 102.0), "active_links": (0.0, 1.0)}

# The cooperation row: (title, [(series, legend label, colour, dash)], y floor, fixed y range).
# The series are `viz.live_run.COOP_SERIES`.
COOP_PANELS = (
    ("Contracts, pipes and deliveries", (("contracts_active", "contracts in force", "#5d4037", ""),
                                         ("pipes_built", "pipes built (total)", "#00897b", ""),
                                         ("deliveries_kept", "deliveries kept today", "#7cb342", "4 2"),
                                         ("deliveries_breached", "deliveries breached today", palette.ALERT, "")),
     (0.0, 1.0), None),
    ("Cooperation (0-1)", (("cooperative_share", "cooperative (weight \u2265 0.5)", "#c2185b", ""),
                           ("mean_sv_weight", "mean shared-vision weight", "#7b1fa2", ""),
                           ("density", "network density", "#ef6c00", ""),
                           ("mean_trust", "mean trust in contract partners", "#1565c0", "1 2")),
     (0.0, 1.0), (0.0, 1.04)),
)

# The welfare panel: the social surplus the exchanges create (less what links cost to build and
# find) against the transfers counted in the private gains (taxes avoided, subsidies earned).
WELFARE_LINES = (("gains_from_trade_eur", "private gains", "#1565c0", "1 2"),
                 ("social_surplus_eur", "social surplus", "#2e7d32", ""),
                 ("transfers_eur", "transfers", "#ef6c00", ""))
DECISION_COLOURS = {"invest": "#1565c0", "switch": "#6a1b9a", "enter": "#2e7d32", "exit": "#d32f2f",
                    "pipe": "#8d6e63"}


def _days(series: dict[str, list[float]], previous: dict[str, list[float]] | None) -> tuple[list[int], list[int], int]:
    """Days (1-based) of the run and of the run before, and the last day the x axis shows."""
    days = [int(s) + 1 for s in series.get("step", [])]
    before = [int(s) + 1 for s in previous.get("step", [])] if previous else []
    return days, before, max([10, *days[-1:], *before[-1:]])


def _first(days: list[int]) -> int:
    """The first day on the x axis: day 1, or the first day of a zoomed window."""
    return days[0] if days else 1


def window(series: dict[str, list[float]], previous: dict[str, list[float]] | None, days: int,
           break_spans: Sequence[tuple[int, int, int]] = (),
           decisions: Sequence[tuple[int, str, str, str]] = ()) -> tuple:
    """The last `days` days of the run (all of it for 0): the series, the run before over the
    same days, the breaks and decisions that fall in them. The charts' zoom."""
    steps = series.get("step", [])
    if not days or len(steps) <= days:
        return series, previous, list(break_spans), list(decisions)
    first = steps[-days]  # the first step shown
    cut = len(steps) - days
    shown = {k: v[cut:] for k, v in series.items()}
    if previous:
        keep = [i for i, st in enumerate(previous.get("step", [])) if first <= st <= steps[-1]]
        previous = {k: [v[i] for i in keep if i < len(v)] for k, v in previous.items()} if keep else None
    spans = [(c, max(a, first), b) for c, a, b in break_spans if b >= first]
    return shown, previous, spans, [d for d in decisions if d[0] >= first]


def _spans(break_spans: Sequence[tuple[int, int, int]], done: int) -> list[tuple[int, int]]:
    """(first, last day) shaded for each break, cut at the last step drawn: a failure's future
    days are not shaded yet."""
    return [(first + 1, min(end, done) + 1) for _, first, end in break_spans if first <= done]


def _reader(scale: float, unit: str):
    def fmt(v: float) -> str:
        a = abs(v)
        text = f"{v:,.0f}" if a >= 100 else f"{v:,.1f}" if a >= 1 or a == 0 else f"{v:.3g}"
        return f"{text} {unit}".strip() if unit != "%" else f"{text} %"
    return fmt


def decision_marks(decisions: Sequence[tuple[int, str, str, str]]) -> list[Mark]:
    """Marks for (step, company, kind, option) decisions: a tick at the day after the step in
    which they were taken, coloured by kind."""
    return [Mark(step + 1, f"{kind}: {company}" + (f" ({option.replace('_', ' ')})" if option else ""),
                 DECISION_COLOURS.get(kind, "#37474f")) for step, company, kind, option in decisions]


def kpi_panels(series: dict[str, list[float]], previous: dict[str, list[float]] | None = None,
               break_spans: Sequence[tuple[int, int, int]] = (), hidden: Collection[str] = ()) -> str:
    """The six KPI panels (the gains panel with the social optimum dotted)."""
    days, before, last = _days(series, previous)
    spans = _spans(break_spans, days[-1] - 1 if days else -1)
    out = []
    for key, title, scale, colour, unit in PANELS:
        lines = [Line(title.split(" (")[0].lower(), [v * scale for v in series.get(key, [])], colour)]
        if key == "gains_from_trade_eur":
            lines = [Line("gains", lines[0].values, colour),
                     Line("social optimum", [v * scale for v in series.get("optimal_gains_eur", [])], colour, "1 2")]
        ghosts = [(before, [v * scale for v in previous[key]])] if previous and before else []
        out.append(panel(title, days, lines, fmt=_reader(scale, unit), ghosts=ghosts, spans=spans,
                         floor=FLOORS.get(key, (0.0, 0.0)), last_day=last, first_day=_first(days),
                         classes=f"panel-{key}", hidden=hidden))
    return "".join(out)


def coop_panels(series: dict[str, list[float]], previous: dict[str, list[float]] | None = None,
                break_spans: Sequence[tuple[int, int, int]] = (), hidden: Collection[str] = ()) -> str:
    days, before, last = _days(series, previous)
    spans = _spans(break_spans, days[-1] - 1 if days else -1)
    out = []
    for k, (title, lines, floor, fixed) in enumerate(COOP_PANELS):
        drawn = [Line(label, list(series.get(key, [])), colour, dash) for key, label, colour, dash in lines]
        ghosts = [(before[:len(previous.get(key, []))], previous.get(key, [])) for key, *_ in lines] if previous else []
        out.append(panel(title, days, drawn, fmt=_reader(1.0, ""), ghosts=ghosts, spans=spans, floor=floor,
                         y_range=fixed, last_day=last, first_day=_first(days), classes=f"panel-coop panel-coop-{k}",
                         hidden=hidden))
    return "".join(out)


def welfare_panel(series: dict[str, list[float]], previous: dict[str, list[float]] | None = None,
                  break_spans: Sequence[tuple[int, int, int]] = (),
                  decisions: Sequence[tuple[int, str, str, str]] = (), hidden: Collection[str] = ()) -> str:
    days, before, last = _days(series, previous)
    lines = [Line(label, [v * 1e-3 for v in series.get(key, [])], colour, dash)
             for key, label, colour, dash in WELFARE_LINES]
    if series.get("value_of_synchronisation_eur"):  # the synchronised plan runs beside
        lines.append(Line("value of synchronised planning",
                          [v * 1e-3 for v in series["value_of_synchronisation_eur"]], "#6a1b9a", "4 2"))
    ghosts = [(before, [v * 1e-3 for v in previous.get("social_surplus_eur", [])])] if previous and before else []
    return panel("Welfare (kEUR/day)", days, lines, fmt=_reader(1e-3, "kEUR"), ghosts=ghosts,
                 spans=_spans(break_spans, days[-1] - 1 if days else -1), marks=decision_marks(decisions), last_day=last,
                 first_day=_first(days), classes="panel-welfare", hidden=hidden)


def production_panel(series: dict[str, list[float]], previous: dict[str, list[float]] | None = None,
                     break_spans: Sequence[tuple[int, int, int]] = (), hidden: Collection[str] = ()) -> str:
    """The park's output a day at sale prices, with exchanges and without (the baseline)."""
    days, before, last = _days(series, previous)
    lines = [Line("with exchanges", [v * 1e-3 for v in series.get("output_value_eur", [])], "#5d4037"),
             Line("no symbiosis", [v * 1e-3 for v in series.get("baseline_output_value_eur", [])], "#9e9e9e", "4 2")]
    ghosts = [(before, [v * 1e-3 for v in previous.get("output_value_eur", [])])] if previous and before else []
    return panel("Production (kEUR/day at sale prices)", days, lines, fmt=_reader(1e-3, "kEUR"), ghosts=ghosts,
                 spans=_spans(break_spans, days[-1] - 1 if days else -1), last_day=last, first_day=_first(days),
                 classes="panel-production", hidden=hidden)


PRICE_LINES = 4  # resources on the price panel: those exchanged on the most days


def price_panel(series: dict[str, list[float]], units: dict[str, str], colours: dict[str, str],
                break_spans: Sequence[tuple[int, int, int]] = (), hidden: Collection[str] = ()) -> str:
    """What buyers paid per unit of the resources exchanged most often (`price:RESOURCE` series
    of `LiveRun.prices`), each in EUR per its own unit; a negative price: the seller pays."""
    days, _, last = _days(series, None)
    keys = [k for k in series if k.startswith("price:")]
    traded = sorted(keys, key=lambda k: (-sum(1 for v in series[k] if v == v), k))[:PRICE_LINES]
    lines = []
    for k in sorted(traded):
        r = k.split(":", 1)[1]
        lines.append(Line(f"{r.replace('_', ' ')} (EUR/{units.get(r, 'unit')})", series[k], colours.get(r, "#455a64")))
    return panel("Exchange prices (EUR per unit, buyer pays)", days, lines, fmt=lambda v: f"{v:,.2f}",
                 spans=_spans(break_spans, days[-1] - 1 if days else -1), last_day=last, first_day=_first(days),
                 classes="panel-prices", hidden=hidden)


def notes(previous: bool, breaks: bool, decisions: bool) -> str:
    """The line under the charts: what the grey, red and dotted marks mean, as far as drawn."""
    out = ["dotted: the social optimum; hover a panel for its values"]
    if previous:
        out.append("grey: the run before the settings changed")
    if breaks:
        out.append("red: a company down")
    if decisions:
        out.append("triangles under the welfare axis: investment decisions")
    return "; ".join(out)
