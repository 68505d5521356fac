"""The map of the park: companies where they sit, this step's exchanges as arrows.

Companies are markers coloured by sector (`palette.sector_styles`: circles, then other shapes
beyond twelve sectors), with area proportional to the square root of the value of this step's
output (a down company shrinks to a grey cross). Exchanges are arrows from seller to buyer,
coloured by resource, their width growing with the square root of the quantity delivered,
scaled per resource against the largest flow of that resource so far in the run (a tonne of
gypsum and a MWh of heat cannot share one scale). Pipelines are dashed grey lines underneath:
the infrastructure, whether or not anything flows through it today; pipes built during the run
are dashed brown. An exchange under a contract in force has a dark outline (a contract that
delivered nothing today is a thin dark dashed curve).

The map is an image, SVG written as text (`viz.map_svg`: no matplotlib on a step's path; units
are points, as matplotlib's were, so marker areas and line widths kept their meaning);
`hover_svg` gives a transparent SVG of the same viewBox to lay over it, whose curves and circles
carry tooltips (`<title>`): a contract's terms, a built pipe's cost, a company's name and
shared-vision weight. Drawing a day (`RunHost.draw`, median of 20 steps, shared 2-core machine):
Kalundborg 83-124 ms with matplotlib, 1.0-1.1 ms now; synthetic:60 232-280 ms, 1.8-1.9 ms (load average about 5).

Real parks mix neighbours a few hundred metres apart with partners 100 km away (Kalundborg
ships fly ash to Aalborg, 250 km). When the farthest company is more than `FAR_RATIO` times the
median distance from the park's centre, distances from the centre are compressed with
asinh (linear within about a nearest-neighbour distance, logarithmic beyond) and the far
companies sit on a ring just outside the others; directions are kept, true distances of far
companies are printed in their labels, and the figure says so.
"""

from __future__ import annotations

import threading
from html import escape

import numpy as np
from scipy.spatial import cKDTree

from agents.partnerships import Pipe
from agents.scenario import Scenario
from market.contracts import Contract
from viz import palette
from viz.live_run import LiveRun
from viz.map_svg import (PlotBox, arrows, control_points, cross, document, hex_colour, label, legend,
                         line_handle, marker, marker_handle, plain_text)

FAR_RATIO = 8.0
MAX_ARROWS = 300  # above this many flows, draw plain lines: a curve and its head are two elements each
MAX_LABELS = 30
DECISION = "#1565c0"  # the star on a company that took an investment decision this run
LEGEND_ROWS = 30  # legend entries that fit beside the map, one under the other
# The tooltip layer: invisible until hovered, then a faint shadow of what is under the pointer.
HOVER_CSS = (".map-hover path { fill: none; stroke: #000; stroke-opacity: 0; stroke-width: 9; "
             "stroke-linecap: round; pointer-events: stroke; cursor: help; } "
             ".map-hover circle { fill: #000; fill-opacity: 0; stroke: none; pointer-events: fill; cursor: pointer; } "
             ".map-hover path:hover { stroke-opacity: 0.15; } .map-hover circle:hover { fill-opacity: 0.12; }")


class MapLayout:
    """Where each company is drawn, computed once per park."""

    def __init__(self, positions: np.ndarray):
        pos = np.asarray(positions, dtype=float).reshape(-1, 2)
        n = len(pos)
        self.true = pos
        self.centre = np.median(pos, axis=0) if n else np.zeros(2)
        d = np.hypot(*(pos - self.centre).T) if n else np.zeros(0)
        med = float(np.median(d)) if n else 0.0
        self.distance_from_centre = d
        self.compressed = bool(n > 2 and med > 0 and d.max() > FAR_RATIO * med)
        self.far = np.zeros(n, dtype=bool)
        self.xy = pos
        if not self.compressed:
            return
        # The scale of the linear part: a third of the typical distance to a nearest neighbour
        # (tried a half: Kalundborg's four plants within 2 km of Asnaes then overlap).
        nn = cKDTree(pos).query(pos, k=2)[0][:, 1]  # each company's nearest other company
        scale = 0.3 * float(np.median(nn[nn > 0])) if np.any(nn > 0) else med
        r = scale * np.arcsinh(d / scale)
        self.far = d > FAR_RATIO * med
        ring = 1.35 * float(r[~self.far].max()) if (~self.far).any() else float(r.max())
        r = np.where(self.far, np.maximum(ring, 0.0), r)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = np.where(d > 0, r / d, 1.0)
        self.xy = self.centre + (pos - self.centre) * k[:, None]

    def outward(self, i: int) -> np.ndarray:
        """Unit vector from the map's centre towards company i (up for the centre itself)."""
        v = self.xy[i] - (np.median(self.xy, axis=0) if len(self.xy) else 0)
        norm = float(np.hypot(*v))
        return v / norm if norm > 1e-9 else np.array([0.0, 1.0])


