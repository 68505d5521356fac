"""Optimisation files: which levers to search, which KPIs to trade off, under what constraints.

    [optimise]
    name = "cheapest CO2"
    algorithm = "nsga2"        # nsga2 | nsga3 | random (a random-search baseline)
    evaluations = 24           # candidate schemes evaluated in all
    population = 8             # candidates per generation
    replicates = 2             # runs per candidate and scenario, on seeds shared by all candidates
    seed = 1
    objectives = ["max:co2_avoided_t", "min:government_net_cost_eur", "min:gini_benefits@p90"]
    constraints = ["government_net_cost_eur <= 5e6"]
    robustness = "worst"       # over several scenarios: worst (the default), mean or regret

    [base]                     # as in a sweep file
    scenario = "kalundborg"    # or scenarios = ["kalundborg", "synthetic:40"]
    steps = 120
    [base.set]
    "market.mechanism" = "call"

    [parameters]
    "policy.carbon_tax" = { min = 0, max = 100 }        # continuous
    "market.strategies.zic" = { min = 0, max = 1 }
    "cooperation.new_relations_per_year" = { min = 0, max = 3 }   # an integer key: whole numbers
    "market.mechanism" = ["call", "cda"]                 # a choice

An objective is `max:KPI` or `min:KPI`, aggregated over a candidate's replicates by their mean
or, with `@pNN`, their NN-th percentile (e.g. `@p10` of CO2 avoided: what nine runs in ten at
least reach). Over several scenarios the aggregate of each is combined by its worst case
(robust optimisation in the sense of many-objective robust decision making, Kasprzyk et al.
2013, Environmental Modelling & Software 42), its mean, or its regret: in each scenario the
gap to the best value any candidate evaluated so far reached there, and the largest gap over
the scenarios is minimised (Savage's minimax regret, Savage 1951, JASA 46(253); the regret
metrics of McPhail et al. 2018, Earth's Future 6(2)). A constraint `KPI <= X` or `KPI >= X`
holds on the mean over replicates (in every scenario). The search itself is pymoo's (Blank &
Deb 2020, IEEE Access 8): NSGA-II (Deb et al. 2002, IEEE TEC 6(2)) by default, NSGA-III (Deb &
Jain 2014, IEEE TEC 18(4)) for many objectives.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments import config, limits
from experiments import sweep as sweeps
from experiments.problems import InputError, Problems

ALGORITHMS = ("nsga2", "nsga3", "random")
ROBUSTNESS = ("worst", "mean", "regret")
HEAD_KEYS = ("name", "algorithm", "evaluations", "population", "replicates", "seed", "objectives", "constraints",
             "robustness")
BASE_KEYS = ("scenario", "scenarios", "steps", "set")
OBJECTIVE = re.compile(r"^(max|min):([a-z0-9_]+)(?:@(mean|p\d{1,2}))?$")
CONSTRAINT = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Objective:
    sense: str  # max | min
    kpi: str
    aggregate: str = "mean"  # mean | pNN

    @property
    def label(self) -> str:
        return f"{self.sense}:{self.kpi}" + ("" if self.aggregate == "mean" else f"@{self.aggregate}")

    def over_replicates(self, values: np.ndarray) -> float:
        if self.aggregate == "mean":
            return float(np.mean(values))
        return float(np.percentile(values, int(self.aggregate[1:])))

    def to_min(self, value: float) -> float:
        """The value as pymoo minimises it."""
        return -value if self.sense == "max" else value


@dataclass(frozen=True)
class Constraint:
    kpi: str
    op: str  # <= | >=
    bound: float

    @property
    def label(self) -> str:
        return f"{self.kpi} {self.op} {self.bound:g}"

    def violation(self, value: float) -> float:
        """pymoo's form: <= 0 when the constraint holds."""
        return value - self.bound if self.op == "<=" else self.bound - value


@dataclass(frozen=True)
class Lever:
    """One searched parameter: a continuous range, whole numbers in a range, or a choice."""

    key: str
    kind: str  # float | int | choice
    low: float = 0.0
    high: float = 1.0
    choices: tuple[Any, ...] = ()

    def bounds(self) -> tuple[float, float]:
        """The gene's range: choices and integers are searched as a continuous gene and rounded,
        the common repair for real-coded algorithms on mixed spaces."""
        if self.kind == "choice":
            return 0.0, float(len(self.choices))
        if self.kind == "int":
            return self.low - 0.5, self.high + 0.5
        return self.low, self.high

    def decode(self, gene: float) -> Any:
        if self.kind == "choice":
            return self.choices[min(len(self.choices) - 1, max(0, int(np.floor(gene))))]
        if self.kind == "int":
            return int(min(self.high, max(self.low, round(gene))))
        return float(min(self.high, max(self.low, gene)))


