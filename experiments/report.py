"""The report of a sweep folder: statistics per parameter combination, sensitivity indices,
charts and an export for the EMA Workbench.

    python run.py report DIR          # writes DIR/report/ and prints a summary

The runs themselves load in pandas with one line, one row per run (run_id, point, replicate,
seed, one column per swept parameter by its dotted path, one per KPI, status, error):

    df = pd.read_parquet("DIR/results.parquet")

DIR/report/ is replaced as a whole each time, and holds:

    report.txt             the summary that `python run.py report` prints
    summary.csv            one row per design point and KPI: point, the swept parameters, kpi,
                           n (ok runs with a value), failed (runs of the point that raised),
                           mean, std, ci_low, ci_high (95 %, Student t)
    failures.csv           run_id, point, replicate, seed and the first line of each error
    sensitivity.csv        sobol and morris designs: kpi, parameter, index, value, with index
                           S1, S1_conf, ST, ST_conf (Sobol) or mu, mu_star, mu_star_conf, sigma (Morris)
    kpi_vs_<param>.png     the main KPIs against each swept parameter
    ema_results.tar.gz     the ok runs in the EMA Workbench's save_results layout
    ema_experiments.csv    the same experiments and outcomes as plain CSV, each with run_id first
    ema_outcomes.csv

Failed runs are counted and listed, never averaged. Every design point is its own parameter
combination: a Morris design can visit the same point twice, and then the two stay apart.

Sensitivity indices follow the sampling in experiments/sweep.py: Sobol first and total order
indices without second order (Saltelli 2002; Saltelli et al. 2010), Morris elementary effects on
SALib's default 4 levels (Morris 1991; Campolongo, Cariboni & Saltelli 2007); mu and mu_star
are in the KPI's unit per the parameter's whole range (SALib's unscaled effects), so parameters of
different units compare. Each KPI is first averaged over the replicates of a point, so the indices
describe the expected KPI (a point some of whose replicates failed counts with the others); the
spread between seeds is in summary.csv.

EMA Workbench export (Kwakkel 2017). The layout is the one `ema_workbench.util.save_results`
writes since version 2.1 and that `load_results` of ema_workbench 3.0.0 reads (checked against
3.0.0): a gzipped tar of

    experiments.csv        header row, no index; one row per experiment: the swept parameters,
                           `seed`, and the workbench's `scenario` (the design point), `policy`
                           ("none": the workbench's own "None" for no levers reads back from
                           CSV as missing) and `model` ("ecopark")
    <kpi>.cls              one per KPI (a ScalarOutcome): one value a line, no header
    metadata.json          {"version": 0.1, "outcomes": [["ScalarOutcome", kpi, "<kpi>.cls"], ...],
                            "experiments": {column: dtype name}}

One experiment is one ok run, in run_id order; `seed` is a column, so the workbench's feature
scoring can weigh chance against the parameters. The older layout (2.0 and before, with
"experiments metadata.csv" and "outcomes metadata.csv") is not written.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.atomic import swap_into_place
from experiments.problems import InputError, nearest

MAIN_KPIS = ("gains_from_trade_eur", "savings_vs_baseline_eur", "co2_avoided_t", "market_efficiency")
TABLE_ROWS = 40       # rows of the per-point table in the printed summary
LISTED_FAILURES = 20  # failed runs listed in the printed summary (all are in failures.csv)

# Every KPI of a run (experiments/runner.py, summary["kpis"]) with its label and unit, in the
# order the report shows them; tests/test_report.py checks that they name the same KPIs, so a
# new KPI gets a label and a unit here before it gets into a report.
KPI_LABELS = {
    "gains_from_trade_eur": ("Gains from trade (private: at reservation prices, taxes and subsidies in)", "EUR"),
    "exchange_surplus_eur": ("Social surplus of the exchanges (real costs avoided, no taxes or subsidies)", "EUR"),
    "transfers_eur": ("Transfers in the gains (taxes avoided, subsidies earned)", "EUR"),
    "transfers_carbon_tax_eur": ("Transfers: carbon tax avoided", "EUR"),
    "transfers_landfill_tax_eur": ("Transfers: landfill tax avoided", "EUR"),
    "transfers_virgin_tax_eur": ("Transfers: virgin-material tax avoided", "EUR"),
    "transfers_exchange_subsidy_eur": ("Transfers: exchange subsidy earned", "EUR"),
    "link_costs_eur": ("Cost of the links (pipe annuities, search)", "EUR"),
    "social_surplus_eur": ("Social surplus (exchanges less the links' cost)", "EUR"),
    "co2_value_eur": ("Value of the CO2 avoided at the social cost of carbon", "EUR"),
    "traders_gains_eur": ("Gains the traders keep (gains less the mechanism's budget)", "EUR"),
    "traders_share": ("Traders' share of the gains", "share"),
    "savings_vs_baseline_eur": ("Savings against no exchanges", "EUR"),
    "co2_avoided_t": ("CO2 avoided", "t CO2"),
    "active_links": ("Active links", "count"),
    "symbiosis_share": ("Companies in a symbiosis", "share"),
    "trades": ("Trades", "count"),
    "profit_eur": ("Profit", "EUR"),
    "baseline_profit_eur": ("Profit without exchanges", "EUR"),
    "co2_t": ("CO2 emitted", "t CO2"),
    "baseline_co2_t": ("CO2 emitted without exchanges", "t CO2"),
    "taxes_eur": ("Taxes paid", "EUR"),
    "subsidies_eur": ("Subsidies received", "EUR"),
    "government_net_cost_eur": ("Government net cost (subsidies less taxes)", "EUR"),
    "baseline_taxes_eur": ("Taxes paid without exchanges", "EUR"),
    "optimal_gains_eur": ("Optimal gains from trade (each unit once)", "EUR"),
    "optimal_exchange_surplus_eur": ("Optimal exchange surplus (real costs, each unit once)", "EUR"),
    "market_efficiency": ("Market efficiency", "realised / optimal exchange surplus"),
    "market_efficiency_private": ("Market efficiency, private basis", "realised / optimal gains"),
    "mechanism_budget_eur": ("Mechanism budget", "EUR"),
    "density": ("Network density (company pairs exchanging)", "share"),
    "contracts_signed": ("Contracts signed", "count"),
    "deliveries_kept": ("Contract deliveries kept", "count"),
    "deliveries_breached": ("Contract deliveries breached", "count"),
    "penalties_eur": ("Breach penalties paid", "EUR"),
    "pipes_built": ("Pipes built", "count"),
    "investment_eur": ("Investment in pipes", "EUR"),
    "capital_cost_eur": ("Pipe annuities charged", "EUR"),
    "search_cost_eur": ("Search for partners", "EUR"),
    "mean_sv_weight": ("Mean shared-vision weight", "weight"),
    "cooperative_share": ("Cooperative share (weight >= 0.5)", "share"),
    "gini_benefits": ("Gini of companies' savings", "Gini"),
    "lost_to_failures_eur": ("Output lost to failures and stops (sales value)", "EUR"),
    "lost_to_cascades_eur": ("Output lost to cascades (sales value)", "EUR"),
    "failures": ("Failures", "count"),
    "maintenance_stops": ("Maintenance stops", "count"),
    "shocks": ("Shocks (outages, failures, stops)", "count"),
    "max_cascade_size": ("Largest cascade", "companies"),
    "max_cascade_depth": ("Deepest cascade", "rounds"),
    "mean_recovery_steps": ("Mean time to recover 95 % of gains", "steps"),
    "output_eur": ("Value of the park's output", "EUR"),
    "options_taken": ("Technology options taken", "count"),
    "entries": ("Companies that entered", "count"),
    "exits": ("Companies that closed", "count"),
    "capex_eur": ("Capital spent on options and entries", "EUR"),
    "project_charges_eur": ("Fixed opex of processes in service, capital charges of options and entries", "EUR"),
    "baseline_output_eur": ("Value of the park's output without exchanges", "EUR"),
    "co2_from_output_change_t": ("CO2 from making more than without exchanges", "t CO2"),
    "co2_avoided_same_output_t": ("CO2 avoided by exchange at the same output", "t CO2"),
    "value_of_synchronisation_eur": ("Value of synchronised planning (plan less own decisions)", "EUR"),
    "synchronised_profit_eur": ("Profit under the synchronised plan", "EUR"),
    "decentralised_profit_eur": ("Profit under the companies' own decisions", "EUR"),
    "side_payments_eur": ("Side payments between companies (synchronised)", "EUR"),
    "operator_guarantee_eur": ("Operator's guarantee paid (synchronised)", "EUR"),
}
# Units of the parameters, from market/policy.py; a key not here is labelled by its name alone.
PARAMETER_UNITS = {
    "policy.carbon_tax": "EUR / t CO2",
    "policy.landfill_tax": "EUR / unit landfilled",
    "policy.virgin_tax": "EUR / unit of virgin material",
    "policy.exchange_subsidy": "EUR / unit exchanged",
    "policy.investment_subsidy": "share of pipe investment",
    "policy.information": "level (0 partners only, 1 platform)",
    "policy.shared_vision": "weight", "policy.shared_vision_spread": "weight",
    "policy.shared_vision_co2_value": "EUR / t CO2",
    "market.strategies.truthful": "weight", "market.strategies.zic": "weight",
    "market.strategies.ziu": "weight", "market.strategies.zip": "weight",
    "market.strategies.roth_erev": "weight", "market.tactics.linear": "weight",
    "market.tactics.boulware": "weight", "market.tactics.conceder": "weight",
    "production.pass_through": "share of the sector rate",
}


@dataclass(frozen=True)
class SweepResults:
    """A sweep folder as read: its manifest and runs, and which columns are what."""

    folder: Path
    manifest: dict[str, Any]
    runs: pd.DataFrame
    parameters: tuple[str, ...]   # grid axes first, then ranges, as in experiments/sweep.py
    ranges: tuple[str, ...]
    kpis: tuple[str, ...]

    @property
    def ok(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "ok"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != "ok"]

    @property
    def expected_points(self) -> int:
        return int(self.manifest.get("runs", 0)) // max(1, int(self.manifest.get("replicates", 1)))


def load(folder: Path) -> SweepResults:
    """Read DIR/manifest.json and DIR/results.parquet, or say what to run first."""
    folder = Path(folder)
    run_first = f"run `python run.py sweep FILE --out {folder}` first"
    if not folder.is_dir():
        raise InputError([f"report {folder}: no such folder: {run_first}"])
    manifest_path, results_path = folder / "manifest.json", folder / "results.parquet"
    if not manifest_path.exists():
        raise InputError([f"report {folder}: not a sweep folder (no manifest.json): {run_first}"])
    if not results_path.exists():
        raise InputError([f"report {folder}: no results.parquet: the sweep has not finished; continue it with "
                          f"`python run.py sweep FILE --out {folder} --resume`"])
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError([f"report {manifest_path}: not valid JSON ({e}): {run_first} into a new folder"]) from None
    runs = pd.read_parquet(results_path)
    if runs.empty:
        raise InputError([f"report {folder}: results.parquet holds no finished run: continue the sweep with "
                          f"`python run.py sweep FILE --out {folder} --resume`"])
    axes = tuple(manifest.get("axes", {}))
    ranges = tuple(manifest.get("ranges", {}))
    parameters = axes + ranges
    missing = [c for c in ("run_id", "point", "status", *parameters) if c not in runs.columns]
    if missing:
        raise InputError([f"report {results_path}: no column {missing[0]!r}, which the sweep's manifest.json "
                          f"needs: the two files are not of one sweep; {run_first} into a new folder"])
    runs = runs.sort_values("run_id").reset_index(drop=True)
    if "error" not in runs.columns:
        runs["error"] = ""
    # The KPIs by name, not "every other numeric column": a run also records its wall time,
    # start time and memory, which are no outcome to average or export.
    kpis = tuple(k for k in KPI_LABELS if k in runs.columns)
    return SweepResults(folder, manifest, runs, parameters, ranges, kpis)


def chart_kpis(text: str | None) -> tuple[str, ...]:
    """The KPIs named in `--kpis a,b,c` (MAIN_KPIS when None), each checked against KPI_LABELS."""
    if text is None:
        return MAIN_KPIS
    names = tuple(k.strip() for k in text.split(",") if k.strip())
    problems = []
    for k in names:
        if k not in KPI_LABELS:
            guess = nearest(k, KPI_LABELS)
            problems.append(f"--kpis {k}: unknown KPI" + (f" (did you mean '{guess}'?)" if guess else "")
                            + f"; the KPIs are {', '.join(KPI_LABELS)}")
    if not names:
        problems.append("--kpis: name at least one KPI, e.g. --kpis output_eur,co2_avoided_t")
    if problems:
        raise InputError(problems)
    return names


def write_report(folder: Path, kpis: tuple[str, ...] = MAIN_KPIS) -> str:
    """Write DIR/report/ (see the module docstring) and return a short summary to print;
    `kpis` are the KPIs charted against each parameter."""
    res = load(folder)
    out = res.folder / "report"
    tmp = Path(tempfile.mkdtemp(prefix=".report.partial-", dir=res.folder))
    # mkdtemp makes it 0700; the report is as readable as the sweep folder it sits in.
    os.chmod(tmp, res.folder.stat().st_mode & 0o777)
    try:
        summary = summarise(res)
        summary.to_csv(tmp / "summary.csv", index=False)
        failures(res).to_csv(tmp / "failures.csv", index=False)
        sens, notes = sensitivity(res)
        if sens is not None:
            sens.to_csv(tmp / "sensitivity.csv", index=False)
        charts = write_charts(res, summary, tmp, kpis)
        write_ema(res, tmp)
        text = render(res, summary, sens, notes, charts, out)
        (tmp / "report.txt").write_text(text + "\n", encoding="utf-8")
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return text


# --- statistics -------------------------------------------------------------------------------

def ci_half_width(std: np.ndarray, n: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Half-width of the Student t confidence interval of a mean; NaN below two values."""
    from scipy import stats

    std, n = np.asarray(std, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + level / 2, n - 1) * std / np.sqrt(n)
    return np.where(n >= 2, half, np.nan)


