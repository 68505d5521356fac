"""The live page's runs in worker processes, off the server's thread.

Every browser session's `LiveRun` (two or three `ParkModel`s) and its map canvas live in one of a
few worker processes, chosen when the run starts and kept for it (sticky): the page sends
commands (open, step n, break a company, draw the map, show a company, close) and receives
only what it draws, a `Frame`: the new days of the series, the KPI totals, the decisions, and
the map as SVG when it changed. Workers run in parallel up to the cores present, and while one
steps or draws, the server's own thread stays free to serve every page.

- Workers are Python processes of their own (`Worker`), talking to the server over their stdin
  and stdout with `multiprocessing.connection` messages: they open no port. Messages are our
  own objects (settings, frames), never a user's file.
- `ECOPARK_VIZ_WORKERS` sets the number of workers (default: the cores present; 0 runs the
  models in the server process as before). `ECOPARK_VIZ_IDLE_S` frees a run left idle that
  long (default 1800 s); a page that comes back to a freed run starts it again from day 0.
  `run.py viz --workers N --idle-minutes M` sets both.
- A closed page frees its run at once (`LiveSession.close`).

`RunHost` is what a worker holds for one session; `RemoteRun` is the server's mirror of it, with
the read side of `viz.live_run.LiveRun` that the page uses (series, prices, totals...).
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from viz.live_run import LiveRun, build_config
from viz.park_map import ParkMap
from viz.sector_map import SectorMap

ROOT = str(Path(__file__).resolve().parent.parent)
DEFAULT_IDLE_S = 1800.0
CALL_TIMEOUT_S = 300.0  # a command that has not come back by then failed (a worker stuck or gone)

MapKey = tuple[int | None, str, str | None]  # (selected company, view, sector focus)


@dataclass
class Frame:
    """What the page draws of a run after a command: the series from day `start` on, and the
    state that is small enough to send whole."""

    t: int
    start: int
    series: dict[str, list[float]]
    prices: dict[str, list[float]]
    totals: dict[str, Any]
    break_spans: list[tuple[int, int, int]]
    breaks: dict[int, int]
    decisions_start: int
    decisions: list[tuple[int, str, str, str]]
    down: np.ndarray  # which companies are down at the next step
    marks: int  # bumps with every step and break: the map and company panel change
    map: tuple[MapKey, bytes, str] | None = None  # (key, svg, hover layer), drawn for the page's last view
    company: tuple[int, dict[str, Any]] | None = None  # (index, view) of the page's last company
    compactions: int = 0  # the run's `LiveRun.compactions`: the older days halved since it began


class RunHost:
    """One session's run where it steps (a worker, or the server itself): the `LiveRun` and the
    map canvases drawn from it."""

    def __init__(self, scenario: str, assignments: dict[str, Any]):
        self.run = LiveRun.from_settings(scenario, assignments)
        self.map = ParkMap(self.run.park, self.run.model.network.positions)
        self.sector_map: SectorMap | None = None
        self.marks = 0

    def frame(self, have: int, have_decisions: int, map_key: MapKey | None, company: int | None,
              compactions: int = 0) -> Frame:
        """What the page lacks: the series from day `have` on, or all of them when the run halved
        its older days since the page's copy was made (`compactions` differs)."""
        run = self.run
        if compactions != run.compactions:
            have = 0
        decisions = run.decisions()
        return Frame(
            t=run.t, start=have,
            series={k: list(v[have:]) for k, v in run.series.items()},
            prices={r: list(v[have:]) for r, v in run.prices.items()},
            totals=run.totals(), break_spans=list(run.break_spans), breaks=dict(run.breaks),
            decisions_start=have_decisions, decisions=decisions[have_decisions:], down=run.down(), marks=self.marks,
            map=(map_key, *self.draw(*map_key)) if map_key is not None else None,
            company=(company, run.company_view(company)) if company is not None else None,
            compactions=run.compactions)

    def step(self, n: int) -> None:
        self.run.step(n)
        self.marks += 1

    def break_company(self, index: int, steps: int) -> None:
        self.run.break_company(index, steps)
        self.marks += 1

    def draw(self, selected: int | None, view: str, focus: str | None) -> tuple[bytes, str]:
        """The map as SVG bytes and its tooltip layer, as `LiveSession.map_layers` draws them."""
        run = self.run
        if view == "sectors":
            if self.sector_map is None:
                self.sector_map = SectorMap(run.park, run.model.network.positions)
            return self.sector_map.update(run), self.sector_map.hover_svg()
        return self.map.update(run, selected, focus), self.map.hover_svg()


