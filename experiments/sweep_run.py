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
import logging
import math
import os
import platform
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import config, scenario_io
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
    # A scenario file's own text, read where the command runs: the nodes of a cluster do not
    # have the user's file at its path ("" for a built-in or synthetic scenario).
    scenario_text: str = ""

    @classmethod
    def of(cls, run: Run, scenario: str, steps: int, base_sets: tuple[tuple[str, Any], ...] = (),
           text: str | None = None) -> Task:
        """The task of a run, with the scenario's `text` (read from the file when not given: a
        command making many tasks reads it once, `scenario_io.file_text`, and passes it)."""
        return cls(run, scenario, steps, base_sets, scenario_io.file_text(scenario) if text is None else text)


def execute(task: Task) -> dict[str, Any]:
    """Run one simulation and return its row; an exception becomes the row's error."""
    from experiments import runner

    run = task.run
    row: dict[str, Any] = {"run_id": run.run_id, "point": run.point, "replicate": run.replicate, "seed": run.seed}
    row.update({k: v for k, v in run.params})
    start = time.perf_counter()
    row["started_unix"] = time.time()
    try:
        cfg, park = config.resolve(task.scenario, task.steps, run.seed, {**dict(task.base_sets), **run.sets()},
                                   text=task.scenario_text or None)
        kpis = runner.simulate(cfg, park).summary["kpis"]
        row.update({k: (float("nan") if v is None else float(v)) for k, v in kpis.items()})
        row["status"], row["error"] = "ok", ""
    except Exception as e:  # a failing run is data, not the end of the sweep
        row["status"] = "error"
        row["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
    row["wall_s"] = time.perf_counter() - start
    row["worker_pid"] = os.getpid()
    row["worker_node"] = _ray_node()
    row["worker_rss_mb"] = _rss_mb()
    return row


def _ray_node() -> str:
    """The Ray node this run ran on ("" outside a Ray worker, e.g. serially or in the driver):
    on a cluster, which machine ran which run."""
    ray = sys.modules.get("ray")  # not imported by a serial sweep, and not worth importing for this
    if ray is None or not ray.is_initialized():
        return ""
    ctx = ray.get_runtime_context()
    return ctx.get_node_id() if ctx.worker.mode == ray.WORKER_MODE else ""


RETRIES = 3  # times Ray retries a run whose worker died


def lost_row(task: Task, error: str) -> dict[str, Any]:
    """The row of a run that never returned (its worker kept dying): recorded as failed."""
    run = task.run
    row: dict[str, Any] = {"run_id": run.run_id, "point": run.point, "replicate": run.replicate, "seed": run.seed}
    row.update({k: v for k, v in run.params})
    row.update({"started_unix": time.time(), "status": "error", "error": error, "wall_s": float("nan"),
                "worker_pid": -1, "worker_node": "", "worker_rss_mb": float("nan")})
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
    text = scenario_io.file_text(sweep.scenario)
    tasks = [Task.of(r, sweep.scenario, sweep.steps, sweep.base_sets, text) for r in sweep.runs() if r.run_id not in done]
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


def ray_init_kwargs(address: str) -> dict[str, Any]:
    """How to join a Ray cluster by its address: the job ships the project's code, and the
    cluster's nodes must have the same packages installed."""
    return {"address": address, "runtime_env": {"working_dir": str(REPO), "excludes": list(NOT_SHIPPED)},
            "log_to_driver": False}


# What a cluster's job does not need of the project folder (outputs, environments and caches:
# the type checker's alone is tens of MB).
NOT_SHIPPED = (".venv/", "results/", ".git/", "test-artifacts/", ".mypy_cache/", ".ruff_cache/", ".hypothesis/",
               ".pytest_cache/", "__pycache__/", "*.pyc")


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
    # A local Ray's workers are started by processes this one starts, and import the project by
    # this path (a run function is sent to them by its module's name).
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *[p for p in paths if p]])


ray_environment()


def start_ray(workers: int, address: str | None) -> bool:
    """Start (or join) Ray unless it runs in this process already; True when this call started
    or joined it (the caller then calls `stop_ray`). Every command that uses Ray starts it here.
    Without an address (argument or RAY_ADDRESS) this command starts a Ray of its own on this
    machine (`_start_local`), never another command's: joining one crashed two sweeps at once."""
    ray_environment()
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        _start_local(workers)
    else:
        ray.init(**ray_init_kwargs(address))
    return True


