"""Ecopark from Python: what the command line runs, as functions that return pandas objects.

    from experiments import api

    run = api.simulate("kalundborg", steps=60, set={"policy.carbon_tax": 25})
    run.kpis["social_surplus_eur"]            # every KPI of summary.json, as a pandas Series
    run.timeseries.plot(y="co2_avoided_t")    # one row per step, as timeseries.parquet
    run.trades.groupby("resource").delivered.sum()
    run.save("results/taxed")                 # the command line's output folder

`set` takes the dotted keys of `run.py simulate --set` (`api.keys()` lists them) with Python
values. Bad input raises `experiments.problems.InputError`, whose `problems` are the sentences
the command line prints. Runs are deterministic by seed, as on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from agents.scenario import Scenario
from experiments import config, scenario_io
from experiments.problems import InputError

__all__ = ["Run", "Comparison", "InputError", "scenario", "keys", "simulate", "compare", "sweep", "history"]


@dataclass(frozen=True)
class Run:
    """One run beside its baseline (the same park, seed and loads with the exchanges off)."""

    result: Any  # experiments.runner.RunResult

    @property
    def summary(self) -> dict[str, Any]:
        """Everything summary.json holds."""
        return self.result.summary

    @property
    def kpis(self) -> pd.Series:
        """The run's KPIs by name (docs/economy.md gives each one's meaning)."""
        kpis = self.result.summary["kpis"]
        return pd.Series({k: float("nan") if v is None else v for k, v in kpis.items()})

    @property
    def timeseries(self) -> pd.DataFrame:
        return self.result.timeseries

    @property
    def trades(self) -> pd.DataFrame:
        return self.result.trades

    @property
    def production(self) -> pd.DataFrame:
        return self.result.production

    @property
    def decisions(self) -> pd.DataFrame:
        return self.result.decisions

    @property
    def config(self) -> config.RunConfig:
        return self.result.config

    def save(self, out: str | Path, overwrite: bool = False) -> Path:
        """Write the run's files into `out` as `run.py simulate --out` does: atomically, and
        never over anything Ecopark did not write there (`overwrite` replaces an earlier run)."""
        from experiments import outputs

        return outputs.write_run(self.result, Path(out), overwrite=overwrite)


@dataclass(frozen=True)
class Comparison:
    """Schemes compared on common seeds: `runs` (one row per scheme and replicate, as
    runs.parquet) and `table` (mean and 95 % confidence interval per scheme and KPI, as
    compare.csv)."""

    runs: pd.DataFrame
    table: pd.DataFrame
    schemes: tuple[str, ...]

    def __str__(self) -> str:
        from experiments import compare as comparing

        return comparing.render(self.table, list(self.schemes))


def scenario(name_or_path: str = "kalundborg") -> Scenario:
    """A built-in scenario (`kalundborg`, `chemelot`, `synthetic:N[:SEED]`) or a TOML file."""
    return scenario_io.load(name_or_path)


def keys() -> dict[str, str]:
    """Every dotted key `simulate(set=...)` accepts, with the type of its value."""
    return {k: getattr(t, "__name__", str(t)) for k, t in config.keys().items()}


def simulate(scenario: str = "kalundborg", steps: int | None = None, seed: int | None = None,
             set: dict[str, Any] | None = None, yardstick: bool = True, progress: bool = False) -> Run:  # noqa: A002
    """Run a scenario (name or file) beside its baseline. `steps` defaults to a year of the
    scenario's steps; `seed` to 0. `yardstick` also runs the other way of coordinating on the
    same loads (synchronised planning beside the companies' own decisions) for parks up to
    `production.yardstick_max_companies`; False saves that time."""
    from experiments import limits, runner

    cfg, park = config.resolve(scenario, steps, seed, dict(set or {}))
    limits.check_run(len(park.companies), cfg.steps, "steps")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=runner.steps_to_run(cfg, park), desc=park.name, unit="step", leave=False)
    try:
        return Run(runner.simulate(cfg, park, bar, yardstick=yardstick))
    finally:
        if bar is not None:
            bar.close()


def compare(scenario: str = "kalundborg", schemes: list[str] | tuple[str, ...] = ("baseline", "carbon-tax"),
            replicates: int = 5, steps: int = 365, seed: int = 0, workers: int = 1,
            address: str | None = None) -> Comparison:
    """Incentive schemes (built-in names under policies/ or TOML files) on the same scenario and
    seeds, as `run.py compare`; the first scheme is the reference. `workers` > 1 or an
    `address` runs on Ray."""
    from experiments import compare as comparing, limits, schemes as scheme_files

    problems = [f"{name}: must be at least 1, got {v}" for name, v in
                (("replicates", replicates), ("steps", steps), ("workers", workers)) if v < 1]
    found = []
    try:
        found = scheme_files.load_list(list(schemes), "schemes")
    except InputError as e:
        problems += e.problems
    if problems:
        raise InputError(problems)
    cfg, park = config.resolve(scenario, steps, seed, {})
    limits.check_runs(len(found) * replicates, len(park.companies), steps, "replicates x schemes")
    order = [s.name for s in found]
    runs = comparing.run(cfg.scenario, found, replicates, steps, seed, workers, address)
    return Comparison(runs, comparing.summarise(runs, order), tuple(order))


def sweep(file: str | Path, out: str | Path, workers: int = 1, address: str | None = None,
          resume: bool = False) -> pd.DataFrame:
    """Run a sweep file (docs/sweeps.md) into `out`, as `run.py sweep`; the results table, one
    row per run. `resume` carries on a sweep that stopped, running only what is missing."""
    from experiments import sweep as sweeps, sweep_run

    if workers < 1:
        raise InputError([f"workers: must be at least 1, got {workers}"])
    return sweep_run.run_sweep(sweeps.read(Path(file)), Path(out), workers, address, resume, progress=False)


def history(name: str = "kalundborg", seed: int = 0) -> Any:
    """A history run (scenarios/history/NAME.toml or a file), as `run.py history`: an
    `experiments.history.HistoryResult`, whose `summary()` is what history.json holds;
    `experiments.history.render(result)` is the text the command prints."""
    from experiments import history as histories

    return histories.run(histories.load(name), seed)