def summarise(res: SweepResults) -> pd.DataFrame:
    """One row per design point and KPI: n, failed, mean, std and the 95 % interval of the ok runs."""
    points = np.sort(res.runs["point"].unique())
    values = res.runs.groupby("point")[list(res.parameters)].first().reindex(points)
    failed = res.failed.groupby("point").size().reindex(points, fill_value=0).to_numpy()
    kpis = list(res.kpis)
    g = res.ok.groupby("point")[kpis]
    n, mean, std = (f.reindex(points).to_numpy(float) for f in (g.count(), g.mean(), g.std(ddof=1)))
    n = np.nan_to_num(n).astype(int)
    half = ci_half_width(std, n)
    k = len(kpis)
    out = pd.DataFrame({"point": np.repeat(points, k)})
    for p in res.parameters:
        out[p] = np.repeat(values[p].to_numpy(), k)
    out["kpi"] = np.tile(kpis, len(points)) if k else pd.Series([], dtype=object)
    out["n"] = n.ravel()
    out["failed"] = np.repeat(failed, k)
    out["mean"], out["std"] = mean.ravel(), std.ravel()
    out["ci_low"], out["ci_high"] = (mean - half).ravel(), (mean + half).ravel()
    return out


def failures(res: SweepResults) -> pd.DataFrame:
    f = res.failed
    return pd.DataFrame({"run_id": f["run_id"], "point": f["point"], "replicate": f.get("replicate"),
                         "seed": f.get("seed"), "error": [_first_line(e) for e in f["error"]]})


