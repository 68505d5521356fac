"""Policy design by optimisation (experiments/optimise.py, optimise_run.py): the search finds
known fronts, beats random search at equal budget, and runs on the model like a sweep:
atomically, resumably, with every problem of a bad file named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments import optimise, optimise_run, schemes
from experiments.problems import InputError
from tests.conftest import run_cli


def zdt(name: str):
    """ZDT1 and ZDT2 (Zitzler, Deb & Thiele 2000): two objectives of n variables in [0, 1];
    the true front is x2..xn = 0, f2 = 1 - sqrt(f1) (ZDT1) or 1 - f1^2 (ZDT2)."""
    def evaluate(gen, X):
        f1 = X[:, 0]
        g = 1 + 9 * X[:, 1:].mean(axis=1)
        f2 = g * (1 - (np.sqrt(f1 / g) if name == "zdt1" else (f1 / g) ** 2))
        return np.column_stack([f1, f2]), np.zeros((len(X), 0))
    return evaluate


def igd(F: np.ndarray, name: str) -> float:
    """Mean distance from the true front to the nearest point found (inverted generational distance)."""
    f1 = np.linspace(0, 1, 200)
    true = np.column_stack([f1, 1 - (np.sqrt(f1) if name == "zdt1" else f1**2)])
    return float(np.mean(np.min(np.linalg.norm(true[:, None, :] - F[None, :, :], axis=2), axis=1)))


def final_front(gens) -> np.ndarray:
    F = np.vstack([g.F for g in gens])
    return F[optimise_run.nondominated(F)]


@pytest.mark.parametrize("name", ["zdt1", "zdt2"])
def test_nsga2_finds_the_known_front_and_beats_random_search_at_equal_budget(name):
    bounds = [(0.0, 1.0)] * 6
    ideal, nadir = np.zeros(2), np.ones(2)
    for seed in (0, 1, 2):
        nsga = optimise_run.search(bounds, 2, 0, "nsga2", 40, 2000, seed, zdt(name))
        rand = optimise_run.search(bounds, 2, 0, "random", 40, 2000, seed, zdt(name))
        assert sum(len(g.X) for g in nsga) == sum(len(g.X) for g in rand) == 2000
        hv_n = optimise_run.hypervolume(final_front(nsga), ideal, nadir)
        hv_r = optimise_run.hypervolume(final_front(rand), ideal, nadir)
        assert hv_n > hv_r
        assert igd(final_front(nsga), name) < 0.05 < igd(final_front(rand), name)


def test_constraints_keep_infeasible_candidates_off_the_front():
    """min x, min 1 - x subject to x >= 0.5: the front lies in [0.5, 1]."""
    def evaluate(gen, X):
        return np.column_stack([X[:, 0], 1 - X[:, 0]]), (0.5 - X[:, :1])
    gens = optimise_run.search([(0.0, 1.0)], 2, 1, "nsga2", 10, 200, 3, evaluate)
    X = np.vstack([g.X for g in gens])
    G = np.vstack([g.G for g in gens])
    F = np.vstack([g.F for g in gens])
    ok = (G <= 0).all(axis=1)
    front = X[ok][optimise_run.nondominated(F[ok])]
    assert len(front) >= 5 and (front >= 0.5).all()


def test_the_same_seed_asks_for_the_same_candidates():
    a = optimise_run.search([(0.0, 1.0)] * 3, 2, 0, "nsga2", 8, 40, 7, zdt("zdt1"))
    b = optimise_run.search([(0.0, 1.0)] * 3, 2, 0, "nsga2", 8, 40, 7, zdt("zdt1"))
    assert all(np.array_equal(x.X, y.X) for x, y in zip(a, b))


@pytest.mark.parametrize("algorithm", ["nsga2", "nsga3"])
def test_the_first_generation_tries_every_stratum_of_every_lever(algorithm):
    """A Latin hypercube: each lever's range cut into as many equal strata as candidates, each
    stratum tried once (uniform draws of 12 leave a twelfth of a range empty about 3 times in 10)."""
    bounds = [(0.0, 100.0), (-1.0, 1.0), (5.0, 6.0), (0.0, 1.0)]
    seen = []

    def ev(generation, X):
        seen.append(X)
        return np.c_[X[:, 0], -X[:, 1], X[:, 2]], np.zeros((len(X), 0))

    optimise_run.search(bounds, 3, 0, algorithm, 12, 12, 3, ev)
    X = seen[0]
    assert X.shape == (12, 4)
    for k, (lo, hi) in enumerate(bounds):
        strata = np.floor((X[:, k] - lo) / (hi - lo) * 12).astype(int)
        assert sorted(strata.tolist()) == list(range(12))


def test_a_search_with_nothing_new_to_try_stops_early_instead_of_crashing():
    """pymoo drops duplicate offspring; where every candidate is the same it proposes none (its
    ask() gave None, and the loop crashed with a TypeError)."""
    def ev(generation, X):
        return np.c_[X[:, 0], -X[:, 0]], np.zeros((len(X), 0))

    gens = optimise_run.search([(1.0, 1.0)], 2, 0, "nsga2", 4, 20, 0, ev)
    assert 1 <= sum(len(g.X) for g in gens) < 20


def test_regret_is_the_largest_gap_to_the_best_candidate_of_each_scenario():
    """Hand-computed (minimised values, scenarios s1 and s2): A (0, 10), B (5, 6), C (2, 9).
    The best per scenario is 0 and 6, so the regrets are A 4, B 5, C 3: minimax regret picks C
    where the worst case (A 10, B 6, C 9) picks B. An infeasible candidate is no reference."""
    reg = optimise_run.Regret(1)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    for x, v in zip(X[:3], ([0, 10], [5, 6], [2, 9])):
        reg.add(x, np.array(v, dtype=float)[:, None], np.zeros(0))
    reg.add(X[3], np.array([[-50.0], [-50.0]]), np.array([1.0]))  # breaks a constraint
    assert reg.rescore(X[:3])[:, 0].tolist() == [4.0, 5.0, 3.0]
    assert reg.rescore(X[3:])[0, 0] == -50.0  # measured against the feasible references, not its own
    reg.add(np.array([4.0]), None, np.zeros(0))  # a candidate whose runs failed
    assert reg.rescore(np.array([[4.0]]))[0, 0] == optimise_run.INFEASIBLE


def test_minimax_regret_search_finds_the_regret_optimum_not_the_worst_case_one():
    """One lever x in [0, 1] and two scenarios: f1 = x^2 (best 0 at x = 0) and
    f2 = 2 (1 - x)^2 + 1 (best 1 at x = 1). The worst case max(f1, f2) is least at x = 1; the
    regret max(x^2, 2 (1 - x)^2) at x = sqrt(2) / (1 + sqrt(2)) = 0.586. The search rescores
    every candidate as the references improve, so it converges on the regret optimum."""
    def scenarios(X):
        x = X[:, 0]
        return np.stack([x**2, 2 * (1 - x) ** 2 + 1], axis=1)[:, :, None]  # (candidates, scenarios, objectives)

    reg = optimise_run.Regret(1)

    def evaluate(gen, X):
        V = scenarios(X)
        for x, v in zip(X, V):
            reg.add(x, v, np.zeros(0))
        return V.max(axis=1), np.zeros((len(X), 0))

    gens = optimise_run.search([(0.0, 1.0)], 1, 0, "nsga2", 16, 480, 2, evaluate, rescore=reg.rescore)
    X, F = np.vstack([g.X for g in gens]), np.vstack([g.F for g in gens])
    assert X[np.argmin(F[:, 0]), 0] == pytest.approx(np.sqrt(2) / (1 + np.sqrt(2)), abs=0.02)
    V = scenarios(X)[:, :, 0]  # every candidate's final score is against the final references
    assert F[:, 0] == pytest.approx((V - V.min(axis=0)).max(axis=1), abs=1e-12)
    worst = optimise_run.search([(0.0, 1.0)], 1, 0, "nsga2", 16, 480, 2, lambda g, X: (scenarios(X).max(axis=1),
                                                                                        np.zeros((len(X), 0))))
    Xw, Fw = np.vstack([g.X for g in worst]), np.vstack([g.F for g in worst])
    assert Xw[np.argmin(Fw[:, 0]), 0] > 0.97


def test_levers_decode_ranges_whole_numbers_and_choices():
    lv = optimise.Lever("market.mechanism", "choice", choices=("call", "cda"))
    lo, hi = lv.bounds()
    assert [lv.decode(g) for g in (lo, 0.99, 1.0, hi)] == ["call", "call", "cda", "cda"]
    n = optimise.Lever("cooperation.new_relations_per_year", "int", 0, 3)
    assert [n.decode(g) for g in (n.bounds()[0], 0.6, 2.4, n.bounds()[1])] == [0, 1, 2, 3]
    o = optimise.Objective("max", "co2_avoided_t", "p10")
    assert o.over_replicates(np.arange(11.0)) == pytest.approx(1.0) and o.to_min(5.0) == -5.0
    assert optimise.Constraint("x", "<=", 5).violation(6) == 1 and optimise.Constraint("x", ">=", 5).violation(6) == -1


GOOD = """
[optimise]
name = "tiny"
evaluations = 4
population = 2
replicates = 2
seed = 3
objectives = ["max:co2_avoided_t", "min:government_net_cost_eur"]
constraints = ["government_net_cost_eur <= 1e9"]
[base]
scenario = "synthetic:6"
steps = 8
[parameters]
"policy.carbon_tax" = { min = 0, max = 80 }
"policy.information" = { min = 0, max = 1 }
"""


def test_a_bad_optimisation_file_names_every_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("""
[optimise]
algorithm = "genetic"
evaluations = 1
objectives = ["maximise:co2", "max:co2_avoidd_t", "min:gini_benefits@p200"]
constraints = ["cost < 5"]
colour = "blue"
[base]
seed = 4
steps = 0
[parameters]
"policy.carbon_tax" = { min = 50, max = 10 }
"policy.carbon_tx" = { min = 0, max = 1 }
"market.mechanism" = ["call"]
""")
    with pytest.raises(InputError) as e:
        optimise.read(bad)
    text = "\n".join(e.value.problems)
    for part in ("optimise.algorithm: unknown algorithm 'genetic'", "optimise.evaluations: must be an integer >= 2",
                 "optimise.objectives[0]: must read max:KPI or min:KPI", "optimise.objectives[2]: must read",
                 "optimise.constraints[0]: must read KPI <= NUMBER", "optimise.colour: unknown key",
                 "base.seed: the runs take their seeds from [optimise] seed", "base.steps: must be an integer >= 1",
                 "parameters.policy.carbon_tax: a range needs numbers min < max",
                 "parameters.policy.carbon_tx: unknown key (did you mean 'policy.carbon_tax'?)",
                 "parameters.market.mechanism: a choice needs at least two values"):
        assert part in text, part
    bad.write_text(GOOD.replace("max:co2_avoided_t", "max:co2_avoidd_t"))
    with pytest.raises(InputError) as e:
        optimise.read(bad)
    assert "unknown KPI 'co2_avoidd_t' (did you mean 'co2_avoided_t'?)" in "\n".join(e.value.problems)


@pytest.mark.slow  # a CLI process
def test_a_bad_optimisation_file_on_the_command_line_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("max:co2_avoided_t", "max:co2_avoidd_t"))
    r = run_cli("optimise", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and not (tmp_path / "out").exists()
    assert "unknown KPI 'co2_avoidd_t'" in r.stderr


@pytest.mark.slow  # a small optimisation on the model, then its resume
def test_an_optimisation_on_the_model_writes_its_front_and_resumes_without_redoing(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text(GOOD)
    spec = optimise.read(f)
    out = tmp_path / "opt"
    first = optimise_run.run(spec, out, progress=False)
    assert first.ran == 4 * 2 and first.failed == 0
    for name in ("results.parquet", "candidates.csv", "pareto.csv", "pareto.png", "convergence.csv", "convergence.png"):
        assert (out / name).exists(), name
    runs = pd.read_parquet(out / "results.parquet")
    assert len(runs) == 8 and runs.groupby("replicate")["seed"].nunique().eq(1).all()  # common random numbers
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) >= 1 and set(front["scheme"]) == {p.stem for p in (out / "schemes").glob("*.toml")}
    scheme = schemes.load(str(out / "schemes" / f"{front['scheme'][0]}.toml"))
    assert dict(scheme.sets)["policy.carbon_tax"] == pytest.approx(front["policy.carbon_tax"][0])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "optimisation" and manifest["objectives"] == spec_labels(spec)
    more = optimise_run.run(optimise.read(f, evaluations=6), out, resume=True, progress=False)
    assert more.ran == 2 * 2  # only the two new candidates' runs
    assert len(pd.read_parquet(out / "results.parquet")) == 12
    with pytest.raises(InputError):  # a second search into the same folder without --resume
        optimise_run.run(spec, out, progress=False)


@pytest.mark.slow  # two scenarios x 4 candidates x 1 replicate on the model
def test_a_regret_optimisation_reports_each_objectives_regret_in_its_unit(tmp_path):
    f = tmp_path / "regret.toml"
    f.write_text(GOOD.replace("replicates = 2", "replicates = 1\nrobustness = \"regret\"")
                 .replace('scenario = "synthetic:6"', 'scenarios = ["synthetic:6", "synthetic:8"]'))
    spec = optimise.read(f)
    assert spec.robustness == "regret"
    out = optimise_run.run(spec, tmp_path / "opt", progress=False)
    cand = pd.read_csv(tmp_path / "opt" / "candidates.csv")
    runs = pd.read_parquet(tmp_path / "opt" / "results.parquet")
    for o in spec.objectives:
        col = f"regret {o.label}"
        assert col in cand.columns and (cand[col] >= 0).all()
        # By hand from the runs: per scenario the gap to the best feasible candidate, the largest gap.
        per = runs.pivot_table(index=["generation", "candidate"], columns="scenario", values=o.kpi)
        gap = (per.max() - per) if o.sense == "max" else (per - per.min())
        expect = gap.max(axis=1).to_numpy()
        assert cand.set_index(["generation", "candidate"])[col].to_numpy() == pytest.approx(expect, abs=1e-6)
    assert set(pd.read_csv(tmp_path / "opt" / "pareto.csv").columns) >= {f"regret {o.label}" for o in spec.objectives}
    assert "regret max:co2_avoided_t" in optimise_run.render(out)


def spec_labels(spec):
    return [o.label for o in spec.objectives]


@pytest.mark.slow
@pytest.mark.ray
def test_the_same_optimisation_on_ray_gives_the_same_candidates(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text(GOOD)
    spec = optimise.read(f)
    serial = optimise_run.run(spec, tmp_path / "a", progress=False)
    ray = optimise_run.run(spec, tmp_path / "b", workers=2, progress=False)
    cols = ["generation", "candidate", "policy.carbon_tax", "policy.information", *spec_labels(spec)]
    pd.testing.assert_frame_equal(serial.candidates[cols], ray.candidates[cols])


def test_the_benchmark_leaves_failed_candidates_out_of_the_scale():
    """benchmarks/optimise_bench.py compares NSGA-II with random search on every feasible
    candidate each evaluated. A candidate whose run failed carries INFEASIBLE (1e12) objectives
    and, in a file without constraints, G holds no column, so a G-only filter kept it: its 1e12
    set the scale and flattened every real point's hypervolume to the same figure."""
    from benchmarks import optimise_bench

    def gen(n, F):
        return optimise_run.Generation(n, np.zeros((len(F), 1)), np.array(F, dtype=float), np.zeros((len(F), 0)))

    good = [[0.0, 1.0], [1.0, 0.0]]
    worse = [[0.5, 1.0], [1.0, 0.5]]
    failed = [optimise_run.INFEASIBLE] * 2
    a = optimise_run.Outcome(None, None, [gen(0, good), gen(1, [failed])], None, None, None, 0, 1)  # type: ignore[arg-type]
    b = optimise_run.Outcome(None, None, [gen(0, worse)], None, None, None, 0, 0)  # type: ignore[arg-type]
    points = {"a": optimise_bench.feasible(a), "b": optimise_bench.feasible(b)}
    assert len(points["a"]) == 2 and (points["a"] < optimise_run.INFEASIBLE).all()
    ideal, nadir = optimise_bench.joint_scale(points)
    assert optimise_bench.front_hv(points["a"], ideal, nadir) > optimise_bench.front_hv(points["b"], ideal, nadir) + 0.1
