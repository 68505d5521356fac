"""Colours and number formats shared by the page's figures and text."""

from __future__ import annotations

import math

import matplotlib as mpl

# Sectors fill the company markers (soft colours, dark outline); resources colour the exchange
# edges (strong colours), so the two legends never share a colour family.
SECTOR_COLOURS = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
                  "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
DOWN = "#9e9e9e"
ALERT = "#d32f2f"
CUT_OFF = "#ef6c00"
PIPELINE = "#9e9e9e"
BUILT_PIPE = "#8d6e63"  # pipes built during the run: brown, apart from the scenario's grey ones
CONTRACT = "#212121"  # the dark outline of an exchange under contract


# Beyond the twelve colours, sectors take the colours again with another marker shape: circles
# for the first twelve, then squares, triangles, diamonds, ... so any number of sectors stays
# distinct by colour and shape together (and the legend and hover name each one).
SECTOR_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "p", "h", "<", ">", "*")


def sector_styles(sectors: list[str]) -> dict[str, tuple[str, str]]:
    """(fill colour, matplotlib marker) of each sector, sectors in name order."""
    names = sorted(set(sectors))
    k = len(SECTOR_COLOURS)
    return {s: (SECTOR_COLOURS[i % k], SECTOR_MARKERS[(i // k) % len(SECTOR_MARKERS)]) for i, s in enumerate(names)}


def sector_colours(sectors: list[str]) -> dict[str, str]:
    return {s: colour for s, (colour, _) in sector_styles(sectors).items()}


def resource_colours(resources: list[str]) -> dict[str, tuple]:
    """Strong colours first (tab20's dark shades, then its pale ones), never its greys, which
    belong to pipelines and down companies; beyond 18 resources, golden-ratio hues."""
    names = sorted(set(resources))
    tab = mpl.colormaps["tab20"]
    order = [k for k in list(range(0, 20, 2)) + list(range(1, 20, 2)) if k not in (14, 15)]
    out = {}
    for i, r in enumerate(names):
        out[r] = tab(order[i]) if i < len(order) else mpl.colormaps["hsv"](((i - len(order)) * 0.618) % 1.0)
    return out


def money(v: float) -> str:
    """EUR with a k / M suffix: 'EUR 1.23 M'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    if a >= 1e9:
        return f"EUR {v / 1e9:,.2f} bn"
    if a >= 1e6:
        return f"EUR {v / 1e6:,.2f} M"
    if a >= 1e3:
        return f"EUR {v / 1e3:,.1f} k"
    return f"EUR {v:,.0f}"


def quantity(v: float, unit: str = "") -> str:
    a = abs(v)
    text = f"{v:,.0f}" if a >= 100 else f"{v:,.1f}" if a >= 1 else f"{v:,.3g}"
    return f"{text} {unit}".strip()


def percent(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.1f} %"


def unit_price(v: float, unit: str = "") -> str:
    """EUR per unit with cents: 'EUR -24.00/t' (a negative price: the seller pays)."""
    return f"EUR {v:,.2f}/{unit}" if unit else f"EUR {v:,.2f}"
