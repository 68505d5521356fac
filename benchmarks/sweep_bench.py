"""Sweep speed and scale on this machine, printed (not asserted): run and paste into the README.

    uv run python benchmarks/sweep_bench.py              # 200-run comparison + 1,000-run sweep
    uv run python benchmarks/sweep_bench.py --runs 40    # a quicker look

A: the Kalundborg year swept over the carbon tax, serially and on a local Ray with 2 workers.
B: a 1,000-run sweep on Ray: runs per minute and each worker's memory over its runs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments import sweep, sweep_run  # noqa: E402


def kalundborg(runs: int, steps: int = 365) -> sweep.Sweep:
    text = f"""
[sweep]
name = "bench"
design = "random"
samples = {runs}
seed = 1
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
    args = ap.parse_args()

    spec = kalundborg(args.runs)
    serial_wall, serial = timed(spec, 1)
    ray_wall, on_ray = timed(spec, 2)
    run_s = serial["wall_s"].mean()
    print(f"A. {args.runs} runs of the Kalundborg year: serial {serial_wall:.0f} s, Ray 2 workers {ray_wall:.0f} s "
          f"-> {serial_wall / ray_wall:.2f}x (bar: >= 1.7x)")
    # Overhead: what Ray adds per run beyond the run itself, with two workers busy. Start-up
    # (starting Ray, its workers importing the model) is paid once and shown apart.
    overhead = (ray_wall * 2 - on_ray["wall_s"].sum()) / len(on_ray)
    first = on_ray["started_unix"].min()
    last = (on_ray["started_unix"] + on_ray["wall_s"]).max()
    steady = ((last - first) * 2 - on_ray["wall_s"].sum()) / len(on_ray)
    print(f"   mean run {run_s:.2f} s; Ray overhead per run {steady:.3f} s = {100 * steady / run_s:.1f} % of a run "
          f"(bar: < 5 %); with start-up spread over the runs {overhead:.3f} s = {100 * overhead / run_s:.1f} %")

    if args.big:
        big_wall, big = timed(kalundborg(args.big), 2)
        print(f"B. {args.big} runs on Ray, 2 workers: {big_wall:.0f} s = {60 * len(big) / big_wall:.0f} runs per minute")
        for pid, g in big.sort_values("run_id").groupby("worker_pid"):
            rss = g["worker_rss_mb"].to_numpy()
            k = max(1, len(rss) // 10)
            print(f"   worker {pid}: {len(rss)} runs, memory first tenth {np.median(rss[:k]):.0f} MB, "
                  f"last tenth {np.median(rss[-k:]):.0f} MB, max {rss.max():.0f} MB")


if __name__ == "__main__":
    main()
