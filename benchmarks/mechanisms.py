"""Mechanisms and strategies on a competitive park: one table, printed (not asserted).

    uv run python benchmarks/mechanisms.py                      # synthetic:200, 30 steps, seeds 0-2
    uv run python benchmarks/mechanisms.py --steps 60 --seeds 5
    uv run python benchmarks/mechanisms.py --cache runs.json    # keep each run, resume after a stop

Each cell is one mechanism with every company bidding by one strategy (bilateral: truthful
orders, every company negotiating with one tactic), on the same seeds. Per cell, over seeds, the
mean and 95 % Student-t interval of

- social efficiency (`market_efficiency`): realised exchange surplus over the social optimum
  that counts each unit once, taxes and subsidies left out;
- the traders' share of the realised gains (`traders_share`): what the mechanism does not keep;
- the mechanism's budget (`mechanism_budget_eur`): what buyers pay less what sellers receive.

A year of synthetic:200 under the continuous double auction with ZIP takes several seconds a
step on one core, so the table runs a shorter season (30 steps by default) of the same park.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from experiments import api  # noqa: E402
from experiments.compare import ci  # noqa: E402

STRATEGIES = ("truthful", "zic", "zip", "roth_erev")
TACTICS = ("linear", "boulware", "conceder")
KPIS = ("market_efficiency", "traders_share", "mechanism_budget_eur")


def cells() -> list[tuple[str, str, dict[str, object]]]:
    """(mechanism label, bidders label, settings) of every cell of the table."""
    out: list[tuple[str, str, dict[str, object]]] = []
    for mech in ("call", "cda", "mcafee"):
        for s in STRATEGIES:
            out.append((mech, s, {"market.mechanism": mech, f"market.strategies.{s}": 1.0}))
    for t in TACTICS:
        out.append(("bilateral", f"truthful, {t}", {"market.mechanism": "bilateral", "market.strategies.truthful": 1.0,
                                                    f"market.tactics.{t}": 1.0}))
    out.append(("planner", "truthful", {"market.mechanism": "planner", "market.strategies.truthful": 1.0}))
    out.append(("mcafee (bounds)", "truthful", {"market.mechanism": "mcafee", "market.mcafee_convention": "bounds",
                                                "market.strategies.truthful": 1.0}))
    return out


def run_one(scenario: str, steps: int, seed: int, sets: dict[str, object]) -> dict[str, float]:
    k = api.simulate(scenario, steps=steps, seed=seed, set=dict(sets), yardstick=False).kpis
    return {name: float(k.get(name, np.nan)) for name in KPIS}


def fmt(values: list[float], scale: float, spec: str) -> str:
    m, lo, hi = ci(np.array(values, dtype=float) * scale)
    if np.isnan(m):
        return "n/a"
    if np.isnan(lo):
        return f"{m:{spec}}"
    return f"{m:{spec}} ({lo:{spec}} to {hi:{spec}})"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="synthetic:200")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1, the same for every cell")
    p.add_argument("--cache", type=Path, default=None, help="JSON file of finished runs, read and extended")
    a = p.parse_args(argv)
    done: dict[str, dict[str, float]] = json.loads(a.cache.read_text()) if a.cache and a.cache.exists() else {}
    rows = []
    for mech, bidders, sets in cells():
        got: dict[str, list[float]] = {k: [] for k in KPIS}
        seconds = 0.0
        for seed in range(a.seeds):
            key = json.dumps([a.scenario, a.steps, seed, sorted(sets.items())])
            if key not in done:
                t = time.perf_counter()
                done[key] = run_one(a.scenario, a.steps, seed, sets) | {"seconds": time.perf_counter() - t}
                if a.cache:
                    a.cache.write_text(json.dumps(done, indent=1))
            for k in KPIS:
                got[k].append(done[key][k])
            seconds += done[key].get("seconds", np.nan)
        rows.append([mech, bidders, fmt(got["market_efficiency"], 100, ".1f"), fmt(got["traders_share"], 100, ".1f"),
                     fmt(got["mechanism_budget_eur"], 1e-3, ",.0f"), f"{seconds / a.seeds:.0f}"])
        print(f"done: {mech}, {bidders}", file=sys.stderr, flush=True)
    headers = ["mechanism", "bidders", "social efficiency %", "traders' share %", "budget kEUR", "s/run"]
    print(f"{a.scenario}, {a.steps} steps, seeds 0-{a.seeds - 1}: mean (95 % CI over seeds)\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
