"""Figures to bytes for the page.

SVG with text left as text (`svg.fonttype = none`) is the default: on the Kalundborg map it is
about twice as fast to write as a PNG at screen resolution and half the size, and the browser
scales it crisply. PNG (zlib level 1: fast, a third bigger than the default level) is for files.
"""

from __future__ import annotations

import io

import matplotlib as mpl
from matplotlib.figure import Figure


def svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ecopark"}):
        fig.savefig(buf, format="svg", facecolor="white")
    return buf.getvalue()


def png(fig: Figure, dpi: int = 96) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": 1})
    return buf.getvalue()