def _arrow_rad(k: int) -> float:
    """Curvature of the k-th flow between one pair: parallel flows fan out."""
    return 0.12 + 0.14 * k


def contract_title(c: Contract, names: list[str], unit: str) -> str:
    """A contract's terms, for its tooltip."""
    t = c.terms
    price = palette.unit_price(t.price, unit) + (" (the seller pays)" if t.price < 0 else "")
    pipe = (f"{100 * t.seller_share:.0f} % of its new pipe ({palette.money(c.investment)})" if c.investment > 0
            else f"{100 * t.seller_share:.0f} % (no new pipe)")
    return (f"Contract: {names[c.seller]} \u2192 {names[c.buyer]}\n"
            f"{c.resource.replace('_', ' ')}: {palette.quantity(t.quantity, unit)} a day at {price}\n"
            f"seller's pipe share: {pipe}\n"
            f"penalty: {palette.unit_price(t.penalty, unit)} short\n"
            f"days {c.start + 1}-{c.end}")


def pipe_title(p: Pipe, names: list[str]) -> str:
    """A built pipe, for its tooltip."""
    pl = p.pipeline
    return (f"Pipe built this run: {pl.resource.replace('_', ' ')}, in service from day {p.built + 1}\n"
            f"{names[p.seller]} \u2192 {names[p.buyer]}, {pl.length_km:,.1f} km\n"
            f"investment {palette.money(p.investment)}; the seller pays {100 * p.seller_share:.0f} % "
            f"after a {100 * p.subsidy:.0f} % subsidy")


