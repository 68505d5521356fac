"""The live page's charts over time: one small panel per KPI, daily values, and a row of
cooperation panels (contracts, pipes, shared vision, deliveries).

The run being stepped is drawn in colour; the previous run (before the controls last changed)
in grey, so moving a slider shows its effect against what was there. Days when a company was
broken are shaded red.

`Charts` and `CooperationCharts` keep one figure and its lines and only swap their data each
step: building the six axes costs more than drawing them (about 70 ms of a 120 ms redraw when
rebuilt every time).
"""

from __future__ import annotations

import threading

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from viz import palette

# (series, title, scale): the value drawn is series x scale.
PANELS = (
    ("gains_from_trade_eur", "Gains from trade (kEUR/day)", 1e-3, "#1565c0"),
    ("co2_avoided_t", "CO2 avoided vs no symbiosis (t/day)", 1.0, "#2e7d32"),
    ("market_efficiency", "Market efficiency (% of the optimal exchange surplus)", 100.0, "#6a1b9a"),
    ("active_links", "Active links", 1.0, "#ef6c00"),
    ("symbiosis_share", "Companies in an exchange (%)", 100.0, "#00838f"),
    ("savings_vs_baseline_eur", "Savings vs no symbiosis (kEUR/day)", 1e-3, "#455a64"),
)
GHOST = "#b0b0b0"
# Panels whose natural range is known: keep it in view so a flat line reads as what it is.
FLOORS = {"market_efficiency": (0.0, 105.0), "symbiosis_share": (0.0, 102.0), "active_links": (0.0, 1.0)}


# The cooperation row: (title, [(series, legend label, colour, line style)], y floor or None,
# fixed y range or None, integer ticks). The series are `viz.live_run.COOP_SERIES`. Two panels,
# not three: a third axes cost about 15 ms a frame.
COOP_PANELS = (
    ("Contracts, pipes and deliveries", (("contracts_active", "contracts in force", "#5d4037", "-"),
                                         ("pipes_built", "pipes built (total)", "#00897b", "-"),
                                         ("deliveries_kept", "deliveries kept today", "#7cb342", "--"),
                                         ("deliveries_breached", "deliveries breached today", palette.ALERT, "-")),
     (0.0, 1.0), None, True),
    ("Cooperation (0-1)", (("cooperative_share", "cooperative (weight \u2265 0.5)", "#c2185b", "-"),
                           ("mean_sv_weight", "mean shared-vision weight", "#7b1fa2", "-"),
                           ("density", "network density", "#ef6c00", "-"),
                           ("mean_trust", "mean trust in contract partners", "#1565c0", ":")),
     None, (0.0, 1.04), False),
)


def _compact(v: float, _pos: int = 0) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"




def _days(series: dict[str, list[float]], previous: dict[str, list[float]] | None) -> tuple[np.ndarray, np.ndarray, float]:
    """Days (1-based) of the run and of the run before, and the last day the x axis shows."""
    steps = np.asarray(series.get("step", []), dtype=float) + 1
    prev_steps = np.asarray(previous.get("step", []), dtype=float) + 1 if previous else np.zeros(0)
    last = max(steps[-1] if len(steps) else 1, prev_steps[-1] if len(prev_steps) else 1, 10)
    return steps, prev_steps, last

class Charts:
    """The six KPI panels of one live run, redrawn in place."""

    def __init__(self, size: tuple[float, float] = (8.6, 4.6)):
        self.lock = threading.Lock()
        self.fig = Figure(figsize=size)
        # Fixed margins rather than a layout engine: the engine draws the figure twice more.
        self.axes = self.fig.subplots(2, 3, sharex=True, gridspec_kw=dict(
            left=0.06, right=0.99, top=0.87, bottom=0.1, wspace=0.25, hspace=0.45))
        self.lines = {}
        self.ghosts = {}
        self.spans: list = []
        for ax, (key, title, _, colour) in zip(self.axes.flat, PANELS):
            _style(ax, title, integer=key == "active_links")
            (self.ghosts[key],) = ax.plot([], [], color=GHOST, lw=1.2)
            (self.lines[key],) = ax.plot([], [], color=colour, lw=1.6)
            if key == "gains_from_trade_eur":
                (self.lines["optimal_gains_eur"],) = ax.plot([], [], color=colour, lw=1.0, ls=":", alpha=0.8)
        for ax in self.axes[1]:
            ax.set_xlabel("day", fontsize=8.5)
        self.note = self.fig.text(0.06, 0.985, "", ha="left", va="top", fontsize=8.5, color="#555555")

    def update(self, series: dict[str, list[float]], previous: dict[str, list[float]] | None = None,
               break_spans: list[tuple[int, int, int]] = ()) -> Figure:
        steps, prev_steps, last = _days(series, previous)
        for span in self.spans:
            span.remove()
        self.spans = []
        for ax, (key, _, scale, _) in zip(self.axes.flat, PANELS):
            y = np.asarray(series.get(key, []), dtype=float) * scale
            self.lines[key].set_data(steps, y)
            self.lines[key].set_marker("o" if len(steps) < 3 else "")  # a first day is a dot, not nothing
            self.lines[key].set_markersize(4)
            py = np.asarray(previous[key], dtype=float) * scale if previous and len(prev_steps) else np.zeros(0)
            self.ghosts[key].set_data(prev_steps, py)
            self.ghosts[key].set_visible(len(py) > 0)  # an empty line still costs a draw
            if key == "gains_from_trade_eur":
                self.lines["optimal_gains_eur"].set_data(steps, np.asarray(series.get("optimal_gains_eur", []),
                                                                            dtype=float) * scale)
            done = len(steps) - 1  # the last step drawn: a failure's future days are not shaded yet
            for _, first, end in break_spans:
                if first <= done:
                    self.spans.append(ax.axvspan(first + 0.5, min(end, done) + 1.5, color=palette.ALERT,
                                                 alpha=0.12, lw=0))
            values = np.concatenate([y, py])
            values = values[np.isfinite(values)]
            lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
            if key in FLOORS:
                lo, hi = min(lo, FLOORS[key][0]), max(hi, FLOORS[key][1])
            else:
                lo = min(lo, 0.0)  # gains, CO2 and savings read against zero
            pad = 0.06 * (hi - lo or 1.0)
            ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)
            ax.set_xlim(1, last)
        notes = ["dotted: the social optimum"]
        if previous:
            notes.append("grey: the run before the settings changed")
        if break_spans:
            notes.append("red: a company down")
        self.note.set_text("; ".join(notes))
        return self.fig