_local_node: Any = None  # the Ray node `_start_local` started, which `stop_ray` stops


def _start_local(workers: int) -> None:
    """A lean Ray node on 127.0.0.1 with `workers` CPUs, and this process joined to it.

    `ray.init` would start it with two processes a sweep does not use: the autoscaler's monitor
    (a local node never grows) and the log monitor (workers' output is not sent to the driver,
    `log_to_driver=False`). Measured here with the Ray of uv.lock, they took 0.8 of the 5
    CPU-seconds Ray's start-up costs and 1.0 of the 1.3 s its shutdown takes, and a small sweep
    waits for both (40 Kalundborg years on 2 workers: 28-30 s with them, 27-28 s without). Ray exposes
    the two switches only as node parameters (`ray start --head` has them, `ray.init` not), so
    the node is made as `ray.init` makes it, with them off. No runtime_env either: its agent
    delayed the first worker 2-3 s, and the workers find the project through PYTHONPATH,
    inherited from this process (`ray_environment`)."""
    global _local_node
    import ray
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    params = RayParams(node_ip_address="127.0.0.1", num_cpus=workers, num_gpus=0, include_dashboard=False,
                       no_monitor=True, include_log_monitor=False)
    # As ray.init does: the node's processes are stopped by stop_ray, and by a reaper process if
    # this one dies first.
    node = Node(params, head=True, shutdown_at_exit=False, spawn_reaper=True, ray_init_cluster=True)
    try:
        # Ray's own INFO lines would call the node this command just started "an existing cluster":
        # the command says which Ray it runs on; Ray's warnings still show.
        ray.init(address=node.address, log_to_driver=False, logging_level=logging.WARNING)
    except BaseException:
        node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)
        raise
    _local_node = node


def stop_ray() -> None:
    """Leave Ray, and stop the node `start_ray` started on this machine (a cluster joined by its
    address goes on running)."""
    global _local_node
    import ray

    ray.shutdown()
    node, _local_node = _local_node, None
    if node is not None:
        node.destroy_external_storage()
        node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)


DRIVER_SWITCH_S = 1e-4  # Python's GIL turn while the driver's thread runs runs beside Ray's start-up
TARGET_TASK_S = 1.0  # a Ray task of small runs lasts at least this long: Ray's 10-20 ms a task is then 1-2 %


def _ray(tasks: list[Task], run_fn: Callable[[Task], dict[str, Any]], workers: int, address: str | None,
         overlap: bool | None = None, batch: int | None = None):
    """Every task's row, as it finishes, from Ray's workers.

    While a local Ray starts (several seconds on a small machine), the first runs go in a thread
    of this process (`overlap`; by default when the runs are the model's own and this command
    starts Ray on this machine), so start-up costs little of the sweep's time. Their wall time sets how many
    runs each Ray task carries (`batch`; by default enough for `TARGET_TASK_S`, and at most a
    quarter of a worker's share, so the workers stay evenly loaded): short runs then pay Ray's
    overhead once per batch. A batch whose worker died on every retry is split and its runs
    sent again one by one, so only the run that kills its worker is recorded as lost."""
    import ray  # its settings were made when this module was imported (`ray_environment`)

    if overlap is None:
        # Only while a local Ray starts: a cluster's Ray is up already, its workers do the runs,
        # and the machine that submits them (a laptop, or a ray:// client) only gathers rows.
        local = address is None and not os.environ.get("RAY_ADDRESS")
        overlap = run_fn is execute and local and not ray.is_initialized()
    queue = deque(tasks)
    switch = sys.getswitchinterval()
    started = False
    try:  # Python's GIL turns restored and the Ray this call started stopped, however the sweep ends
        early = None
        if overlap and tasks:
            # The thread's runs hold the GIL, which the start-up's own Python (polling the new node,
            # connecting to it) waits for at every turn: at Python's 5 ms turns Ray took 6 s to start
            # beside a run here, at 0.1 ms 3.2-3.5 s (2.4 s alone). Shorter turns cost the runs
            # nothing measurable.
            sys.setswitchinterval(DRIVER_SWITCH_S)
            early = _DriverRuns(queue, run_fn)
        error: BaseException | None = None
        try:
            started = start_ray(workers, address)
        except BaseException as e:  # noqa: B036 -- the runs done meanwhile are saved first
            error = e
        if early is not None:
            if error is not None:
                early.halt.set()  # no more runs start here
                if not isinstance(error, KeyboardInterrupt):
                    early.thread.join()  # Ray did not start: keep the run in flight, then report why
            yield from early.take()
        if error is not None:
            raise error
        yield from _on_ray(queue, run_fn, workers, batch, early)
    finally:
        sys.setswitchinterval(switch)
        if started:
            stop_ray()


