"""Writing a run's outputs atomically: all files land in a temporary folder beside the target,
which then replaces the target in one rename, so an interrupted run never leaves half a folder."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import tomli_w

from experiments.atomic import swap_into_place
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


def check_out(out: Path) -> None:
    """Refuse an output folder that would cost the user something: a file, or a folder holding
    anything but an earlier run's outputs (which a new run replaces). Checked before the run, so
    a refused run wastes nothing."""
    from experiments.problems import InputError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError([f"--out {out}: is a file, not a folder: give a folder for the run's outputs"])
    if out.is_dir():
        other = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES)
        if other:
            shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
            raise InputError([f"--out {out}: the folder holds files that are not a run's outputs ({shown}); "
                              f"a run replaces its whole folder, so give a new or empty folder"])


def write_run(result: RunResult, out: Path) -> Path:
    """Write summary.json, timeseries.parquet, trades.parquet, production.parquet and
    config.toml into `out`."""
    out = Path(out)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    # mkdtemp makes it 0700; the outputs are as readable as the folder they are written in.
    os.chmod(tmp, out.parent.stat().st_mode & 0o777)
    try:
        (tmp / "summary.json").write_text(json.dumps(_json_safe(result.summary), indent=2) + "\n", encoding="utf-8")
        result.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        result.trades.to_parquet(tmp / "trades.parquet", index=False)
        if result.production is not None:
            result.production.to_parquet(tmp / "production.parquet", index=False)
        if result.decisions is not None:
            result.decisions.to_parquet(tmp / "decisions.parquet", index=False)
        (tmp / "config.toml").write_text(tomli_w.dumps(config_document(result)), encoding="utf-8")
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