def _style(ax, title: str, integer: bool) -> None:
    ax.set_title(title, fontsize=9.5, loc="left")
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.yaxis.set_major_locator(MaxNLocator(4, integer=integer))
    ax.yaxis.set_major_formatter(FuncFormatter(_compact))
    ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))


class CooperationCharts:
    """The cooperation row of one live run, redrawn in place: contracts in force, pipes built
    and contract deliveries kept and breached each day; and the cooperative share, mean
    shared-vision weight, network density and trust, all on a 0-1 axis."""

    def __init__(self, size: tuple[float, float] = (8.6, 2.3)):
        self.lock = threading.Lock()
        self.fig = Figure(figsize=size)
        self.axes = self.fig.subplots(1, 2, sharex=True, gridspec_kw=dict(
            left=0.06, right=0.99, top=0.79, bottom=0.34, wspace=0.15))
        self.lines: dict[str, object] = {}
        self.ghosts: dict[str, object] = {}
        self.spans: list = []
        for ax, (title, series, _, fixed, integer) in zip(self.axes, COOP_PANELS):
            _style(ax, title, integer)
            for key, label, colour, ls in series:
                (self.ghosts[key],) = ax.plot([], [], color=GHOST, lw=1.0, ls=ls)
                (self.lines[key],) = ax.plot([], [], color=colour, lw=1.5, ls=ls, label=label)
            if fixed is not None:
                ax.set_ylim(*fixed)
            ax.legend(loc="upper left", bbox_to_anchor=(-0.02, -0.15), fontsize=7.5, frameon=False, ncols=2,
                      handlelength=1.4, columnspacing=0.8, handletextpad=0.4, borderaxespad=0.0)
        self.fig.text(0.06, 0.985, "Cooperation (day on the x axis)", ha="left", va="top", fontsize=10.5,
                      fontweight="bold")
        self.note = self.fig.text(0.4, 0.975, "", ha="left", va="top", fontsize=8.5, color="#555555")

    def update(self, series: dict[str, list[float]], previous: dict[str, list[float]] | None = None,
               break_spans: list[tuple[int, int, int]] = ()) -> Figure:
        steps, prev_steps, last = _days(series, previous)
        for span in self.spans:
            span.remove()
        self.spans = []
        done = len(steps) - 1
        for ax, (_, panel, floor, fixed, _) in zip(self.axes, COOP_PANELS):
            values = []
            for key, *_ in panel:
                y = np.asarray(series.get(key, []), dtype=float)
                line = self.lines[key]
                line.set_data(steps, y)
                line.set_marker("o" if len(steps) < 3 else "")
                line.set_markersize(3)
                py = np.asarray(previous.get(key, []), dtype=float) if previous and len(prev_steps) else np.zeros(0)
                self.ghosts[key].set_data(prev_steps[:len(py)], py)
                self.ghosts[key].set_visible(len(py) > 0)  # an empty line still costs a draw
                values += [y, py]
            for _, first, end in break_spans:
                if first <= done:
                    self.spans.append(ax.axvspan(first + 0.5, min(end, done) + 1.5, color=palette.ALERT,
                                                 alpha=0.12, lw=0))
            if fixed is None:
                v = np.concatenate(values)
                v = v[np.isfinite(v)]
                hi = max(float(v.max()) if len(v) else 0.0, floor[1])
                ax.set_ylim(floor[0], hi * 1.08)
            ax.set_xlim(1, last)
        notes = []
        if previous:
            notes.append("grey: the run before the settings changed")
        if break_spans:
            notes.append("red: a company down")
        self.note.set_text("; ".join(notes))
        return self.fig
