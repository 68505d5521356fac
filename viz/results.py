"""Reading result folders for the comparison page, whichever layout they have.

Two layouts are read:

- a sweep folder: `results.parquet` (or `runs.parquet`, as `run.py compare` writes it, with a
  `scheme` column naming each run's incentive scheme), one row per run (`run_id`, parameter columns named by
  dotted path such as `policy.carbon_tax`, `replicate`, `seed`, one column per KPI named either
  `kpis.NAME` or plain `NAME`, `status`, `error`, `wall_s`), and optionally `sensitivity.csv`
  (parameter, index kind, value, confidence; `report/sensitivity.csv` as `run.py report`
  writes it is read too, with its confidences as `S1_conf`-style rows);
- a folder of `run.py simulate` outputs: subfolders each with `summary.json` (KPIs under
  `kpis`) and `config.toml` (the resolved run config under `[run]`), or one such folder itself.

Either way `load` returns a `ResultSet`: one row per successful run, parameters as dotted
paths, KPIs by their plain names. Runs that differ only in seed or replicate are replicates of
one scheme; `summarise` gives each scheme's KPI means with 95 % confidence intervals.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from viz.labels import REPORT_KPIS, kpi_label, setting_text

SWEEP_FILE = "results.parquet"
SWEEP_FILES = (SWEEP_FILE, "runs.parquet")  # runs.parquet: what `run.py compare` writes
SENSITIVITY_FILE = "sensitivity.csv"
META = ("run_id", "point", "replicate", "seed", "status", "error", "wall_s", "folder", "started_unix")
META_PREFIXES = ("worker_",)  # bookkeeping of the executor (worker_pid, worker_rss_mb)
FAILED = {"error", "failed", "fail", "failure", "crashed", "timeout", "timed_out", "cancelled", "killed"}
# KPIs in the order the page offers them (summary.json `kpis`); others found are appended.
KPI_ORDER = ("gains_from_trade_eur", "social_surplus_eur", "transfers_eur", "co2_value_eur", "savings_vs_baseline_eur",
             "co2_avoided_t", "government_net_cost_eur",
             "market_efficiency", "market_efficiency_private", "subsidies_eur",
             "symbiosis_share", "active_links", "trades", "optimal_gains_eur", "optimal_exchange_surplus_eur",
             "mechanism_budget_eur",
             "profit_eur", "baseline_profit_eur", "co2_t", "baseline_co2_t", "taxes_eur", "baseline_taxes_eur")
# KPI names with their units, from the pages' one table.
KPI_LABELS = {k: kpi_label(k) for k in dict.fromkeys([*KPI_ORDER, *REPORT_KPIS])}
# Parameters a run config always has but a comparison never sweeps.
NOT_SCHEME = ("seed", "replicate", "run_id")


class ResultError(Exception):
    """A folder that holds no results the page can read; the message says what was expected."""


@dataclass
class ResultSet:
    folder: Path
    layout: str  # "sweep" | "runs"
    runs: pd.DataFrame  # one row per successful run: parameter columns, KPI columns, META present
    params: list[str]  # parameter columns (dotted paths), swept or not
    kpis: list[str]
    failed: int = 0
    sensitivity: pd.DataFrame | None = None  # columns: parameter, kind, value, conf (+ kpi if given)
    notes: list[str] = field(default_factory=list)

    @property
    def swept(self) -> list[str]:
        """Parameters that take more than one value across the runs (seeds excluded). A named
        `scheme` column stands for all of them: each scheme sets its own keys, the others are
        empty in its rows."""
        varied = [p for p in self.params if p not in NOT_SCHEME and self.runs[p].nunique(dropna=False) > 1]
        return ["scheme"] if "scheme" in varied else varied


def _kpi_name(col: str) -> str:
    return col[len("kpis."):] if col.startswith("kpis.") else col


def _order(kpis: list[str]) -> list[str]:
    known = [k for k in KPI_ORDER if k in kpis]
    return known + sorted(k for k in kpis if k not in known)


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            out[f"{prefix}{k}"] = repr(v)  # e.g. the outages of a run: one comparable value
        else:
            out[f"{prefix}{k}"] = v
    return out


def is_result_folder(path: Path) -> bool:
    path = Path(path)
    if any((path / f).is_file() for f in SWEEP_FILES) or (path / "summary.json").is_file():
        return True
    try:
        return any((p / "summary.json").is_file() for p in path.iterdir() if p.is_dir())
    except OSError:
        return False


def candidates(root: Path) -> list[Path]:
    """Result folders under `root` (itself included), sweeps first, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in [root, *sorted(q for q in root.iterdir() if q.is_dir() and not q.name.startswith("."))]
             if is_result_folder(p)]
    return sorted(found, key=lambda p: (not any((p / f).is_file() for f in SWEEP_FILES), -p.stat().st_mtime))