# ---- the worker process ----------------------------------------------------------------------


class UnknownRun(KeyError):
    """The worker holds no run of this id: freed when idle, or the worker was restarted."""


def main() -> None:
    """A worker: commands on stdin, replies on stdout (anything printed goes to stderr)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which closes the pipe
    recv = Connection(os.dup(0), writable=False)
    send = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a stray print must not corrupt the replies
    sys.stdout = sys.stderr
    _serve(recv, send)


def _serve(recv: Connection, send: Connection) -> None:
    """A worker's loop: one command at a time, for any of the sessions it holds."""
    hosts: dict[int, RunHost] = {}
    while True:
        try:
            rid, sid, cmd, args = recv.recv()
        except (EOFError, OSError):
            return  # the server is gone
        try:
            if cmd == "open":
                hosts[sid] = RunHost(*args[:2])
                result: Any = hosts[sid].frame(0, 0, *args[2:])
            elif cmd == "close":
                hosts.pop(sid, None)
                result = None
            elif cmd == "ping":
                result = os.getpid()
            else:
                host = hosts.get(sid)
                if host is None:
                    raise UnknownRun(sid)
                if cmd == "step":
                    n, *rest = args
                    host.step(n)
                    result = host.frame(*rest)
                elif cmd == "break":
                    index, steps, *rest = args
                    host.break_company(index, steps)
                    result = host.frame(*rest)
                elif cmd == "frame":
                    result = host.frame(*args)
                elif cmd == "draw":
                    result = host.draw(*args)
                elif cmd == "company":
                    result = host.run.company_view(*args)
                else:
                    raise ValueError(f"unknown command {cmd!r}")
            reply = (rid, True, result)
        except BaseException as e:  # sent back to the caller, who raises it
            reply = (rid, False, (type(e).__name__, str(e), traceback.format_exc()))
        try:
            send.send(reply)
        except (EOFError, OSError):
            return


class WorkerError(RuntimeError):
    """A command failed in a worker; the message carries the worker's traceback."""


class Worker:
    """The server's end of one worker process: sends commands, matches replies to callers.

    The worker is `python -c "from viz.pool import main; main()"`, its stdin and stdout the two
    ends of the conversation (`multiprocessing.connection` messages) and its stderr the
    server's: plain pipes, no port, and none of the server's modules imported again (a
    multiprocessing child re-imports the parent's main module, here Solara's command)."""

    def __init__(self):
        self._ids = itertools.count()
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        self.sessions: set[int] = set()
        self._start()

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
        self.proc = subprocess.Popen([sys.executable, "-c", "from viz.pool import main; main()"], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.send_conn = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        recv = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.recv_conn = recv
        self._reader = threading.Thread(target=self._read, args=(recv,), daemon=True, name="ecopark-viz-reader")
        self._reader.start()

    def _read(self, conn: Connection) -> None:
        while True:
            try:
                rid, ok, result = conn.recv()
            except (EOFError, OSError):
                break
            fut = self._pending.pop(rid, None)
            if fut is None:
                continue
            if ok:
                fut.set_result(result)
            else:
                name, text, tb = result
                fut.set_exception(UnknownRun(text) if name == "UnknownRun" else WorkerError(f"{name}: {text}\n{tb}"))
        conn.close()
        # The worker is gone: everything it held is lost; callers re-open their runs.
        with self._send_lock:
            if self.recv_conn is conn:
                for fut in list(self._pending.values()):
                    fut.set_exception(UnknownRun("the worker stopped"))
                self._pending.clear()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, sid: int, cmd: str, *args: Any) -> Any:
        fut: Future = Future()
        with self._send_lock:
            if not self.alive():  # died (killed, out of memory): a fresh one
                self.sessions.clear()
                self.send_conn.close()
                self._start()
            rid = next(self._ids)
            self._pending[rid] = fut
            try:
                self.send_conn.send((rid, sid, cmd, args))
            except (EOFError, OSError) as e:
                self._pending.pop(rid, None)
                raise UnknownRun("the worker stopped") from e
        return fut.result(timeout=CALL_TIMEOUT_S)

    def stop(self) -> None:
        """Close the worker's input: it finishes its command and exits."""
        with self._send_lock:
            self.send_conn.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=5)