class _DriverRuns:
    """Runs taken from the queue in a thread of the driver until `halt` is set (Ray's first batch
    is back, or Ray did not start) or the queue is empty."""

    def __init__(self, queue: deque, run_fn: Callable[[Task], dict[str, Any]]):
        self.queue, self.run_fn = queue, run_fn
        self.rows: list[dict[str, Any]] = []
        self.walls: list[float] = []
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="ecopark-runs-while-ray-starts", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while True:
            with self.lock:
                if self.halt.is_set() or not self.queue:
                    return
                task = self.queue.popleft()
            t0 = time.perf_counter()
            row = self.run_fn(task)
            with self.lock:
                self.walls.append(time.perf_counter() - t0)
                self.rows.append(row)

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            rows, self.rows = self.rows, []
        return rows

    @property
    def busy(self) -> bool:
        return self.thread.is_alive()


def _batch_size(remaining: int, workers: int, walls: list[float]) -> int:
    if not walls or remaining <= 0:
        return 1
    per_run = max(float(np.median(walls)), 1e-3)
    return int(max(1, min(math.ceil(TARGET_TASK_S / per_run), remaining // (4 * max(workers, 1)))))


def _run_batch(run_fn: Callable[[Task], dict[str, Any]], tasks: list[Task]) -> list[dict[str, Any]]:
    return [run_fn(t) for t in tasks]


def _on_ray(queue: deque, run_fn: Callable[[Task], dict[str, Any]], workers: int, batch: int | None,
            early: _DriverRuns | None):
    """Batches go to Ray a few at a time (two per CPU in flight), taken from the queue the
    driver's thread also takes from until Ray's first batch is back: Ray's workers take seconds
    more than Ray itself to start (they import the model), and the driver runs meanwhile."""
    import ray

    # A run that raises returns its error as a row; a worker that dies is retried by Ray, and a
    # run whose worker dies on every try becomes a failed row too: the sweep goes on.
    remote = ray.remote(max_retries=RETRIES, num_cpus=1)(_run_batch)
    lock = early.lock if early is not None else threading.Lock()
    with lock:
        size = batch or _batch_size(len(queue), workers, early.walls if early is not None else [])
    slots = 2 * max(workers, int(ray.cluster_resources().get("CPU", 0)), 1)
    fn = ray.put(run_fn)
    batch_of: dict[Any, list[Task]] = {}
    singles: deque = deque()  # the runs of a batch whose worker died on every retry, sent again one by one

    def fill() -> None:
        while len(batch_of) < slots:
            if singles:
                chunk = [singles.popleft()]
            else:
                with lock:
                    chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
                if not chunk:
                    return
            batch_of[remote.remote(fn, chunk)] = chunk

    fill()
    while batch_of or singles or queue or (early is not None and early.busy):
        if early is not None:
            yield from early.take()
        if not batch_of:
            fill()
            if not batch_of:  # the driver's thread holds the last runs
                early.thread.join(0.05)  # type: ignore[union-attr]
                continue
        wait = 0.1 if early is not None and early.busy else None
        ready, _ = ray.wait(list(batch_of), num_returns=1, timeout=wait)
        for ref in ready:
            chunk = batch_of.pop(ref)
            if early is not None:
                early.halt.set()  # Ray's workers run: the driver's thread stops after its run
            try:
                rows = ray.get(ref)
            except ray.exceptions.RayError as e:  # the worker died RETRIES + 1 times
                if len(chunk) > 1:  # one of them kills its worker: send them again one by one
                    singles.extend(chunk)
                    continue
                yield lost_row(chunk[0], f"{type(e).__name__}: the worker running it died {RETRIES + 1} "
                                         f"times ({str(e).splitlines()[0] if str(e) else 'no message'})")
                continue
            yield from rows
        fill()
    if early is not None:
        yield from early.take()