def load(folder: Path) -> ResultSet:
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultError(f"{folder}: no such folder")
    table = next((folder / f for f in SWEEP_FILES if (folder / f).is_file()), None)
    if table is not None:
        rs = _load_sweep(table)
    else:
        rs = _load_runs(folder)
    for place in (folder / SENSITIVITY_FILE, folder / "report" / SENSITIVITY_FILE):
        if place.is_file():
            rs.sensitivity = load_sensitivity(place)
            break
    return rs


def _load_sweep(table: Path) -> ResultSet:
    folder = table.parent
    try:
        df = pd.read_parquet(table)
    except Exception as e:  # a corrupt or half-written file: say which and why
        raise ResultError(f"{table}: cannot be read ({e})") from None
    failed = np.zeros(len(df), dtype=bool)
    if "status" in df:
        failed |= df["status"].astype(str).str.strip().str.lower().isin(FAILED).to_numpy()
    if "error" in df:
        err = df["error"]
        failed |= (err.notna() & (err.astype(str).str.strip() != "")).to_numpy()
    ok = df[~failed].copy()
    ok.columns = [_kpi_name(c) for c in ok.columns]
    params, kpis = [], []
    for c in ok.columns:
        if c in META or c.startswith(META_PREFIXES):
            continue
        if "." in c or c in ("scenario", "steps"):
            params.append(c)
        elif pd.api.types.is_numeric_dtype(ok[c]) or ok[c].isna().all():
            kpis.append(c)
        else:
            params.append(c)  # a named scheme, say: text is never a KPI
    for c in kpis:
        ok[c] = pd.to_numeric(ok[c], errors="coerce")
    notes = []
    if failed.any():
        notes.append(f"{int(failed.sum())} of {len(df)} runs failed and are left out")
    return ResultSet(folder, "sweep", ok.reset_index(drop=True), params, _order(kpis), int(failed.sum()), notes=notes)


def _read_run(path: Path) -> dict[str, object]:
    summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    row: dict[str, object] = {}
    config = path / "config.toml"
    if config.is_file():
        row.update(_flatten(tomllib.loads(config.read_text(encoding="utf-8")).get("run", {})))
    else:  # an older or hand-made folder: the summary names a few settings
        row.update({k: summary[k] for k in ("scenario", "steps", "seed") if k in summary})
        if "mechanism" in summary:
            row["market.mechanism"] = summary["mechanism"]
    for k, v in (summary.get("kpis") or {}).items():
        row[f"kpis.{k}"] = np.nan if v is None else v
    row["folder"] = path.name
    return row


def _load_runs(folder: Path) -> ResultSet:
    paths = [folder] if (folder / "summary.json").is_file() else sorted(
        p for p in folder.iterdir() if p.is_dir() and (p / "summary.json").is_file())
    if not paths:
        raise ResultError(f"{folder}: no {' or '.join(SWEEP_FILES)} and no run folders (subfolders with summary.json); "
                          f"point the page at a sweep folder or at a folder of `run.py simulate --out` outputs")
    rows, notes = [], []
    for p in paths:
        try:
            rows.append(_read_run(p))
        except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
            notes.append(f"{p.name}: skipped ({e})")
    if not rows:
        raise ResultError(f"{folder}: no readable run ({'; '.join(notes)})")
    df = pd.DataFrame(rows)
    kpis = [_kpi_name(c) for c in df.columns if c.startswith("kpis.")]
    df.columns = [_kpi_name(c) for c in df.columns]
    for c in kpis:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    params = [c for c in df.columns if c not in kpis and c not in META]
    return ResultSet(folder, "runs", df, params, _order(kpis), 0, notes=notes)


def load_sensitivity(path: Path) -> pd.DataFrame | None:
    """`sensitivity.csv` with its columns found by name, whatever their exact spelling:
    parameter (param, name, factor), kind (index, index_kind, indice, method), value (estimate,
    si), conf (confidence, ci, interval); an output/kpi column is kept if present. A confidence
    given as its own row (kind `S1_conf` beside `S1`) is moved beside its index."""
    if not Path(path).is_file():
        return None
    df = pd.read_csv(path)
    cols = {c: c.strip().lower().replace(" ", "_") for c in df.columns}
    want = {
        "parameter": ("parameter", "param", "name", "factor", "names"),
        "kind": ("index_kind", "kind", "index", "indice", "method", "measure"),
        "value": ("value", "estimate", "si", "index_value"),
        "conf": ("conf", "confidence", "ci", "interval", "conf_95"),
        "kpi": ("kpi", "output", "metric", "target"),
    }
    rename = {}
    for std, options in want.items():
        for opt in options:
            match = next((c for c, low in cols.items() if low == opt and c not in rename), None)
            if match is not None:
                rename[match] = std
                break
    out = df.rename(columns=rename)
    if not {"parameter", "kind", "value"} <= set(out.columns):
        return None
    if "conf" not in out:
        out["conf"] = np.nan
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    out["conf"] = pd.to_numeric(out["conf"], errors="coerce")
    out["kpi"] = out["kpi"].map(lambda c: _kpi_name(str(c))) if "kpi" in out else ""
    out["kind"] = out["kind"].astype(str)
    out["parameter"] = out["parameter"].astype(str)
    is_conf = out["kind"].str.endswith("_conf")
    if is_conf.any():
        conf = out[is_conf].assign(kind=out.loc[is_conf, "kind"].str.removesuffix("_conf"))
        conf = conf.set_index(["kpi", "parameter", "kind"])["value"]
        out = out[~is_conf].copy()
        keys = pd.MultiIndex.from_frame(out[["kpi", "parameter", "kind"]])
        found = conf.reindex(keys).to_numpy()
        out["conf"] = np.where(np.isfinite(found), found, out["conf"].to_numpy())
    return out[["kpi", "parameter", "kind", "value", "conf"]].reset_index(drop=True)


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of its confidence interval (Student t); NaN half-width for n < 2."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(v[0]), math.nan, 1
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return float(v.mean()), half, n


