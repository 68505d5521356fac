"""NSGA-II (Deb et al. 2002, IEEE TEC 6(2)) against uniform random search at the same budget, on
the model: the built-in example (optimisations/park-co2.toml) run by both searches for several
root seeds, each search judged on every feasible candidate it evaluated (the front of all its
evaluations, not only its last population). Prints every figure for docs/usage.md ("Against
random search"); writes into a temporary folder unless --keep DIR.

Hypervolume (Zitzler & Thiele 1998) on common scaling per seed: the objectives are scaled so that
the ideal and the nadir of the two searches' joint front (the best and worst value of each
objective among the candidates neither search beats) go to 0 and 1, reference point 1.1, so a
point of either front contributes and a dominated outlier of one search does not stretch the
scale (the nadir is the front's, Deb, Miettinen & Chaudhuri 2010). The hypervolume on the older
scaling (ideal and worst of every evaluated candidate) is printed beside it.

Replicate noise (with --replicates 2 or more): for each objective, the standard error of a
candidate's replicate mean, net of the seeds' common effect, as a share of the spread of those
means across candidates; near 100 % a search would be selecting on luck. `--replicates 2
--evaluations 12 --seeds 1` measures it on one generation (the same for both searches).

    uv run python benchmarks/optimise_bench.py [--seeds 1 2 3 4 5] [--evaluations 96]
        [--population 12] [--replicates 1] [--steps 90] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import optimise, optimise_run  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "optimisations" / "park-co2.toml"
ALGORITHMS = ("nsga2", "random")


def feasible(o: optimise_run.Outcome) -> np.ndarray:
    """Every feasible candidate's objectives (pymoo's minimised form): constraints held and no run
    failed (a failed candidate carries optimise_run.INFEASIBLE and must not set the scale)."""
    return np.vstack([g.F[(g.G <= 0).all(axis=1) & (g.F < optimise_run.INFEASIBLE).all(axis=1)]
                      for g in o.generations])


def joint_scale(points: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The ideal and nadir of the front of both searches' evaluated candidates together."""
    union = np.vstack(list(points.values()))
    joint = union[optimise_run.nondominated(union)]
    return joint.min(axis=0), joint.max(axis=0)


def front_hv(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    return optimise_run.hypervolume(F[optimise_run.nondominated(F)], ideal, nadir) if len(F) else 0.0


def by_generation(o: optimise_run.Outcome, ideal: np.ndarray, nadir: np.ndarray) -> list[float]:
    """The hypervolume of the front found up to each generation, on the final joint scaling."""
    seen = [feasible(dataclasses.replace(o, generations=o.generations[:n + 1])) for n in range(len(o.generations))]
    return [front_hv(F, ideal, nadir) for F in seen]


def noise(out: Path, spec: optimise.Optimisation) -> list[float]:
    """Per objective: the standard error of a candidate's replicate mean as a share of the spread
    of those means across candidates. With common random numbers the seed's own effect is shared
    by every candidate, so the error is the candidate-by-replicate interaction (the residual of
    a two-way layout without repeats)."""
    df = pd.read_parquet(out / "results.parquet")
    df = df[df["status"] == "ok"]
    shares = []
    for o in spec.objectives:
        t = df.pivot_table(index=["generation", "candidate"], columns="replicate", values=o.kpi).dropna()
        if len(t) < 2 or t.shape[1] < 2:
            shares.append(float("nan"))
            continue
        v = t.to_numpy()
        resid = v - v.mean(axis=1, keepdims=True) - v.mean(axis=0, keepdims=True) + v.mean()
        se = np.sqrt((resid**2).sum() / ((v.shape[0] - 1) * (v.shape[1] - 1)) / v.shape[1])
        spread = float(np.std(v.mean(axis=1), ddof=1))
        shares.append(se / spread if spread > 0 else float("nan"))
    return shares


def one_seed(base: optimise.Optimisation, seed: int, folder: Path, workers: int) -> dict[str, dict]:
    """Both searches from one root seed (the same replicate seeds, the same first generation).
    A kept folder from an earlier call is replayed (`--resume`): no run is redone."""
    found: dict[str, dict] = {}
    for alg in ALGORITHMS:
        spec = dataclasses.replace(base, algorithm=alg, seed=seed)
        out = folder / f"{alg}-{seed}"
        start = time.perf_counter()
        o = optimise_run.run(spec, out, workers, resume=(out / "manifest.json").exists(), progress=False)
        F = feasible(o)
        found[alg] = {"outcome": o, "points": F, "front": F[optimise_run.nondominated(F)], "worst": F.max(axis=0),
                      "wall": time.perf_counter() - start, "failed": o.failed,
                      "noise": noise(out, spec) if spec.replicates > 1 else []}
    ideal, nadir = joint_scale({a: f["front"] for a, f in found.items()})
    worst = np.max([f["worst"] for f in found.values()], axis=0)
    for f in found.values():
        f.update(hv=front_hv(f["points"], ideal, nadir), hv_worst=front_hv(f["points"], ideal, worst),
                 curve=by_generation(f["outcome"], ideal, nadir))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--evaluations", type=int, default=96)
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--replicates", type=int, default=1)
    ap.add_argument("--steps", type=int, default=90)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="write the searches' folders here and keep them")
    args = ap.parse_args()
    base = dataclasses.replace(optimise.read(EXAMPLE, args.evaluations), population=args.population,
                               replicates=args.replicates, steps=args.steps)
    print(f"{EXAMPLE.name}: {args.evaluations} candidates (population {args.population}) x "
          f"{base.runs_per_candidate()} runs of {args.steps} steps, {args.workers} workers")
    print("seed  algorithm  front  hv(joint front)  hv(worst point)  failed  wall s  replicate noise by objective")
    hv: dict[str, list[float]] = {alg: [] for alg in ALGORITHMS}
    start = time.perf_counter()
    started = optimise_run.sweep_run.start_ray(args.workers, None) if args.workers > 1 else False  # once, not per search
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        for seed in args.seeds:
            for alg, f in one_seed(base, seed, folder, args.workers).items():
                hv[alg].append(f["hv"])
                shares = " ".join(f"{s:.0%}" for s in f["noise"])
                print(f"{seed:>4}  {alg:<9}  {len(f['front']):>5}  {f['hv']:>15.3f}  {f['hv_worst']:>15.3f}  "
                      f"{f['failed']:>6}  {f['wall']:>6.0f}  {shares}", flush=True)
                print(f"      {alg} hypervolume by generation: " + " ".join(f"{h:.3f}" for h in f["curve"]))
    if started:
        optimise_run.sweep_run.stop_ray()
    n, r = np.array(hv["nsga2"]), np.array(hv["random"])
    print(f"mean hypervolume (joint front scaling): NSGA-II {n.mean():.3f} (sd {n.std(ddof=1) if len(n) > 1 else 0:.3f}), "
          f"random {r.mean():.3f} (sd {r.std(ddof=1) if len(r) > 1 else 0:.3f}); mean difference {np.mean(n - r):+.3f}")
    print(f"NSGA-II at least random search's hypervolume in {int((n >= r).sum())} of {len(n)} seeds; "
          f"{time.perf_counter() - start:.0f} s in all (Ray's start counted in the first search)")


if __name__ == "__main__":
    main()
