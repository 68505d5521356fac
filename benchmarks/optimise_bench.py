"""NSGA-II against random search at the same budget, on the model: the hypervolume of the front
each finds, on common scaling (the best and worst feasible values either search saw), for
several root seeds of the built-in example (optimisations/park-co2.toml). Prints the figures
for README's "Policy design by optimisation"; writes into a temporary folder.

    uv run python benchmarks/optimise_bench.py [--seeds 1 2 3] [--evaluations 24] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import optimise, optimise_run  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "optimisations" / "park-co2.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--evaluations", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    base = optimise.read(EXAMPLE, args.evaluations)
    print(f"{EXAMPLE.name}: {args.evaluations} candidates x {base.runs_per_candidate()} runs, "
          f"{args.workers} workers")
    print("seed  algorithm  front  hypervolume  wall s")
    wins = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            fronts = {}
            for alg in ("nsga2", "random"):
                spec = dataclasses.replace(base, algorithm=alg, seed=seed)
                start = time.perf_counter()
                o = optimise_run.run(spec, Path(tmp) / f"{alg}-{seed}", args.workers, progress=False)
                wall = time.perf_counter() - start
                F = np.vstack([g.F[(g.G <= 0).all(axis=1)] for g in o.generations])
                fronts[alg] = (F, wall)
            allF = np.vstack([f for f, _ in fronts.values()])
            ideal, nadir = allF.min(axis=0), allF.max(axis=0)
            hv = {}
            for alg, (F, wall) in fronts.items():
                hv[alg] = optimise_run.hypervolume(F[optimise_run.nondominated(F)], ideal, nadir)
                print(f"{seed:>4}  {alg:<9}  {len(optimise_run.nondominated(F)):>5}  {hv[alg]:>11.3f}  {wall:>6.0f}")
            wins += hv["nsga2"] >= hv["random"]
    print(f"NSGA-II at least random search's hypervolume in {wins} of {len(args.seeds)} seeds")


if __name__ == "__main__":
    main()
