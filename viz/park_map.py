"""The map of the park: companies where they sit, this step's exchanges as arrows.

Companies are circles coloured by sector, with area proportional to the value of this step's
output (a down company shrinks to a grey cross). Exchanges are arrows from seller to buyer,
coloured by resource, their width growing with the square root of the quantity delivered,
scaled per resource against the largest flow of that resource so far in the run (a tonne of
gypsum and a MWh of heat cannot share one scale). Pipelines are dashed grey lines underneath:
the infrastructure, whether or not anything flows through it today.

Real parks mix neighbours a few hundred metres apart with partners 100 km away (Kalundborg
ships fly ash to Aalborg, 250 km). When the farthest company is more than `FAR_RATIO` times the
median distance from the park's centre, distances from the centre are compressed with
asinh (linear within about a nearest-neighbour distance, logarithmic beyond) and the far
companies sit on a ring just outside the others; directions are kept, true distances of far
companies are printed in their labels, and the figure says so.
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.spatial import cKDTree
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from agents.scenario import Scenario
from viz import palette
from viz.live_run import LiveRun

FAR_RATIO = 8.0
MAX_ARROWS = 300  # above this many flows, draw plain lines: patches cost about 1 ms each
MAX_LABELS = 30
LEGEND_ROWS = 30  # legend entries that fit beside the map, one under the other


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
        self.scol = palette.sector_colours(self.sectors)
        self.rcol = palette.resource_colours(list(park.resources))
        self.units = {r: res.unit for r, res in park.resources.items()}
        # Fixed axes, not constrained layout: the layout engine draws the figure twice more.
        # A park with many sectors and resources (synthetic ones) gets its sector legend under
        # the map, so the two legends never overlap.
        self.crowded = len(self.scol) + len(park.resources) + 3 > LEGEND_ROWS
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
        handles = [Line2D([], [], marker="o", ls="", markersize=9, markerfacecolor=self.scol[s],
                          markeredgecolor="#333333", label=s) for s in sorted(self.scol)]
        if self.crowded:
            ax.legend(handles=handles, title="Sector (area ~ output value)", loc="upper left",
                      bbox_to_anchor=(0.0, -0.05 if self.layout.compressed else -0.01), ncols=5, fontsize=8, title_fontsize=9, frameon=False,
                      alignment="left", columnspacing=1.0, handletextpad=0.3)
        else:
            lax.add_artist(lax.legend(handles=handles, title="Sector (area ~ output value)", loc="upper left",
                                      fontsize=8.5, title_fontsize=9, frameon=False, alignment="left"))
        if self.layout.compressed:
            ax.text(0.0, -0.01, "Map not to scale: distances from the park centre compressed (asinh), "
                    "far partners on the outer ring.", transform=ax.transAxes, fontsize=8, color="#666666",
                    va="top")
        self.title = ax.set_title("", fontsize=12, loc="left")
        self._dynamic: list = []
        self._flow_legend = None

    def update(self, run: LiveRun, selected: int | None = None) -> Figure:
        for artist in self._dynamic:
            artist.remove()
        self._dynamic = []
        if self._flow_legend is not None:
            self._flow_legend.remove()
        ax, xy, layout, park = self.ax, self.layout.xy, self.layout, self.park
        add = self._dynamic.append
        n = len(park.companies)
        snap = run.snapshot

        # Exchanges of this step.
        flows = snap.flows if snap is not None else []
        if flows:
            widths = [0.8 + 5.2 * np.sqrt(f.delivered / run.flow_max[f.resource]) for f in flows]
            if len(flows) <= MAX_ARROWS:
                seen: dict[frozenset, int] = {}
                for f, w in zip(flows, widths):
                    pair = frozenset((f.seller, f.buyer))
                    k = seen.get(pair, 0)
                    seen[pair] = k + 1
                    add(ax.add_patch(FancyArrowPatch(
                        xy[f.seller], xy[f.buyer], connectionstyle=f"arc3,rad={_arrow_rad(k)}",
                        arrowstyle=f"-|>,head_length={0.25 + 0.06 * w:.2f},head_width={0.12 + 0.04 * w:.2f}",
                        color=self.rcol[f.resource], linewidth=w, alpha=0.85, shrinkA=9, shrinkB=11,
                        zorder=2, mutation_scale=10)))
            else:
                add(ax.add_collection(LineCollection([(xy[f.seller], xy[f.buyer]) for f in flows],
                                                     colors=[self.rcol[f.resource] for f in flows],
                                                     linewidths=widths, alpha=0.8, zorder=2)))

        # Companies: area by the value of today's output against the park's largest normal day.
        ref = max(float(run.nominal_value.max()) if n else 1.0, 1e-9)
        value = snap.output_value if snap is not None else run.nominal_value
        down = snap.down if snap is not None else np.array([c.down for c in run.model.companies], dtype=bool)
        cut = snap.cut_off if snap is not None else np.zeros(n, dtype=bool)
        small = self.small
        area = (12 if small else 50) + (120 if small else 650) * np.sqrt(np.clip(value / ref, 0, None))
        up = ~down
        add(ax.scatter(xy[up, 0], xy[up, 1], s=area[up], c=[self.scol[self.sectors[i]] for i in np.flatnonzero(up)],
                       edgecolors="#333333", linewidths=0.8, zorder=3))
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
        if not small:
            for i, c in enumerate(park.companies):
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
        handles += [Line2D([], [], color=palette.PIPELINE, lw=1.2, ls=(0, (4, 3)), label="pipeline (infrastructure)"),
                    Line2D([], [], marker="X", ls="", markersize=9, color=palette.ALERT, label="down (broken)")]
        if cut.any():
            handles.append(Line2D([], [], marker="o", ls="", markersize=11, markerfacecolor="none",
                                  markeredgecolor=palette.CUT_OFF, markeredgewidth=2, label="lost a partner"))
        self._flow_legend = self.lax.legend(handles=handles, title="Exchanged today\n(width ~ quantity, per resource)",
                                            loc="upper left" if self.crowded else "lower left",
                                            fontsize=8 if self.crowded else 8.5, title_fontsize=9, frameon=False,
                                            alignment="left")
        title = f"{park.name}: day {snap.step + 1 if snap is not None else 0}"
        if snap is not None:
            title += f", {len(flows)} exchange{'s' if len(flows) != 1 else ''}"
        self.title.set_text(title)
        return self.fig
