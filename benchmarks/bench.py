"""Speed and memory figures of Ecopark, printed (not asserted): run and paste into the README.

    uv run python benchmarks/bench.py            # all figures
    uv run python benchmarks/bench.py --quick    # skip synthetic:1000

Each figure runs in a fresh subprocess pinned to one core, so peak memory is that run's own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, resource, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
sys.path.insert(0, sys.argv[1])
from experiments import runner
from agents.model import ParkModel
scenario, steps, what = sys.argv[2], int(sys.argv[3]), sys.argv[4]
cfg, park = runner.resolve(scenario, steps, 0, {})
if what == "simulate":
    t0 = time.perf_counter()
    runner.simulate(cfg, park)
else:
    m = ParkModel(park, cfg.policy, cfg.market, cfg.seed)
    t0 = time.perf_counter()
    m.run(steps)
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(scenario: str, steps: int, what: str = "simulate", repeat: int = 1) -> dict:
    best = None
    for _ in range(repeat):
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        r = subprocess.run([sys.executable, "-c", CHILD, str(REPO), scenario, str(steps), what],
                           capture_output=True, text=True, env=env, check=True)
        got = json.loads(r.stdout.strip().splitlines()[-1])
        if best is None or got["wall_s"] < best["wall_s"]:
            best = got
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 1,000-company year")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, one core per figure")

    k = measure("kalundborg", 365, "simulate", repeat=3)
    print(f"kalundborg, 365 steps, run + baseline: {k['wall_s']:.2f} s wall (bar: < 2 s), peak {k['peak_rss_mb']:.0f} MB")

    per_step = {}
    for n in (100, 1000):
        steps = 60
        m = measure(f"synthetic:{n}", steps, "model", repeat=3)
        per_step[n] = m["wall_s"] / steps
        print(f"synthetic:{n}, market run only: {per_step[n] * 1000:.1f} ms per step")
    print(f"per-step cost 1,000 / 100 companies: {per_step[1000] / per_step[100]:.1f}x (bar: <= 15x)")

    if not args.quick:
        t0 = time.perf_counter()
        s = measure("synthetic:1000", 365, "simulate")
        print(f"synthetic:1000, 365 steps, run + baseline: {s['wall_s']:.1f} s wall, peak {s['peak_rss_mb']:.0f} MB "
              f"(measured in {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