def _first_line(error: Any) -> str:
    lines = str(error or "").strip().splitlines()
    return lines[0] if lines else "(no message)"


# --- sensitivity ------------------------------------------------------------------------------

def sensitivity(res: SweepResults) -> tuple[pd.DataFrame | None, list[str]]:
    """Sobol or Morris indices of each KPI, long format, and notes on the KPIs left out."""
    design = res.manifest.get("design")
    if design not in ("sobol", "morris"):
        return None, []
    names = list(res.ranges)
    bounds = [list(map(float, res.manifest["ranges"][k])) for k in names]
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    n_points = res.expected_points
    points = np.arange(n_points)
    notes: list[str] = []
    # X as the runs had it: a failed run still records its parameters, so only a point never
    # run (an unfinished sweep) lacks one.
    x = res.runs.groupby("point")[names].first().reindex(points)
    if x.isna().any(axis=None):
        missing = int(x.isna().any(axis=1).sum())
        return None, [f"no {design} indices: {missing} of {n_points} design points were never run; finish the "
                      f"sweep with `python run.py sweep FILE --out {res.folder} --resume`"]
    # Saltelli's sample comes in blocks of D + 2 rows, a Morris trajectory has D + 1.
    block = len(names) + 2 if design == "sobol" else len(names) + 1
    if n_points < block or n_points % block:
        return None, [f"no {design} indices: {n_points} points is not a multiple of {block}, as SALib's "
                      f"{design} sample of {len(names)} parameters would be"]
    means = res.ok.groupby("point")[list(res.kpis)].mean().reindex(points)
    no_ok_run = set(points) - set(res.ok["point"])
    seed = int(res.manifest.get("root_seed", 0))
    rows = []
    for kpi in res.kpis:
        y = means[kpi].to_numpy(float)
        if np.isnan(y).any():
            gone = np.flatnonzero(np.isnan(y))
            failed = [p for p in gone if p in no_ok_run]
            why = (f"every run failed at {len(failed)} of {n_points} points (e.g. point {failed[0]})" if failed else
                   f"it has no value at {len(gone)} of {n_points} points (e.g. point {gone[0]})")
            notes.append(f"{kpi}: indices cannot be computed: {why}")
            continue
        if np.ptp(y) == 0:
            notes.append(f"{kpi}: constant ({y[0]:g}) over the design: no indices")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # SALib divides by tiny variances
            if design == "sobol":
                from SALib.analyze import sobol

                si = sobol.analyze(problem, y, calc_second_order=False, seed=seed)
                indices = ("S1", "S1_conf", "ST", "ST_conf")
            else:
                from SALib.analyze import morris

                si = morris.analyze(problem, x.to_numpy(float), y, seed=seed)
                indices = ("mu", "mu_star", "mu_star_conf", "sigma")
        for i, name in enumerate(names):
            rows += [(kpi, name, ix, float(np.asarray(si[ix])[i])) for ix in indices]
    return pd.DataFrame(rows, columns=["kpi", "parameter", "index", "value"]), notes