class RunPool:
    """`workers` worker processes; each session's run sticks to the one it opened on."""

    def __init__(self, workers: int, idle_s: float = DEFAULT_IDLE_S):
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.workers = [Worker() for _ in range(workers)]
        self.idle_s = idle_s
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._runs: dict[int, RemoteRun] = {}
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, daemon=True, name="ecopark-viz-reaper")
        self._reaper.start()

    def wait_ready(self) -> None:
        """Wait until every worker has imported the models and answers (they start together)."""
        for w in self.workers:  # importing side by side: waiting for each in turn costs nothing
            w.call(0, "ping")

    def place(self, run: RemoteRun) -> tuple[int, Worker]:
        """A new id for `run` on the worker holding the fewest sessions."""
        with self._lock:
            sid = next(self._ids)
            worker = min(self.workers, key=lambda w: len(w.sessions))
            worker.sessions.add(sid)
            self._runs[sid] = run
        return sid, worker

    def forget(self, sid: int, worker: Worker) -> None:
        with self._lock:
            worker.sessions.discard(sid)
            self._runs.pop(sid, None)

    def open(self, scenario: str, assignments: dict[str, Any], map_key: MapKey | None = None,
             company: int | None = None) -> RemoteRun:
        return RemoteRun(self, scenario, assignments, map_key, company)

    @property
    def sessions(self) -> int:
        with self._lock:
            return len(self._runs)

    def _reap(self) -> None:
        while not self._stop.wait(min(60.0, max(self.idle_s / 4, 0.05))):
            self.reap()

    def reap(self) -> int:
        """Free the runs left idle longer than `idle_s` (the pool does every minute); how many."""
        now = time.monotonic()
        with self._lock:
            idle = [r for r in self._runs.values() if now - r.last_used > self.idle_s]
        for run in idle:
            run.close()
        return len(idle)

    def close(self) -> None:
        self._stop.set()
        for w in self.workers:
            w.stop()


