"""Sweep files: a base run, parameters by dotted path, a design, replicates and a root seed.

    [sweep]
    name = "carbon tax against landfill tax"
    design = "grid"          # grid | random | lhs | sobol | morris
    samples = 16             # points drawn from the ranges (random, lhs); base samples N (sobol);
                             # trajectories (morris)
    replicates = 3
    seed = 42

    [base]                   # the run every point starts from
    scenario = "kalundborg"
    steps = 365
    [base.set]               # any --set key
    "market.mechanism" = "call"

    [parameters]
    "policy.carbon_tax" = [0, 25, 50]             # a list: a grid axis
    "policy.landfill_tax" = { min = 0, max = 90 }   # a range: sampled by the design

Lists are grid axes crossed with every other axis and with the sampled points. Sobol and Morris
designs take ranges only, so their indices can be computed from the runs (SALib; Saltelli 2002,
Morris 1991). Random points come from numpy, Latin hypercube points from scipy's quasi-Monte
Carlo module (McKay, Beckman & Conover 1979).
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments import config, limits
from experiments.problems import InputError, Problems

DESIGNS = ("grid", "random", "lhs", "sobol", "morris")
SWEEP_KEYS = ("name", "design", "samples", "replicates", "seed")
BASE_KEYS = ("scenario", "steps", "set")  # no seed: every run's seed is spawned from [sweep] seed


@dataclass(frozen=True)
class Run:
    """One run of a sweep: a point of the design, a replicate and the seed drawn for it."""

    run_id: str
    point: int
    replicate: int
    seed: int
    params: tuple[tuple[str, Any], ...]

    def sets(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class Sweep:
    name: str
    design: str
    samples: int
    replicates: int
    seed: int
    scenario: str
    steps: int
    base_sets: tuple[tuple[str, Any], ...]
    axes: tuple[tuple[str, tuple[Any, ...]], ...]      # grid axes: (key, values)
    ranges: tuple[tuple[str, float, float], ...]       # sampled: (key, min, max)
    source: str                                        # the sweep file's text

    def problem(self) -> dict[str, Any]:
        """The SALib problem of the ranges."""
        return {"num_vars": len(self.ranges), "names": [k for k, _, _ in self.ranges],
                "bounds": [[lo, hi] for _, lo, hi in self.ranges]}

    def sampled_points(self) -> np.ndarray:
        """The design's points in the ranges, one row per point, in SALib's order."""
        d = len(self.ranges)
        if d == 0:
            return np.zeros((1, 0))
        lo = np.array([r[1] for r in self.ranges])
        hi = np.array([r[2] for r in self.ranges])
        if self.design == "random":
            return lo + (hi - lo) * np.random.default_rng(self.seed).random((self.samples, d))
        if self.design == "lhs":
            from scipy.stats import qmc
            return qmc.scale(qmc.LatinHypercube(d=d, seed=self.seed).random(self.samples), lo, hi)
        if self.design == "sobol":
            from SALib.sample import sobol
            return sobol.sample(self.problem(), self.samples, calc_second_order=False, seed=self.seed)
        if self.design == "morris":
            from SALib.sample import morris
            return morris.sample(self.problem(), self.samples, seed=self.seed)
        raise AssertionError(self.design)

    def count(self) -> int:
        """How many runs `runs()` holds, computed without drawing them."""
        d = len(self.ranges)
        sampled = 1 if d == 0 else {"random": self.samples, "lhs": self.samples, "sobol": self.samples * (d + 2),
                                    "morris": self.samples * (d + 1)}.get(self.design, 1)
        grid = 1
        for _, values in self.axes:
            grid *= len(values)
        return grid * sampled * self.replicates

    def points(self) -> list[dict[str, Any]]:
        """Every parameter combination: grid axes crossed with the sampled points."""
        keys = [k for k, _ in self.axes]
        grid = list(itertools.product(*[v for _, v in self.axes])) or [()]
        sampled = self.sampled_points()
        out = []
        for combo in grid:
            for row in sampled:
                p = dict(zip(keys, combo))
                p.update({k: float(v) for (k, _, _), v in zip(self.ranges, row)})
                out.append(p)
        return out

    def runs(self) -> list[Run]:
        """Every run with its seed. Seeds are spawned from the root seed, one per replicate,
        before anything is dispatched, and shared by all points (common random numbers), so
        rows do not depend on the executor or the number of workers."""
        children = np.random.SeedSequence(self.seed).spawn(self.replicates)
        seeds = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
        out = []
        for n, p in enumerate(self.points()):
            for r in range(self.replicates):
                out.append(Run(f"p{n:05d}-r{r:03d}", n, r, seeds[r], tuple(sorted(p.items()))))
        return out


def read(path: Path) -> Sweep:
    label = f"sweep {path.name}"
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise InputError([f"sweep {path}: file not found"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError([f"{label}: not valid TOML: {e}"]) from None
    return parse(data, label, text)


def sections(p: Problems, data: dict, head_name: str = "sweep", head_keys: tuple[str, ...] = SWEEP_KEYS,
             base_keys: tuple[str, ...] = BASE_KEYS, seeds_of: str = "a sweep's runs take their seeds from "
             "[sweep] seed (one per replicate, shared by every point)") -> tuple[dict, dict, Any]:
    """The head table ([sweep], or an optimisation's [optimise]) and [base] (empty when not
    tables) with their keys checked, and the raw [parameters]."""
    names = (head_name, "base", "parameters")
    for key in data:
        if key not in names:
            p.add(key, "unknown section", valid=names, got=key)
    head = data.get(head_name, {})
    base = data.get("base", {})
    for name, table, keys in ((head_name, head, head_keys), ("base", base, base_keys)):
        if not isinstance(table, dict):
            p.add(name, "must be a table")
            continue
        for key in table:
            if name == "base" and key == "seed":
                p.add("base.seed", f"{seeds_of}: move it there")
            elif key not in keys:
                p.add(f"{name}.{key}", "unknown key", valid=keys, got=key)
    return (head if isinstance(head, dict) else {}), (base if isinstance(base, dict) else {}), data.get("parameters", {})


def base_sets(p: Problems, base: dict) -> dict[str, Any]:
    """[base.set]: a table of dotted keys as `--set` takes them (`check_sets` checks them)."""
    sets = base.get("set", {})
    if not isinstance(sets, dict):
        p.add("base.set", 'must be a table of dotted keys, e.g. "policy.carbon_tax" = 50')
        return {}
    return sets


def check_sets(p: Problems, sets: dict[str, Any]) -> None:
    """Each [base.set] key and value, checked as `--set` checks them."""
    try:
        config.apply(config.RunConfig(), dict(sets))
    except InputError as e:
        for line in e.problems:
            p.add("base.set", line.removeprefix("--set "))


def check_value(p: Problems, where: str, key: str, value: Any, what: str = "value", given: Any = None) -> bool:
    """One value of a parameter, checked as `--set KEY=VALUE` would be; False (and a problem
    naming `what` and the value as the file `given` it) when it is refused."""
    try:
        config.apply(config.RunConfig(), {key: value})
    except InputError as e:
        p.add(where, f"{what} {value if given is None else given!r}: " + e.problems[0].split(": ", 1)[-1])
        return False
    return True


def integer(p: Problems, table: dict, where: str, key: str, default: int, lo: int) -> int:
    v = table.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        p.add(f"{where}.{key}", f"must be an integer >= {lo}, got {v!r}")
        return default
    return v


def _axis(p: Problems, where: str, key: str, spec: list, design: str) -> tuple[str, tuple[Any, ...]] | None:
    """A grid axis: a list of values, each checked as a --set of the key would be."""
    if not spec:
        p.add(where, "an empty list: give the values of this grid axis")
        return None
    if design in ("sobol", "morris"):
        p.add(where, f"a {design} design varies ranges only: write {{ min = ..., max = ... }}")
        return None
    for v in spec:
        check_value(p, where, key, v)
    return key, tuple(spec)


def _range(p: Problems, where: str, key: str, spec: dict, design: str, kind: Any) -> tuple[str, float, float] | None:
    """A range { min, max } of a numeric key, for a sampling design; both bounds checked."""
    extra = set(spec) - {"min", "max"}
    if extra:
        p.add(where, f"unknown key {sorted(extra)[0]!r}", valid=("min", "max"), got=sorted(extra)[0])
    lo, hi = spec.get("min"), spec.get("max")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lo, hi)) or lo >= hi:
        p.add(where, f"a range needs numbers min < max, got min = {lo!r}, max = {hi!r}")
        return None
    if kind is not float:
        p.add(where, f"a range needs a numeric key; {key} is {getattr(kind, '__name__', kind)}: "
              f"give a list of values instead")
        return None
    if design == "grid":
        p.add(where, 'a range needs a sampling design: set [sweep] design = "random", "lhs", "sobol" or "morris", '
              "or give a list of values")
        return None
    for v in (lo, hi):
        check_value(p, where, key, float(v), "bound", given=v)
    return key, float(lo), float(hi)


def _parameters(p: Problems, params: Any, design: str
                ) -> tuple[list[tuple[str, tuple[Any, ...]]], list[tuple[str, float, float]]]:
    """The [parameters] table: grid axes (lists) and ranges ({ min, max })."""
    valid = config.keys()
    axes: list[tuple[str, tuple[Any, ...]]] = []
    ranges: list[tuple[str, float, float]] = []
    if not isinstance(params, dict) or not params:
        p.add("parameters", 'needs at least one parameter, e.g. "policy.carbon_tax" = [0, 50]')
        params = {}
    for key, spec in params.items():
        where = f"parameters.{key}"
        if key not in valid or key in ("seed", "scenario", "steps"):
            p.add(where, "not a parameter a sweep can vary" if key in valid else "unknown key",
                  valid=[k for k in valid if k not in ("seed", "scenario", "steps")], got=key)
        elif isinstance(spec, list):
            if (axis := _axis(p, where, key, spec, design)) is not None:
                axes.append(axis)
        elif isinstance(spec, dict):
            if (rng := _range(p, where, key, spec, design, valid[key])) is not None:
                ranges.append(rng)
        else:
            p.add(where, "must be a list of values (a grid axis) or { min = ..., max = ... } (a range)")
    return axes, ranges


def parse(data: dict, label: str, text: str = "") -> Sweep:
    p = Problems(label)
    head, base, params = sections(p, data)
    design = head.get("design", "grid")
    if design not in DESIGNS:
        p.add("sweep.design", f"unknown design {design!r}", valid=DESIGNS, got=str(design))
        design = "grid"
    samples = integer(p, head, "sweep", "samples", 8, 1)
    replicates = integer(p, head, "sweep", "replicates", 1, 1)
    seed = integer(p, head, "sweep", "seed", 0, 0)
    steps = integer(p, base, "base", "steps", 365, 1)
    scenario = base.get("scenario", config.DEFAULT_SCENARIO)
    if not isinstance(scenario, str):
        p.add("base.scenario", "must be a scenario name or path")
        scenario = config.DEFAULT_SCENARIO
    sets = base_sets(p, base)
    axes, ranges = _parameters(p, params, design)
    if design in ("random", "lhs", "sobol", "morris") and not ranges and not p.items:
        p.add("parameters", f"a {design} design needs at least one range {{ min = ..., max = ... }}")
    check_sets(p, sets)
    p.raise_if_any()
    # The scenario is checked last: loading it is the slow part and its errors are its own.
    _, park = config.resolve(scenario, steps, 0, dict(sets))
    sweep = Sweep(str(head.get("name", "sweep")), design, samples, replicates, seed, scenario, steps,
                  tuple(sorted(sets.items())), tuple(axes), tuple(ranges), text)
    # Before any run is drawn: a sweep of 10^9 runs is refused, not built.
    limits.check_runs(sweep.count(), len(park.companies), steps,
                      f"{label}: samples x replicates")
    return sweep
