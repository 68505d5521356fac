"""Comparing incentive schemes on common seeds: each KPI's mean and 95 % confidence interval per
scheme, the government's net cost and the cost per tonne of CO2 avoided against the first
scheme (the reference)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from experiments import scenario_io, sweep_run
from experiments.destination import Claim, write_into
from experiments.schemes import Scheme
from experiments.sweep import Run

MAIN = ("gains_from_trade_eur", "social_surplus_eur", "transfers_eur", "co2_value_eur", "savings_vs_baseline_eur",
        "co2_avoided_t", "co2_t", "market_efficiency", "active_links", "symbiosis_share", "taxes_eur", "subsidies_eur",
        "government_net_cost_eur")


def seeds(root: int, replicates: int) -> list[int]:
    """One seed per replicate, spawned from the root before anything runs, shared by every
    scheme: the schemes meet the same daily loads (common random numbers)."""
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in np.random.SeedSequence(root).spawn(replicates)]


def run(scenario: str, schemes: list[Scheme], replicates: int, steps: int, root_seed: int = 0,
        workers: int = 1, address: str | None = None) -> pd.DataFrame:
    tasks = []
    text = scenario_io.file_text(scenario)
    for n, scheme in enumerate(schemes):
        for r, seed in enumerate(seeds(root_seed, replicates)):
            run_ = Run(f"{scheme.name}-r{r:03d}", n, r, seed, scheme.sets)
            tasks.append(sweep_run.Task.of(run_, scenario, steps, text=text))
    gen = sweep_run._serial(tasks, sweep_run.execute) if workers <= 1 and address is None else \
        sweep_run._ray(tasks, sweep_run.execute, workers, address)
    rows = list(gen)
    df = pd.DataFrame(rows)
    df["scheme"] = [schemes[p].name for p in df["point"]]
    return df.sort_values("run_id").reset_index(drop=True)


def ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and the 95 % Student-t interval (NaN half-width for fewer than two values)."""
    v = values[~np.isnan(values)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - h, m + h


def summarise(df: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    ok = df[df["status"] == "ok"].copy()
    ref = order[0]
    # Against the reference scheme on the same seed: extra CO2 avoided and extra cost.
    base = ok[ok["scheme"] == ref].set_index("replicate")
    ok["co2_reduction_vs_reference_t"] = ok.apply(lambda r: base.loc[r["replicate"], "co2_t"] - r["co2_t"]
                                                  if r["replicate"] in base.index else np.nan, axis=1)
    ok["extra_net_cost_vs_reference_eur"] = ok.apply(
        lambda r: r["government_net_cost_eur"] - base.loc[r["replicate"], "government_net_cost_eur"]
        if r["replicate"] in base.index else np.nan, axis=1)
    rows = []
    for scheme in order:
        g = ok[ok["scheme"] == scheme]
        for kpi in MAIN + ("co2_reduction_vs_reference_t", "extra_net_cost_vs_reference_eur"):
            m, lo, hi = ci(g[kpi].to_numpy(dtype=float))
            rows.append({"scheme": scheme, "kpi": kpi, "n": len(g), "mean": m, "ci_low": lo, "ci_high": hi})
        red = g["co2_reduction_vs_reference_t"].mean()
        cost = g["extra_net_cost_vs_reference_eur"].mean()
        # A cost per tonne only where the scheme avoids more CO2 than the reference: with less
        # (or none), the ratio of two signed numbers reads as a price and means nothing.
        per_t = cost / red if scheme != ref and red > 1e-9 else float("nan")
        rows.append({"scheme": scheme, "kpi": "cost_per_t_co2_avoided_eur", "n": len(g), "mean": per_t,
                     "ci_low": float("nan"), "ci_high": float("nan")})
    return pd.DataFrame(rows)


def chart(table: pd.DataFrame, order: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("gains_from_trade_eur", "Gains from trade (private)", 1e6, "M EUR"),
              ("social_surplus_eur", "Social surplus", 1e6, "M EUR"),
              ("co2_avoided_t", "CO2 avoided vs no exchanges", 1e3, "kt"),
              ("government_net_cost_eur", "Government net cost", 1e6, "M EUR"),
              ("market_efficiency", "Market efficiency", 0.01, "%")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8))
    colours = plt.get_cmap("tab10").colors
    for ax, (kpi, title, scale, unit) in zip(axes, panels):
        t = table[table["kpi"] == kpi].set_index("scheme").reindex(order)
        mean = t["mean"].to_numpy() / scale
        err = np.vstack([mean - t["ci_low"].to_numpy() / scale, t["ci_high"].to_numpy() / scale - mean])
        err = np.nan_to_num(err, nan=0.0)
        ax.bar(range(len(order)), mean, yerr=err, capsize=4, color=colours[: len(order)])
        ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Incentive schemes compared (mean and 95 % confidence interval over replicates)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.partial.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


FILES = ("compare.csv", "compare.png", "runs.parquet")


def write(df: pd.DataFrame, table: pd.DataFrame, order: list[str], out: Path | Claim) -> Path:
    """Runs, the comparison table and its chart, written whole or not at all into the claimed
    folder (`experiments.destination`; a path is claimed here, and refused if it holds anything
    but an earlier comparison)."""
    def fill(tmp: Path) -> None:
        df.to_parquet(tmp / "runs.parquet", index=False)
        table.to_csv(tmp / "compare.csv", index=False)
        chart(table, order, tmp / "compare.png")

    return write_into(out, "compare", FILES, fill)


def render(table: pd.DataFrame, order: list[str]) -> str:
    def cell(scheme: str, kpi: str, scale: float = 1.0, fmt: str = "{:,.1f}") -> str:
        r = table[(table["scheme"] == scheme) & (table["kpi"] == kpi)].iloc[0]
        if np.isnan(r["mean"]):
            return "-"
        s = fmt.format(r["mean"] / scale)
        if not np.isnan(r["ci_low"]):
            s += " ±" + fmt.format((r["ci_high"] - r["mean"]) / scale)
        return s

    headers = ["scheme", "gains M EUR", "social surplus M EUR", "CO2 avoided kt", "CO2 t less than ref.", "gov. net cost M EUR",
               "EUR per t CO2", "efficiency"]
    rows = [[s, cell(s, "gains_from_trade_eur", 1e6, "{:,.2f}"), cell(s, "social_surplus_eur", 1e6, "{:,.2f}"),
             cell(s, "co2_avoided_t", 1e3),
             cell(s, "co2_reduction_vs_reference_t", 1.0, "{:,.0f}"), cell(s, "government_net_cost_eur", 1e6, "{:,.2f}"),
             cell(s, "cost_per_t_co2_avoided_eur", 1.0, "{:,.0f}"), cell(s, "market_efficiency", 0.01, "{:.1f}")]
            for s in order]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda c: "  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(c, widths)))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
