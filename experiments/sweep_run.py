"""Running a sweep serially or on Ray, writing each finished run as it completes.

Layout of a sweep folder:

    DIR/manifest.json        the sweep file, its design, package versions, git commit
    DIR/runs/RUN_ID.json     one file per finished run, written atomically as it completes
    DIR/results.parquet      every finished run, one row each (rebuilt from runs/)

A run that raises is recorded with its error and the sweep goes on; `--resume` skips every
run that has a file in runs/, so an interrupted sweep loses at most the runs in flight and
duplicates none.
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import config
from experiments.atomic import write_text
from experiments.outputs import git_commit, versions
from experiments.problems import InputError
from experiments.sweep import Run, Sweep

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Task:
    """Everything a worker needs for one run: plain values, cheap to ship."""

    run: Run
    scenario: str
    steps: int
    base_sets: tuple[tuple[str, Any], ...]


def execute(task: Task) -> dict[str, Any]:
    """Run one simulation and return its row; an exception becomes the row's error."""
    from experiments import runner

    run = task.run
    row: dict[str, Any] = {"run_id": run.run_id, "point": run.point, "replicate": run.replicate, "seed": run.seed}
    row.update({k: v for k, v in run.params})
    start = time.perf_counter()
    row["started_unix"] = time.time()
    try:
        cfg, park = config.resolve(task.scenario, task.steps, run.seed, {**dict(task.base_sets), **run.sets()})
        kpis = runner.simulate(cfg, park).summary["kpis"]
        row.update({k: (float("nan") if v is None else float(v)) for k, v in kpis.items()})
        row["status"], row["error"] = "ok", ""
    except Exception as e:  # a failing run is data, not the end of the sweep
        row["status"] = "error"
        row["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
    row["wall_s"] = time.perf_counter() - start
    row["worker_pid"] = os.getpid()
    row["worker_rss_mb"] = _rss_mb()
    return row


RETRIES = 3  # times Ray retries a run whose worker died


def lost_row(task: Task, error: str) -> dict[str, Any]:
    """The row of a run that never returned (its worker kept dying): recorded as failed."""
    run = task.run
    row: dict[str, Any] = {"run_id": run.run_id, "point": run.point, "replicate": run.replicate, "seed": run.seed}
    row.update({k: v for k, v in run.params})
    row.update({"started_unix": time.time(), "status": "error", "error": error, "wall_s": float("nan"),
                "worker_pid": -1, "worker_rss_mb": float("nan")})
    return row


def _rss_mb() -> float:
    """Resident memory of this process now (Linux), to show a worker's memory stays flat."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


class Store:
    """The sweep folder: manifest, one file per finished run, and results.parquet."""

    def __init__(self, out: Path, sweep: Sweep):
        self.out = Path(out)
        self.runs_dir = self.out / "runs"
        self.sweep = sweep

    def open(self, resume: bool) -> set[str]:
        """Create the folder, or reopen it with `resume`; return the run ids already done."""
        manifest = self.out / "manifest.json"
        if self.out.exists() and not self.out.is_dir():
            raise InputError([f"--out {self.out}: is a file, not a folder: give a folder for the sweep"])
        if self.out.exists() and any(self.out.iterdir()):
            if not resume:
                raise InputError([f"--out {self.out}: folder exists and is not empty: add --resume to continue "
                                  f"the sweep in it, or choose another folder"])
            if not manifest.exists():
                raise InputError([f"--out {self.out}: not a sweep folder (no manifest.json): choose another folder"])
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
                if not isinstance(old, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as e:
                raise InputError([f"--out {self.out}: its manifest.json is damaged ({e}): the finished runs in "
                                  f"runs/ are kept; move them aside and start the sweep in a new folder"]) from None
            if old.get("sweep_file") != self.sweep.source:
                raise InputError([f"--out {self.out}: holds a different sweep (its manifest.json has another sweep "
                                  f"file): resume it with its own file, or choose another folder"])
        else:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            write_text(manifest, json.dumps(self._manifest(), indent=2) + "\n")
        self.runs_dir.mkdir(exist_ok=True)
        return self._finished()

    def _finished(self) -> set[str]:
        """The runs already done: each run file that reads whole. A file cut short by a killed
        process, and the temporary files of writes that never finished, are removed, so those
        runs are done again."""
        done = set()
        for p in self.runs_dir.iterdir():
            if p.name.startswith(".") and ".partial-" in p.name:
                p.unlink(missing_ok=True)
                continue
            if p.suffix != ".json":
                continue
            try:
                row = json.loads(p.read_text(encoding="utf-8"))
                ok = isinstance(row, dict) and row.get("run_id") == p.stem
            except (OSError, ValueError):
                ok = False
            if ok:
                done.add(p.stem)
            else:
                p.unlink(missing_ok=True)
        return done

    def _manifest(self) -> dict[str, Any]:
        s = self.sweep
        return {
            "sweep_file": s.source, "name": s.name, "design": s.design, "samples": s.samples,
            "replicates": s.replicates, "root_seed": s.seed, "scenario": s.scenario, "steps": s.steps,
            "base_set": dict(s.base_sets), "axes": {k: list(v) for k, v in s.axes},
            "ranges": {k: [lo, hi] for k, lo, hi in s.ranges}, "runs": len(s.runs()),
            "versions": versions(), "git_commit": git_commit(), "python": platform.python_version(),
        }

    def save(self, row: dict[str, Any]) -> None:
        write_text(self.runs_dir / f"{row['run_id']}.json", json.dumps(row, default=_jsonable) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.runs_dir.glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except json.JSONDecodeError:
                continue  # cannot happen with atomic writes; a hand-edited file is skipped
        return out

    def write_results(self) -> Path:
        """Rebuild results.parquet from runs/, atomically, rows in run order."""
        rows = self.rows()
        df = pd.DataFrame(rows)
        if not df.empty:
            df = df.sort_values("run_id").reset_index(drop=True)
        path = self.out / "results.parquet"
        tmp = path.with_name(f".{path.name}.partial")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "value"):
        return v.value
    return str(v)


def run_sweep(sweep: Sweep, out: Path, workers: int = 1, address: str | None = None, resume: bool = False,
              run_fn: Callable[[Task], dict[str, Any]] = execute, progress: bool | None = None) -> pd.DataFrame:
    """Run every run of `sweep` not yet in `out`; return the results table. A second sweep (or
    resume) on the same folder while this one runs is refused (`experiments.destination.lock`)."""
    from experiments.destination import lock

    with lock(Path(out), "sweep"):
        return _run_sweep(sweep, out, workers, address, resume, run_fn, progress)


def _run_sweep(sweep: Sweep, out: Path, workers: int, address: str | None, resume: bool,
               run_fn: Callable[[Task], dict[str, Any]], progress: bool | None) -> pd.DataFrame:
    store = Store(out, sweep)
    done = store.open(resume)
    tasks = [Task(r, sweep.scenario, sweep.steps, sweep.base_sets) for r in sweep.runs() if r.run_id not in done]
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=sweep.name, unit="run", disable=None if progress is None else not progress)
    failures = 0
    try:
        results = _serial(tasks, run_fn) if workers <= 1 and address is None else _ray(tasks, run_fn, workers, address)
        for row in results:
            store.save(row)
            failures += row["status"] != "ok"
            bar.set_postfix(failed=failures)
            bar.update(1)
    finally:
        bar.close()
        store.write_results()
    return pd.read_parquet(store.out / "results.parquet")


def _serial(tasks: Iterable[Task], run_fn: Callable[[Task], dict[str, Any]]):
    for t in tasks:
        yield run_fn(t)


def ray_init_kwargs(workers: int, address: str | None) -> dict[str, Any]:
    """How to start or join Ray. A local Ray is bound to 127.0.0.1 and nothing else: a Ray
    reachable from the network runs any code it is sent."""
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if address is None:
        # "local": a Ray of its own even when another command on this machine runs one (without
        # it ray.init joins the other's and refuses num_cpus: two sweeps at once crashed).
        return {"address": "local", "num_cpus": workers, "include_dashboard": False, "_node_ip_address": "127.0.0.1",
                "runtime_env": {"env_vars": env}, "log_to_driver": False}
    # A cluster gets the code shipped with the job; it must have the same packages installed.
    return {"address": address, "runtime_env": {"working_dir": str(REPO),
                                                "excludes": [".venv/", "results/", ".git/", "test-artifacts/"]},
            "log_to_driver": False}


def ray_environment() -> None:
    """Ray's settings, which Ray reads when it is first imported: this module sets them when it
    is imported itself, before any Ray import of the commands that use it."""
    # Measured with the Ray of uv.lock: unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is set before
    # Ray is imported, a local Ray's raylet, GCS, workers and runtime-env agent listen on every
    # interface ('::' and the machine's address), not only on 127.0.0.1, whatever
    # _node_ip_address says (tests/test_sweep.py checks the sockets).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Under `uv run`, Ray would package the working folder and build a uv environment for each
    # worker; local workers already share this interpreter and its packages.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


ray_environment()


def start_ray(workers: int, address: str | None) -> bool:
    """Start (or join) Ray unless it runs in this process already; True when this call started
    it (the caller shuts it down). Every command that uses Ray starts it here."""
    ray_environment()
    import ray

    if ray.is_initialized():
        return False
    ray.init(**ray_init_kwargs(workers, address or os.environ.get("RAY_ADDRESS") or None))
    return True


def _ray(tasks: list[Task], run_fn: Callable[[Task], dict[str, Any]], workers: int, address: str | None):
    started = start_ray(workers, address)
    import ray

    # A run that raises returns its error as a row; a worker that dies is retried by Ray, and a
    # run whose worker dies on every try becomes a failed row too: the sweep goes on.
    remote = ray.remote(max_retries=RETRIES, num_cpus=1)(run_fn)
    try:
        task_of = {}
        for t in tasks:
            task_of[remote.remote(t)] = t
        pending = list(task_of)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died RETRIES + 1 times
                    yield lost_row(task_of[ref], f"{type(e).__name__}: the worker running it died {RETRIES + 1} "
                                                 f"times ({str(e).splitlines()[0] if str(e) else 'no message'})")
    finally:
        if started:
            ray.shutdown()