@dataclass(frozen=True)
class Optimisation:
    name: str
    algorithm: str
    evaluations: int
    population: int
    replicates: int
    seed: int
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    robustness: str
    scenarios: tuple[str, ...]
    steps: int
    base_sets: tuple[tuple[str, Any], ...]
    levers: tuple[Lever, ...]
    source: str  # the file's text

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        return {lv.key: lv.decode(g) for lv, g in zip(self.levers, x)}

    def seeds(self) -> list[int]:
        """One seed per replicate, spawned from the root seed before anything runs and shared by
        every candidate and scenario (common random numbers)."""
        children = np.random.SeedSequence(self.seed).spawn(self.replicates)
        return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]

    def runs_per_candidate(self) -> int:
        return self.replicates * len(self.scenarios)

    def column(self, o: Objective) -> str:
        """The objective's column in candidates.csv and pareto.csv: its KPI's aggregate, or under
        regret robustness its largest regret over the scenarios, in the KPI's unit."""
        return f"regret {o.label}" if self.robustness == "regret" else o.label

    def shown(self, o: Objective, f: float) -> float:
        """The column's value from pymoo's minimised form."""
        return f if self.robustness == "regret" else o.to_min(f)

    def better_low(self, o: Objective) -> bool:
        return self.robustness == "regret" or o.sense == "min"


@functools.cache
def kpi_names() -> tuple[str, ...]:
    """The KPIs a run reports (summary.json's `kpis`), from a one-step run of a tiny park."""
    from experiments import runner

    cfg, park = config.resolve("synthetic:3", 1, 0, {})
    return tuple(sorted(runner.simulate(cfg, park, yardstick=True).summary["kpis"]))


