"""The park's robustness curve: what is left of its symbiosis as companies leave.

Network studies of industrial symbiosis remove companies one at a time and watch the exchange
network fall apart (Chopra, S. S. & Khanna, V. (2014), "Understanding resilience in industrial
symbiosis networks: insights from network analysis", Journal of Environmental Management 141,
86-94, on Kalundborg: Asnaes power station is the most critical node, and removing it
disconnects the cement plant, the fish farm and other peripheral users). Following Albert,
Jeong & Barabasi (2000), "Error and attack tolerance of complex networks", Nature 406, 378-382,
two removal orders are compared: a targeted attack (highest degree first) and random failures.

Where those studies measure the structure of a fixed graph, here every removal is a fresh
simulation of the remaining park (`experiments.runner.simulate`, same config and seed): the
companies left re-trade, may find other partners or buy outside, and the measure is what the
park still gains from trade (EUR a year), the CO2 it still avoids and how many companies still
take part in an exchange.

- `remove(park, names)`: the scenario without those companies, their pipelines and targets.
- `degree(result)`: each company's number of distinct exchange partners in a run.
- `criticality(cfg, park, steps)`: each company removed alone; the loss of gains it causes and
  the other companies it leaves without any exchange, most critical first.
- `curve(cfg, park, "degree" | "random", steps, seeds, rng_seed)`: the robustness curve, row 0
  the intact park. "degree" is an adaptive targeted attack: the company with most partners is
  removed, degrees are recomputed from the run of the remaining park, ties go by name.
  "random" averages `seeds` random orders drawn from numpy.random.default_rng(rng_seed), with
  the min and max over orders.
- `run_command(...)`: `python run.py resilience --scenario NAME`: prints the tables and writes
  criticality.csv, curve_degree.csv, curve_random.csv and robustness.png.

Speed: a run is the park and its no-exchange baseline. The command's default is 90 steps (a
quarter of a year at a day a step), enough to rank companies; raise `--steps` for figures
closer to a whole year. Kalundborg's 10 companies take 11 runs for the criticality table,
10 more for the degree curve and up to 9 per random order (runs of the same remaining park are
done once and reused). Every figure is annualised: x steps_per_year / steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from agents.scenario import Scenario
from experiments.destination import Claim, claim_folder, default_folder, folder_problem, write_into
from experiments.config import RunConfig, resolve
from experiments.problems import InputError

DEFAULT_STEPS = 90
DEFAULT_RANDOM_ORDERS = 10
ORDERS = ("degree", "random")
FILES = ("criticality.csv", "curve_degree.csv", "curve_random.csv", "robustness.png")


# --------------------------------------------------------------------------------------------
# The park without some companies; who trades with whom
# --------------------------------------------------------------------------------------------

def remove(park: Scenario, names: Iterable[str]) -> Scenario:
    """`park` without the companies `names`, their pipelines and any target that names them.

    Companies keep their order. Raises ValueError naming any company the park does not have.
    """
    names = [names] if isinstance(names, str) else list(names)
    known = park.company_index()
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        raise ValueError(f"unknown company {listed} in park {park.name!r} (its companies: "
                         f"{', '.join(c.name for c in park.companies)})")
    gone = set(names)
    if not gone:
        return park
    return dataclasses.replace(
        park,
        companies=tuple(c for c in park.companies if c.name not in gone),
        pipelines=tuple(p for p in park.pipelines if p.source not in gone and p.target not in gone),
        targets=tuple(t for t in park.targets
                      if not gone & {t.from_company, t.to_company, t.company}),
    )


def degree(result_or_summary: Any) -> dict[str, int]:
    """Each company's number of distinct exchange partners in a run: undirected company pairs
    from `summary["flows"]`, whatever the resource or direction. Companies of the run with no
    exchange count 0. Takes a RunResult or its summary dict."""
    summary = getattr(result_or_summary, "summary", result_or_summary)
    partners: dict[str, set[str]] = {c["name"]: set() for c in summary.get("companies", [])}
    for f in summary["flows"]:
        a, b = f["from"], f["to"]
        if a == b:
            continue
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    return {name: len(p) for name, p in partners.items()}


# --------------------------------------------------------------------------------------------
# Runs of a park with companies removed, each simulated once
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """One run of the remaining park, annualised."""

    gains_eur: float  # gains from trade, EUR a year
    co2_avoided_t: float  # against the same park's no-exchange baseline, t a year
    savings_eur: float  # profit against that baseline, EUR a year
    degree: dict[str, int]
    active: frozenset[str]  # companies in at least one exchange


EMPTY = Outcome(0.0, 0.0, 0.0, {}, frozenset())


def _outcome(summary: dict[str, Any], per_year: float) -> Outcome:
    k = summary["kpis"]
    deg = degree(summary)
    return Outcome(float(k["gains_from_trade_eur"]) * per_year, float(k["co2_avoided_t"]) * per_year,
                   float(k["savings_vs_baseline_eur"]) * per_year, deg,
                   frozenset(n for n, d in deg.items() if d > 0))


def _simulate(task: tuple[RunConfig, Scenario, frozenset[str]]) -> tuple[frozenset[str], Outcome]:
    """One run (a worker's job on Ray): the remaining park and what it did."""
    from experiments.runner import simulate

    cfg, park, removed = task
    return removed, _outcome(simulate(cfg, park, yardstick=False).summary, park.steps_per_year / cfg.steps)


class Runs:
    """Runs of `park` under `cfg` for `steps` with sets of companies removed, each simulated once.

    With workers > 1 (or an address), batches of runs go to Ray the way sweeps do
    (`experiments.sweep_run`); otherwise they run one after another in this process.
    """

    def __init__(self, cfg: RunConfig, park: Scenario, steps: int, workers: int = 1,
                 address: str | None = None, progress: Any = None):
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        self.cfg = dataclasses.replace(cfg, steps=steps)
        self.park = park
        self.names = [c.name for c in park.companies]
        self.workers = workers
        self.address = address
        self.progress = progress  # anything with .update(n), e.g. a tqdm bar
        self._done: dict[frozenset[str], Outcome] = {}
        self._started_ray = False

    @property
    def parallel(self) -> bool:
        return self.workers > 1 or self.address is not None

    def __enter__(self) -> Self:
        """Start (or join) Ray once for every batch of runs, when parallel; without this a
        batch starts and stops its own Ray."""
        if self.parallel:
            from experiments.sweep_run import start_ray

            self._started_ray = start_ray(self.workers, self.address)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started_ray:
            from experiments.sweep_run import stop_ray

            stop_ray()
            self._started_ray = False

    def matches(self, cfg: RunConfig, park: Scenario, steps: int) -> bool:
        return self.cfg == dataclasses.replace(cfg, steps=steps) and self.park == park

    @property
    def count(self) -> int:
        """Runs simulated so far."""
        return len(self._done)

    def get(self, removed: Iterable[str]) -> Outcome:
        key = frozenset(removed)
        self.prefetch([key])
        return self._done[key]

    def prefetch(self, removed_sets: Iterable[Iterable[str]]) -> None:
        """Simulate every set of removals not yet run (in parallel when workers > 1)."""
        tasks = []
        seen = set(self._done)
        for r in removed_sets:
            key = frozenset(r)
            if key in seen:
                continue
            seen.add(key)
            if key == set(self.names):
                self._done[key] = EMPTY  # nobody left: nothing to run
                continue
            ordered = [n for n in self.names if n in key]  # remove() validates the names
            tasks.append((self.cfg, remove(self.park, ordered), key))
        if not tasks:
            return
        from experiments import sweep_run

        # One run at a time (the degree curve's) is not worth shipping to a worker.
        results = sweep_run._ray(tasks, _simulate, self.workers, self.address) if self.parallel and len(tasks) > 1 \
            else sweep_run._serial(tasks, _simulate)
        for key, outcome in results:
            self._done[key] = outcome
            if self.progress is not None:
                self.progress.update(1)


def _runs(cfg: RunConfig, park: Scenario, steps: int, runs: Runs | None) -> Runs:
    if runs is None:
        return Runs(cfg, park, steps)
    if not runs.matches(cfg, park, steps):
        raise ValueError("runs: holds runs of another config, park or number of steps")
    return runs


def _share(x: float, whole: float) -> float:
    return x / whole if abs(whole) > 1e-9 else float("nan")


# --------------------------------------------------------------------------------------------
# Criticality and the robustness curves
# --------------------------------------------------------------------------------------------

def criticality(cfg: RunConfig, park: Scenario, steps: int, *, runs: Runs | None = None) -> pd.DataFrame:
    """Each company removed alone: the park's gains without it, the loss against the intact
    park (EUR a year and share), and the OTHER companies it strands (in an exchange in the
    intact park, in none without it). Most critical (largest loss) first, ties by name."""
    runs = _runs(cfg, park, steps, runs)
    names = runs.names
    runs.prefetch([()] + [(n,) for n in names])
    intact = runs.get(())
    rows = []
    for name in names:
        out = runs.get((name,))
        stranded = sorted(x for x in intact.active if x != name and x not in out.active)
        loss = intact.gains_eur - out.gains_eur
        rows.append({
            "company": name,
            "partners": intact.degree.get(name, 0),
            "gains_without_eur_per_year": out.gains_eur,
            "loss_eur_per_year": loss,
            "loss_share": _share(loss, intact.gains_eur),
            "co2_avoided_without_t_per_year": out.co2_avoided_t,
            "co2_avoided_loss_t_per_year": intact.co2_avoided_t - out.co2_avoided_t,
            "stranded": len(stranded),
            "stranded_companies": "; ".join(stranded),
        })
    df = pd.DataFrame(rows, columns=["company", "partners", "gains_without_eur_per_year", "loss_eur_per_year",
                                     "loss_share", "co2_avoided_without_t_per_year",
                                     "co2_avoided_loss_t_per_year", "stranded", "stranded_companies"])
    df = df.sort_values(["loss_eur_per_year", "company"], ascending=[False, True], kind="mergesort")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df.attrs["intact_gains_eur_per_year"] = intact.gains_eur
    df.attrs["intact_co2_avoided_t_per_year"] = intact.co2_avoided_t
    df.attrs["intact_in_exchange"] = len(intact.active)
    return df.reset_index(drop=True)


def curve(cfg: RunConfig, park: Scenario, order: str, steps: int, seeds: int = DEFAULT_RANDOM_ORDERS,
          rng_seed: int = 0, *, runs: Runs | None = None) -> pd.DataFrame:
    """The robustness curve: companies removed one at a time, row k after k removals (row 0 the
    intact park), every row a run of the remaining park.

    order "degree": highest degree first, recomputed from the run of the remaining park after
    each removal (adaptive targeted attack), ties by name; `seeds` and `rng_seed` unused.
    order "random": `seeds` random orders from numpy.random.default_rng(rng_seed); each row has
    the mean over orders and the min and max of gains. Gains and CO2 are a year's
    (x steps_per_year / steps); gains_share is against the intact park's gains.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    runs = _runs(cfg, park, steps, runs)
    names = runs.names
    n = len(names)
    intact = runs.get(())
    if order == "degree":
        return _degree_curve(runs, names, intact)
    if seeds < 1:
        raise ValueError(f"seeds (random orders) must be at least 1, got {seeds}")
    rng = np.random.default_rng(rng_seed)
    orders = [[names[i] for i in rng.permutation(n)] for _ in range(seeds)]
    runs.prefetch(o[:k] for k in range(n + 1) for o in orders)
    rows = []
    for k in range(n + 1):
        outs = [runs.get(o[:k]) for o in orders]
        gains = np.array([o.gains_eur for o in outs])
        shares = np.array([_share(g, intact.gains_eur) for g in gains])
        rows.append({
            "order": "random", "removed": k, "share_removed": k / n if n else 0.0, "orders": seeds,
            "gains_eur_per_year": float(gains.mean()), "gains_eur_per_year_min": float(gains.min()),
            "gains_eur_per_year_max": float(gains.max()),
            "gains_share": float(shares.mean()), "gains_share_min": float(shares.min()),
            "gains_share_max": float(shares.max()),
            "co2_avoided_t_per_year": float(np.mean([o.co2_avoided_t for o in outs])),
            "in_exchange": float(np.mean([len(o.active) for o in outs])),
        })
    df = pd.DataFrame(rows)
    df.attrs["orders"] = [list(o) for o in orders]
    return df


def _degree_curve(runs: Runs, names: list[str], intact: Outcome) -> pd.DataFrame:
    n = len(names)
    rows = [_curve_row(0, n, "", 0, intact, intact)]
    removed: list[str] = []
    current = intact
    for k in range(1, n + 1):
        left = [x for x in names if x not in removed]
        victim = min(left, key=lambda x: (-current.degree.get(x, 0), x))
        removed.append(victim)
        partners = current.degree.get(victim, 0)
        current = runs.get(removed)
        rows.append(_curve_row(k, n, victim, partners, current, intact))
    return pd.DataFrame(rows)


def _curve_row(k: int, n: int, victim: str, partners: int, out: Outcome, intact: Outcome) -> dict[str, Any]:
    return {"order": "degree", "removed": k, "share_removed": k / n if n else 0.0, "company_removed": victim,
            "partners_when_removed": partners, "gains_eur_per_year": out.gains_eur,
            "gains_share": _share(out.gains_eur, intact.gains_eur),
            "co2_avoided_t_per_year": out.co2_avoided_t, "in_exchange": len(out.active)}


# --------------------------------------------------------------------------------------------
# Text report, files and the command
# --------------------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _pct(x: float) -> str:
    return "-" if np.isnan(x) else f"{100 * x:.1f}"


def _m(x: float) -> str:
    return f"{x / 1e6:,.2f}"


def render(criticality_df: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> str:
    """The criticality table and each robustness curve as text tables."""
    parts = []
    c = criticality_df
    if "intact_gains_eur_per_year" in c.attrs:
        parts.append(f"Intact park: gains from trade {_m(c.attrs['intact_gains_eur_per_year'])} M EUR a year, "
                     f"CO2 avoided {c.attrs['intact_co2_avoided_t_per_year'] / 1e3:,.1f} kt a year, "
                     f"{c.attrs['intact_in_exchange']} companies in an exchange.\n")
    parts.append("Criticality: each company removed alone (most critical first)")
    parts.append(_table(
        ["rank", "company", "partners", "gains without, M EUR/yr", "loss, M EUR/yr", "loss %",
         "CO2 avoided lost, kt/yr", "stranded", "companies left without exchange"],
        [[str(r["rank"]), r["company"], str(r["partners"]), _m(r["gains_without_eur_per_year"]),
          _m(r["loss_eur_per_year"]), _pct(r["loss_share"]), f"{r['co2_avoided_loss_t_per_year'] / 1e3:,.1f}",
          str(r["stranded"]), r["stranded_companies"] or "-"] for _, r in c.iterrows()]))
    for name, df in curves.items():
        if "gains_share_min" in df:
            orders = int(df["orders"].iloc[0]) if len(df) else 0
            parts.append(f"\nRobustness curve, random order (mean over {orders} orders; min-max of gains %)")
            parts.append(_table(
                ["removed", "share removed %", "gains, M EUR/yr", "gains %", "min %", "max %",
                 "CO2 avoided, kt/yr", "in exchange"],
                [[str(r["removed"]), _pct(r["share_removed"]), _m(r["gains_eur_per_year"]), _pct(r["gains_share"]),
                  _pct(r["gains_share_min"]), _pct(r["gains_share_max"]), f"{r['co2_avoided_t_per_year'] / 1e3:,.1f}",
                  f"{r['in_exchange']:.1f}"] for _, r in df.iterrows()]))
        else:
            parts.append(f"\nRobustness curve, {name} order (highest degree first, recomputed after each removal)")
            parts.append(_table(
                ["removed", "share removed %", "company removed", "its partners", "gains, M EUR/yr", "gains %",
                 "CO2 avoided, kt/yr", "in exchange"],
                [[str(r["removed"]), _pct(r["share_removed"]), r["company_removed"] or "(intact park)",
                  str(r["partners_when_removed"]) if r["removed"] else "-", _m(r["gains_eur_per_year"]),
                  _pct(r["gains_share"]), f"{r['co2_avoided_t_per_year'] / 1e3:,.1f}", str(r["in_exchange"])]
                 for _, r in df.iterrows()]))
    return "\n".join(parts)


def chart(curves: Mapping[str, pd.DataFrame], path: Path, title: str = "") -> None:
    """Gains (share of the intact park's) against the share of companies removed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, df in curves.items():
        x = df["share_removed"].to_numpy(dtype=float)
        y = df["gains_share"].to_numpy(dtype=float)
        if "gains_share_min" in df:
            ax.fill_between(x, df["gains_share_min"].to_numpy(dtype=float), df["gains_share_max"].to_numpy(dtype=float),
                            color="tab:blue", alpha=0.2, linewidth=0, label=f"{name}: min-max over orders")
            orders = int(df["orders"].iloc[0]) if len(df) else 0
            ax.plot(x, y, "-", color="tab:blue", marker=".", label=f"{name} order (mean of {orders})")
        else:
            ax.plot(x, y, "-", color="tab:red", marker="o", label=f"{name} order (targeted attack)")
            if "company_removed" in df:
                # Name the removals that cost the park gains, stacked so the labels do not collide.
                drops = [(xi, yi, who) for xi, yi, prev, who in zip(x[1:], y[1:], y[:-1], df["company_removed"][1:])
                         if prev - yi > 0.01][:4]
                for i, (xi, yi, who) in enumerate(drops):
                    ax.annotate(f"-{who}", (xi, yi), xytext=(8, 8 + 14 * i), textcoords="offset points",
                                fontsize=7, color="tab:red", arrowprops={"arrowstyle": "-", "color": "tab:red",
                                                                          "lw": 0.5})
    ax.set_xlabel("share of companies removed")
    ax.set_ylabel("gains from trade, share of the intact park's")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=-0.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Robustness curve", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ours(name: str) -> bool:
    return name in FILES or (name.startswith("curve_") and name.endswith(".csv"))


def write(out_dir: Path | Claim, criticality_df: pd.DataFrame, curves: Mapping[str, pd.DataFrame], title: str = "",
          overwrite: bool = False) -> Path:
    """criticality.csv, curve_NAME.csv for each curve and robustness.png, written whole or not
    at all into the claimed folder (`experiments.destination`: a path is claimed here, refused
    if it holds anything but an earlier resilience output, replaced only with `overwrite`)."""
    def fill(tmp: Path) -> None:
        criticality_df.to_csv(tmp / "criticality.csv", index=False)
        for name, df in curves.items():
            df.to_csv(tmp / f"curve_{name}.csv", index=False)
        chart(curves, tmp / "robustness.png", title)

    return write_into(out_dir, "resilience", _ours, fill, overwrite)


def run_command(scenario: str, steps: int = DEFAULT_STEPS, seed: int = 0,
                random_orders: int = DEFAULT_RANDOM_ORDERS, out: Path | None = None, workers: int = 1,
                address: str | None = None, overwrite: bool = False) -> int:
    """`python run.py resilience --scenario NAME`: the criticality table and both robustness
    curves, printed and written to `out` (default results/resilience-SCENARIO). Random orders
    are drawn from `seed`, which is also every run's seed."""
    problems = []
    if steps < 1:
        problems.append(f"--steps: must be at least 1, got {steps} (default {DEFAULT_STEPS}, a quarter of a "
                        f"year; more steps give figures closer to a whole year)")
    if random_orders < 1:
        problems.append(f"--random-orders: must be at least 1, got {random_orders}: it is the number of random "
                        f"removal orders the random curve averages (default {DEFAULT_RANDOM_ORDERS})")
    if workers < 1:
        problems.append(f"--workers: must be at least 1, got {workers} (1 runs serially)")
    try:
        cfg, park = resolve(scenario, steps if steps >= 1 else None, seed, {})
    except InputError as e:
        problems += e.problems
    else:
        name = cfg.scenario.replace(":", "-").replace("/", "_").removesuffix(".toml")
        out = Path(out) if out is not None else default_folder(Path("results") / f"resilience-{name}")
        problem = folder_problem(out, "resilience", _ours, overwrite)  # before the runs, not after them
        if problem:
            problems.append(problem)
    if not problems:
        from experiments import limits
        n = len(park.companies)
        try:  # every company removed once, then two removal orders of up to n runs each, randomly many times
            limits.check_runs(n + n * (1 + random_orders), n, steps, "--random-orders")
        except InputError as e:
            problems += e.problems
    if problems:
        raise InputError(problems)
    with claim_folder(out, "resilience", _ours, overwrite) as claimed:
        return _resilience(cfg, park, steps, seed, random_orders, workers, address, claimed)


def _resilience(cfg, park, steps: int, seed: int, random_orders: int, workers: int, address: str | None,
                claimed: Claim) -> int:
    n = len(park.companies)
    print(f"Resilience of {park.name}: {n} companies, {steps} steps a run (figures a year: x "
          f"{park.steps_per_year}/{steps}), seed {seed}, {random_orders} random orders")
    from tqdm import tqdm

    with tqdm(desc="runs", unit="run", disable=None, leave=False) as bar, \
            Runs(cfg, park, steps, workers, address, progress=bar) as runs:
        crit = criticality(cfg, park, steps, runs=runs)
        curves = {"degree": curve(cfg, park, "degree", steps, runs=runs),
                  "random": curve(cfg, park, "random", steps, random_orders, seed, runs=runs)}
    print(render(crit, curves))
    out = write(claimed, crit, curves, title=f"{park.name}: gains from trade as companies are removed ({steps} steps a run)")
    print(f"\n{runs.count} runs. Written to {out}/ ({', '.join(FILES)})")
    return 0