class RemoteRun:
    """The server's mirror of a run held by a worker: what `LiveSession` and the page read of a
    `LiveRun` (park, cfg, series, prices, totals...), kept up to date from the worker's frames."""

    def __init__(self, pool: RunPool, scenario: str, assignments: dict[str, Any], map_key: MapKey | None = None,
                 company: int | None = None):
        # Checked here first: a bad setting raises `InputError` without a trip to a worker.
        self.cfg, self.park = build_config(scenario, assignments)
        self.scenario, self.assignments = scenario, dict(assignments)
        self.pool = pool
        self.map_key, self.company = map_key, company
        self._lock = threading.RLock()
        self._map: tuple[tuple, bytes, str] | None = None
        self._company: tuple[tuple, dict[str, Any]] | None = None
        self.restarts = 0  # times the run was freed (idle) or lost (a worker stopped) and begun again
        self._open()

    def _open(self) -> None:
        self.series: dict[str, list[float]] = {}
        self.prices: dict[str, list[float]] = {}
        self._decisions: list[tuple[int, str, str, str]] = []
        self._t = -1
        self._compactions = 0
        self.closed = False
        self.last_used = time.monotonic()
        self.sid, self.worker = self.pool.place(self)
        self._apply(self.worker.call(self.sid, "open", self.scenario, self.assignments, self.map_key, self.company))

    def _call(self, cmd: str, *args: Any, frame: bool = False) -> Any:
        """A command to the worker (with what the mirror holds, for a `Frame` of what it lacks);
        a run the worker no longer holds is opened again, from day 0."""
        with self._lock:
            self.last_used = time.monotonic()
            if self.closed:
                self.restarts += 1
                self._open()
            try:
                return self.worker.call(self.sid, cmd, *args, *(self._frame_args() if frame else ()))
            except UnknownRun:
                self.pool.forget(self.sid, self.worker)
                self.restarts += 1
                self._open()
                return self.worker.call(self.sid, cmd, *args, *(self._frame_args() if frame else ()))

    def _apply(self, frame: Frame) -> None:
        with self._lock:
            if frame.t < self._t:
                return  # an older frame than the one shown (replies to two threads' commands)
            self._t = frame.t
            self._compactions = frame.compactions
            for k, tail in frame.series.items():
                self.series.setdefault(k, [])[frame.start:] = tail
            for r, tail in frame.prices.items():
                self.prices.setdefault(r, [float("nan")] * frame.start)[frame.start:] = tail
            self._decisions[frame.decisions_start:] = frame.decisions
            self._totals, self.break_spans, self.breaks = frame.totals, frame.break_spans, frame.breaks
            self._down, self.marks = frame.down, frame.marks
            if frame.map is not None:
                key, image, hover = frame.map
                self._map = ((self.marks, key), image, hover)
            if frame.company is not None:
                index, view = frame.company
                self._company = ((self.marks, index), view)

    def _frame_args(self) -> tuple:
        return (len(self.series.get("step", ())), len(self._decisions), self.map_key, self.company, self._compactions)

    # ---- commands ---------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        with self._lock:
            self._apply(self._call("step", int(n), frame=True))

    def break_company(self, index: int, steps: int) -> None:
        if not 0 <= index < len(self.park.companies):
            raise IndexError(f"no company {index} in {self.park.name}")
        with self._lock:
            self._apply(self._call("break", int(index), int(steps), frame=True))

    def map_layers(self, selected: int | None, view: str, focus: str | None) -> tuple[bytes, str]:
        """The map and its tooltip layer: from the last frame when it drew this view, else drawn
        now. The view asked for is drawn with every later step."""
        key: MapKey = (selected, view, focus)
        with self._lock:
            self.map_key = key
            if self._map is not None and self._map[0] == (self.marks, key):
                return self._map[1], self._map[2]
            image, hover = self._call("draw", *key)
            self._map = ((self.marks, key), image, hover)
            return image, hover

    def company_view(self, index: int) -> dict[str, Any]:
        with self._lock:
            self.company = index
            if self._company is not None and self._company[0] == (self.marks, index):
                return self._company[1]
            view = self._call("company", index)
            self._company = ((self.marks, index), view)
            return view

    def close(self) -> None:
        """Free the run in its worker (the page was closed, or left idle: a later command opens
        it again from day 0)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self.pool.forget(self.sid, self.worker)
            try:
                self.worker.call(self.sid, "close")
            except (UnknownRun, WorkerError, TimeoutError):
                pass

    # ---- what the page reads, as of `LiveRun` ---------------------------------------------------

    @property
    def t(self) -> int:
        return self._t

    def totals(self) -> dict[str, Any]:
        return self._totals

    def decisions(self) -> list[tuple[int, str, str, str]]:
        return list(self._decisions)

    def down(self) -> np.ndarray:
        return self._down


# ---- the server's pool -----------------------------------------------------------------------

_pool: RunPool | None = None
_pool_lock = threading.Lock()


def workers_from_env() -> int:
    """`ECOPARK_VIZ_WORKERS`, or the cores this process may use."""
    value = os.environ.get("ECOPARK_VIZ_WORKERS", "").strip()
    if value:
        return max(0, int(value))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_from_env() -> float:
    value = os.environ.get("ECOPARK_VIZ_IDLE_S", "").strip()
    return float(value) if value else DEFAULT_IDLE_S


def serve() -> RunPool | None:
    """Start the server's pool (once), as the environment says, and wait until its workers
    answer; None when it asks for no workers."""
    global _pool
    with _pool_lock:
        if _pool is None and workers_from_env() > 0:
            _pool = RunPool(workers_from_env(), idle_from_env())
            _pool.wait_ready()
        return _pool


def current() -> RunPool | None:
    """The server's pool if `serve` started one: the page then runs its models there."""
    return _pool


def _stop_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


atexit.register(_stop_pool)
