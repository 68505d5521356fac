"""The map of the park: companies where they sit, this step's exchanges as arrows.

Companies are circles coloured by sector, with area proportional to the value of this step's
output (a down company shrinks to a grey cross). Exchanges are arrows from seller to buyer,
coloured by resource, their width growing with the square root of the quantity delivered,
scaled per resource against the largest flow of that resource so far in the run (a tonne of
gypsum and a MWh of heat cannot share one scale). Pipelines are dashed grey lines underneath:
the infrastructure, whether or not anything flows through it today; pipes built during the run
are dashed brown. An exchange under a contract in force has a dark outline (a contract that
delivered nothing today is a thin dark dashed curve).

The map is an image; `hover_svg` gives a transparent SVG of the same size to lay over it, whose
curves and circles carry tooltips (`<title>`): a contract's terms, a built pipe's cost, a
company's name and shared-vision weight.

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
from matplotlib import patheffects
from scipy.spatial import cKDTree
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from agents.partnerships import Pipe
from agents.scenario import Scenario
from market.contracts import Contract
from viz import palette
from viz.live_run import LiveRun

FAR_RATIO = 8.0
MAX_ARROWS = 300  # above this many flows, draw plain lines: patches cost about 1 ms each
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
    """The map of one park, redrawn in place each step: the figure, axes, pipelines and the
    sector legend are built once; companies, arrows, labels and the flow legend each update."""

    def __init__(self, park: Scenario, positions: np.ndarray, size: tuple[float, float] = (8.6, 5.8)):
        self.lock = threading.Lock()
        self.park = park
        self.layout = MapLayout(positions)
        n = len(park.companies)
        self.small = n > MAX_LABELS
        self.sectors = [c.sector for c in park.companies]
        self.sstyle = palette.sector_styles(self.sectors)
        self.scol = {sec: colour for sec, (colour, _) in self.sstyle.items()}
        self.rcol = palette.resource_colours(list(park.resources))
        self.units = {r: res.unit for r, res in park.resources.items()}
        # Fixed axes, not constrained layout: the layout engine draws the figure twice more.
        # A park with many sectors and resources (synthetic ones) gets its sector legend under
        # the map, so the two legends never overlap.
        self.crowded = len(self.scol) + len(park.resources) + 6 > LEGEND_ROWS
        self.fig = Figure(figsize=size)
        map_box = (0.01, 0.17, 0.70, 0.76) if self.crowded else (0.01, 0.05, 0.70, 0.88)
        ax = self.ax = self.fig.add_axes(map_box)
        lax = self.lax = self.fig.add_axes((0.73, 0.02, 0.26, 0.94))
        lax.axis("off")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("#cccccc")
        xy = self.layout.xy
        idx = park.company_index()
        segs = [(xy[idx[p.source]], xy[idx[p.target]]) for p in park.pipelines]
        if segs:
            ax.add_collection(LineCollection(segs, colors=palette.PIPELINE, linewidths=1.2,
                                             linestyles=(0, (4, 3)), zorder=1, alpha=0.8))
        if n:
            # Equal scales on both axes, filling the axes box: widen the shorter side's limits.
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            # Room around the outermost companies for their labels, more across than up.
            span = np.maximum(hi - lo, 1e-6) * (np.array([1.08, 1.08]) if self.small else np.array([1.55, 1.3]))
            box_w, box_h = size[0] * map_box[2], size[1] * map_box[3]
            scale = max(span[0] / box_w, span[1] / box_h)
            mid = (lo + hi) / 2
            ax.set_xlim(mid[0] - scale * box_w / 2, mid[0] + scale * box_w / 2)
            ax.set_ylim(mid[1] - scale * box_h / 2, mid[1] + scale * box_h / 2)
        self.full = (ax.get_xlim(), ax.get_ylim())  # the whole park; a sector's drill-down zooms in
        self.box = (size[0] * map_box[2], size[1] * map_box[3])
        handles = [Line2D([], [], marker=self.sstyle[s][1], ls="", markersize=9, markerfacecolor=self.scol[s],
                          markeredgecolor="#333333", label=s) for s in sorted(self.scol)]
        if self.crowded:
            ax.legend(handles=handles, title="Sector (area ~ output value)", loc="upper left",
                      bbox_to_anchor=(0.0, -0.05 if self.layout.compressed else -0.01), ncols=5, fontsize=8,
                      title_fontsize=9, frameon=False,
                      alignment="left", columnspacing=1.0, handletextpad=0.3)
        else:
            lax.add_artist(lax.legend(handles=handles, title="Sector (area ~ output value)", loc="upper left",
                                      fontsize=8.5, title_fontsize=9, frameon=False, alignment="left"))
        if self.layout.compressed:
            ax.text(0.0, -0.01, "Map not to scale: distances from the park centre compressed (asinh), "
                    "far partners on the outer ring.", transform=ax.transAxes, fontsize=8, color="#666666",
                    va="top")
        self.title = ax.set_title("", fontsize=12, loc="left")
        self.names = [c.name for c in park.companies]
        self._dynamic: list = []
        self._flow_legend = None
        self._hover: list[str] = []  # SVG elements of the tooltip layer, from the last update

    def _zoom(self, members: np.ndarray) -> None:
        """Fit the axes to `members` (indices), or to the whole park when there are none."""
        xy = self.layout.xy
        if not len(members):
            self.ax.set_xlim(*self.full[0])
            self.ax.set_ylim(*self.full[1])
            return
        lo, hi = xy[members].min(axis=0), xy[members].max(axis=0)
        whole = np.array([np.ptp(self.full[0]), np.ptp(self.full[1])])
        span = np.minimum(np.maximum((hi - lo) * 1.4, 0.08 * whole), whole)  # never wider than the park
        scale = max(span[0] / self.box[0], span[1] / self.box[1])
        mid = (lo + hi) / 2
        self.ax.set_xlim(mid[0] - scale * self.box[0] / 2, mid[0] + scale * self.box[0] / 2)
        self.ax.set_ylim(mid[1] - scale * self.box[1] / 2, mid[1] + scale * self.box[1] / 2)

    def update(self, run: LiveRun, selected: int | None = None, focus: str | None = None) -> Figure:
        """Draw the day. `focus` (a sector) zooms the map to that sector's companies and names
        them, the drill-down from the sector view."""
        for artist in self._dynamic:
            artist.remove()
        self._dynamic = []
        members = np.array([i for i, sec in enumerate(self.sectors) if sec == focus], dtype=int)
        self._zoom(members)
        if self._flow_legend is not None:
            self._flow_legend.remove()
        ax, xy, layout, park = self.ax, self.layout.xy, self.layout, self.park
        add = self._dynamic.append
        n = len(park.companies)
        snap = run.snapshot

        hover: list[str] = []
        names = self.names

        # Pipes built during the run, over the scenario's own.
        pipes = snap.pipes if snap is not None else []
        if pipes:
            segs = [(xy[p.pipeline.a], xy[p.pipeline.b]) for p in pipes]
            add(ax.add_collection(LineCollection(segs, colors=palette.BUILT_PIPE, linewidths=2.2,
                                                 linestyles=(0, (4, 2)), zorder=1.2)))
            for p, (a, b) in zip(pipes, segs):
                hover.append(self._hover_path(a, b, 0.0, pipe_title(p, names), "hover-pipe"))

        # Exchanges of this step; those under a contract in force outlined dark.
        flows = snap.flows if snap is not None else []
        bound = {(c.seller, c.buyer, c.resource): c for c in (snap.contracts if snap is not None else [])}
        rads: dict[tuple[int, int, str], float] = {}  # each drawn link's curvature
        seen: dict[frozenset, int] = {}
        if flows:
            widths = [0.8 + 5.2 * np.sqrt(f.delivered / run.flow_max[f.resource]) for f in flows]
            if len(flows) <= MAX_ARROWS:
                for f, w in zip(flows, widths):
                    pair = frozenset((f.seller, f.buyer))
                    k = seen.get(pair, 0)
                    seen[pair] = k + 1
                    key = (f.seller, f.buyer, f.resource)
                    rads[key] = _arrow_rad(k)
                    effects = [patheffects.withStroke(linewidth=w + 3.0, foreground=palette.CONTRACT)] \
                        if key in bound else None
                    add(ax.add_patch(FancyArrowPatch(
                        xy[f.seller], xy[f.buyer], connectionstyle=f"arc3,rad={rads[key]}",
                        arrowstyle=f"-|>,head_length={0.25 + 0.06 * w:.2f},head_width={0.12 + 0.04 * w:.2f}",
                        color=self.rcol[f.resource], linewidth=w, alpha=0.85, shrinkA=9, shrinkB=11,
                        zorder=2, mutation_scale=10, path_effects=effects)))
            else:
                lines = [(xy[f.seller], xy[f.buyer]) for f in flows]
                under = [(seg, w) for f, seg, w in zip(flows, lines, widths)
                         if (f.seller, f.buyer, f.resource) in bound]
                if under:
                    add(ax.add_collection(LineCollection([seg for seg, _ in under], colors=palette.CONTRACT,
                                                         linewidths=[w + 3.0 for _, w in under], zorder=1.9)))
                add(ax.add_collection(LineCollection(lines, colors=[self.rcol[f.resource] for f in flows],
                                                     linewidths=widths, alpha=0.8, zorder=2)))
                rads = {(f.seller, f.buyer, f.resource): 0.0 for f in flows}
        # Contracts that delivered nothing today (a breach, a company down): a thin dark curve.
        idle = [c for key, c in bound.items() if key not in rads]
        for c in idle:
            pair = frozenset((c.seller, c.buyer))
            k = seen.get(pair, 0)
            seen[pair] = k + 1
            rads[(c.seller, c.buyer, c.resource)] = _arrow_rad(k)
            add(ax.add_patch(FancyArrowPatch(
                xy[c.seller], xy[c.buyer], connectionstyle=f"arc3,rad={_arrow_rad(k)}", arrowstyle="-",
                color=palette.CONTRACT, linewidth=1.3, linestyle=(0, (3, 2)), shrinkA=9, shrinkB=11, zorder=2)))
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
        up = ~down
        shapes = np.array([self.sstyle[sec][1] for sec in self.sectors])
        faded = np.zeros(n, dtype=bool)  # a drill-down greys out the other sectors' companies
        if len(members):
            faded[:] = True
            faded[members] = False
            add(ax.scatter(xy[faded & up, 0], xy[faded & up, 1], s=0.5 * area[faded & up], c="#e0e0e0",
                           edgecolors="#bdbdbd", linewidths=0.5, zorder=2.5))
        for marker in dict.fromkeys(shapes[up & ~faded]):  # one scatter per marker shape in use
            on = up & ~faded & (shapes == marker)
            add(ax.scatter(xy[on, 0], xy[on, 1], s=area[on], c=[self.scol[self.sectors[i]] for i in np.flatnonzero(on)],
                           marker=marker, edgecolors="#333333", linewidths=0.8, zorder=3))
        if cut.any():
            add(ax.scatter(xy[cut, 0], xy[cut, 1], s=area[cut] + 160, facecolors="none",
                           edgecolors=palette.CUT_OFF, linewidths=2.2, zorder=3.5))
        if down.any():
            add(ax.scatter(xy[down, 0], xy[down, 1], s=140, c=palette.DOWN, edgecolors=palette.ALERT,
                           linewidths=1.5, zorder=4))
            add(ax.scatter(xy[down, 0], xy[down, 1], s=90, marker="x", c=palette.ALERT, linewidths=2.5, zorder=5))
        if selected is not None and 0 <= selected < n:
            add(ax.scatter([xy[selected, 0]], [xy[selected, 1]], s=area[selected] + 320, facecolors="none",
                           edgecolors="#1565c0", linewidths=2.5, zorder=6))
        # Investment decisions (pipes are drawn as pipes): a star on the company, listed on hover.
        decided: dict[int, list[str]] = {}
        index = {name: i for i, name in enumerate(names)}
        for step, company, kind, option in run.decisions():
            if kind != "pipe" and company in index:
                decided.setdefault(index[company], []).append(
                    f"{kind}{' ' + option.replace('_', ' ') if option else ''} (day {step + 1})")
        if decided:
            at = np.array(sorted(decided))
            add(ax.scatter(xy[at, 0], xy[at, 1], s=70, marker="*", c=DECISION, edgecolors="white", linewidths=0.6,
                           zorder=6.5))
        weights = run.model.weights
        for i in range(n):
            hover.append(self._hover_circle(i, xy[i], np.sqrt(area[i]) / 2 + 2,  # a marker of area s is sqrt(s) wide
                                            f"{names[i]} ({self.sectors[i]})\n"
                                            f"shared-vision weight {float(weights[i]):.2f}"
                                            + "".join(f"\n{d}" for d in decided.get(i, []))))
        named = range(n) if not small else (members if 0 < len(members) <= MAX_LABELS else ())
        if len(named):
            for i in named:
                c = park.companies[i]
                label = c.name
                if layout.far[i]:
                    label += f"\n({layout.distance_from_centre[i]:,.0f} km away)"
                if down[i]:
                    # The status sits above the marker, apart from the name, which points outward.
                    left = run.breaks.get(i, 0)
                    add(ax.annotate(f"DOWN, {left} more day{'s' if left != 1 else ''}" if left else "DOWN", xy[i],
                                    xytext=(0, 7 + 0.5 * np.sqrt(area[i])), textcoords="offset points",
                                    ha="center", va="bottom", fontsize=8.5, fontweight="bold", color=palette.ALERT,
                                    zorder=8, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85)))
                # Labels point away from the centre, where the crowd thins out.
                u = layout.outward(i)
                off = (8 + 0.55 * np.sqrt(area[i])) * u
                add(ax.annotate(label, xy[i], xytext=tuple(off), textcoords="offset points",
                                ha="left" if u[0] > 0.35 else "right" if u[0] < -0.35 else "center",
                                va="bottom" if u[1] > 0.35 else "top" if u[1] < -0.35 else "center",
                                fontsize=9, zorder=7, color=palette.ALERT if down[i] else "#222222",
                                fontweight="bold" if (down[i] or i == selected) else "normal",
                                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75)))

        # Legend of what flows now, each resource with its own width scale, and the symbols.
        handles = [Line2D([], [], color=self.rcol[r], lw=3,
                          label=f"{r.replace('_', ' ')} (max {palette.quantity(run.flow_max[r], self.units[r])})")
                   for r in sorted({f.resource for f in flows})]
        if bound:
            handles.append(Line2D([], [], color="#bdbdbd", lw=2.5, label=f"under contract ({len(bound)} in force)",
                                  path_effects=[patheffects.withStroke(linewidth=5.5, foreground=palette.CONTRACT)]))
        if idle:
            handles.append(Line2D([], [], color=palette.CONTRACT, lw=1.3, ls=(0, (3, 2)),
                                  label="contract, no delivery today"))
        handles.append(Line2D([], [], color=palette.PIPELINE, lw=1.2, ls=(0, (4, 3)),
                              label="pipeline (infrastructure)"))
        if pipes:
            handles.append(Line2D([], [], color=palette.BUILT_PIPE, lw=2.2, ls=(0, (4, 2)),
                                  label=f"pipe built this run ({len(pipes)})"))
        handles.append(Line2D([], [], marker="X", ls="", markersize=9, color=palette.ALERT, label="down (broken)"))
        if decided:
            handles.append(Line2D([], [], marker="*", ls="", markersize=10, color=DECISION,
                                  label="an investment, switch, entry or exit"))
        if cut.any():
            handles.append(Line2D([], [], marker="o", ls="", markersize=11, markerfacecolor="none",
                                  markeredgecolor=palette.CUT_OFF, markeredgewidth=2, label="lost a partner"))
        self._flow_legend = self.lax.legend(handles=handles, title="Exchanged today\n(width ~ quantity, per resource)",
                                            loc="upper left" if self.crowded else "lower left",
                                            fontsize=8 if self.crowded else 8.5, title_fontsize=9, frameon=False,
                                            alignment="left")
        title = f"{park.name}" + (f", sector {focus} ({len(members)} companies)" if len(members) else "") \
            + f": day {snap.step + 1 if snap is not None else 0}"
        if snap is not None:
            title += f", {len(flows)} exchange{'s' if len(flows) != 1 else ''}"
        self.title.set_text(title)
        self._hover = hover
        return self.fig

    # ---- the tooltip layer ------------------------------------------------------------------

    def _to_svg(self, points: np.ndarray) -> np.ndarray:
        """Data coordinates to the SVG's user units (points from the top left), as the figure
        is written by `viz.render.svg`."""
        w, h = self.fig.get_size_inches() * 72
        f = self.fig.transFigure.inverted().transform(self.ax.transData.transform(np.atleast_2d(points)))
        return np.column_stack([f[:, 0] * w, (1 - f[:, 1]) * h])

    def _hover_path(self, a, b, rad: float, title: str, cls: str) -> str:
        # The curve matplotlib's arc3 draws: a quadratic Bezier whose control point sits `rad`
        # times the chord off its middle, to the chord's left in y-up coordinates.
        (x1, y1), (x2, y2) = self._to_svg(np.array([a, b]))
        dx, dy = x2 - x1, -(y2 - y1)  # y up
        cx, cy = (x1 + x2) / 2 + rad * dy, (y1 + y2) / 2 + rad * dx
        return (f'<path class="{cls}" d="M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}">'
                f"<title>{escape(title)}</title></path>")

    def _hover_circle(self, index: int, centre, radius: float, title: str) -> str:
        (x, y), = self._to_svg(np.asarray(centre))
        return (f'<circle class="hover-company" data-company="{index}" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}">'
                f"<title>{escape(title)}\n(click to select)</title></circle>")

    def hover_svg(self) -> str:
        """The tooltip layer of the last `update`: a transparent SVG the size of the map, to
        lay over its image (`position: absolute`, full width)."""
        w, h = self.fig.get_size_inches() * 72
        return (f'<svg class="map-hover" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.1f} {h:.1f}" '
                f'style="position: absolute; left: 0; top: 0; width: 100%; height: auto; pointer-events: none;">'
                f"<style>{HOVER_CSS}</style>{''.join(self._hover)}</svg>")
