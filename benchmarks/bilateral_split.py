"""Bilateral negotiation in the park: who keeps the gains, and how often pairs agree, by tactic.

    uv run python benchmarks/bilateral_split.py                       # synthetic:200, 30 steps, seeds 0-2
    uv run python benchmarks/bilateral_split.py --scenario kalundborg --steps 60

Every company negotiates with a tactic drawn from equal shares of Linear, Boulware and Conceder
(Faratin, Sierra & Jennings 1998), truthful orders, `market.mechanism=bilateral`, at a generous
and a tight deadline (`market.deadline` 25 and 3 rounds). Each side knows its own limit and the
resource's public price range only (minus the disposal price to the park buy value). The run's
negotiations are tallied by (buyer's tactic, seller's tactic) (`ParkModel.negotiations`); per
pair, over seeds, the mean (min to max) of

- the agreement rate: negotiations that ended in a deal;
- the gains realised: of the pair's gains at their limits over the units they would trade;
- the sellers' share: of the realised gains, what the sellers kept at the agreed prices.

Printed, not asserted; the figures are quoted in docs/model.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agents.traders import PairTally  # noqa: E402
from experiments import config, runner  # noqa: E402

TACTICS = ("boulware", "linear", "conceder")
DEADLINES = (("generous", 25), ("tight", 3))


def tallies(scenario: str, steps: int, seed: int, deadline: int) -> dict[tuple[str, str], PairTally]:
    """One run of the park (no baseline, no yardstick): its negotiations by tactic pair."""
    sets: dict[str, object] = {"market.mechanism": "bilateral", "market.deadline": deadline,
                               "market.strategies.truthful": 1.0}
    sets.update({f"market.tactics.{t}": 1 / len(TACTICS) for t in TACTICS})
    cfg, park = config.resolve(scenario, steps, seed, sets)
    model = runner.models(cfg, park)[0]
    model.run(cfg.steps)
    return model.negotiations


def fmt(values: list[float]) -> str:
    v = np.array(values, dtype=float) * 100
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return "n/a"
    return f"{v.mean():.1f} ({v.min():.1f} to {v.max():.1f})"


def table(runs: dict[tuple[str, int], dict[tuple[str, str], PairTally]]) -> list[str]:
    """One row per deadline and tactic pair, over the seeds in `runs` ((label, seed) -> tally)."""
    lines = ["| deadline | buyer | seller | negotiations | agree % | gains realised % | sellers' share % |",
             "|---|---|---|---|---|---|---|"]
    for label, deadline in DEADLINES:
        seeds = [k for k in runs if k[0] == label]
        every = PairTally()
        for b in TACTICS:
            for s in TACTICS:
                got = [runs[k].get((b, s), PairTally()) for k in seeds]
                n = sum(g.negotiations for g in got)
                lines.append(f"| {deadline} ({label}) | {b} | {s} | {n:,} | {fmt([g.agreement_rate for g in got])} | "
                             f"{fmt([g.realised / g.possible if g.possible else np.nan for g in got])} | "
                             f"{fmt([g.seller_share for g in got])} |")
                for g in got:
                    every = PairTally(every.negotiations + g.negotiations, every.agreed + g.agreed,
                                      every.possible + g.possible, every.realised + g.realised,
                                      every.sellers + g.sellers)
        lines.append(f"| {deadline} ({label}) | all | all | {every.negotiations:,} | {100 * every.agreement_rate:.1f} | "
                     f"{100 * every.realised / every.possible:.1f} | {100 * every.seller_share:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="synthetic:200")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1, the same for both deadlines")
    a = p.parse_args(argv)
    runs = {(label, seed): tallies(a.scenario, a.steps, seed, deadline)
            for label, deadline in DEADLINES for seed in range(a.seeds)}
    print(f"{a.scenario}, {a.steps} steps, seeds 0-{a.seeds - 1}, tactics 1/3 each, truthful orders\n")
    print("\n".join(table(runs)))


if __name__ == "__main__":
    main()
