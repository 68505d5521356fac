"""Writing a run's outputs atomically: all files land in a temporary folder beside the target,
which then replaces the target in one rename, so an interrupted run never leaves half a folder."""

from __future__ import annotations

import json
import math
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

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
        result.trades.to_parquet(tmp / "trades.parquet", index=False)
        if result.production is not None:
            result.production.to_parquet(tmp / "production.parquet", index=False)
        if result.decisions is not None:
            result.decisions.to_parquet(tmp / "decisions.parquet", index=False)
        (tmp / "config.toml").write_text(tomli_w.dumps(config_document(result)), encoding="utf-8")

    return write_into(claimed or Path(out), "simulate", RUN_FILES, fill, overwrite)
