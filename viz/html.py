"""Small HTML fragments for text panels, every value escaped.

Why not `solara.Markdown`: its front-end component loads mermaid and KaTeX from the CDN when it
mounts, which an offline machine cannot reach; plain HTML needs nothing more than the page.
"""

from __future__ import annotations

from html import escape
from typing import Iterable

TABLE_STYLE = "border-collapse: collapse; font-size: 13px; margin: 4px 0 10px 0;"
CELL_STYLE = "padding: 2px 8px; border-bottom: 1px solid #e0e0e0; text-align: left; vertical-align: top;"


def text(s: object) -> str:
    return escape(str(s))


def bold(s: object) -> str:
    return f"<b>{escape(str(s))}</b>"


def para(*parts: str, style: str = "margin: 4px 0;", classes: str = "") -> str:
    """A paragraph of fragments that are already HTML (escape values with `text` or `bold`)."""
    cls = f' class="{escape(classes)}"' if classes else ""
    return f'<p{cls} style="{style}">{"".join(parts)}</p>'


def heading(s: object, level: int = 4) -> str:
    return f'<h{level} style="margin: 10px 0 4px 0;">{escape(str(s))}</h{level}>'


def table(headers: Iterable[object], rows: Iterable[Iterable[object]], classes: str = "", font_size: int = 13) -> str:
    head = "".join(f'<th style="{CELL_STYLE} font-weight: 600;">{escape(str(h))}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{CELL_STYLE}">{escape(str(c))}</td>' for c in row) + "</tr>"
                   for row in rows)
    cls = f' class="{escape(classes)}"' if classes else ""
    style = TABLE_STYLE.replace("font-size: 13px;", f"font-size: {font_size}px;")
    return f'<table{cls} style="{style}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
