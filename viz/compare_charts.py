"""Figures of the comparison page: schemes side by side, KPIs against a swept parameter, and
sensitivity indices. Error bars and bands are 95 % confidence intervals of the mean over
replicates (`viz.results.mean_ci`); a scheme with one run has none."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from viz.labels import is_share, kpi_label, param_label, setting_text
from viz.render import tip
from viz.results import ResultSet, scheme_label, summarise

MAX_LINE_POINTS = 12  # more distinct x values than this (a Sobol or Morris design): scatter the runs
INDEX_NAMES = {"S1": "S1, first order", "ST": "ST, total", "S2": "S2, second order", "mu_star": "\u03bc*, Morris",
               "sigma": "\u03c3, Morris", "mu": "\u03bc, Morris"}
COLOURS = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#c62828", "#5d4037", "#455a64")


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = min(cols, max(n, 1))
    return math.ceil(max(n, 1) / cols), cols


def _style(ax) -> None:
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)


def _readable_y(ax, values: np.ndarray) -> None:
    """No '+1e2' offsets, and a flat KPI (100 % efficiency everywhere) drawn as flat, not as
    noise magnified to fill the panel."""
    fmt = ax.yaxis.get_major_formatter()
    if hasattr(fmt, "set_useOffset"):
        fmt.set_useOffset(False)
    v = values[np.isfinite(values)]
    if len(v):
        lo, hi = float(v.min()), float(v.max())
        need = 0.02 * max(abs(lo), abs(hi), 1e-9)
        if hi - lo < need:
            mid = (hi + lo) / 2
            ax.set_ylim(mid - need, mid + need)


def _scale(kpi: str, values: np.ndarray) -> tuple[float, str]:
    """Shares as %, large amounts in M or k: (factor, the panel's title with its unit)."""
    if is_share(kpi):
        return 100.0, kpi_label(kpi)
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if len(finite) else 0.0
    if top >= 1e6:
        return 1e-6, kpi_label(kpi, "M ")
    if top >= 1e4:
        return 1e-3, kpi_label(kpi, "k ")
    return 1.0, kpi_label(kpi)


MAX_TIPS = 400  # runs of a sampled design that get a hover read-out each, per panel and line


def _value(v: float, h: float | None = None) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:,.4g}" + (f" ± {h:,.3g}" if h is not None and math.isfinite(h) and h > 0 else "")


def _point_tip(fig: Figure, ax, x: float, y: float, text: str) -> None:
    """An invisible marker over a drawn point, carrying its read-out."""
    (dot,) = ax.plot([x], [y], "o", ms=9, alpha=0.0)
    tip(fig, dot, text)


def replicates_text(n: pd.Series | np.ndarray) -> str:
    """What the error bars are, true to the replicates each scheme has."""
    lo, hi = int(np.min(n)), int(np.max(n))
    if hi <= 1:
        return "one run each, so no confidence interval"
    runs = f"{lo} replicates" if lo == hi else f"{lo} to {hi} replicates"
    where = "" if lo > 1 else " (none for a scheme with one run)"
    return f"mean of {runs}; bars: 95 % confidence interval{where}"


