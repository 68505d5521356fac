"""Time-series panels written as inline SVG, with hover read-outs and nothing to load.

Why by hand rather than matplotlib or a plotting library: the page redraws every panel each
day of a run. matplotlib took about 260 ms a frame for the eight panels (most of a frame's
budget), and the chart libraries Solara renders are not in the lock file and would need their
JavaScript fetched from a CDN this page cannot count on. A panel here is a few hundred SVG
elements written as text: a couple of milliseconds, drawn by the browser, its text selectable.

Hover: the panel is cut into at most `MAX_COLUMNS` vertical strips, each an invisible rectangle
carrying its read-out (the day and every line's value) as text in `data-tip` and the read-out's
box in `data-box`. The page's charts layer (`viz.click_layers.ChartsLayer`) builds the read-out's
few SVG elements the first time the pointer enters a strip, and CSS shows it while the pointer
is over the strip (`.ts-col:hover .ts-tip`). Built ahead for every strip, the read-outs were
three quarters of the page's elements and about half of the browser's work a step (measured
with Chromium's performance metrics: 200-210 ms of main-thread tasks a Kalundborg step with
them, 116 ms without). `STYLE` holds the rules; the page includes it once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Callable, Collection, Sequence

W, H = 320.0, 184.0  # the viewBox of one panel; the browser scales it to the panel's width
LEFT, RIGHT, TOP, BOTTOM = 40.0, 8.0, 42.0, 20.0
MAX_COLUMNS = 60  # hover strips per panel: beyond this a strip reads out the last of its days
GHOST = "#b0b0b0"
SPAN = "#d32f2f"

STYLE = """
.ts-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 6px 12px; }
.ts-panel svg { width: 100%; height: auto; display: block; overflow: visible; }
.ts-panel text { font-family: sans-serif; }
.ts-legend { cursor: pointer; }
.ts-col > rect { fill: transparent; pointer-events: all; }
.ts-col .ts-tip { visibility: hidden; pointer-events: none; }
.ts-col:hover .ts-tip { visibility: visible; }
.ts-tip path { stroke: #555; }
.ts-tip rect { fill: #ffffff; fill-opacity: 0.95; stroke: #bbbbbb; }
.ts-tip text { font-size: 9px; fill: #111111; }
"""


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a panel: its legend label, values by day, colour and SVG dash pattern."""

    label: str
    values: Sequence[float]
    colour: str
    dash: str = ""


@dataclass(frozen=True, slots=True)
class Mark:
    """An event on the time axis (a decision): drawn as a tick under the axis, named in the
    read-out of its day."""

    day: int
    text: str
    colour: str = "#37474f"


def line_id(panel_classes: str, line: Line) -> str:
    """The id of a line for legend toggling: its panel's classes and its label."""
    return f"{panel_classes}|{line.label}"


def nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About `n` round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + 1e-9 * step:
        out.append(0.0 if abs(v) < 1e-12 * step else v)
        v += step
    return out


def compact(v: float) -> str:
    """A tick label: 1.5k, 2M, 0.25."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _path(xs: list[float], ys: Sequence[float], sx: Callable, sy: Callable) -> str:
    """An SVG path through the finite points; a missing value breaks the line."""
    parts, pen = [], "M"
    for x, y in zip(xs, ys):
        if y is None or not math.isfinite(y):
            pen = "M"
            continue
        parts.append(f"{pen}{sx(x):.1f},{sy(y):.1f}")
        pen = "L"
    return "".join(parts)


def panel(title: str, days: Sequence[int], lines: Sequence[Line], *, fmt: Callable[[float], str] = compact,
          ghosts: Sequence[tuple[Sequence[int], Sequence[float]]] = (), spans: Sequence[tuple[int, int]] = (),
          marks: Sequence[Mark] = (), y_range: tuple[float, float] | None = None,
          floor: tuple[float, float] = (0.0, 0.0), last_day: int = 10, first_day: int = 1,
          classes: str = "", hidden: Collection[str] = ()) -> str:
    """One panel as an HTML fragment (`<div class="ts-panel">` around an `<svg>`).

    `days` are the x values shared by `lines`; `ghosts` (days, values) are drawn grey behind
    them (the run before); `spans` (first, last day) are shaded red (a company down); `marks`
    are decisions. `y_range` fixes the y axis; otherwise it covers the data and `floor`.
    `fmt` formats a value in the read-out. The x axis runs from `first_day` (a zoomed window)
    to `last_day` or the last day drawn. A panel of several lines has a legend whose entries
    carry `data-line` ids (`line_id`); a line whose id is in `hidden` is left out (its legend
    entry greyed), so a click on the legend can toggle it."""
    shown = [line for line in lines if line_id(classes, line) not in hidden]
    xs = [float(d) for d in days]
    x_hi = float(max([last_day, *(xs[-1:] or [1.0]), *(float(g[0][-1]) for g in ghosts if len(g[0]))]))
    if y_range is not None:
        lo, hi = y_range
    else:
        seen = [v for line in shown for v in _finite(line.values)] + [v for _, g in ghosts for v in _finite(g)]
        lo = min([floor[0], *seen]) if seen else floor[0]
        hi = max([floor[1], *seen]) if seen else max(floor[1], 1.0)
        if hi - lo < 1e-12:
            hi = lo + 1.0
        pad = 0.06 * (hi - lo)
        lo, hi = lo - (pad if lo < 0 else 0.0), hi + pad
    x0, x1, y0, y1 = LEFT, W - RIGHT, H - BOTTOM, TOP

    x_lo = float(first_day)
    x_hi = max(x_hi, x_lo + 1.0)

    def sx(x: float) -> float:
        return x0 + (x - x_lo) / max(x_hi - x_lo, 1.0) * (x1 - x0)

    def sy(y: float) -> float:
        return y0 - (y - lo) / (hi - lo) * (y0 - y1)

    out = [f'<div class="ts-panel {escape(classes)}"><svg viewBox="0 0 {W:.0f} {H:.0f}" '
           f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}">',
           f'<text x="2" y="12" font-size="11" font-weight="600" fill="#222">{escape(title)}</text>']
    if len(lines) > 1:  # a legend under the title, one coloured name per line, on two rows if need be
        x, y = 2.0, 24.0
        for line in lines:
            width = 12 + 4.4 * len(line.label)
            if x > 2.0 and x + width > W:
                x, y = 2.0, y + 10
            off = line_id(classes, line) in hidden
            out.append(f'<text class="ts-legend" data-line="{escape(line_id(classes, line))}" x="{x:.0f}" y="{y:.0f}" '
                       f'font-size="8.5" fill="{"#bbbbbb" if off else line.colour}"'
                       f'{" text-decoration=\"line-through\"" if off else ""}>\u25a0 {escape(line.label)}'
                       f'<title>click to {"show" if off else "hide"} this line</title></text>')
            x += width
    for t in nice_ticks(lo, hi):
        y = sy(t)
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eeeeee"/>'
                   f'<text x="{x0 - 3}" y="{y + 3:.1f}" font-size="8.5" text-anchor="end" fill="#555">{compact(t)}</text>')
    for t in nice_ticks(x_lo, x_hi, 4):
        if t != int(t):
            continue
        x = sx(t)
        out.append(f'<text x="{x:.1f}" y="{y0 + 12}" font-size="8.5" text-anchor="middle" fill="#555">{int(t)}</text>')
    out.append(f'<line x1="{x0}" x2="{x1}" y1="{y0}" y2="{y0}" stroke="#999"/>')
    for first, end in spans:
        a, b = sx(first - 0.5), sx(end + 0.5)
        out.append(f'<rect class="ts-span" x="{a:.1f}" y="{y1}" width="{max(b - a, 1.0):.1f}" height="{y0 - y1}" '
                   f'fill="{SPAN}" fill-opacity="0.12"/>')
    for g_days, g_values in ghosts:
        d = _path([float(v) for v in g_days], g_values, sx, sy)
        if d:
            out.append(f'<path class="ts-ghost" d="{d}" fill="none" stroke="{GHOST}" stroke-width="1.2"/>')
    for i, line in enumerate(shown):
        d = _path(xs, line.values, sx, sy)
        if d:
            dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
            out.append(f'<path class="ts-line ts-line-{i}" d="{d}" fill="none" stroke="{line.colour}" '
                       f'stroke-width="1.6"{dash}/>')
        if len(xs) < 3:  # a first day is a dot, not nothing
            for x, y in zip(xs, line.values):
                if y is not None and math.isfinite(y):
                    out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{line.colour}"/>')
    for m in marks:
        x = sx(m.day)
        out.append(f'<path class="ts-mark" d="M{x:.1f},{y0 + 1}l-3,6h6z" fill="{m.colour}">'
                   f'<title>{escape(m.text)}</title></path>')
    out.append(_hover(xs, shown, marks, fmt, sx, (x0, x1, y0, y1)))
    out.append("</svg></div>")
    return "".join(out)


def _hover(xs: list[float], lines: Sequence[Line], marks: Sequence[Mark], fmt: Callable[[float], str],
           sx: Callable, box: tuple[float, float, float, float]) -> str:
    """The hover strips: each covers one day (or a few, beyond MAX_COLUMNS) and reads out the
    values of its last day and the decisions taken in it."""
    if not xs:
        return ""
    x0, x1, y0, y1 = box
    n = len(xs)
    per = max(1, math.ceil(n / MAX_COLUMNS))
    by_day: dict[int, list[str]] = {}
    for m in marks:
        by_day.setdefault(int(m.day), []).append(m.text)
    out = ['<g class="ts-hover">']
    for start in range(0, n, per):
        stop = min(start + per, n)
        i = stop - 1  # the strip reads out its last day
        left = x0 if start == 0 else (sx(xs[start - 1]) + sx(xs[start])) / 2
        right = x1 if stop == n else (sx(xs[i]) + sx(xs[stop])) / 2
        day = int(xs[i])
        rows = [f"day {day}" if per == 1 else f"days {int(xs[start])}-{day}"]
        for line in lines:
            v = line.values[i] if i < len(line.values) else math.nan
            rows.append(f"{line.label}: {fmt(v) if v is not None and math.isfinite(v) else 'n/a'}")
        for d in range(int(xs[start]), day + 1):
            rows += by_day.get(d, [])
        width = 10 + 5.0 * max(len(r) for r in rows)
        height = 6 + 11 * len(rows)
        hx = sx(xs[i])
        tx = hx + 6 if hx + 6 + width <= x1 + 4 else max(0.0, hx - 6 - width)
        out.append(f'<g class="ts-col" data-day="{day}" data-box="{hx:.1f},{tx:.0f},{y0:.0f},{y1:.0f},{width:.0f},'
                   f'{height:.0f}" data-tip="{escape(chr(10).join(rows))}"><rect x="{left:.1f}" y="{y1:.0f}" '
                   f'width="{max(right - left, 0.5):.1f}" height="{y0 - y1:.0f}"/></g>')
    out.append("</g>")
    return "".join(out)
