"""SVG written as text for the maps (`viz.park_map`, `viz.sector_map`): a plot box with its
data-to-SVG transform, matplotlib's marker shapes, arrows along quadratic curves, boxed labels
and legends.

Units are points (1/72 inch), y down, as matplotlib wrote the maps before, so sizes carried
over (marker areas in points squared, line widths in points) mean what they meant. Text is
left to the browser in a generic sans-serif font; where a layout needs a text's width (a box
behind a label, a legend's columns) it is estimated at `CHAR_W` font sizes a character.
"""

from __future__ import annotations

from html import escape
from typing import Callable

import numpy as np

CHAR_W = 0.58  # a sans-serif character's width in font sizes (DejaVu Sans averages about 0.55)
LINE_H = 1.2  # a line of text's height in font sizes
ASCENT = 0.8  # from a line's top to its baseline, in font sizes

# Matplotlib's marker shapes, as polygons of unit size (a marker of area s is sqrt(s) across), y up.
_ANGLES = np.pi / 2 + np.arange(10) * np.pi / 5
_PLUS = np.array([(-1, -3), (-1, -1), (-3, -1), (-3, 1), (-1, 1), (-1, 3), (1, 3), (1, 1), (3, 1), (3, -1), (1, -1),
                  (1, -3)]) / 6.0
