"""The comparison page: pick a result folder, see incentive schemes side by side.

The folders offered are the result folders under `ECOPARK_RESULTS` (default: the repo's
`results/`, where `run.py simulate` and sweeps write); any other path can be typed in.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import pandas as pd
import solara

from viz import compare_charts, html, palette
from viz.render import svg
from viz.labels import is_share, kpi_label, param_label
from viz.results import (ResultError, candidates, child_results, continuous, load, load_pareto, scheme_label,
                         sensitivity_warning, summarise)

REPO = Path(__file__).resolve().parent.parent
# The first six of these that a folder has are shown until the user picks others.
DEFAULT_KPIS = ("gains_from_trade_eur", "social_surplus_eur", "savings_vs_baseline_eur", "co2_avoided_t",
                "government_net_cost_eur", "market_efficiency", "symbiosis_share", "active_links")
MAX_SCHEMES = 30


def results_root() -> Path:
    return Path(os.environ.get("ECOPARK_RESULTS") or REPO / "results")


def _fmt(kpi: str, v: float) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    if kpi.endswith("_eur"):
        return palette.money(v)
    if is_share(kpi):
        return palette.percent(v)
    return palette.quantity(v)


def _ci(kpi: str, h: float) -> str:
    if h is None or not math.isfinite(h):
        return ""
    if is_share(kpi):
        return f" ± {100 * h:.1f}"
    return " ± " + (palette.money(h).removeprefix("EUR ") if kpi.endswith("_eur") else palette.quantity(h))


def _table(rs, by: list[str], kpis: list[str]) -> str:
    t = summarise(rs, by, kpis)
    rows = [[scheme_label(r, by), int(r["n"]), *(f"{_fmt(k, r[k])}{_ci(k, r[f'{k}_ci'])}" for k in kpis)]
            for _, r in t.iterrows()]
    return html.table(["scheme", "runs", *(kpi_label(k) for k in kpis)], rows)


@solara.component
def SvgFigure(make, dependencies: list, classes: list[str]):
    """A figure drawn once per change of `dependencies` (a component, so it may sit inside
    conditions: hooks may not)."""
    image = solara.use_memo(lambda: svg(make()), dependencies)
    solara.Image(image, format="svg+xml", width="100%", classes=classes)


@solara.component
def ResultView(rs, key: str):
    picked_kpis, set_kpis = solara.use_state([])
    x_param, set_x = solara.use_state("")
    group_param, set_group = solara.use_state("")
    x_range, set_range = solara.use_state(None)  # (lo, hi) of the parameter drawn against: a zoom
    hidden, set_hidden = solara.use_state(())  # lines switched off, by their text

    swept = rs.swept
    kpis = [k for k in (picked_kpis or [k for k in DEFAULT_KPIS if k in rs.kpis][:6] or rs.kpis[:6]) if k in rs.kpis]
    head = html.bold(rs.folder.name) + html.text(
        f": {'table of runs' if rs.layout == 'sweep' else 'run folders'}, {len(rs.runs)} run{'s' if len(rs.runs) != 1 else ''}")
    if swept:
        head += html.text("; compared by " + ", ".join(f"{param_label(p)}: {rs.runs[p].nunique()} values" for p in swept))
    else:
        head += html.text("; no parameter varies between the runs")
    solara.HTML(unsafe_innerHTML=head, classes=["result-head"])
    for note in rs.notes:
        solara.Warning(note, dense=True)
    names = {kpi_label(k): k for k in rs.kpis}  # the select shows labels with units, never raw names
    solara.SelectMultiple("KPIs", values=[kpi_label(k) for k in kpis], all_values=list(names),
                          on_value=lambda picked: set_kpis([names[p] for p in picked]))
    if not kpis:
        return
    n_schemes = len(rs.runs.groupby(swept, dropna=False)) if swept else 1
    sampled = continuous(rs, compare_charts.MAX_LINE_POINTS)
    bars = n_schemes <= MAX_SCHEMES and not sampled
    if bars:
        SvgFigure(lambda: compare_charts.schemes_figure(rs, kpis, swept), [key, tuple(kpis)], ["schemes-figure"])
    elif sampled:
        solara.Info(f"A sampled design ({n_schemes} points): each run is drawn against its parameters below, "
                    "not as a bar per point.", classes=["sampled-design"])
    else:
        solara.Info(f"{n_schemes} schemes: too many to draw side by side; see them against a parameter below.")
    numeric = [p for p in swept if pd.api.types.is_numeric_dtype(rs.runs[p]) and not pd.api.types.is_bool_dtype(rs.runs[p])]
    # Against a parameter: only when one is numeric; named schemes alone are the bars above.
    if numeric or len(swept) > 1:
        x = x_param if x_param in swept else (numeric or swept)[0]
        others = [p for p in swept if p != x and rs.runs[p].nunique() <= len(compare_charts.COLOURS)]
        # One line per value of the other swept parameter, unless the user chose otherwise.
        group = group_param if group_param in others or group_param == "-" else (others[0] if others else "")
        group = "" if group == "-" else group
        with solara.Row(gap="10px"):
            plain = {param_label(p): p for p in swept}
            solara.Select("Against", values=list(plain), value=param_label(x), on_value=lambda v: set_x(plain[v]))
            lines = {"-": "-", **{param_label(p): p for p in others}}
            solara.Select("One line per", values=list(lines), value=param_label(group) if group else "-",
                          on_value=lambda v: set_group(lines[v]))
        shown, zoom = _zoom_and_lines(rs, x, group, x_range, set_range, hidden, set_hidden)
        SvgFigure(lambda: compare_charts.against_figure(shown, x, kpis, group or None),
                  [key, tuple(kpis), x, group, zoom, tuple(hidden)], ["against-figure"])
    if bars:
        many = int(rs.runs.groupby(swept, dropna=False).size().max()) > 1 if swept else len(rs.runs) > 1
        with solara.Details("Table of means ± 95 % interval" if many else "Table of runs", expand=False):
            solara.HTML(unsafe_innerHTML=_table(rs, swept, kpis), classes=["means-table"])
    sens = rs.sensitivity
    if sens is not None and len(sens):
        outputs = [k for k in dict.fromkeys(sens["kpi"].astype(str)) if k]
        which = kpis[0] if kpis[0] in outputs else (outputs[0] if outputs else None)
        solara.HTML(unsafe_innerHTML=html.heading("Sensitivity" + (f" of {kpi_label(which)}" if which else ""), 3))
        warning = sensitivity_warning(sens)
        if warning:
            solara.Warning(warning, classes=["sensitivity-warning"])
        SvgFigure(lambda: compare_charts.sensitivity_figure(sens, which), [key, which], ["sensitivity-figure"])
    elif rs.layout == "sweep" and "scheme" not in swept:
        solara.Text("No sensitivity indices here: `run.py report DIR` writes them for Sobol and Morris sweeps.",
                    style="font-size: 12px; color: #777;")
    pareto = solara.use_memo(lambda: load_pareto(rs.folder), [key])
    if pareto is not None:
        ParetoView(pareto, key)
    if len(rs.runs) == 1:
        solara.Info("One run: nothing to compare yet. Point the page at a sweep, or at a folder holding "
                    "several `run.py simulate --out` folders.")


def _zoom_and_lines(rs, x: str, group: str, x_range, set_range, hidden, set_hidden):
    """Controls under the "against" figure: a range of the parameter to zoom into (numeric
    parameters) and which lines to show (legend toggling); returns the runs to draw and the
    zoom in force."""
    runs = rs.runs
    zoom = None
    if pd.api.types.is_numeric_dtype(runs[x]) and not pd.api.types.is_bool_dtype(runs[x]) and runs[x].nunique() > 1:
        lo, hi = float(runs[x].min()), float(runs[x].max())
        zoom = x_range if x_range is not None and lo <= x_range[0] < x_range[1] <= hi else (lo, hi)
        solara.SliderRangeFloat(f"Zoom: {param_label(x)}", value=zoom, min=lo, max=hi, step=(hi - lo) / 100,
                                on_value=lambda v: set_range(tuple(v)))
        runs = runs[(runs[x] >= zoom[0] - 1e-12) & (runs[x] <= zoom[1] + 1e-12)]
    if group:
        values = [str(v) for v in dict.fromkeys(rs.runs[group])]
        solara.SelectMultiple("Lines shown", values=[v for v in values if v not in hidden], all_values=values,
                              on_value=lambda on: set_hidden(tuple(v for v in values if v not in on)),
                              classes=["lines-shown"])
        runs = runs[~runs[group].astype(str).isin(hidden)]
    if len(runs) == 0:  # nothing left: draw everything rather than an empty figure
        runs = rs.runs
    return dataclasses.replace(rs, runs=runs.reset_index(drop=True)), zoom


@solara.component
def ParetoView(pareto, key: str):
    """An optimisation folder's front: the schemes no other beats on every objective, drawn
    against the other candidates (hover a point for its levers), and as a table."""
    solara.HTML(unsafe_innerHTML=html.heading("Pareto front (run.py optimise)", 3))
    SvgFigure(lambda: compare_charts.pareto_figure(pareto.candidates, pareto.front, pareto.objectives, pareto.levers),
              [key], ["pareto-figure"])
    rows = [[r["scheme"], *(_lever(r[k]) for k in pareto.levers), *(f"{r[o]:,.4g}" for o in pareto.objectives)]
            for _, r in pareto.front.iterrows()]
    head = ["scheme", *(param_label(k) for k in pareto.levers),
            *(compare_charts._objective_label(o) for o in pareto.objectives)]
    with solara.Details(f"The {len(rows)} front schemes (each also a scheme file in schemes/)", expand=False):
        solara.HTML(unsafe_innerHTML=html.table(head, rows), classes=["pareto-table"])


def _lever(v) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


@solara.component
def ComparePage():
    root = results_root()
    reload, set_reload = solara.use_state(0)
    options = solara.use_memo(lambda: candidates(root), [str(root), reload])
    folder, set_folder = solara.use_state(str(options[0]) if options else str(root))
    typed, set_typed = solara.use_state("")

    def read():
        try:
            return load(Path(folder)), None
        except (ResultError, OSError, ValueError) as e:
            return None, str(e)

    rs, problem = solara.use_memo(read, [folder, reload])

    def type_path(v: str):
        set_typed(v)
        if v.strip():
            set_folder(str(Path(v.strip()).expanduser()))

    solara.Title("Ecopark: compare results")
    with solara.Column(gap="10px", classes=["ecopark-compare"]):
        solara.HTML(unsafe_innerHTML=html.heading("Compare results", 2) + html.para(html.text(
            "Incentive schemes side by side: KPI means over replicates with 95 % confidence intervals. "
            "Reads a sweep folder (results.parquet, and the sensitivity indices of `run.py report`), a "
            "`run.py compare` folder (runs.parquet) or a folder of `run.py simulate` outputs."),
            style="margin: 0; color: #555; font-size: 13px;"))
        with solara.Row(gap="10px", style="align-items: center; flex-wrap: wrap;"):
            if options:
                solara.Select("Result folder", values=[str(p) for p in options],
                              value=folder if folder in {str(p) for p in options} else None,
                              on_value=set_folder, classes=["folder-select"])
            solara.InputText("or a folder path", value=typed, continuous_update=False, on_value=type_path,
                             classes=["folder-input"])
            solara.Button("Reload", icon_name="mdi-refresh", on_click=lambda: set_reload(reload + 1))
        children = child_results(Path(folder)) if problem else []
        if rs is not None:
            ResultView(rs, key=f"{folder}#{reload}").key(f"{folder}#{reload}")
        elif children:  # a parent of result folders: list them, each a click away
            solara.HTML(unsafe_innerHTML=html.para(html.bold(Path(folder).name), html.text(
                f" holds {len(children)} result folder{'s' if len(children) != 1 else ''}; pick one:")),
                classes=["child-results-head"])
            with solara.Column(gap="2px", classes=["child-results"]):
                for child in children:
                    solara.Button(child.name, text=True, icon_name="mdi-folder-outline",
                                  on_click=lambda c=child: set_folder(str(c)), classes=["child-result"])
        elif not options and folder == str(root):
            solara.Info(f"No result folders under {root}. Run `uv run run.py simulate` or a sweep, or type a path.")
        else:
            solara.Error(problem)