def schemes_figure(rs: ResultSet, kpis: list[str], by: list[str] | None = None) -> Figure:
    """One panel per KPI, one horizontal bar per scheme with its 95 % interval."""
    by = rs.swept if by is None else by
    table = summarise(rs, by, kpis)
    labels = [scheme_label(r, by) for _, r in table.iterrows()]
    rows, cols = _grid(len(kpis))
    height = max(2.4, 0.28 * len(labels) + 1.1)
    fig = Figure(figsize=(11.2, height * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    y = np.arange(len(labels))
    for i, (ax, kpi) in enumerate(zip(axes, kpis)):
        _style(ax)
        mean = table[kpi].to_numpy(dtype=float)
        ci = table[f"{kpi}_ci"].to_numpy(dtype=float)
        f, title = _scale(kpi, mean)
        bars = ax.barh(y, mean * f, xerr=np.where(np.isfinite(ci), ci * f, 0), color=COLOURS[i % len(COLOURS)],
                       alpha=0.8, error_kw=dict(ecolor="#333333", capsize=3, lw=1))
        for bar, label, m, h, n in zip(bars, labels, mean, ci, table["n"]):
            tip(fig, bar, f"{label}: {title} {_value(m * f, h * f)} ({int(n)} run{'s' if n != 1 else ''})")
        ax.set_yticks(y, labels if i % cols == 0 else [""] * len(labels), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9.5, loc="left")
        ax.axvline(0, color="#999999", lw=0.8)
        if is_share(kpi) and np.nanmax(np.concatenate([mean, mean + np.nan_to_num(ci)])) <= 1.0:
            ax.set_xlim(right=100)  # a share never runs past 100 %
        fmt = ax.xaxis.get_major_formatter()
        if hasattr(fmt, "set_useOffset"):
            fmt.set_useOffset(False)
    for ax in axes[len(kpis):]:
        ax.axis("off")
    fig.suptitle(f"Schemes side by side: {replicates_text(table['n'])}", fontsize=10, x=0.01, ha="left")
    return fig


def against_figure(rs: ResultSet, x: str, kpis: list[str], group: str | None = None) -> Figure:
    """Each KPI against parameter `x`: mean and 95 % band, one line per value of `group`."""
    by = [x] + ([group] if group else [])
    table = summarise(rs, by, kpis)
    numeric = pd.api.types.is_numeric_dtype(rs.runs[x]) and not pd.api.types.is_bool_dtype(rs.runs[x])
    rows, cols = _grid(len(kpis))
    fig = Figure(figsize=(11.2, 2.7 * rows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    groups = [(None, table)] if not group else list(table.groupby(group, sort=True))
    cats = sorted(table[x].astype(str).unique()) if not numeric else []
    many = numeric and table[x].nunique() > MAX_LINE_POINTS
    for ax, kpi in zip(axes, kpis):
        _style(ax)
        f, title = _scale(kpi, table[kpi].to_numpy(dtype=float))
        drawn = []
        for j, (g, sub) in enumerate(groups):
            sub = sub.sort_values(x)
            colour = COLOURS[j % len(COLOURS)]
            label = None if g is None else setting_text(group, g.item() if isinstance(g, np.generic) else g)
            m = sub[kpi].to_numpy(dtype=float) * f
            h = np.nan_to_num(sub[f"{kpi}_ci"].to_numpy(dtype=float) * f)
            if many:
                # A sampled design: every point its own x, no line to follow; show the runs.
                runs = rs.runs if g is None else rs.runs[rs.runs[group] == g]
                ax.scatter(runs[x].to_numpy(dtype=float), runs[kpi].to_numpy(dtype=float) * f, s=12,
                           color=colour, alpha=0.7, label=label)
                for xv, yv in zip(runs[x].to_numpy(dtype=float)[:MAX_TIPS], runs[kpi].to_numpy(dtype=float)[:MAX_TIPS] * f):
                    _point_tip(fig, ax, xv, yv, f"{param_label(x)} {xv:.4g}: {title} {_value(yv)}")
                drawn.append(runs[kpi].to_numpy(dtype=float) * f)
            elif numeric:
                xs = sub[x].to_numpy(dtype=float)
                ax.plot(xs, m, marker="o", ms=4, color=colour, lw=1.6, label=label)
                for xv, mv, hv in zip(xs, m, h):
                    _point_tip(fig, ax, xv, mv, f"{param_label(x)} {xv:.4g}{', ' + label if label else ''}: "
                                                f"{title} {_value(mv, hv)}")
                ax.fill_between(xs, m - h, m + h, color=colour, alpha=0.15, lw=0)
                drawn += [m - h, m + h]
            else:
                xs = np.array([cats.index(str(v)) for v in sub[x]]) + (j - (len(groups) - 1) / 2) * 0.12
                ax.errorbar(xs, m, yerr=h, fmt="o", ms=5, color=colour, capsize=3, label=label)
                for xv, cat, mv, hv in zip(xs, sub[x].astype(str), m, h):
                    _point_tip(fig, ax, xv, mv, f"{param_label(x)} {cat}{', ' + label if label else ''}: "
                                                f"{title} {_value(mv, hv)}")
                drawn += [m - h, m + h]
        if not numeric:
            ax.set_xticks(range(len(cats)), cats, fontsize=8, rotation=20 if len(cats) > 3 else 0)
        values = np.concatenate(drawn) if drawn else np.zeros(0)
        _readable_y(ax, values)
        finite = values[np.isfinite(values)]
        if is_share(kpi) and len(finite) and finite.max() <= 100.0 + 1e-9:
            ax.set_ylim(top=100.0)  # a share never runs past 100 %
        ax.set_title(title, fontsize=9.5, loc="left")
        ax.set_xlabel(param_label(x), fontsize=8.5)
    for ax in axes[len(kpis):]:
        ax.axis("off")
    if group:
        axes[0].legend(fontsize=7.5, frameon=False)
    what = "each run (a sampled design)" if many else (
        "mean and 95 % confidence interval over replicates" if table["n"].max() > 1 else "one run each")
    fig.suptitle(f"KPIs against {param_label(x)}: {what}", fontsize=10, x=0.01, ha="left")
    return fig


def sensitivity_figure(sens: pd.DataFrame, kpi: str | None = None) -> Figure:
    """Each index kind (S1, ST, mu_star, ...) as horizontal bars per parameter, with its
    confidence half-width when the file gives one."""
    df = sens if not kpi or "kpi" not in sens or not sens["kpi"].astype(bool).any() else sens[sens["kpi"] == kpi]
    kinds = list(dict.fromkeys(df["kind"].astype(str)))
    params = list(dict.fromkeys(df["parameter"].astype(str)))
    rows, cols = _grid(len(kinds), cols=4)
    # As wide as the other figures, so the page scales all of them alike.
    fig = Figure(figsize=(11.2, max(2.2, 0.3 * len(params) + 1.0) * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    y = np.arange(len(params))
    for i, (ax, kind) in enumerate(zip(axes, kinds)):
        _style(ax)
        sub = df[df["kind"].astype(str) == kind].set_index(df[df["kind"].astype(str) == kind]["parameter"].astype(str))
        v = np.array([sub["value"].get(p, np.nan) for p in params], dtype=float)
        c = np.array([sub["conf"].get(p, np.nan) for p in params], dtype=float)
        ax.barh(y, np.nan_to_num(v), xerr=np.where(np.isfinite(c), c, 0), color=COLOURS[i % len(COLOURS)],
                alpha=0.8, error_kw=dict(ecolor="#333333", capsize=3, lw=1))
        ax.set_yticks(y, [param_label(p) for p in params] if i % cols == 0 else [""] * len(params), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(INDEX_NAMES.get(kind, kind), fontsize=9.5, loc="left")
    for ax in axes[len(kinds):]:
        ax.axis("off")
    fig.suptitle("Sensitivity indices" + (f" of {kpi_label(kpi)}" if kpi else "") + " (bars: confidence interval)",
                 fontsize=10, x=0.01, ha="left")
    return fig


def pareto_figure(candidates: pd.DataFrame, front: pd.DataFrame, objectives: list[str], levers: list[str]) -> Figure:
    """The feasible candidates of an optimisation (grey) and its front (blue), one panel per
    pair of objectives; each front scheme reads out its levers and objectives on hover."""
    ok = candidates[candidates["feasible"].astype(bool)] if "feasible" in candidates else candidates
    pairs = [(a, b) for n, a in enumerate(objectives) for b in objectives[n + 1:]] or [(objectives[0], objectives[0])]
    fig = Figure(figsize=(min(11.2, 3.9 * len(pairs)), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(pairs), squeeze=False)).ravel()
    for ax, (a, b) in zip(axes, pairs):
        _style(ax)
        ax.scatter(ok[a], ok[b], s=14, color="#b0b0b0", label="evaluated")
        ax.scatter(front[a], front[b], s=32, color=COLOURS[0], label="front", zorder=3)
        for _, r in front.iterrows():
            levers_text = ", ".join(f"{param_label(k)} {r[k]:.3g}" if isinstance(r[k], (int, float)) else
                                    f"{param_label(k)} {r[k]}" for k in levers)
            goals = ", ".join(f"{_objective_label(o)} {r[o]:,.4g}" for o in objectives)
            _point_tip(fig, ax, r[a], r[b], f"{r['scheme']}: {goals}; {levers_text}")
        ax.set_xlabel(_objective_label(a), fontsize=8.5)
        ax.set_ylabel(_objective_label(b), fontsize=8.5)
    axes[0].legend(fontsize=7.5, frameon=False)
    fig.suptitle(f"Pareto front: {len(front)} schemes no other beats on every objective, of {len(ok)} feasible",
                 fontsize=10, x=0.01, ha="left")
    return fig


def _objective_label(objective: str) -> str:
    """'max:co2_avoided_t@p10' as 'CO2 avoided (t), 10th percentile, more is better'."""
    sense, _, rest = objective.partition(":")
    kpi, _, agg = rest.partition("@")
    better = "more is better" if sense == "max" else "less is better"
    return kpi_label(kpi) + (f", {agg[1:]}th percentile" if agg.startswith("p") else "") + f" ({better})"