class ParkMap:
    """The map of one park, written as SVG each step: the plot box, its limits and the sector
    legend are set once; companies, arrows, labels and the flow legend are written anew."""

    def __init__(self, park: Scenario, positions: np.ndarray, size: tuple[float, float] = (8.6, 5.8)):
        self.lock = threading.Lock()
        self.park = park
        self.layout = MapLayout(positions)
        n = len(park.companies)
        self.small = n > MAX_LABELS
        self.sectors = [c.sector for c in park.companies]
        self.sstyle = palette.sector_styles(self.sectors)
        self.scol = {sec: colour for sec, (colour, _) in self.sstyle.items()}
        self.rcol = {r: hex_colour(c) for r, c in palette.resource_colours(list(park.resources)).items()}
        self.units = {r: res.unit for r, res in park.resources.items()}
        # A park with many sectors and resources (synthetic ones) gets its sector legend under
        # the map, so the two legends never overlap.
        self.crowded = len(self.scol) + len(park.resources) + 6 > LEGEND_ROWS
        self.width, self.height = size[0] * 72, size[1] * 72  # points, the SVG's user units
        map_box = (0.01, 0.17, 0.70, 0.76) if self.crowded else (0.01, 0.05, 0.70, 0.88)
        self.plot = PlotBox(self.width, self.height, map_box)
        self.legend_box = PlotBox(self.width, self.height, (0.73, 0.02, 0.26, 0.94))
        xy = self.layout.xy
        idx = park.company_index()
        self.pipelines = np.array([(idx[p.source], idx[p.target]) for p in park.pipelines], dtype=int).reshape(-1, 2)
        self.box = (size[0] * map_box[2], size[1] * map_box[3])
        if n:
            # Equal scales on both axes, filling the plot box: widen the shorter side's limits.
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            # Room around the outermost companies for their labels, more across than up.
            span = np.maximum(hi - lo, 1e-6) * (np.array([1.08, 1.08]) if self.small else np.array([1.55, 1.3]))
            scale = max(span[0] / self.box[0], span[1] / self.box[1])
            mid = (lo + hi) / 2
            self.plot.xlim = (float(mid[0] - scale * self.box[0] / 2), float(mid[0] + scale * self.box[0] / 2))
            self.plot.ylim = (float(mid[1] - scale * self.box[1] / 2), float(mid[1] + scale * self.box[1] / 2))
        self.full = (self.plot.xlim, self.plot.ylim)  # the whole park; a sector's drill-down zooms in
        # The parts that never change: the sector legend and the compression note.
        entries = [(s, marker_handle(self.sstyle[s][1], 9, f'fill="{self.scol[s]}" stroke="#333333"'))
                   for s in sorted(self.scol)]
        plot, static = self.plot, []
        if self.crowded:
            below = plot.top + plot.height + (0.05 if self.layout.compressed else 0.01) * plot.height + 3
            static.append(legend(plot.left, below, "Sector (area ~ output value)", entries, 8, ncols=5)[0])
        else:
            static.append(legend(self.legend_box.left, self.legend_box.top + 4, "Sector (area ~ output value)",
                                 entries, 8.5)[0])
        if self.layout.compressed:
            static.append(plain_text(plot.left, plot.top + 1.01 * plot.height + 7.5,
                                     "Map not to scale: distances from the park centre compressed (asinh), "
                                     "far partners on the outer ring.", 8, "#666666"))
        self._static = "".join(static)
        self.names = [c.name for c in park.companies]
        self._hover: list[str] = []  # SVG elements of the tooltip layer, from the last update

    def _zoom(self, members: np.ndarray) -> None:
        """Fit the plot to `members` (indices), or to the whole park when there are none."""
        xy = self.layout.xy
        if not len(members):
            self.plot.xlim, self.plot.ylim = self.full
            return
        lo, hi = xy[members].min(axis=0), xy[members].max(axis=0)
        whole = np.array([np.ptp(self.full[0]), np.ptp(self.full[1])])
        span = np.minimum(np.maximum((hi - lo) * 1.4, 0.08 * whole), whole)  # never wider than the park
        scale = max(span[0] / self.box[0], span[1] / self.box[1])
        mid = (lo + hi) / 2
        self.plot.xlim = (float(mid[0] - scale * self.box[0] / 2), float(mid[0] + scale * self.box[0] / 2))
        self.plot.ylim = (float(mid[1] - scale * self.box[1] / 2), float(mid[1] + scale * self.box[1] / 2))

    def update(self, run: LiveRun, selected: int | None = None, focus: str | None = None) -> bytes:
        """The day's map as SVG bytes. `focus` (a sector) zooms the map to that sector's
        companies and names them, the drill-down from the sector view."""
        members = np.array([i for i, sec in enumerate(self.sectors) if sec == focus], dtype=int)
        self._zoom(members)
        plot, layout, park = self.plot, self.layout, self.park
        n = len(park.companies)
        xy = plot.to_svg(layout.xy) if n else np.zeros((0, 2))
        snap = run.snapshot
        hover: list[str] = []
        names = self.names
        out = [f'<defs><clipPath id="park-map-clip"><rect {plot.rect()}/></clipPath></defs>',
               f'<rect {plot.rect()} fill="none" stroke="#cccccc"/><g clip-path="url(#park-map-clip)">']
        add = out.append

        # The scenario's pipelines, then pipes built during the run over them.
        if len(self.pipelines):
            a, b = xy[self.pipelines[:, 0]], xy[self.pipelines[:, 1]]
            d = " ".join(f"M{p[0]:.1f},{p[1]:.1f} L{q[0]:.1f},{q[1]:.1f}" for p, q in zip(a, b))
            add(f'<path class="pipeline" d="{d}" stroke="{palette.PIPELINE}" stroke-width="1.2" '
                f'stroke-dasharray="4.8,3.6" stroke-opacity="0.8" fill="none"/>')
        pipes = snap.pipes if snap is not None else []
        for p in pipes:
            a, b = xy[p.pipeline.a], xy[p.pipeline.b]
            add(f'<path class="built-pipe" d="M{a[0]:.1f},{a[1]:.1f} L{b[0]:.1f},{b[1]:.1f}" '
                f'stroke="{palette.BUILT_PIPE}" stroke-width="2.2" stroke-dasharray="8.8,4.4" fill="none"/>')
            hover.append(self._hover_path(a, b, 0.0, pipe_title(p, names), "hover-pipe"))

        # Exchanges of this step; those under a contract in force outlined dark.
        flows = snap.flows if snap is not None else []
        bound = {(c.seller, c.buyer, c.resource): c for c in (snap.contracts if snap is not None else [])}
        rads: dict[tuple[int, int, str], float] = {}  # each drawn link's curvature
        seen: dict[frozenset, int] = {}
        if flows:
            widths = np.array([0.8 + 5.2 * np.sqrt(f.delivered / run.flow_max[f.resource]) for f in flows])
            ends = np.array([(f.seller, f.buyer) for f in flows], dtype=int)
            keys = [(f.seller, f.buyer, f.resource) for f in flows]
            if len(flows) <= MAX_ARROWS:
                for key in keys:
                    pair = frozenset(key[:2])
                    k = seen.get(pair, 0)
                    seen[pair] = k + 1
                    rads[key] = _arrow_rad(k)
                curves, heads = arrows(xy[ends[:, 0]], xy[ends[:, 1]], np.array([rads[key] for key in keys]), widths)
                for f, key, w, curve, head in zip(flows, keys, widths, curves, heads):
                    if key in bound:
                        add(f'<path d="{curve}" stroke="{palette.CONTRACT}" stroke-width="{w + 3:.2f}" fill="none"/>'
                            f'<path d="{head}" fill="{palette.CONTRACT}" stroke="{palette.CONTRACT}" stroke-width="3" '
                            f'stroke-linejoin="round"/>')
                    colour = self.rcol[f.resource]
                    add(f'<path class="flow" d="{curve}" stroke="{colour}" stroke-width="{w:.2f}" stroke-opacity="0.85" '
                        f'fill="none"/><path class="flow-head" d="{head}" fill="{colour}" fill-opacity="0.85"/>')
            else:  # plain lines: a few hundred curves would be as many elements again and no clearer
                a, b = xy[ends[:, 0]], xy[ends[:, 1]]
                lines = [f"M{p[0]:.1f},{p[1]:.1f} L{q[0]:.1f},{q[1]:.1f}" for p, q in zip(a, b)]
                for key, line, w in zip(keys, lines, widths):
                    if key in bound:
                        add(f'<path d="{line}" stroke="{palette.CONTRACT}" stroke-width="{w + 3:.2f}" fill="none"/>')
                for f, line, w in zip(flows, lines, widths):
                    add(f'<path class="flow" d="{line}" stroke="{self.rcol[f.resource]}" stroke-width="{w:.2f}" '
                        f'stroke-opacity="0.8" fill="none"/>')
                rads = {key: 0.0 for key in keys}
        # Contracts that delivered nothing today (a breach, a company down): a thin dark curve.
        idle = [c for key, c in bound.items() if key not in rads]
        for c in idle:
            pair = frozenset((c.seller, c.buyer))
            k = seen.get(pair, 0)
            seen[pair] = k + 1
            rads[(c.seller, c.buyer, c.resource)] = _arrow_rad(k)
        if idle:
            ends = np.array([(c.seller, c.buyer) for c in idle], dtype=int)
            curves, _ = arrows(xy[ends[:, 0]], xy[ends[:, 1]], np.array([rads[(c.seller, c.buyer, c.resource)]
                                                                          for c in idle]), np.full(len(idle), 1.3),
                               heads=False)
            for curve in curves:
                add(f'<path class="idle-contract" d="{curve}" stroke="{palette.CONTRACT}" stroke-width="1.3" '
                    f'stroke-dasharray="3.9,2.6" fill="none"/>')
        units = self.units
        for key, c in bound.items():
            hover.append(self._hover_path(xy[c.seller], xy[c.buyer], rads[key],
                                          contract_title(c, names, units.get(c.resource, "")), "hover-contract"))

        # Companies: area by the value of today's output against the park's largest normal day.
        ref = max(float(run.nominal_value.max()) if n else 1.0, 1e-9)
        value = snap.output_value if snap is not None else run.nominal_value
        down = snap.down if snap is not None else run.down()
        cut = snap.cut_off if snap is not None else np.zeros(n, dtype=bool)
        small = self.small
        area = (12 if small else 50) + (120 if small else 650) * np.sqrt(np.clip(value / ref, 0, None))
        across = np.sqrt(area)  # a marker of area s (points squared) is sqrt(s) across
        faded = np.zeros(n, dtype=bool)  # a drill-down greys out the other sectors' companies
        if len(members):
            faded[:] = True
            faded[members] = False
        for i in range(n):
            x, y = xy[i]
            if down[i]:
                continue
            if faded[i]:
                add(f'<circle class="company faded" data-company="{i}" cx="{x:.1f}" cy="{y:.1f}" '
                    f'r="{np.sqrt(0.5 * area[i]) / 2:.2f}" fill="#e0e0e0" stroke="#bdbdbd" stroke-width="0.5"/>')
            else:
                sec = self.sectors[i]
                add(marker(self.sstyle[sec][1], x, y, across[i],
                           f'class="company" data-company="{i}" fill="{self.scol[sec]}" stroke="#333333" '
                           f'stroke-width="0.8"'))
        for i in np.flatnonzero(cut):
            add(f'<circle class="cut-off" cx="{xy[i, 0]:.1f}" cy="{xy[i, 1]:.1f}" r="{np.sqrt(area[i] + 160) / 2:.2f}" '
                f'fill="none" stroke="{palette.CUT_OFF}" stroke-width="2.2"/>')
        for i in np.flatnonzero(down):
            add(f'<circle class="company down" data-company="{i}" cx="{xy[i, 0]:.1f}" cy="{xy[i, 1]:.1f}" '
                f'r="{np.sqrt(140) / 2:.2f}" fill="{palette.DOWN}" stroke="{palette.ALERT}" stroke-width="1.5"/>')
        for i in np.flatnonzero(down):
            add(cross(xy[i, 0], xy[i, 1], np.sqrt(90), palette.ALERT, 2.5))
        if selected is not None and 0 <= selected < n:
            add(f'<circle class="selected" cx="{xy[selected, 0]:.1f}" cy="{xy[selected, 1]:.1f}" '
                f'r="{np.sqrt(area[selected] + 320) / 2:.2f}" fill="none" stroke="#1565c0" stroke-width="2.5"/>')
        # Investment decisions (pipes are drawn as pipes): a star on the company, listed on hover.
        decided: dict[int, list[str]] = {}
        index = {name: i for i, name in enumerate(names)}
        for step, company, kind, option in run.decisions():
            if kind != "pipe" and company in index:
                decided.setdefault(index[company], []).append(
                    f"{kind}{' ' + option.replace('_', ' ') if option else ''} (day {step + 1})")
        for i in sorted(decided):
            add(marker("*", xy[i, 0], xy[i, 1], np.sqrt(70),
                       f'class="decision" data-company="{i}" fill="{DECISION}" stroke="#ffffff" stroke-width="0.6"'))
        add("</g>")
        weights = run.model.weights
        for i in range(n):
            hover.append(self._hover_circle(i, xy[i], across[i] / 2 + 2,
                                            f"{names[i]} ({self.sectors[i]})\n"
                                            f"shared-vision weight {float(weights[i]):.2f}"
                                            + "".join(f"\n{d}" for d in decided.get(i, []))))

        # Names, pointing away from the centre where the crowd thins out; a down company's
        # status above its marker. Only companies inside the plot are named.
        named = range(n) if not small else (members if 0 < len(members) <= MAX_LABELS else ())
        inside = plot.inside(xy) if n else np.zeros(0, dtype=bool)
        status = []
        for i in named:
            if not inside[i]:
                continue
            text = park.companies[i].name
            if layout.far[i]:
                text += f"\n({layout.distance_from_centre[i]:,.0f} km away)"
            u = layout.outward(i)
            off = (8 + 0.55 * across[i]) * u
            add(label(xy[i, 0] + off[0], xy[i, 1] - off[1], text, 9,
                      ha="left" if u[0] > 0.35 else "right" if u[0] < -0.35 else "center",
                      va="bottom" if u[1] > 0.35 else "top" if u[1] < -0.35 else "center",
                      colour=palette.ALERT if down[i] else "#222222", bold=bool(down[i] or i == selected)))
            if down[i]:
                left = run.breaks.get(i, 0)
                status.append(label(xy[i, 0], xy[i, 1] - 7 - 0.5 * across[i],
                                    f"DOWN, {left} more day{'s' if left != 1 else ''}" if left else "DOWN", 8.5,
                                    ha="center", va="bottom", colour=palette.ALERT, bold=True, box_opacity=0.85))
        out.extend(status)

        # Legend of what flows now, each resource with its own width scale, and the symbols.
        entries = [(f"{r.replace('_', ' ')} (max {palette.quantity(run.flow_max[r], self.units[r])})",
                    line_handle(self.rcol[r], 3)) for r in sorted({f.resource for f in flows})]
        if bound:
            entries.append((f"under contract ({len(bound)} in force)",
                            line_handle("#bdbdbd", 2.5, outline=palette.CONTRACT, outline_width=5.5)))
        if idle:
            entries.append(("contract, no delivery today", line_handle(palette.CONTRACT, 1.3, "3.9,2.6")))
        entries.append(("pipeline (infrastructure)", line_handle(palette.PIPELINE, 1.2, "4.8,3.6")))
        if pipes:
            entries.append((f"pipe built this run ({len(pipes)})", line_handle(palette.BUILT_PIPE, 2.2, "8.8,4.4")))
        entries.append(("down (broken)", marker_handle("X", 9, f'fill="{palette.ALERT}"')))
        if decided:
            entries.append(("an investment, switch, entry or exit", marker_handle("*", 10, f'fill="{DECISION}"')))
        if cut.any():
            entries.append(("lost a partner", marker_handle("o", 11, f'fill="none" stroke="{palette.CUT_OFF}" '
                                                                      'stroke-width="2"')))
        box = self.legend_box
        title = "Exchanged today\n(width ~ quantity, per resource)"
        if self.crowded:
            add(legend(box.left, box.top + 4, title, entries, 8)[0])
        else:
            add(legend(box.left, box.top + box.height - 4, title, entries, 8.5, from_bottom=True)[0])
        add(self._static)
        text = f"{park.name}" + (f", sector {focus} ({len(members)} companies)" if len(members) else "") \
            + f": day {snap.step + 1 if snap is not None else 0}"
        if snap is not None:
            text += f", {len(flows)} exchange{'s' if len(flows) != 1 else ''}"
        add(plain_text(plot.left, plot.top - 8, text, 12, extra=' class="map-title"'))
        self._hover = hover
        return document(self.width, self.height, "".join(out))

    # ---- the tooltip layer ------------------------------------------------------------------

    def _hover_path(self, a, b, rad: float, title: str, cls: str) -> str:
        # The curve the arrows follow (matplotlib's arc3, as drawn before): a quadratic Bezier
        # whose control point sits `rad` times the chord off its middle; a, b in SVG units.
        p = np.atleast_2d(np.asarray(a, dtype=float))
        q = np.atleast_2d(np.asarray(b, dtype=float))
        (cx, cy), = control_points(p, q, np.array([rad]))
        return (f'<path class="{cls}" d="M{p[0, 0]:.1f},{p[0, 1]:.1f} Q{cx:.1f},{cy:.1f} {q[0, 0]:.1f},{q[0, 1]:.1f}">'
                f"<title>{escape(title)}</title></path>")

    def _hover_circle(self, index: int, centre, radius: float, title: str) -> str:
        x, y = centre
        return (f'<circle class="hover-company" data-company="{index}" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}">'
                f"<title>{escape(title)}\n(click to select)</title></circle>")

    def hover_svg(self) -> str:
        """The tooltip layer of the last `update`: a transparent SVG the size of the map, to
        lay over its image (`position: absolute`, full width)."""
        return (f'<svg class="map-hover" xmlns="http://www.w3.org/2000/svg" '
                f'viewBox="0 0 {self.width:.1f} {self.height:.1f}" '
                f'style="position: absolute; left: 0; top: 0; width: 100%; height: auto; pointer-events: none;">'
                f"<style>{HOVER_CSS}</style>{''.join(self._hover)}</svg>")
