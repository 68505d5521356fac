"""How big a run may be: its memory and time estimated from its size before it starts, and a
run that cannot fit in this machine's memory refused (exit 2) with the estimate and what to
change, instead of growing until the machine gives out.

The estimates are fitted to measurements on the development machine (docs/speed.md,
"Limits"). A run's trades, production record and per-step records go to disk as it runs
(`agents.spool`), so its memory is its park (BYTES_PER_COMPANY for the run and its baseline)
and the time series built at the end (BYTES_PER_STEP); the logs need SPOOL_BYTES_PER_COMPANY_STEP
of the temporary folder's disk. Generating a synthetic park takes about 3.5 bytes per pair of
companies, and a step takes about 0.25 ms per company (plus 2 ms) for each of the two models.
They are orders of magnitude, meant to catch what cannot work, not to plan to the second.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

import psutil

from experiments.problems import InputError

BASE_BYTES = 250e6  # Python, the libraries and the park
BYTES_PER_COMPANY = 50e3  # the park's companies, run and baseline together
BYTES_PER_STEP = 6_000.0  # the time series built at the end of a run
SPOOL_BYTES_PER_COMPANY_STEP = 400.0  # trades and production logged on disk as the run goes
BYTES_PER_PAIR = 3.5  # generating a synthetic park
SECONDS_PER_COMPANY_STEP = 0.25e-3
SECONDS_PER_STEP = 2e-3
BYTES_PER_SWEEP_ROW = 4_000.0  # a finished run's row, on disk and in the results table
SHARE = 0.8  # of the memory available now that a run may plan to use


@dataclass(frozen=True)
class Estimate:
    bytes: float
    seconds: float
    disk: float = 0.0  # of the temporary folder, for the run's logs

    def describe(self) -> str:
        return f"about {_size(self.bytes)} of memory and {_duration(self.seconds)}"


def run(companies: int, steps: int) -> Estimate:
    """One run and its baseline (the runner's `simulate`)."""
    return Estimate(BASE_BYTES + BYTES_PER_COMPANY * companies + BYTES_PER_STEP * steps,
                    2 * steps * (SECONDS_PER_STEP + SECONDS_PER_COMPANY_STEP * companies),
                    SPOOL_BYTES_PER_COMPANY_STEP * companies * steps)


def available() -> float:
    return float(psutil.virtual_memory().available)


def disk_free() -> float:
    """Free space in the temporary folder the run's logs spool to (TMPDIR)."""
    return float(shutil.disk_usage(tempfile.gettempdir()).free)


def check_run(companies: int, steps: int, what: str = "--steps") -> Estimate:
    """Refuse a run that cannot fit in memory or whose logs cannot fit on the temporary
    folder's disk; return its estimate."""
    est = run(companies, steps)
    free = available() * SHARE
    if est.bytes > free:
        most = max(1, int((free - BASE_BYTES - BYTES_PER_COMPANY * companies) / BYTES_PER_STEP))
        raise InputError([f"{what}: {steps:,} steps of a {companies:,}-company park need {est.describe()}, more than "
                          f"this machine can give ({_size(available())} free): at most about {most:,} steps of this "
                          f"park, or a smaller park"])
    room = disk_free() * SHARE
    if est.disk > room:
        most = max(1, int(room / (SPOOL_BYTES_PER_COMPANY_STEP * max(1, companies))))
        raise InputError([f"{what}: {steps:,} steps of a {companies:,}-company park log about {_size(est.disk)} of "
                          f"trades and production to {tempfile.gettempdir()}, which has {_size(disk_free())} free: "
                          f"at most about {most:,} steps of this park, or set TMPDIR to a folder on a larger disk"])
    return est


def check_synthetic(size: int, spec: str) -> None:
    """Refuse generating a synthetic park too large for memory."""
    need = BASE_BYTES + BYTES_PER_PAIR * size * size
    if need > available() * SHARE:
        most = int(((available() * SHARE - BASE_BYTES) / BYTES_PER_PAIR) ** 0.5)
        raise InputError([f"scenario '{spec}': generating {size:,} companies needs about {_size(need)} of memory, "
                          f"more than this machine can give ({_size(available())} free): at most about "
                          f"{most:,} companies here"])


def check_runs(count: int, companies: int, steps: int, what: str) -> Estimate:
    """Refuse a set of runs (a sweep, a comparison, a resilience study) whose rows or any one
    run cannot fit; return the estimate of all of them run one after another."""
    one = check_run(companies, steps)
    rows = BYTES_PER_SWEEP_ROW * count
    if rows > available() * SHARE:
        most = int(available() * SHARE / BYTES_PER_SWEEP_ROW)
        raise InputError([f"{what}: {count:,} runs would hold about {_size(rows)} of results, more than this "
                          f"machine can give ({_size(available())} free): at most about {most:,} runs"])
    return Estimate(one.bytes, one.seconds * count)


def _size(b: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if b >= scale:
            return f"{b / scale:,.1f} {unit}"
    return f"{b / 1e3:,.0f} kB"


def _duration(s: float) -> str:
    if s >= 86400 * 2:
        return f"{s / 86400:,.0f} days"
    if s >= 3600:
        return f"{s / 3600:,.1f} hours"
    if s >= 60:
        return f"{s / 60:,.0f} minutes"
    return f"{s:,.0f} s"