def read(path: Path, evaluations: int | None = None) -> Optimisation:
    label = f"optimisation {path.name}"
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise InputError([f"optimisation {path}: file not found"]) from None
    except IsADirectoryError:
        raise InputError([f"optimisation {path}: is a folder: give an optimisation file (TOML)"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError([f"{label}: not valid TOML: {e}"]) from None
    return parse(data, label, text, evaluations)


def parse(data: dict, label: str, text: str = "", evaluations: int | None = None) -> Optimisation:
    """The whole file checked at once: every problem named, nothing run."""
    p = Problems(label)
    head, base, params = sweeps.sections(p, data, "optimise", HEAD_KEYS, BASE_KEYS, "the runs take their seeds "
                                         "from [optimise] seed (one per replicate, shared by every candidate)")

    def integer(table: dict, where: str, key: str, default: int, lo: int) -> int:
        return sweeps.integer(p, table, where, key, default, lo)

    def choice(key: str, valid: tuple[str, ...], default: str) -> str:
        v = head.get(key, default)
        if v not in valid:
            p.add(f"optimise.{key}", f"unknown {key} {v!r}", valid=valid, got=str(v))
            return default
        return v

    algorithm = choice("algorithm", ALGORITHMS, "nsga2")
    robustness = choice("robustness", ROBUSTNESS, "worst")
    total = integer(head, "optimise", "evaluations", 24, 2)
    if evaluations is not None:
        if evaluations < 2:
            p.add("--evaluations", f"must be at least 2, got {evaluations}")
        else:
            total = evaluations
    population = integer(head, "optimise", "population", 8, 2)
    replicates = integer(head, "optimise", "replicates", 2, 1)
    seed = integer(head, "optimise", "seed", 0, 0)
    steps = integer(base, "base", "steps", 365, 1)
    name = head.get("name", "optimisation")
    if not isinstance(name, str) or not name.strip():
        p.add("optimise.name", f"must be a non-empty string, got {name!r}")
        name = "optimisation"

    scenarios = _scenarios(p, base)
    objectives = _objectives(p, head.get("objectives"))
    constraints = _constraints(p, head.get("constraints", []))
    levers = _levers(p, params)
    base_sets = sweeps.base_sets(p, base)
    sweeps.check_sets(p, base_sets)
    p.raise_if_any()
    kpis = kpi_names()
    for where, kpi in [("optimise.objectives", o.kpi) for o in objectives] + \
            [("optimise.constraints", c.kpi) for c in constraints]:
        if kpi not in kpis:
            p.add(where, f"unknown KPI '{kpi}'", valid=kpis, got=kpi)
    p.raise_if_any()
    # The scenarios are checked last: loading them is the slow part and their errors are their own.
    sizes = [len(config.resolve(s, steps, 0, dict(base_sets))[1].companies) for s in scenarios]
    spec = Optimisation(name, algorithm, total, population, replicates, seed, tuple(objectives), tuple(constraints),
                        robustness, tuple(scenarios), steps, tuple(sorted(base_sets.items())), tuple(levers), text)
    limits.check_runs(total * spec.runs_per_candidate(), max(sizes), steps,
                      f"{label}: evaluations x replicates x scenarios")
    return spec


def _scenarios(p: Problems, base: dict) -> list[str]:
    if "scenario" in base and "scenarios" in base:
        p.add("base.scenarios", "give scenario (one park) or scenarios (several), not both")
    raw = base.get("scenarios", [base.get("scenario", config.DEFAULT_SCENARIO)])
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s.strip() for s in raw):
        p.add("base.scenarios", f"must be a non-empty list of scenario names or paths, got {raw!r}")
        return [config.DEFAULT_SCENARIO]
    if len(set(raw)) != len(raw):
        p.add("base.scenarios", "a scenario is named twice")
    return list(raw)


def _objectives(p: Problems, raw: Any) -> list[Objective]:
    form = 'e.g. objectives = ["max:co2_avoided_t", "min:government_net_cost_eur"]'
    if not isinstance(raw, list) or not raw:
        p.add("optimise.objectives", f"needs at least one objective, {form}")
        return []
    out = []
    for n, item in enumerate(raw):
        m = OBJECTIVE.match(item) if isinstance(item, str) else None
        if m is None:
            p.add(f"optimise.objectives[{n}]", f"must read max:KPI or min:KPI, optionally @mean or @pNN, got {item!r}")
            continue
        out.append(Objective(m.group(1), m.group(2), m.group(3) or "mean"))
    if len({o.kpi for o in out}) != len(out):
        p.add("optimise.objectives", "a KPI appears twice: optimise each KPI once")
    return out


def _constraints(p: Problems, raw: Any) -> list[Constraint]:
    if not isinstance(raw, list):
        p.add("optimise.constraints", f'must be a list, e.g. ["government_net_cost_eur <= 5e6"], got {raw!r}')
        return []
    out = []
    for n, item in enumerate(raw):
        m = CONSTRAINT.match(item) if isinstance(item, str) else None
        bound = None
        if m is not None:
            try:
                bound = float(m.group(3))
            except ValueError:
                bound = None
        if m is None or bound is None or not np.isfinite(bound):
            p.add(f"optimise.constraints[{n}]", f"must read KPI <= NUMBER or KPI >= NUMBER, got {item!r}")
            continue
        out.append(Constraint(m.group(1), m.group(2), bound))
    return out


def _levers(p: Problems, params: Any) -> list[Lever]:
    valid = config.keys()
    fixed = ("seed", "scenario", "steps")
    if not isinstance(params, dict) or not params:
        p.add("parameters", 'needs at least one lever, e.g. "policy.carbon_tax" = { min = 0, max = 100 }')
        return []
    out = []
    for key, spec in params.items():
        where = f"parameters.{key}"
        if key not in valid or key in fixed:
            p.add(where, "not a parameter an optimisation can vary" if key in valid else "unknown key",
                  valid=[k for k in valid if k not in fixed], got=key)
            continue
        t = valid[key]
        if isinstance(spec, list):
            if len(spec) < 2:
                p.add(where, "a choice needs at least two values")
                continue
            for v in spec:
                sweeps.check_value(p, where, key, v)
            out.append(Lever(key, "choice", choices=tuple(spec)))
        elif isinstance(spec, dict):
            extra = set(spec) - {"min", "max"}
            if extra:
                p.add(where, f"unknown key {sorted(extra)[0]!r}", valid=("min", "max"), got=sorted(extra)[0])
            lo, hi = spec.get("min"), spec.get("max")
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi)) or lo >= hi:
                p.add(where, f"a range needs numbers min < max, got min = {lo!r}, max = {hi!r}")
                continue
            if t not in (float, int):
                p.add(where, f"a range needs a numeric key; {key} is {getattr(t, '__name__', t)}: give a list of "
                      f"choices instead")
                continue
            kind = "int" if t is int else "float"
            bad = not all([sweeps.check_value(p, where, key, int(v) if kind == "int" else float(v), "bound",
                                                 given=v)
                           for v in (lo, hi)])
            if kind == "int" and (lo != int(lo) or hi != int(hi)):
                p.add(where, f"{key} takes whole numbers: give whole-number bounds")
                bad = True
            if not bad:
                out.append(Lever(key, kind, float(lo), float(hi)))
        else:
            p.add(where, "must be { min = ..., max = ... } (a range) or a list of values (a choice)")
    return out