# --- charts -----------------------------------------------------------------------------------

def safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_")


def parameter_label(key: str) -> str:
    unit = PARAMETER_UNITS.get(key)
    return f"{key} ({unit})" if unit else key


def write_charts(res: SweepResults, summary: pd.DataFrame, out: Path, chosen: tuple[str, ...] = MAIN_KPIS
                 ) -> list[Path]:
    """kpi_vs_<parameter>.png for each swept parameter: mean and 95 % CI against a grid axis,
    one dot per design point against a sampled range."""
    kpis = [k for k in chosen if k in res.kpis]
    if not kpis or res.ok.empty:
        return []
    written = []
    for key in res.parameters:
        path = out / f"kpi_vs_{safe_name(key)}.png"
        _chart(res, summary, key, kpis, path)
        written.append(path)
    return written


def _chart(res: SweepResults, summary: pd.DataFrame, key: str, kpis: list[str], path: Path) -> None:
    # The object-oriented API with an explicit Agg canvas: no pyplot, so no global backend or
    # figure registry is touched in a notebook or the Solara app that imports this module.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    sampled = key in res.ranges
    cols = 2 if len(kpis) > 1 else 1
    rows = math.ceil(len(kpis) / cols)
    height = 3.9 * rows + 0.8
    fig = Figure(figsize=(5.2 * cols, height))
    FigureCanvasAgg(fig)
    # Fixed margins rather than a layout engine: the engine doubles the time of a chart, and the
    # labels here are short (units only, engineering-notation ticks).
    fig.subplots_adjust(left=0.1 if cols == 2 else 0.16, right=0.98, bottom=0.5 / height + 0.03,
                        top=1 - 0.8 / height, wspace=0.3, hspace=0.38)
    name = res.manifest.get("name", res.folder.name)
    reps = int(res.manifest.get("replicates", 1))
    how = ("one dot per design point: the mean over its replicates" if sampled
           else f"mean and 95 % confidence interval of the runs at each value ({reps} replicates a point)")
    fig.suptitle(f"{name}: KPIs against {key}\n{how}", fontsize=11)
    for i, kpi in enumerate(kpis):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_title(KPI_LABELS.get(kpi, (kpi, ""))[0], fontsize=10)
        ax.set_xlabel(parameter_label(key))
        ax.set_ylabel(KPI_LABELS.get(kpi, (kpi, ""))[1] or kpi)
        ax.grid(True, alpha=0.3)
        if res.ok[kpi].isna().all():
            why = "\n(nothing could be gained)" if kpi == "market_efficiency" else ""
            ax.text(0.5, 0.5, f"no value in any ok run{why}", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
            continue
        if KPI_LABELS.get(kpi, ("", ""))[1] in ("EUR", "t CO2"):
            ax.yaxis.set_major_formatter(EngFormatter(sep=" "))
        if sampled:
            means = summary[(summary["kpi"] == kpi) & (summary["n"] > 0)]
            ax.scatter(means[key], means["mean"], s=18, alpha=0.7, color="C0", edgecolors="none")
        else:
            _grid_lines(ax, res, key, kpi)
    fig.savefig(path, dpi=110)


def _grid_lines(ax: Any, res: SweepResults, key: str, kpi: str) -> None:
    """Mean and 95 % CI of `kpi` at each value of the grid axis `key`: one line for each
    combination of the other grid axes when there are a few, else pooled over them."""
    others = [k for k in res.parameters if k != key and k not in res.ranges]
    ok = res.ok.dropna(subset=[kpi])
    combos = ok.groupby(others, dropna=False).ngroups if others else 1
    split = others if 1 < combos <= 6 else []
    values = list(dict.fromkeys(res.runs[key]))  # the axis's order of values, as in the sweep file
    numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)) for v in values)
    if numeric:
        values.sort()
    position = {v: (v if numeric else i) for i, v in enumerate(values)}
    groups = list(ok.groupby(split, dropna=False)) if split else [((), ok)]
    for j, (label, part) in enumerate(groups):
        g = part.groupby(key)[kpi]
        stats = pd.DataFrame({"n": g.count(), "mean": g.mean(), "std": g.std(ddof=1)})
        stats = stats.reindex([v for v in values if v in stats.index])
        # Categories sit at arbitrary positions, so the lines step aside to show every bar.
        dodge = 0 if numeric else 0.08 * (j - (len(groups) - 1) / 2)
        x = [position[v] + dodge for v in stats.index]
        half = ci_half_width(stats["std"].to_numpy(), stats["n"].to_numpy())
        text = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(split, np.atleast_1d(label))) or None
        ax.errorbar(x, stats["mean"], yerr=np.nan_to_num(half), marker="o", markersize=4, capsize=4,
                    linestyle="-" if numeric else "none", label=text)
    if not numeric:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlim(-0.5, len(values) - 0.5)
    if split:
        ax.legend(fontsize=8)


