"""`run.py whatif`: run a park to a step, then try plans on its digital twin (`agents.twin`).

    python run.py whatif --scenario kalundborg --at 100 \\
        --plans "outage:Asnaes power station@100:10; outage:Fish farm@100:10"
    python run.py whatif --at 100 --plan "maintain:Gyproc:3@100|110|120" --horizon 90

A plan is `outage:NAME@STEP:DURATION` (the company is down for DURATION steps from STEP, a
surprise; `announced:NAME@STEP:DURATION` is the same outage announced ahead, which partners see
coming to the extent information sharing allows;
several outages joined by "+" make one plan) or `maintain:NAME:DAYS@STEP1|STEP2|...`, candidate
windows for a planned stop of DAYS steps, each a plan of its own: the company is down for DAYS
steps from the window's step (a company-level stop), and the planned calendar maintenance of
its processes is moved into that window (`agents.twin.Plan.maintain`). Each plan is measured
against the park as planned, over the same steps and random numbers (common random numbers).
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from agents.operations import Outage
from experiments.problems import InputError, nearest

DEFAULT_HORIZON = 60
OUTAGE_FORM = 'outage:NAME@STEP:DURATION, e.g. "outage:Asnaes power station@100:14" (several joined by +)'
MAINTAIN_FORM = 'maintain:NAME:DAYS@STEP1|STEP2|..., e.g. "maintain:Gyproc:3@100|110|120"'


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """A plan as written, checked for form but not yet against a park."""

    text: str
    outages: tuple[Outage, ...] = ()  # outage: plans
    company: str = ""  # maintain: plans
    days: int = 0
    starts: tuple[int, ...] = ()

    @property
    def companies(self) -> list[str]:
        return [o.company for o in self.outages] if self.outages else [self.company]

    @property
    def steps(self) -> list[int]:
        return [o.at for o in self.outages] if self.outages else list(self.starts)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `whatif` command to run.py's subparsers."""
    w = subparsers.add_parser(
        "whatif", help="try outages or maintenance windows on the park's digital twin and compare what they cost",
        description="Run the park to step --at, then copy it (its digital twin, with the same state and random "
                    "numbers) once per plan, impose the plan on the copy and run it --horizon steps. Each plan is "
                    "measured against a copy with no change: park gains from trade and profit lost, and output "
                    "lost to stops and to cascades. The plan that loses least park profit is named best. "
                    "Writes nothing unless --out is given.",
        epilog="Plans: " + OUTAGE_FORM + "; or " + MAINTAIN_FORM + ", one plan per candidate window (the company "
               "stops for DAYS steps and its processes' planned maintenance moves into the window).")
    w.add_argument("--scenario", help="built-in name, synthetic:SIZE[:SEED], or a .toml path (default: kalundborg)")
    w.add_argument("--at", type=int, required=True, metavar="STEP", help="run the park to this step, then try the plans")
    w.add_argument("--plans", default="", metavar="PLANS", help='plans separated by ";"')
    w.add_argument("--plan", dest="plan", action="append", default=[], metavar="PLAN", help="one plan (repeatable)")
    w.add_argument("--horizon", type=int, default=DEFAULT_HORIZON,
                   help=f"steps each copy runs from --at (default {DEFAULT_HORIZON})")
    w.add_argument("--seed", type=int, help="root seed of the run (default 0)")
    w.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="set a config key by dotted path, e.g. operations.mtbf=120 (repeatable)")
    w.add_argument("--out", type=Path, help="write the table to this CSV file")
    w.add_argument("--overwrite", action="store_true", help="replace the file at --out if it exists")
    return w


def parse_plan(text: str) -> PlanSpec:
    """One plan's text into a PlanSpec; ValueError with the form to use when it is malformed."""
    t = text.strip()
    kind, colon, body = t.partition(":")
    kind = kind.strip().lower()
    if kind in ("outage", "announced") and colon:
        body = t  # each part names its own kind
        outages = []
        for part in body.split("+"):
            part = part.strip()
            announced = part.lower().startswith("announced:")
            for prefix in ("outage:", "announced:"):
                if part.lower().startswith(prefix):
                    part = part[len(prefix):]
            name, at, dur = _name_at(part, ":")
            if name is None or not dur.isdigit() or int(dur) < 1:
                raise ValueError(f"plan '{text}': each outage is NAME@STEP:DURATION with DURATION >= 1; write "
                                 + OUTAGE_FORM)
            outages.append(Outage(name, int(at), ((int(dur), 0.0),), label="announced outage" if announced else "outage",
                                  announced=announced))
        return PlanSpec(t, outages=tuple(outages))
    if kind == "maintain" and colon:
        head, at_sign, steps = body.rpartition("@")
        name, colon2, days = head.rpartition(":")
        starts = [s.strip() for s in steps.split("|")]
        if not at_sign or not colon2 or not name.strip() or not days.strip().isdigit() or int(days) < 1 \
                or not all(s.isdigit() for s in starts):
            raise ValueError(f"plan '{text}': write {MAINTAIN_FORM} (a company, the stop's length in steps >= 1, "
                             f"candidate start steps separated by |)")
        return PlanSpec(t, company=name.strip(), days=int(days), starts=tuple(int(s) for s in starts))
    raise ValueError(f"plan '{text}': a plan starts with outage: or maintain:; write {OUTAGE_FORM}, or {MAINTAIN_FORM}")


