"""Sweep speed and scale on this machine, printed (not asserted): run and paste into the README.

    uv run python benchmarks/sweep_bench.py              # 200-run comparison + 1,000-run sweep (about 45 min)
    uv run python benchmarks/sweep_bench.py --runs 40    # a quicker look
    uv run python benchmarks/sweep_bench.py --small 40   # C only: a small sweep, Ray's start-up included

A: the Kalundborg year swept over the carbon tax, serially and on a local Ray with 2 workers.
B: a 1,000-run sweep on Ray, in 4 blocks each beside a serial block of A's size: its rate against the
   serial rate of the same minutes, and each worker's memory over its runs.
C: a small sweep as a user runs it, serially and on a Ray the sweep starts (its start-up included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments import sweep, sweep_run  # noqa: E402


def kalundborg(runs: int, steps: int = 365, seed: int = 1) -> sweep.Sweep:
    text = f"""
[sweep]
name = "bench"
design = "random"
samples = {runs}
seed = {seed}
[base]
scenario = "kalundborg"
steps = {steps}
[parameters]
"policy.carbon_tax" = {{ min = 0, max = 20 }}
"""
    return sweep.parse(tomllib.loads(text), "bench", text)


def timed(spec: sweep.Sweep, workers: int) -> tuple[float, "object"]:
    out = Path(tempfile.mkdtemp(prefix="ecopark-bench-"))
    shutil.rmtree(out)
    t0 = time.perf_counter()
    df = sweep_run.run_sweep(spec, out, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return wall, df


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--small", type=int, default=0,
                    help="C only: a sweep of this many runs as a user starts it, serially and on a Ray the sweep "
                         "starts itself (start-up included), twice each, alternating")
    args = ap.parse_args()
    if args.small:
        small(args.small)
        return

    # This machine's speed drifts by 10-20 % over minutes (shared cores), so serial and Ray
    # run in alternating blocks of the same size: drift hits both alike. Ray starts once, and
    # its start-up is counted in full.
    blocks = 4
    per = args.runs // blocks
    t0 = time.perf_counter()
    sweep_run.start_ray(2, None)  # as a sweep starts it
    startup = time.perf_counter() - t0
    serial_wall, ray_wall, serial, on_ray = alternate(blocks, per, per, 100)
    ray_wall += startup
    run_s = serial["wall_s"].mean()
    print(f"A. {per * blocks} runs of the Kalundborg year in {blocks} alternating blocks: serial {serial_wall:.0f} s, "
          f"Ray 2 workers {ray_wall:.0f} s (start-up {startup:.1f} s included) -> {serial_wall / ray_wall:.2f}x "
          f"(bar: >= 1.7x)")
    overhead = (ray_wall * 2 - on_ray["wall_s"].sum()) / len(on_ray)
    print(f"   mean run serial {run_s:.2f} s, on Ray {on_ray['wall_s'].mean():.2f} s; Ray overhead per run "
          f"{overhead:.3f} s = {100 * overhead / run_s:.1f} % of a run, start-up included (bar: < 5 %)")

    if args.big:
        # B: the big sweep on the same Ray, in 4 blocks, each beside a serial block of the
        # size A used, so the serial rate it is compared with is measured the same minutes.
        serial_b, big_wall, serial_rows, big = alternate(blocks, per, args.big // blocks, 300)
        ray_rate, serial_rate = len(big) / big_wall, len(serial_rows) / serial_b
        print(f"B. {len(big)} runs on Ray, 2 workers: {big_wall:.0f} s = {60 * ray_rate:.0f} runs per minute; "
              f"{len(serial_rows)} serial runs beside them, in alternating blocks: {60 * serial_rate:.0f} runs per minute "
              f"-> {ray_rate / serial_rate:.2f}x (bar: >= 1.85x)")
        for pid, g in big.sort_values("run_id").groupby("worker_pid"):
            rss = g["worker_rss_mb"].to_numpy()
            k = max(1, len(rss) // 10)
            print(f"   worker {pid}: {len(rss)} runs, memory first tenth {np.median(rss[:k]):.0f} MB, "
                  f"last tenth {np.median(rss[-k:]):.0f} MB, max {rss.max():.0f} MB")
    sweep_run.stop_ray()


def alternate(blocks: int, serial_runs: int, ray_runs: int, seed: int):
    """`blocks` rounds of a serial block then a block on the running Ray (drift hits both alike):
    the serial and Ray walls and each side's rows."""
    import pandas as pd

    serial_wall = ray_wall = 0.0
    serial, on_ray = [], []
    for b in range(blocks):
        w, df = timed(kalundborg(serial_runs, seed=seed + b), 1)
        serial_wall += w
        serial.append(df)
        w, df = timed(kalundborg(ray_runs, seed=seed + b), 2)
        ray_wall += w
        on_ray.append(df)
    return serial_wall, ray_wall, pd.concat(serial), pd.concat(on_ray)


def small(runs: int) -> None:
    """C. A small sweep as a user runs it: `--workers 1` against `--workers 2`, where the sweep
    starts its own Ray (and runs its first runs in this process while Ray starts)."""
    walls: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(2):
        for workers in (1, 2):
            w, df = timed(kalundborg(runs, seed=200 + rep), workers)
            walls[workers].append(w)
            driver = int((df["worker_pid"] == os.getpid()).sum()) if workers > 1 else len(df)
            print(f"   {runs} runs, workers {workers}: {w:.1f} s ({driver} in this process)", flush=True)
    s1, s2 = sum(walls[1]), sum(walls[2])
    print(f"C. {runs} runs of the Kalundborg year, as a user starts them: serial {s1 / 2:.1f} s, local Ray with 2 "
          f"workers started by the sweep {s2 / 2:.1f} s (means of 2) -> {s1 / s2:.2f}x (bar: >= 1.6x)")


if __name__ == "__main__":
    main()
