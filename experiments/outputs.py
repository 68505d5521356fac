"""Writing a run's outputs atomically: all files land in a temporary folder beside the target,
which then replaces the target in one rename, so an interrupted run never leaves half a folder."""

from __future__ import annotations

import json
import math
import subprocess
from importlib import metadata
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w

from experiments.destination import Claim, claim_folder, write_into
from experiments.runner import RunResult

PACKAGES = ("mesa", "numpy", "pandas", "pyarrow", "scipy", "highspy")
REPO = Path(__file__).resolve().parent.parent


def versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def git_commit() -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return r.stdout.strip() + ("-dirty" if dirty else "")


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def write_parquet_chunks(path: Path, chunks: Iterator[pd.DataFrame], empty: Callable[[], pd.DataFrame]) -> None:
    """One Parquet file from frames of one schema, a row group per frame: a long run's trades
    are written without ever being in memory whole. No frames: `empty()`'s (typed) frame."""
    writer: pq.ParquetWriter | None = None
    try:
        for df in chunks:
            table = pa.Table.from_pandas(df, preserve_index=False, schema=None if writer is None else writer.schema)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        empty().to_parquet(path, index=False)


def config_document(result: RunResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"run": result.config.to_dict()}
    doc["provenance"] = {"scenario_origin": result.scenario.origin, "versions": versions()}
    commit = git_commit()
    if commit:
        doc["provenance"]["git_commit"] = commit
    return doc


RUN_FILES = ("summary.json", "timeseries.parquet", "trades.parquet", "production.parquet", "decisions.parquet",
             "config.toml")


def claim(out: Path, overwrite: bool = False) -> Claim:
    """Check and lock a run's output folder before the run (`experiments.destination`): a new
    or empty folder, or an earlier run's outputs with `overwrite`; never a folder of the user's."""
    return claim_folder(Path(out), "simulate", RUN_FILES, overwrite)


def write_run(result: RunResult, out: Path, overwrite: bool = False, claimed: Claim | None = None) -> Path:
    """Write summary.json, timeseries.parquet, trades.parquet, production.parquet,
    decisions.parquet and config.toml into `out`, whole or not at all (`claimed`: the claim
    taken before the run; without it the folder is claimed here)."""
    def fill(tmp: Path) -> None:
        (tmp / "summary.json").write_text(json.dumps(_json_safe(result.summary), indent=2) + "\n", encoding="utf-8")
        result.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        write_parquet_chunks(tmp / "trades.parquet", result.trade_chunks(), lambda: result.trades)
        if result.production_log is not None:
            write_parquet_chunks(tmp / "production.parquet", result.production_chunks(), lambda: result.production)
        if result.decisions is not None:
            result.decisions.to_parquet(tmp / "decisions.parquet", index=False)
        (tmp / "config.toml").write_text(tomli_w.dumps(config_document(result)), encoding="utf-8")

    return write_into(claimed or Path(out), "simulate", RUN_FILES, fill, overwrite)
