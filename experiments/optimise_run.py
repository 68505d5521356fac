"""Running an optimisation: pymoo proposes candidate schemes, Ecopark runs each on every scenario
and replicate, and the runs are written as they finish.

Layout of an optimisation folder:

    DIR/manifest.json        the optimisation file, versions, git commit
    DIR/runs/RUN_ID.json     one file per finished run (RUN_ID = gGGG-cCCC-sS-rRR: generation,
                             candidate, scenario, replicate), written atomically
    DIR/results.parquet      every run, one row each, the columns of a sweep's (`run.py report`)
    DIR/candidates.csv       one row per candidate: its levers, objectives, constraints, front
    DIR/pareto.csv           the non-dominated feasible candidates, with 95 % intervals over runs
    DIR/pareto.png           the front (2 objectives) or its pairwise projections
    DIR/convergence.csv/png  the hypervolume of the front found so far, by generation
    DIR/schemes/*.toml       each front candidate as a scheme `run.py compare --schemes` takes
                             (when every lever is a policy.* key)

`--resume` replays the search: the algorithm is seeded, so it asks for the same candidates
again, and every run already in runs/ is read back instead of run. A larger `--evaluations`
on resume carries the search on from where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import scenario_io, sweep_run
from experiments.atomic import write_text
from experiments.optimise import Optimisation
from experiments.outputs import git_commit, versions
from experiments.problems import InputError
from experiments.sweep import Run

INFEASIBLE = 1e12  # the constraint violation of a candidate some of whose runs failed


@dataclass
class Generation:
    """One batch of candidates: their genes, objectives (pymoo's minimised form) and constraint
    violations (<= 0 holds)."""

    number: int
    X: np.ndarray
    F: np.ndarray
    G: np.ndarray


def search(bounds: list[tuple[float, float]], n_obj: int, n_constr: int, algorithm: str, population: int,
           evaluations: int, seed: int, evaluate: Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]],
           rescore: Callable[[np.ndarray], np.ndarray] | None = None) -> list[Generation]:
    """Ask-and-tell with pymoo (or uniform random search): `evaluate(generation, X)` returns the
    objectives to minimise and the constraint violations of each row of X. Stops after
    `evaluations` candidates (the last generation is cut to fit), or earlier when the algorithm
    can propose no candidate it has not tried (pymoo drops duplicate offspring: a search space
    of a few values can run out).

    `rescore(X)`, when given, returns the objectives of candidates already evaluated as they
    stand now (regret moves as better candidates are found): after each generation every
    generation's objectives and the algorithm's population are rescored before the algorithm
    ranks them, so survivors and newcomers are compared on the same references."""
    from pymoo.core.problem import Problem

    xl = np.array([b[0] for b in bounds], dtype=float)
    xu = np.array([b[1] for b in bounds], dtype=float)
    problem = Problem(n_var=len(bounds), n_obj=n_obj, n_ieq_constr=n_constr, xl=xl, xu=xu)
    rng = np.random.default_rng(seed)
    alg = None
    if algorithm != "random":
        alg = _algorithm(algorithm, population, n_obj, seed)
        alg.setup(problem, termination=("n_eval", evaluations), seed=seed, verbose=False)
    out: list[Generation] = []
    done = 0
    while done < evaluations:
        size = min(population, evaluations - done)
        if alg is None:
            X = xl + (xu - xl) * rng.random((size, len(bounds)))
            pop = None
        else:
            pop = alg.ask()
            if pop is None or len(pop) == 0:
                break
            pop = pop[:size]
            X = pop.get("X")
        F, G = evaluate(len(out), X)
        out.append(Generation(len(out), X, F, G))
        done += len(X)
        if rescore is not None:
            for g in out:
                g.F = rescore(g.X)
            F = out[-1].F
            if alg is not None and alg.pop is not None and len(alg.pop):
                alg.pop.set("F", rescore(alg.pop.get("X")))
        if alg is not None:
            pop.set("F", F)
            if n_constr:
                pop.set("G", G)
            alg.evaluator.n_eval += len(X)
            alg.tell(infills=pop)
    return out


def _algorithm(name: str, population: int, n_obj: int, seed: int):
    # The first generation is a Latin hypercube (McKay, Beckman & Conover 1979, Technometrics
    # 21(2); pymoo's keeps the best of 50 by their smallest distance), as EMA Workbench samples
    # by default: each lever's range is cut into as many strata as candidates and each stratum
    # is tried once, so a generation of 12 reaches every end of every lever, where uniform draws
    # leave gaps. With few generations (a model's budget) the front's ends come from there.
    from pymoo.operators.sampling.lhs import LHS

    if name == "nsga2":
        from pymoo.algorithms.moo.nsga2 import NSGA2

        return NSGA2(pop_size=population, sampling=LHS())
    from pymoo.algorithms.moo.nsga3 import NSGA3
    from pymoo.util.ref_dirs import get_reference_directions

    # Reference directions about as many as the population (Das & Dennis 1998 lattice).
    partitions = 1
    while _lattice(n_obj, partitions + 1) <= population:
        partitions += 1
    return NSGA3(ref_dirs=get_reference_directions("das-dennis", n_obj, n_partitions=partitions), pop_size=population,
                 sampling=LHS())


def _lattice(n_obj: int, partitions: int) -> int:
    from math import comb

    return comb(partitions + n_obj - 1, n_obj - 1)


def nondominated(F: np.ndarray) -> np.ndarray:
    """Indices of the rows of F (minimised) no other row dominates."""
    if len(F) == 0:
        return np.zeros(0, dtype=int)
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    return np.asarray(NonDominatedSorting().do(F, only_non_dominated_front=True), dtype=int)


def hypervolume(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    """Hypervolume of the rows of F (minimised) after scaling ideal..nadir to 0..1, against the
    reference point 1.1 in every objective (Zitzler & Thiele 1998)."""
    if len(F) == 0:
        return 0.0
    from pymoo.indicators.hv import HV

    span = np.where(nadir - ideal > 1e-12, nadir - ideal, 1.0)
    scaled = (F - ideal) / span
    return float(HV(ref_point=np.full(F.shape[1], 1.1))(scaled))


# ---------------------------------------------------------------------- on the model
class Store(sweep_run.Store):
    """The optimisation folder: a sweep folder's layout, with its own manifest."""

    def __init__(self, out: Path, spec: Optimisation):
        super().__init__(out, spec)  # type: ignore[arg-type]  (the store reads only .source)
        self.spec = spec

    def _manifest(self) -> dict[str, Any]:
        s = self.spec
        return {"sweep_file": s.source, "kind": "optimisation", "name": s.name, "design": f"optimise-{s.algorithm}",
                "algorithm": s.algorithm, "evaluations": s.evaluations, "population": s.population,
                "replicates": s.replicates, "root_seed": s.seed, "scenario": s.scenarios[0],
                "scenarios": list(s.scenarios), "steps": s.steps, "base_set": dict(s.base_sets), "axes": {},
                "ranges": {lv.key: [lv.low, lv.high] for lv in s.levers if lv.kind != "choice"},
                "objectives": [o.label for o in s.objectives], "constraints": [c.label for c in s.constraints],
                "runs": s.evaluations * s.runs_per_candidate(), "versions": versions(), "git_commit": git_commit()}

    def cached(self) -> dict[str, dict[str, Any]]:
        return {r["run_id"]: r for r in self.rows()}


@dataclass
class Outcome:
    spec: Optimisation
    out: Path
    generations: list[Generation]
    candidates: pd.DataFrame
    front: pd.DataFrame
    convergence: pd.DataFrame
    ran: int  # runs done now (the others were read back from runs/)
    failed: int
    schemes: list[Path] = field(default_factory=list)


def run(spec: Optimisation, out: Path, workers: int = 1, address: str | None = None, resume: bool = False,
        run_fn: Callable[[sweep_run.Task], dict[str, Any]] = sweep_run.execute, progress: bool | None = None
        ) -> Outcome:
    """Search, running every candidate on every scenario and replicate; write the outputs."""
    from experiments.destination import lock

    with lock(Path(out), "optimise"):
        return _run(spec, Path(out), workers, address, resume, run_fn, progress)


def _run(spec: Optimisation, out: Path, workers: int, address: str | None, resume: bool,
         run_fn: Callable[[sweep_run.Task], dict[str, Any]], progress: bool | None) -> Outcome:
    from tqdm import tqdm

    store = Store(out, spec)
    store.open(resume)
    cached = store.cached()
    seeds = spec.seeds()
    texts = {scenario: scenario_io.file_text(scenario) for scenario in spec.scenarios}  # read once, sent with each run
    parallel = workers > 1 or address is not None
    started_ray = sweep_run.start_ray(workers, address) if parallel else False
    bar = tqdm(total=spec.evaluations * spec.runs_per_candidate(), desc=spec.name, unit="run",
               disable=None if progress is None else not progress)
    counts = {"ran": 0, "failed": 0}
    rows_by_candidate: dict[tuple[int, int], list[dict[str, Any]]] = {}

    def evaluate(gen: int, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tasks = []
        rows: list[dict[str, dict[str, Any]]] = [{} for _ in X]  # each candidate's runs by run id
        whose: dict[str, tuple[int, str]] = {}  # run id -> (candidate, scenario)
        first = gen * spec.population  # the candidate's number over the whole search
        for i, x in enumerate(X):
            levers = spec.decode(x)
            params = tuple(sorted(levers.items()))
            for s, scenario in enumerate(spec.scenarios):
                for r, seed in enumerate(seeds):
                    run_id = f"g{gen:03d}-c{i:03d}-s{s}-r{r:02d}"
                    whose[run_id] = (i, scenario)
                    old = cached.get(run_id)
                    if old is not None:
                        if any(old.get(k) != v for k, v in levers.items()):
                            raise InputError([f"--out {out}: run {run_id} in runs/ has other levers than this search "
                                              f"asks for (the folder was written by another version of the search): "
                                              f"start a new folder"])
                        rows[i][run_id] = old
                        bar.update(1)
                        continue
                    task = sweep_run.Task.of(Run(run_id, first + i, r, seed, params), scenario, spec.steps,
                                             spec.base_sets, texts[scenario])
                    tasks.append(task)
        results = sweep_run._ray(tasks, run_fn, workers, address) if parallel and tasks else \
            sweep_run._serial(tasks, run_fn)
        for row in results:
            i, scenario = whose[row["run_id"]]
            row.update(generation=gen, candidate=i, scenario=scenario)
            store.save(row)
            rows[i][row["run_id"]] = row
            counts["ran"] += 1
            counts["failed"] += row["status"] != "ok"
            bar.update(1)
            bar.set_postfix(failed=counts["failed"])
        F = np.zeros((len(X), len(spec.objectives)))
        G = np.zeros((len(X), len(spec.constraints)))
        for i, runs in enumerate(rows):
            mine = [runs[k] for k in sorted(runs)]
            rows_by_candidate[(gen, i)] = mine
            F[i], G[i] = _score(spec, mine)
            regret.add(X[i], _per_scenario(spec, mine), G[i])
        return F, G

    regret = Regret(len(spec.objectives))
    try:
        bounds = [lv.bounds() for lv in spec.levers]
        gens = search(bounds, len(spec.objectives), len(spec.constraints), spec.algorithm, spec.population,
                      spec.evaluations, spec.seed, evaluate,
                      rescore=regret.rescore if spec.robustness == "regret" else None)
    finally:
        bar.close()
        store.write_results()
        if started_ray:
            sweep_run.stop_ray()
    candidates = _candidates(spec, gens, rows_by_candidate)
    front = _front(spec, candidates, rows_by_candidate)
    convergence = _convergence(spec, gens)
    outcome = Outcome(spec, out, gens, candidates, front, convergence, counts["ran"], counts["failed"])
    _write(outcome)
    return outcome


class Regret:
    """Each candidate's objectives per scenario, to score it by regret: in each scenario the gap
    between its value and the best value any feasible candidate evaluated so far reached there
    (any candidate whose runs all worked, while none is feasible); its objective is the largest
    gap over the scenarios (Savage 1951, minimax regret). A candidate some of whose runs failed
    stays at INFEASIBLE."""

    def __init__(self, n_obj: int) -> None:
        self.n_obj = n_obj
        self.values: dict[bytes, np.ndarray | None] = {}  # genes -> (scenarios, objectives), minimised form
        self.feasible: dict[bytes, bool] = {}

    def add(self, x: np.ndarray, per_scenario: np.ndarray | None, g: np.ndarray) -> None:
        key = np.asarray(x, dtype=float).tobytes()
        self.values[key] = per_scenario
        self.feasible[key] = per_scenario is not None and bool((g <= 0).all())

    def best(self) -> np.ndarray | None:
        ok = [v for v in self.values.values() if v is not None]
        good = [v for k, v in self.values.items() if v is not None and self.feasible[k]]
        pool = good or ok
        return np.min(np.stack(pool), axis=0) if pool else None

    def rescore(self, X: np.ndarray) -> np.ndarray:
        best = self.best()
        F = np.full((len(X), self.n_obj), INFEASIBLE)
        for i, x in enumerate(np.asarray(X, dtype=float)):
            v = self.values[x.tobytes()]
            if v is not None and best is not None:
                F[i] = np.max(v - best, axis=0)
        return F


def _by_scenario(spec: Optimisation, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [[r for r in rows if r["scenario"] == s] for s in spec.scenarios]


def _aggregates(spec: Optimisation, by_scenario: list[list[dict[str, Any]]]) -> np.ndarray:
    """Each objective's aggregate over the replicates (minimised form), a row per scenario; NaN
    where a KPI could not be computed."""
    return np.array([[o.to_min(o.over_replicates(_values(rs, o.kpi))) for o in spec.objectives]
                     for rs in by_scenario], dtype=float).reshape(len(by_scenario), len(spec.objectives))


def _per_scenario(spec: Optimisation, rows: list[dict[str, Any]]) -> np.ndarray | None:
    """`_aggregates` of a candidate's runs; None when a run failed or an objective could not be
    computed."""
    if any(r["status"] != "ok" for r in rows) or not rows:
        return None
    v = _aggregates(spec, _by_scenario(spec, rows))
    return v if np.isfinite(v).all() else None


def _score(spec: Optimisation, rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """A candidate's objectives (minimised form) and constraint violations from its runs: per
    scenario over the replicates, then the worst case or the mean over scenarios (regret is
    scored by `Regret`, against the other candidates; here it reads as the worst case)."""
    g = np.zeros(len(spec.constraints))
    if any(r["status"] != "ok" for r in rows) or not rows:
        return np.full(len(spec.objectives), INFEASIBLE), np.full(len(spec.constraints), INFEASIBLE) \
            if spec.constraints else g
    by_scenario = _by_scenario(spec, rows)
    combine = np.mean if spec.robustness == "mean" else np.max
    f = combine(_aggregates(spec, by_scenario), axis=0)
    for k, c in enumerate(spec.constraints):
        g[k] = float(max(c.violation(float(np.mean(_values(rs, c.kpi)))) for rs in by_scenario))
    bad = ~np.isfinite(f)
    if bad.any():  # a KPI the run could not compute (e.g. an efficiency with nothing to gain)
        f[bad] = INFEASIBLE
    return f, np.where(np.isfinite(g), g, INFEASIBLE)


def _values(rows: list[dict[str, Any]], kpi: str) -> np.ndarray:
    return np.array([float(r.get(kpi, float("nan"))) for r in rows], dtype=float)


def _candidates(spec: Optimisation, gens: list[Generation], rows: dict[tuple[int, int], list]) -> pd.DataFrame:
    records = []
    for g in gens:
        for i, x in enumerate(g.X):
            rec: dict[str, Any] = {"generation": g.number, "candidate": i}
            rec.update(spec.decode(x))
            for k, o in enumerate(spec.objectives):
                rec[spec.column(o)] = np.nan if g.F[i, k] >= INFEASIBLE else spec.shown(o, g.F[i, k])
            for k, c in enumerate(spec.constraints):
                rec[c.label] = g.G[i, k]
            rec["feasible"] = bool((g.G[i] <= 0).all() and (g.F[i] < INFEASIBLE).all())
            rec["runs"] = len(rows.get((g.number, i), []))
            records.append(rec)
    df = pd.DataFrame(records)
    df["front"] = False
    ok = df.index[df["feasible"]].to_numpy()
    if len(ok):
        F = np.vstack([gens[df.loc[j, "generation"]].F[df.loc[j, "candidate"]] for j in ok])
        df.loc[ok[nondominated(F)], "front"] = True
    return df


def _front(spec: Optimisation, candidates: pd.DataFrame, rows: dict[tuple[int, int], list]) -> pd.DataFrame:
    """The front's candidates, each objective's KPI with its mean and 95 % interval over all the
    candidate's runs (replicates and scenarios), sorted by the first objective."""
    from experiments.compare import ci

    front = candidates[candidates["front"]]
    out = []
    for _, c in front.iterrows():
        rec: dict[str, Any] = {"generation": int(c["generation"]), "candidate": int(c["candidate"])}
        rec.update({lv.key: c[lv.key] for lv in spec.levers})
        mine = rows[(int(c["generation"]), int(c["candidate"]))]
        for o in spec.objectives:
            rec[spec.column(o)] = c[spec.column(o)]
            m, lo, hi = ci(_values(mine, o.kpi))
            rec[f"{o.kpi}_mean"], rec[f"{o.kpi}_ci_low"], rec[f"{o.kpi}_ci_high"] = m, lo, hi
        rec["runs"] = len(mine)
        out.append(rec)
    df = pd.DataFrame(out)
    if len(df):
        first = spec.objectives[0]
        df = df.sort_values(spec.column(first), ascending=spec.better_low(first)).reset_index(drop=True)
        df.insert(0, "scheme", [f"front-{n + 1:02d}" for n in range(len(df))])
    return df


def _convergence(spec: Optimisation, gens: list[Generation]) -> pd.DataFrame:
    """Hypervolume of the feasible front found up to each generation, objectives scaled by the
    best and worst feasible values the whole search saw."""
    feasible = [g.F[(g.G <= 0).all(axis=1) & (g.F < INFEASIBLE).all(axis=1)] for g in gens]
    allF = np.vstack(feasible) if any(len(f) for f in feasible) else np.zeros((0, len(spec.objectives)))
    rows = []
    seen = np.zeros((0, len(spec.objectives)))
    evaluated = 0
    for g, f in zip(gens, feasible):
        seen = np.vstack([seen, f])
        evaluated += len(g.X)
        hv = hypervolume(seen[nondominated(seen)], allF.min(axis=0), allF.max(axis=0)) if len(allF) else 0.0
        rows.append({"generation": g.number, "evaluations": evaluated, "feasible": len(seen), "hypervolume": hv})
    return pd.DataFrame(rows)


def _write(o: Outcome) -> None:
    out = o.out
    write_text(out / "candidates.csv", o.candidates.to_csv(index=False))
    write_text(out / "pareto.csv", o.front.to_csv(index=False))
    write_text(out / "convergence.csv", o.convergence.to_csv(index=False))
    _charts(o)
    if o.front.empty or not all(lv.key.startswith("policy.") for lv in o.spec.levers):
        return
    import tomli_w

    folder = out / "schemes"
    folder.mkdir(exist_ok=True)
    for _, row in o.front.iterrows():
        doc = {"scheme": {"name": row["scheme"], "description": (
            f"Pareto front of optimisation '{o.spec.name}', generation {row['generation']} candidate "
            f"{row['candidate']}: " + ", ".join(f"{o.spec.column(ob)} {row[o.spec.column(ob)]:.4g}"
                                                for ob in o.spec.objectives))},
            "policy": {lv.key.removeprefix("policy."): _plain(row[lv.key]) for lv in o.spec.levers}}
        path = folder / f"{row['scheme']}.toml"
        write_text(path, tomli_w.dumps(doc))
        o.schemes.append(path)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _charts(o: Outcome) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objs = o.spec.objectives
    c = o.candidates[o.candidates["feasible"]]
    pairs = [(a, b) for n, a in enumerate(objs) for b in objs[n + 1:]] or [(objs[0], objs[0])]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs):
        xa, xb = o.spec.column(a), o.spec.column(b)
        ax.scatter(c[xa], c[xb], s=14, color="#b0b0b0", label="evaluated")
        f = c[c["front"]].sort_values(xa)
        ax.scatter(f[xa], f[xb], s=30, color="#1f6f8b", label="front", zorder=3)
        ax.set_xlabel(xa)
        ax.set_ylabel(xb)
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(f"{o.spec.name}: {len(c)} feasible candidates, {int(c['front'].sum())} on the front")
    fig.tight_layout()
    _save(fig, o.out / "pareto.png")
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(o.convergence["evaluations"], o.convergence["hypervolume"], marker="o", color="#1f6f8b")
    ax.set_xlabel("candidates evaluated")
    ax.set_ylabel("hypervolume (scaled objectives)")
    ax.set_title(f"{o.spec.algorithm}: the front found so far")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, o.out / "convergence.png")


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.partial.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def render(o: Outcome) -> str:
    lines = [f"Optimisation '{o.spec.name}' ({o.spec.algorithm}): {len(o.candidates)} candidates x "
             f"{o.spec.runs_per_candidate()} runs; {o.ran} runs done now, {o.failed} failed; "
             f"{int(o.candidates['feasible'].sum())} feasible, {len(o.front)} on the front"]
    if len(o.candidates) < o.spec.evaluations:
        lines.append(f"the search stopped after {len(o.candidates)} of {o.spec.evaluations} candidates: "
                     f"{o.spec.algorithm} could propose none it had not tried (too few values of the levers)")
    if len(o.front):
        cols = ["scheme", *[lv.key for lv in o.spec.levers], *[o.spec.column(ob) for ob in o.spec.objectives]]
        table = o.front[cols].copy()
        for col in cols[1:]:
            table[col] = table[col].map(lambda v: f"{v:.4g}" if isinstance(v, (int, float, np.floating)) else str(v))
        lines.append(table.to_string(index=False))
    hv = o.convergence["hypervolume"].tolist()
    if hv:
        lines.append("hypervolume by generation: " + ", ".join(f"{h:.3f}" for h in hv))
    return "\n".join(lines)
