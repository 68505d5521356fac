"""Figures to bytes for the page.

SVG with text left as text (`svg.fonttype = none`) is the default: on the Kalundborg map (when
it was a matplotlib figure; the live maps now write their own SVG) it was about twice as fast to
write as a PNG at screen resolution and half the size, and the browser scales it crisply. The
comparison page's figures go through here. PNG (zlib level 1: fast, a third bigger than the default level) is for files.
"""

from __future__ import annotations

import io
from html import escape

import matplotlib as mpl
from matplotlib.figure import Figure


def svg(fig: Figure) -> bytes:
    """The figure as SVG; artists registered with `tip` carry a read-out the browser shows on
    hover (an SVG <title>: no JavaScript)."""
    buf = io.BytesIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ecopark"}):
        fig.savefig(buf, format="svg", facecolor="white")
    out = buf.getvalue()
    for gid, text in getattr(fig, "ecopark_tips", {}).items():
        opening = f'<g id="{gid}">'.encode()
        out = out.replace(opening, opening + b"<title>" + escape(text).encode() + b"</title>", 1)
    return out


def tip(fig: Figure, artist, text: str) -> None:
    """Give `artist` a hover read-out in `svg(fig)`."""
    tips = fig.__dict__.setdefault("ecopark_tips", {})
    gid = f"ecopark-tip-{len(tips)}"
    artist.set_gid(gid)
    tips[gid] = text


def png(fig: Figure, dpi: int = 96) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": 1})
    return buf.getvalue()