_ROT45 = np.array([[np.cos(np.pi / 4), -np.sin(np.pi / 4)], [np.sin(np.pi / 4), np.cos(np.pi / 4)]])
SHAPES: dict[str, np.ndarray] = {
    "s": np.array([(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]),
    "^": np.array([(0.0, 0.5), (-0.5, -0.5), (0.5, -0.5)]),
    "v": np.array([(0.0, -0.5), (-0.5, 0.5), (0.5, 0.5)]),
    "<": np.array([(-0.5, 0.0), (0.5, -0.5), (0.5, 0.5)]),
    ">": np.array([(0.5, 0.0), (-0.5, -0.5), (-0.5, 0.5)]),
    "D": np.array([(0.0, 0.7071), (0.7071, 0.0), (0.0, -0.7071), (-0.7071, 0.0)]),
    "p": 0.5 * np.column_stack([np.cos(_ANGLES[::2]), np.sin(_ANGLES[::2])]),
    "h": 0.5 * np.column_stack([np.cos(np.pi / 2 + np.arange(6) * np.pi / 3), np.sin(np.pi / 2 + np.arange(6) * np.pi / 3)]),
    "*": np.column_stack([np.cos(_ANGLES), np.sin(_ANGLES)]) * np.where(np.arange(10) % 2, 0.5 * 0.381966, 0.5)[:, None],
    "P": _PLUS,
    "X": _PLUS @ _ROT45.T,
}


def f1(v: float) -> str:
    return f"{v:.1f}"


def hex_colour(c) -> str:
    """'#rrggbb' of a colour given as hex or as an RGB(A) tuple of 0-1 floats."""
    if isinstance(c, str):
        return c
    return "#" + "".join(f"{int(round(255 * float(v))):02x}" for v in tuple(c)[:3])


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The estimated width of one line of text at font size `size`."""
    return len(text) * size * CHAR_W * (1.08 if bold else 1.0)


class PlotBox:
    """A rectangle of the SVG (in points, y down) showing data limits `xlim`, `ylim` (y up)."""

    def __init__(self, width: float, height: float, box: tuple[float, float, float, float]):
        # `box` in fractions of the figure from its bottom left, as matplotlib's add_axes took it.
        self.left = box[0] * width
        self.top = (1 - box[1] - box[3]) * height
        self.width = box[2] * width
        self.height = box[3] * height
        self.xlim = (0.0, 1.0)
        self.ylim = (0.0, 1.0)

    def to_svg(self, points) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, dtype=float))
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        return np.column_stack([self.left + (p[:, 0] - x0) * (self.width / (x1 - x0)),
                                self.top + (y1 - p[:, 1]) * (self.height / (y1 - y0))])

    def inside(self, svg_points: np.ndarray) -> np.ndarray:
        x, y = svg_points[:, 0], svg_points[:, 1]
        return (x >= self.left) & (x <= self.left + self.width) & (y >= self.top) & (y <= self.top + self.height)

    def rect(self) -> str:
        return f'x="{f1(self.left)}" y="{f1(self.top)}" width="{f1(self.width)}" height="{f1(self.height)}"'


def marker(shape: str, x: float, y: float, size: float, attrs: str) -> str:
    """A marker of matplotlib's `shape` ('o', 's', '^', ...) `size` points across, centred at
    (x, y) (a circle's cx, cy; any other shape's translate); `attrs` its fill and stroke."""
    if shape not in SHAPES:
        return f'<circle cx="{f1(x)}" cy="{f1(y)}" r="{f1(size / 2)}" {attrs}/>'
    v = SHAPES[shape] * size
    d = "M" + " L".join(f"{a:.1f},{-b:.1f}" for a, b in v) + " Z"
    return f'<path transform="translate({f1(x)},{f1(y)})" d="{d}" {attrs}/>'


def cross(x: float, y: float, size: float, colour: str, width: float) -> str:
    """Matplotlib's 'x' marker: two strokes `size` across."""
    h = size / 2
    return (f'<path d="M{f1(x - h)},{f1(y - h)} L{f1(x + h)},{f1(y + h)} M{f1(x - h)},{f1(y + h)} L{f1(x + h)},'
            f'{f1(y - h)}" stroke="{colour}" stroke-width="{width}" fill="none"/>')


def control_points(p1: np.ndarray, p2: np.ndarray, rad: np.ndarray) -> np.ndarray:
    """The control point of matplotlib's `arc3` curve from p1 to p2 (rows, SVG coordinates):
    `rad` times the chord off its middle, to the chord's left with y up."""
    d = p2 - p1
    return (p1 + p2) / 2 + np.asarray(rad, dtype=float).reshape(-1, 1) * np.column_stack([-d[:, 1], d[:, 0]])


def _bezier(p0, c, p2, t):
    t = t[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p2


def arrows(p1: np.ndarray, p2: np.ndarray, rad: np.ndarray, widths: np.ndarray, heads: bool = True,
           shrink: tuple[float, float] = (9.0, 11.0)) -> tuple[list[str], list[str]]:
    """Curves from p1 to p2 (rows), shortened by `shrink` points at each end, with a head of
    matplotlib's `-|>` style (mutation scale 10) at p2: the `d` of each curve and of each head
    ("" without heads). The head is sized by the line's width, as in `FancyArrowPatch`."""
    n = len(p1)
    if not n:
        return [], []
    c = control_points(p1, p2, rad)
    # Shortened by arc length: near an end, t moves the point at the curve's speed there.
    speed0 = np.maximum(2 * np.hypot(*(c - p1).T), 1e-9)
    speed1 = np.maximum(2 * np.hypot(*(p2 - c).T), 1e-9)
    length = (2 * np.hypot(*(p2 - p1).T) + speed0 / 2 + speed1 / 2) / 3  # within a few % for these bends
    w = np.asarray(widths, dtype=float)
    head_len = (10 * (0.25 + 0.06 * w) + 0.8 * w) if heads else np.zeros(n)
    half = 10 * (0.12 + 0.04 * w) + 0.7 * w
    room = np.maximum(length - shrink[0] - shrink[1], 0.0)
    head_len = np.minimum(head_len, 0.6 * room)  # two companies almost touching: a stub, not a spike
    t0 = np.minimum(shrink[0] / speed0, 0.45)
    t1 = np.maximum(1 - shrink[1] / speed1, t0)
    speed_t1 = np.maximum(np.hypot(*(2 * (1 - t1)[:, None] * (c - p1) + 2 * t1[:, None] * (p2 - c)).T), 1e-9)
    t2 = np.maximum(t1 - head_len / speed_t1, t0)  # the line ends at the head's base
    a, b = _bezier(p1, c, p2, t0), _bezier(p1, c, p2, t2)
    q = ((1 - t0) * (1 - t2))[:, None] * p1 + ((1 - t0) * t2 + t0 * (1 - t2))[:, None] * c + (t0 * t2)[:, None] * p2
    curves = [f"M{a[i, 0]:.1f},{a[i, 1]:.1f} Q{q[i, 0]:.1f},{q[i, 1]:.1f} {b[i, 0]:.1f},{b[i, 1]:.1f}"
              for i in range(n)]
    if not heads:
        return curves, [""] * n
    tip = _bezier(p1, c, p2, t1)
    direction = tip - b
    norm = np.hypot(*direction.T)
    tangent = 2 * (1 - t1)[:, None] * (c - p1) + 2 * t1[:, None] * (p2 - c)  # when the head has no length
    direction = np.where((norm > 1e-6)[:, None], direction, tangent)
    direction /= np.maximum(np.hypot(*direction.T), 1e-9)[:, None]
    base = tip - direction * head_len[:, None]
    side = np.column_stack([-direction[:, 1], direction[:, 0]]) * half[:, None]
    left, right = base + side, base - side
    head_d = [f"M{tip[i, 0]:.1f},{tip[i, 1]:.1f} L{left[i, 0]:.1f},{left[i, 1]:.1f} "
              f"L{right[i, 0]:.1f},{right[i, 1]:.1f} Z" for i in range(n)]
    return curves, head_d


def label(x: float, y: float, text: str, size: float, ha: str = "center", va: str = "center",
          colour: str = "#222222", bold: bool = False, box_opacity: float = 0.75) -> str:
    """Text at (x, y), aligned by `ha` (left, center, right) and `va` (top, center, bottom) as
    matplotlib aligns it, on a white rounded box; lines split at newlines."""
    lines = text.split("\n")
    lh = LINE_H * size
    height = lh * len(lines)
    width = max(text_width(line, size, bold) for line in lines)
    top = y if va == "top" else y - height if va == "bottom" else y - height / 2
    left = x if ha == "left" else x - width if ha == "right" else x - width / 2
    anchor = {"left": "start", "right": "end"}.get(ha, "middle")
    pad = 0.15 * size
    out = [f'<g class="label"><rect x="{f1(left - pad)}" y="{f1(top - pad)}" width="{f1(width + 2 * pad)}" '
           f'height="{f1(height + 2 * pad)}" rx="{f1(pad)}" fill="#ffffff" fill-opacity="{box_opacity}"/>'
           f'<text x="{f1(x)}" font-size="{size}" text-anchor="{anchor}" fill="{colour}"'
           f'{" font-weight=" + chr(34) + "bold" + chr(34) if bold else ""}>']
    for k, line in enumerate(lines):
        out.append(f'<tspan x="{f1(x)}" y="{f1(top + (k + 0.1) * lh + ASCENT * size)}">{escape(line)}</tspan>')
    out.append("</text></g>")
    return "".join(out)


def plain_text(x: float, y: float, text: str, size: float, colour: str = "#222222", anchor: str = "start",
               extra: str = "") -> str:
    """One line of text with its baseline at y."""
    return (f'<text x="{f1(x)}" y="{f1(y)}" font-size="{size}" fill="{colour}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")


# A legend entry: its label and a function drawing its handle centred at (x, y), `size` the font size.
Handle = Callable[[float, float, float], str]
Entry = tuple[str, Handle]


def line_handle(colour: str, width: float, dash: str = "", outline: str = "", outline_width: float = 0.0) -> Handle:
    def draw(x: float, y: float, size: float) -> str:
        h = size  # the handle is two font sizes long
        d = f'd="M{f1(x - h)},{f1(y)} L{f1(x + h)},{f1(y)}"'
        under = f'<path {d} stroke="{outline}" stroke-width="{outline_width}" fill="none"/>' if outline else ""
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        return under + f'<path {d} stroke="{colour}" stroke-width="{width}" fill="none"{dashes}/>'
    return draw


def marker_handle(shape: str, size_pt: float, attrs: str) -> Handle:
    return lambda x, y, size: marker(shape, x, y, size_pt, attrs)


def legend(x: float, y: float, title: str, entries: list[Entry], size: float, title_size: float = 9.0,
           ncols: int = 1, from_bottom: bool = False) -> tuple[str, float]:
    """A legend with its top left corner at (x, y) (its bottom left with `from_bottom`): a title
    (lines split at newlines) and entries in `ncols` columns filled top to bottom, as
    matplotlib's. Returns the SVG and the legend's height."""
    title_lines = title.split("\n") if title else []
    row = 1.45 * size
    rows = -(-len(entries) // max(ncols, 1)) if entries else 0
    height = len(title_lines) * LINE_H * title_size + 0.3 * size + rows * row
    top = y - height if from_bottom else y
    out = []
    for k, line in enumerate(title_lines):
        out.append(plain_text(x, top + (k + ASCENT) * LINE_H * title_size, line, title_size))
    first = top + len(title_lines) * LINE_H * title_size + 0.3 * size
    col_x = x + 0.3 * size
    for col in range(max(ncols, 1)):
        chunk = entries[col * rows:(col + 1) * rows] if rows else []
        if not chunk:
            break
        for k, (text, handle) in enumerate(chunk):
            cy = first + (k + 0.5) * row
            out.append(handle(col_x + size, cy, size))
            out.append(plain_text(col_x + 2.6 * size, cy + 0.35 * size, text, size))
        col_x += 2.6 * size + max(text_width(t, size) for t, _ in chunk) + 0.6 * size
    return "".join(out), height


def document(width: float, height: float, body: str) -> bytes:
    """A standalone SVG of `width` x `height` points on white, text in sans-serif."""
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{f1(width)}pt" height="{f1(height)}pt" viewBox="0 0 {f1(width)} {f1(height)}" '
            f'font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="#ffffff"/>{body}</svg>').encode()
