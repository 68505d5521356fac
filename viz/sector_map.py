"""The map of a large park by sector: one bubble per sector, the day's exchanges between
sectors as lines. Beyond a few dozen companies the company map is a blob; this view says which
sectors trade with which, and a click on a sector drills down to its companies
(`ParkMap.update(focus=...)`).

The sectors stand round a circle, each in the direction of its companies' centre from the
park's (their centres bunch in the middle of a random park, and the bubbles would hide each
other); a bubble's area grows with the value of the sector's output today, a line's width with
the number of company-to-company exchanges it stands for. Written as SVG text
(`viz.map_svg`), as the company map is.
"""

from __future__ import annotations

import threading
from html import escape

import numpy as np

from agents.scenario import Scenario
from viz import palette
from viz.live_run import LiveRun
from viz.map_svg import PlotBox, document, label, marker, plain_text
from viz.park_map import HOVER_CSS, MapLayout


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
        self.width, self.height = size[0] * 72, size[1] * 72  # points, the SVG's user units
        self.plot = PlotBox(self.width, self.height, (0.01, 0.05, 0.98, 0.88))
        box_w, box_h = size[0] * 0.98, size[1] * 0.88
        scale = 3.0 / min(box_w, box_h)  # the circle of radius 1 with room for labels, equal scales
        self.plot.xlim = (-scale * box_w / 2, scale * box_w / 2)
        self.plot.ylim = (-scale * box_h / 2, scale * box_h / 2)
        self._hover: list[str] = []

    def links(self, run: LiveRun) -> dict[tuple[int, int], tuple[int, set[str]]]:
        """(seller sector, buyer sector) -> (exchanges today, resources), inside a sector too."""
        out: dict[tuple[int, int], tuple[int, set[str]]] = {}
        for f in run.snapshot.flows if run.snapshot is not None else []:
            key = (int(self.of[f.seller]), int(self.of[f.buyer]))
            count, resources = out.get(key, (0, set()))
            out[key] = (count + 1, resources | {f.resource})
        return out

    def update(self, run: LiveRun) -> bytes:
        """The day's sector map as SVG bytes."""
        plot, c = self.plot, self.centre
        at = plot.to_svg(c) if len(c) else np.zeros((0, 2))
        snap = run.snapshot
        value = snap.output_value if snap is not None else run.nominal_value
        down = snap.down if snap is not None else run.down()
        k = len(self.sectors)
        out_value = np.bincount(self.of, weights=value, minlength=k)
        nominal = np.bincount(self.of, weights=run.nominal_value, minlength=k)
        n_down = np.bincount(self.of, weights=down.astype(float), minlength=k)
        links = self.links(run)
        hover = []
        out = [f'<rect {plot.rect()} fill="none" stroke="#cccccc"/>']
        between = [(a, b, n, res) for (a, b), (n, res) in links.items() if a != b]
        if between:
            top = max(n for *_, n, _ in between)
            for a, b, n, res in between:
                (x1, y1), (x2, y2) = at[a], at[b]
                out.append(f'<path class="sector-link" d="M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}" stroke="#546e7a" '
                           f'stroke-width="{0.8 + 6.0 * np.sqrt(n / top):.2f}" stroke-opacity="0.55" fill="none"/>')
                hover.append(self._hover_line(at[a], at[b], f"{self.sectors[a]} \u2192 {self.sectors[b]}: {n} exchange"
                                                            f"{'s' if n != 1 else ''} today ({', '.join(sorted(res))})"))
        ref = max(float(nominal.max()) if k else 1.0, 1e-9)
        area = 80 + 900 * np.sqrt(np.clip(out_value / ref, 0, None))
        labels = []
        for s in range(k):
            colour, shape = self.styles[self.sectors[s]]
            x, y = at[s]
            out.append(marker(shape, x, y, np.sqrt(area[s]), f'class="sector" fill="{colour}" stroke="#333333" '
                                                             f'stroke-width="1.0"'))
            inside = links.get((s, s), (0, set()))[0]
            text = f"{self.sectors[s]} ({self.members[s]})"
            if n_down[s]:
                text += f"\n{n_down[s]:.0f} down"
            u = c[s] / max(float(np.hypot(*c[s])), 1e-9) if np.hypot(*c[s]) > 0 else np.array([0.0, 1.0])
            off = (6 + 0.5 * np.sqrt(area[s])) * u  # labels outward, off the circle's lines
            labels.append(label(x + off[0], y - off[1], text, 8.5,
                                ha="left" if u[0] > 0.3 else "right" if u[0] < -0.3 else "center",
                                va="bottom" if u[1] > 0.3 else "top" if u[1] < -0.3 else "center",
                                colour=palette.ALERT if n_down[s] else "#222222"))
            hover.append(self._hover_circle(s, at[s], np.sqrt(area[s]) / 2 + 2,
                                            f"{self.sectors[s]}: {self.members[s]} companies, output today "
                                            f"{palette.money(out_value[s])}, {inside} exchange"
                                            f"{'s' if inside != 1 else ''} inside, {n_down[s]:.0f} down\n"
                                            f"(click to see its companies)"))
        out.extend(labels)
        day = snap.step + 1 if snap is not None else 0
        out.append(plain_text(plot.left, plot.top - 8, f"{self.park.name}: day {day}, {len(self.park.companies)} "
                              f"companies in {k} sectors (area ~ output value, width ~ exchanges)", 12,
                              extra=' class="map-title"'))
        self._hover = hover
        return document(self.width, self.height, "".join(out))

    # ---- the tooltip layer, as ParkMap writes it ------------------------------------------------

    def _hover_line(self, a, b, title: str) -> str:
        (x1, y1), (x2, y2) = a, b
        return f'<path class="hover-sector-link" d="M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"><title>{escape(title)}</title></path>'

    def _hover_circle(self, index: int, centre, radius: float, title: str) -> str:
        x, y = centre
        return (f'<circle class="hover-sector" data-sector="{escape(self.sectors[index])}" cx="{x:.1f}" '
                f'cy="{y:.1f}" r="{radius:.1f}"><title>{escape(title)}</title></circle>')

    def hover_svg(self) -> str:
        return (f'<svg class="map-hover" xmlns="http://www.w3.org/2000/svg" '
                f'viewBox="0 0 {self.width:.1f} {self.height:.1f}" '
                f'style="position: absolute; left: 0; top: 0; width: 100%; height: auto; pointer-events: none;">'
                f"<style>{HOVER_CSS}</style>{''.join(self._hover)}</svg>")
