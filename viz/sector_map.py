"""The map of a large park by sector: one bubble per sector, the day's exchanges between
sectors as lines. Beyond a few dozen companies the company map is a blob; this view says which
sectors trade with which, and a click on a sector drills down to its companies
(`ParkMap.update(focus=...)`).

The sectors stand round a circle, each in the direction of its companies' centre from the
park's (their centres bunch in the middle of a random park, and the bubbles would hide each
other); a bubble's area grows with the value of the sector's output today, a line's width with
the number of company-to-company exchanges it stands for.
"""

from __future__ import annotations

import threading
from html import escape

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from agents.scenario import Scenario
from viz import palette
from viz.live_run import LiveRun
from viz.park_map import MapLayout


class SectorMap:
    def __init__(self, park: Scenario, positions: np.ndarray, size: tuple[float, float] = (8.6, 5.8)):
        self.lock = threading.Lock()
        self.park = park
        layout = MapLayout(positions)
        self.sectors = sorted({c.sector for c in park.companies})
        self.of = np.array([self.sectors.index(c.sector) for c in park.companies], dtype=int)
        xy = layout.xy
        k = len(self.sectors)
        mean = np.array([xy[self.of == s].mean(axis=0) for s in range(k)]) if len(xy) else np.zeros((0, 2))
        toward = mean - (xy.mean(axis=0) if len(xy) else 0.0)
        order = np.argsort(np.arctan2(toward[:, 1], toward[:, 0])) if k else np.zeros(0, dtype=int)
        slot = np.empty(k)
        slot[order] = 2 * np.pi * np.arange(k) / max(k, 1)
        self.centre = np.column_stack([np.cos(slot), np.sin(slot)]) if k > 1 else np.zeros((k, 2))
        self.members = np.bincount(self.of, minlength=len(self.sectors))
        self.styles = palette.sector_styles([c.sector for c in park.companies])
        self.fig = Figure(figsize=size)
        self.ax = self.fig.add_axes((0.01, 0.05, 0.98, 0.88))
        self.ax.set_xticks([])
        self.ax.set_yticks([])
        for spine in self.ax.spines.values():
            spine.set_color("#cccccc")
        box_w, box_h = size[0] * 0.98, size[1] * 0.88
        scale = 3.0 / min(box_w, box_h)  # the circle of radius 1 with room for labels, equal scales
        self.ax.set_xlim(-scale * box_w / 2, scale * box_w / 2)
        self.ax.set_ylim(-scale * box_h / 2, scale * box_h / 2)
        self.title = self.ax.set_title("", fontsize=12, loc="left")
        self._dynamic: list = []
        self._hover: list[str] = []

    def links(self, run: LiveRun) -> dict[tuple[int, int], tuple[int, set[str]]]:
        """(seller sector, buyer sector) -> (exchanges today, resources), inside a sector too."""
        out: dict[tuple[int, int], tuple[int, set[str]]] = {}
        for f in run.snapshot.flows if run.snapshot is not None else []:
            key = (int(self.of[f.seller]), int(self.of[f.buyer]))
            count, resources = out.get(key, (0, set()))
            out[key] = (count + 1, resources | {f.resource})
        return out

    def update(self, run: LiveRun) -> Figure:
        for artist in self._dynamic:
            artist.remove()
        self._dynamic = []
        add = self._dynamic.append
        ax, c = self.ax, self.centre
        snap = run.snapshot
        value = snap.output_value if snap is not None else run.nominal_value
        down = snap.down if snap is not None else run.down()
        k = len(self.sectors)
        out_value = np.bincount(self.of, weights=value, minlength=k)
        nominal = np.bincount(self.of, weights=run.nominal_value, minlength=k)
        n_down = np.bincount(self.of, weights=down.astype(float), minlength=k)
        links = self.links(run)
        hover = []
        between = [(a, b, n, res) for (a, b), (n, res) in links.items() if a != b]
        if between:
            top = max(n for *_, n, _ in between)
            segs = [(c[a], c[b]) for a, b, *_ in between]
            widths = [0.8 + 6.0 * np.sqrt(n / top) for *_, n, _ in between]
            add(ax.add_collection(LineCollection(segs, colors="#546e7a", linewidths=widths, alpha=0.55, zorder=2)))
            for (a, b, n, res), (p, q) in zip(between, segs):
                hover.append(self._hover_line(p, q, f"{self.sectors[a]} \u2192 {self.sectors[b]}: {n} exchange"
                                                    f"{'s' if n != 1 else ''} today ({', '.join(sorted(res))})"))
        ref = max(float(nominal.max()) if k else 1.0, 1e-9)
        area = 80 + 900 * np.sqrt(np.clip(out_value / ref, 0, None))
        for s in range(k):
            colour, marker = self.styles[self.sectors[s]]
            add(ax.scatter([c[s, 0]], [c[s, 1]], s=area[s], c=[colour], marker=marker, edgecolors="#333333",
                           linewidths=1.0, zorder=3))
            inside = links.get((s, s), (0, set()))[0]
            label = f"{self.sectors[s]} ({self.members[s]})"
            if n_down[s]:
                label += f"\n{n_down[s]:.0f} down"
            u = c[s] / max(float(np.hypot(*c[s])), 1e-9) if np.hypot(*c[s]) > 0 else np.array([0.0, 1.0])
            off = (6 + 0.5 * np.sqrt(area[s])) * u  # labels outward, off the circle's lines
            add(ax.annotate(label, c[s], xytext=tuple(off), textcoords="offset points",
                            ha="left" if u[0] > 0.3 else "right" if u[0] < -0.3 else "center",
                            va="bottom" if u[1] > 0.3 else "top" if u[1] < -0.3 else "center", fontsize=8.5, zorder=5,
                            color=palette.ALERT if n_down[s] else "#222222",
                            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75)))
            hover.append(self._hover_circle(s, c[s], np.sqrt(area[s]) / 2 + 2,
                                            f"{self.sectors[s]}: {self.members[s]} companies, output today "
                                            f"{palette.money(out_value[s])}, {inside} exchange"
                                            f"{'s' if inside != 1 else ''} inside, {n_down[s]:.0f} down\n"
                                            f"(click to see its companies)"))
        day = snap.step + 1 if snap is not None else 0
        self.title.set_text(f"{self.park.name}: day {day}, {len(self.park.companies)} companies in "
                            f"{k} sectors (area ~ output value, width ~ exchanges)")
        self._hover = hover
        return self.fig

    # ---- the tooltip layer, as ParkMap writes it ------------------------------------------------

    def _to_svg(self, points: np.ndarray) -> np.ndarray:
        w, h = self.fig.get_size_inches() * 72
        f = self.fig.transFigure.inverted().transform(self.ax.transData.transform(np.atleast_2d(points)))
        return np.column_stack([f[:, 0] * w, (1 - f[:, 1]) * h])

    def _hover_line(self, a, b, title: str) -> str:
        (x1, y1), (x2, y2) = self._to_svg(np.array([a, b]))
        return f'<path class="hover-sector-link" d="M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"><title>{escape(title)}</title></path>'

    def _hover_circle(self, index: int, centre, radius: float, title: str) -> str:
        (x, y), = self._to_svg(np.asarray(centre))
        return (f'<circle class="hover-sector" data-sector="{escape(self.sectors[index])}" cx="{x:.1f}" '
                f'cy="{y:.1f}" r="{radius:.1f}"><title>{escape(title)}</title></circle>')

    def hover_svg(self) -> str:
        from viz.park_map import HOVER_CSS

        w, h = self.fig.get_size_inches() * 72
        return (f'<svg class="map-hover" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.1f} {h:.1f}" '
                f'style="position: absolute; left: 0; top: 0; width: 100%; height: auto; pointer-events: none;">'
                f"<style>{HOVER_CSS}</style>{''.join(self._hover)}</svg>")