def summarise(rs: ResultSet, by: list[str] | None = None, kpis: list[str] | None = None) -> pd.DataFrame:
    """One row per scheme (combination of `by`, default the swept parameters): for each KPI,
    `KPI` (mean), `KPI_ci` (half-width of the 95 % interval) and `n` (replicates)."""
    by = list(rs.swept if by is None else by)
    kpis = list(rs.kpis if kpis is None else kpis)
    df = rs.runs
    if "point" in df and by:
        # In design order (a compare's reference scheme first), not alphabetical.
        groups = df.sort_values("point", kind="stable").groupby(by, dropna=False, sort=False)
    else:
        groups = df.groupby(by, dropna=False, sort=True) if by else [((), df)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        n = 0
        for k in kpis:
            m, h, n_k = mean_ci(g[k].to_numpy()) if k in g else (math.nan, math.nan, 0)
            row[k], row[f"{k}_ci"] = m, h
            n = max(n, n_k)
        row["n"] = n
        rows.append(row)
    return pd.DataFrame(rows)


def scheme_label(row: pd.Series | dict, by: list[str]) -> str:
    """`Carbon tax 80 EUR/t CO2, Mechanism: cda`: each parameter's label, value and unit."""
    if not by:
        return "all runs"
    if by == ["scheme"]:
        return str(row["scheme"])
    return ", ".join(setting_text(p, row[p].item() if isinstance(row[p], np.generic) else row[p]) for p in by)


WIDE_SOBOL = 0.2  # a Sobol index's 95 % half-width beyond which it cannot be read (indices run 0-1)


def sensitivity_warning(sens: pd.DataFrame | None) -> str:
    """A warning when the Sobol indices' intervals are too wide to read (too few samples), or ""."""
    if sens is None or not len(sens):
        return ""
    sobol = sens[sens["kind"].astype(str).isin(("S1", "ST", "S2"))]
    conf = pd.to_numeric(sobol["conf"], errors="coerce").abs().dropna()
    if not len(conf) or conf.max() <= WIDE_SOBOL:
        return ""
    return (f"The Sobol indices' 95 % intervals reach \u00b1 {conf.max():.2f} on indices between 0 and 1: too few "
            f"samples (N) for these indices to be read. Run the sweep again with a larger N.")


def child_results(folder: Path) -> list[Path]:
    """Result folders inside `folder` (not itself): what a parent folder of results lists."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in candidates(folder) if p != folder]


def continuous(rs: ResultSet, most: int) -> bool:
    """A sampled design (Sobol, LHS, Morris): a numeric swept parameter with more than `most`
    distinct values, each point its own scheme; drawn as scatter, not as bars."""
    for p in rs.swept:
        col = rs.runs[p]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) and col.nunique() > most:
            return True
    return False


@dataclass
class Pareto:
    """What `run.py optimise` left in a folder: every candidate, the front, the objectives
    (as `max:KPI` labels) and the levers searched."""

    candidates: pd.DataFrame
    front: pd.DataFrame
    objectives: list[str]
    levers: list[str]


def load_pareto(folder: Path) -> Pareto | None:
    """The optimisation in `folder`, or None when it holds none (or not all of its files)."""
    folder = Path(folder)
    files = [folder / n for n in ("manifest.json", "candidates.csv", "pareto.csv")]
    if not all(f.is_file() for f in files):
        return None
    try:
        manifest = json.loads(files[0].read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("kind") != "optimisation":
            return None
        candidates, front = pd.read_csv(files[1]), pd.read_csv(files[2])
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    objectives = [o for o in manifest.get("objectives", []) if o in candidates.columns]
    if not objectives or front.empty:
        return None
    derived = {"scheme", "generation", "candidate", "runs", *objectives}
    levers = [c for c in front.columns if c not in derived and not c.endswith(("_mean", "_ci_low", "_ci_high"))]
    return Pareto(candidates, front, objectives, levers)
