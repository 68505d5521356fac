"""Memory over a long run: resident memory after each simulated year, and the peak while the
outputs are written. Each case runs in a process of its own.

    uv run python benchmarks/memory.py                          # synthetic:300, ten daily years
    uv run python benchmarks/memory.py --scenario kalundborg --years 10

Bars (issue 19): memory after year ten within 10 % of memory after year one; the peak while
writing under 0.5 GB. The run is `experiments.runner.simulate` (run, baseline and, for parks
small enough, the synchronised yardstick) and `experiments.outputs.write_run`, as `run.py
simulate` does them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


class YearMarks:
    """A progress sink: resident memory at the end of each year of the first model's run."""

    def __init__(self, steps_per_year: int, steps: int):
        self.per_year, self.steps, self.n, self.marks = steps_per_year, steps, 0, []

    def update(self, k: int) -> None:
        self.n += k
        if self.n <= self.steps and self.n % self.per_year == 0:
            self.marks.append(round(rss_mb(), 1))


def _peak_while(fn) -> float:
    peak, done = [rss_mb()], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        fn()
    finally:
        done.set()
        t.join()
    return max(peak[0], rss_mb())


def one(scenario: str, years: int) -> dict:
    sys.path.insert(0, str(REPO))
    from experiments import outputs, runner

    cfg, park = runner.resolve(scenario, None, 0, {})
    steps = years * park.steps_per_year
    cfg, park = runner.resolve(scenario, steps, 0, {})
    marks = YearMarks(park.steps_per_year, steps)
    t0 = time.perf_counter()
    result = runner.simulate(cfg, park, marks)
    run_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        peak = _peak_while(lambda: outputs.write_run(result, Path(tmp) / "run"))
    trades = len(result.trade_log) if hasattr(result, "trade_log") else len(result.trades)
    return {"scenario": scenario, "years": years, "trades": trades, "run_s": round(run_s, 1),
            "rss_after_year_mb": marks.marks, "peak_while_writing_mb": round(peak, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="synthetic:300")
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.scenario, args.years)))
        return 0
    out = subprocess.run([sys.executable, __file__, "--one", "--scenario", args.scenario, "--years", str(args.years)],
                         capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return 1
    r = json.loads(out.stdout.strip().splitlines()[-1])
    marks = r["rss_after_year_mb"]
    growth = (marks[-1] / marks[0] - 1.0) * 100 if marks else float("nan")
    print(f"{r['scenario']}, {r['years']} years, {r['trades']:,} trades, run + baseline {r['run_s']} s")
    print("resident memory after each year (MB): " + ", ".join(f"{m:.0f}" for m in marks))
    print(f"after year {len(marks)} against after year 1: {growth:+.1f} % (bar: within 10 %)")
    print(f"peak while writing the outputs: {r['peak_while_writing_mb']:.0f} MB (bar: under 500 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