def _name_at(part: str, sep: str) -> tuple[str | None, str, str]:
    name, at_sign, rest = part.rpartition("@")
    at, s, tail = rest.partition(sep)
    if not at_sign or not s or not name.strip() or not at.strip().isdigit():
        return None, "", ""
    return name.strip(), at.strip(), tail.strip()


def plan_texts(plans: str, plan: list[str]) -> list[str]:
    return [p.strip() for p in (plans or "").split(";") if p.strip()] + [p.strip() for p in plan if p.strip()]


def check(specs: list[PlanSpec], names: list[str], at: int, horizon: int) -> None:
    """Each plan's companies exist and its steps fall within the steps simulated."""
    problems = []
    last = at + horizon - 1
    for s in specs:
        for c in s.companies:
            if c not in names:
                guess = nearest(c, names)
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                hint = f"did you mean '{guess}'?" if guess else f"the park has: {shown}"
                problems.append(f"plan '{s.text}': unknown company '{c}' ({hint})")
        for step in s.steps:
            if step < at:
                problems.append(f"plan '{s.text}': step {step} is before --at {at}, where the twin starts; give a "
                                f"step from {at} on (or an earlier --at)")
            elif step > last:
                problems.append(f"plan '{s.text}': step {step} is after the last step simulated ({last} = --at + "
                                f"--horizon - 1), so nothing of it would be measured; raise --horizon or move the step")
    if problems:
        raise InputError(problems)


def build(specs: list[PlanSpec], model) -> list:
    """The twin's Plans: one per outage plan, one per candidate window of a maintain plan."""
    from agents.twin import Plan, process_index

    out = []
    for s in specs:
        if s.outages:
            out.append(Plan(s.text, events=s.outages))
            continue
        moved = [p for p in process_index(model, s.company) if model.reliability.every[p] > 0]
        for start in s.starts:
            out.append(Plan(f"maintain:{s.company}:{s.days}@{start}",
                            events=(Outage(s.company, start, ((s.days, 0.0),), label="maintenance", announced=True),),
                            maintain=tuple((p, start) for p in moved)))
    return out


def run_command(args: argparse.Namespace) -> int:
    from experiments.config import parse_sets, resolve

    problems = []
    if args.at < 0:
        problems.append(f"--at: must be >= 0 (the step at which the plans are tried), got {args.at}")
    if args.horizon < 1:
        problems.append(f"--horizon: must be at least 1 (steps each copy runs), got {args.horizon}")
    texts = plan_texts(args.plans, args.plan)
    if not texts:
        problems.append(f'--plans: no plan given; give --plans "PLAN; PLAN" or --plan PLAN, each {OUTAGE_FORM} '
                        f"or {MAINTAIN_FORM}")
    specs = []
    for t in texts:
        try:
            specs.append(parse_plan(t))
        except ValueError as e:
            problems.append(f"--plans: {e}")
    if problems:
        raise InputError(problems)
    cfg, park = resolve(args.scenario, None, args.seed, parse_sets(args.sets))
    check(specs, [c.name for c in park.companies], args.at, args.horizon)
    from experiments import limits
    limits.check_run(len(park.companies), args.at + args.horizon * (len(specs) + 1), "--at")

    from contextlib import nullcontext

    from experiments.destination import claim_file

    # The file is claimed before the run: a refused --out wastes nothing.
    with claim_file(args.out, "whatif", args.overwrite) if args.out is not None else nullcontext() as claimed:
        return _run(args, cfg, park, specs, claimed)


def _run(args, cfg, park, specs, claimed) -> int:
    from tqdm import tqdm

    from agents.twin import best, whatif
    from experiments import runner

    model, _ = runner.models(cfg, park)
    with tqdm(total=args.at, desc=f"{park.name} to step {args.at}", unit="step", leave=False, disable=None) as bar:
        model.run(args.at, bar)
    plans = build(specs, model)
    outcomes = whatif(model, plans, args.horizon)
    top, why = best(outcomes)
    print(f"What-if on {park.name} (seed {cfg.seed}): steps {args.at}-{args.at + args.horizon - 1}, each plan "
          f"against the park as planned (positive: the plan costs the park that much more)")
    print(render(outcomes, top))
    print(f"Best: '{top.label}'\n  {why}")
    if claimed is not None:
        claimed.write_file(to_csv(outcomes, top))
        print(f"Written to {args.out}")
    return 0


COLUMNS = (("lost gains EUR", "lost_gains_eur"), ("lost profit EUR", "lost_profit_eur"),
           ("lost to failures EUR", "lost_to_failures_eur"), ("lost to cascades EUR", "lost_to_cascades_eur"))


def render(outcomes, top) -> str:
    width = max([len("plan")] + [len(o.plan.label) for o in outcomes])
    head = f"  {'plan':<{width}}" + "".join(f"  {h:>20}" for h, _ in COLUMNS)
    rows = [head]
    for o in outcomes:
        mark = "*" if o.plan is top else " "
        rows.append(f"{mark} {o.plan.label:<{width}}" + "".join(f"  {getattr(o, k):>20,.0f}" for _, k in COLUMNS))
    return "\n".join(rows)


def to_csv(outcomes, top) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["plan", "start", "horizon", *(k for _, k in COLUMNS), "best"])
    for o in outcomes:
        w.writerow([o.plan.label, o.start, o.horizon, *(repr(float(getattr(o, k))) for _, k in COLUMNS),
                    str(o.plan is top).lower()])
    return buf.getvalue()