# --- EMA Workbench ----------------------------------------------------------------------------

def ema_tables(res: SweepResults) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The workbench's experiments and outcomes of the ok runs, row for row, in run_id order."""
    ok = res.ok
    exp = pd.DataFrame(index=ok.index)
    for p in res.parameters:
        col = ok[p]
        numeric = pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
        exp[p] = col if numeric else col.astype(str).astype("category")  # as the workbench stores categoricals
    exp["seed"] = ok["seed"].astype("int64")
    exp["scenario"] = ok["point"].astype("category")
    exp["policy"] = pd.Categorical(["none"] * len(ok))
    exp["model"] = pd.Categorical(["ecopark"] * len(ok))
    outcomes = ok[list(res.kpis)].astype(float)
    return exp.reset_index(drop=True), outcomes.reset_index(drop=True)


def write_ema(res: SweepResults, out: Path) -> Path:
    """ema_results.tar.gz in save_results' layout (module docstring), and the same as plain CSV."""
    exp, outcomes = ema_tables(res)
    run_ids = res.ok["run_id"].reset_index(drop=True)
    exp.assign(run_id=run_ids)[["run_id", *exp.columns]].to_csv(out / "ema_experiments.csv", index=False)
    outcomes.assign(run_id=run_ids)[["run_id", *outcomes.columns]].to_csv(out / "ema_outcomes.csv", index=False)
    files: list[tuple[str, str]] = [("experiments.csv", exp.to_csv(index=False))]
    listed = []
    for kpi in outcomes.columns:
        filename = f"{kpi}.cls"
        files.append((filename, outcomes[[kpi]].to_csv(header=False, index=False)))
        listed.append(["ScalarOutcome", kpi, filename])
    metadata = {"version": 0.1, "outcomes": listed,
                "experiments": {k: v.name for k, v in exp.dtypes.to_dict().items()}}
    files.append(("metadata.json", json.dumps(metadata)))
    path = out / "ema_results.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# --- the printed summary ----------------------------------------------------------------------

def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def render(res: SweepResults, summary: pd.DataFrame, sens: pd.DataFrame | None, notes: list[str],
           charts: list[Path], out: Path) -> str:
    m = res.manifest
    design = m.get("design", "?")
    n_ok, n_failed = len(res.ok), len(res.failed)
    expected = int(m.get("runs", len(res.runs)))
    lines = [f"Sweep '{m.get('name', res.folder.name)}' ({design}): {res.expected_points} points x "
             f"{m.get('replicates', '?')} replicate(s); {n_ok} ok, {n_failed} failed"
             + (f", {expected - len(res.runs)} of {expected} not run (continue with --resume)"
                if len(res.runs) < expected else "")]
    lines.append(f'  runs in pandas: pd.read_parquet("{res.folder / "results.parquet"}")')
    main = [k for k in MAIN_KPIS if k in res.kpis]
    if main and not res.ranges:
        lines += ["", "Mean ± 95 % CI half-width per combination (n = ok runs):"]
        lines += _grid_table(res, summary, main)
    elif main:
        lines += ["", "Point means across the design (min / mean / max):"]
        for kpi in main:
            s = summary[(summary["kpi"] == kpi) & (summary["n"] > 0)]["mean"]
            lines.append(f"  {kpi:<26} {_fmt(s.min())} / {_fmt(s.mean())} / {_fmt(s.max())}")
    if sens is not None:
        key = "ST" if design == "sobol" else "mu_star"
        lines += ["", f"Sensitivity ({'Sobol total order ST' if design == 'sobol' else 'Morris mu*'}; all in "
                      f"sensitivity.csv):"]
        for kpi in main:
            s = sens[(sens["kpi"] == kpi) & (sens["index"] == key)].sort_values("value", ascending=False)
            if len(s):
                lines.append(f"  {kpi:<26} " + ", ".join(f"{p} {_fmt(v)}" for p, v in zip(s["parameter"], s["value"])))
    if notes:
        lines += ["", "Notes:"] + [f"  {n}" for n in notes]
    if n_failed:
        lines += ["", f"Failed runs ({n_failed}, left out of every statistic; all in failures.csv):"]
        f = failures(res)
        lines += [f"  {r} {e}" for r, e in zip(f["run_id"][:LISTED_FAILURES], f["error"][:LISTED_FAILURES])]
        if n_failed > LISTED_FAILURES:
            lines.append(f"  ... and {n_failed - LISTED_FAILURES} more")
    written = ["report.txt", "summary.csv", "failures.csv"] + (["sensitivity.csv"] if sens is not None else [])
    written += [p.name for p in charts] + ["ema_results.tar.gz", "ema_experiments.csv", "ema_outcomes.csv"]
    lines += ["", f"Written to {out}/: " + ", ".join(written)]
    return "\n".join(lines)


def _grid_table(res: SweepResults, summary: pd.DataFrame, kpis: list[str]) -> list[str]:
    values = res.runs.groupby("point")[list(res.parameters)].first()
    n_ok = res.ok.groupby("point").size()
    stats = summary.set_index(["point", "kpi"])
    table: list[list[str]] = [[*res.parameters, "n", *kpis]]
    points = list(values.index)
    for point in points[:TABLE_ROWS]:
        cells = [str(values.at[point, p]) for p in res.parameters] + [str(int(n_ok.get(point, 0)))]
        for kpi in kpis:
            r = stats.loc[(point, kpi)]
            half = r["ci_high"] - r["mean"]
            cells.append(_fmt(r["mean"]) + (f" ± {_fmt(half)}" if np.isfinite(half) else ""))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = ["  " + "  ".join(c.ljust(w) if i < len(res.parameters) else c.rjust(w)
                            for i, (c, w) in enumerate(zip(r, widths))) for r in table]
    if len(points) > TABLE_ROWS:
        out.append(f"  ... {len(points) - TABLE_ROWS} more combinations in summary.csv")
    return out
