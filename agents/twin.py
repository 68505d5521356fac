"""A digital twin of the running park: copy it, try plans on the copies, compare what they cost.

A digital twin is a virtual copy of a physical system kept in step with it and used to predict
its behaviour under alternatives before acting on the real one (Grieves & Vickers 2017,
"Digital Twin: Mitigating Unpredictable, Undesirable Emergent Behavior in Complex Systems", in
Kahlen, Flumerfelt & Alves (eds.), Transdisciplinary Perspectives on Complex Systems, Springer,
85-113). Here the "physical" park is the running `ParkModel` and its twin is an exact copy of
its state, random streams included (`snapshot`): stepped on, the copy does what the park would.

`whatif` copies the park once per plan (outages to impose, planned maintenance to move), runs
every copy over the same horizon and measures each against a reference copy with no change.
All copies start from the same state and draw the same random numbers (common random numbers),
so the differences between them are due to the plans alone, not to noise.

`prescriptive_chooser` is the prescriptive maintenance policy (`Maintenance.PRESCRIPTIVE`):
when a process's maintenance falls due it simulates each candidate start window on the twin and
takes the one that costs the whole park least, i.e. it prescribes an action by choosing among
simulated alternatives rather than only predicting when a failure will come (Lepenioti,
Bousdekis, Apostolou & Mentzas 2020, "Prescriptive analytics: Literature review and research
challenges", International Journal of Information Management 50, 57-70; Ansari, Glawar & Nemeth
2019, "PriMa: a prescriptive maintenance model for cyber-physical production systems",
International Journal of Computer Integrated Manufacturing 32(4-5), 482-503).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents.operations import Maintenance, Outage
from agents.reliability import MAINTENANCE, RUNNING
from market.settlement import closing_stock_value

if TYPE_CHECKING:
    from agents.model import ParkModel

# Differences of park profit below this (EUR) are ties: float noise must not pick a plan.
TIE_EUR = 1e-6


def snapshot(model: "ParkModel") -> "ParkModel":
    """An independent copy of the model's full current state that continues exactly as the
    model would: stepping the copy N steps gives the records the model gets from its next N
    steps. Copying only reads the model, so its state and random streams are untouched.

    `copy.deepcopy` with a prepared memo (`_memo`). Mesa 3.5's own machinery mostly copies
    correctly: its events and event generators hold weak references to the step method but turn
    them into strong ones for copying (`__getstate__`) and back (`__setstate__`), so the copy's
    schedule calls the copy; the agent registry, `rng` and `random` come along through the memo.
    A copy taken inside a step, though, has no next step scheduled (`_rewind_if_inside_step`
    repairs it). Checked after each copy (`_check`), so a Mesa version that breaks this fails
    loudly. (Mesa numbers events from one counter per process, shared by the park and its
    copies; the number only breaks ties between events at the same time, and a park has one
    event at a time.) Two things are
    not copied: the park's history of frozen values (records, trade log, shocks), which the copy
    shares item by item in lists of its own (copying a year's trade log took ~0.3 s), and
    Mesa's signal subscribers (weak references to observers of the running park, e.g. a browser
    page, which must not hear the twin). A prescriptive chooser (`PrescriptiveChooser`) is
    copied with the model and so serves the copy."""
    twin = copy.deepcopy(model, _memo(model))
    _rewind_if_inside_step(twin)
    _check(model, twin)
    return twin


def _rewind_if_inside_step(twin: "ParkModel") -> None:
    """A copy taken inside a step (the prescriptive chooser is called from the reliability's
    `begin_step`) has no event for its next step in Mesa's schedule: the running model popped
    it to run the step under way and schedules the next one only when it returns. Put the copy
    back at the start of that step, so that its `step()` replays it: Mesa's step count and time
    one step back, the step event rescheduled at the time of the step under way. The replay is
    exact because nothing in a step draws a random number or changes state before the
    reliability's `begin_step` but the opening of the step's account, whose disposal of stock
    past its shelf life has already been done (and booked in the running model): every copy
    misses that step's disposal alike, so comparisons between copies are unaffected."""
    gen = getattr(twin, "_default_schedule", None)
    events = getattr(twin, "_event_list", None)
    if gen is None or events is None or not gen.is_active:
        return
    pending = gen._current_event is not None and gen._current_event in events
    if pending or twin.steps != twin.t + 1:
        return
    when = twin.time
    twin.steps -= 1
    twin.time = when - gen._get_interval()
    gen._schedule_next(when)


def _memo(model: "ParkModel") -> dict[int, object]:
    memo: dict[int, object] = {}
    for history in (model.records, model.shocks):
        memo[id(history)] = list(history)  # frozen items: shared, the list is the copy's own
    # The spooled logs copy as empty logs of the twin's own (`agents.spool`): it shares no file.
    chooser = model.reliability.choose
    if isinstance(chooser, PrescriptiveChooser):
        memo[id(chooser.decisions)] = list(chooser.decisions)
    subscribers = getattr(model, "subscribers", None)
    if subscribers is not None:
        memo[id(subscribers)] = defaultdict(list)
    return memo


def _check(model: "ParkModel", twin: "ParkModel") -> None:
    """Refuse a copy in which Mesa's machinery still points at the running model."""
    problems = []
    if any(a.model is not twin for a in twin.agents):
        problems.append("an agent of the copy belongs to the running model")
    if {id(a) for a in twin.agents} != {id(c) for c in twin.companies}:
        problems.append("the copy's agent registry does not hold the copy's companies")
    for name in ("step", "_user_step"):
        bound = getattr(twin, name, None)
        if getattr(bound, "__self__", twin) is not twin:
            problems.append(f"the copy's {name} is bound to the running model")
    for event in getattr(getattr(twin, "_event_list", None), "_events", []):
        fn = event.fn() if getattr(event, "fn", None) is not None else None
        owner = getattr(fn, "__self__", None)
        if owner is model or getattr(owner, "model", None) is model:
            problems.append("an event of the copy's schedule calls the running model")
    for name in ("rng", "ops_rng", "market_rng", "coop_rng", "rel_rng"):
        if getattr(twin, name) is getattr(model, name):
            problems.append(f"the copy shares the random stream {name}")
    gen = getattr(twin, "_default_schedule", None)
    if gen is not None and gen.is_active and not (gen._current_event is not None and gen._current_event in twin._event_list):
        problems.append("the copy's next step is not in Mesa's schedule")
    if twin.reliability.rng is not twin.rel_rng:
        problems.append("the copy's reliability draws from another stream than its rel_rng")
    if problems:
        raise RuntimeError("snapshot: the copy is not independent of the running park: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Plan:
    """Something to try on the twin.

    label: how it is shown. events: outages to add (an `agents.operations.Outage` each: a
    company down or at part capacity from a step; a planned stop of a whole company is
    Outage(company, at, ((days, 0.0),), label="maintenance")). maintain: (process, step) pairs,
    processes numbered in company order as in `agents.reliability.Reliability`: that process's
    next planned maintenance is moved to start at `step`. Where the policy keeps a calendar the
    move goes through the model's own schedule, so the copy does what the model would do had it
    chosen that window (prescriptive: the scheduled start; calendar and coordinated: the next due
    step, from which the calendar then counts); under the other policies, or for a process with
    no calendar, the process is stopped at that step (or once it is back, if it is down then)
    for its maintenance length, which restores its condition."""

    label: str
    events: tuple[Outage, ...] = ()
    maintain: tuple[tuple[int, int], ...] = ()


REFERENCE = Plan("as planned")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a plan costs the park over the horizon, against the reference copy (positive: the
    plan costs more; negative: it saves). lost_gains_eur: gains from trade. lost_profit_eur:
    profit of all companies, with the stock left at the end valued at its disposal cost as in
    a run's summary. lost_to_failures_eur, lost_to_cascades_eur: sales value of the output lost
    to stops (failures, maintenance, outages) and to missing inputs down the chain (the records'
    lost_failure_eur and lost_cascade_eur). start: the first step simulated. against: the label
    of the reference plan."""

    plan: Plan
    start: int
    horizon: int
    against: str
    lost_gains_eur: float
    lost_profit_eur: float
    lost_to_failures_eur: float
    lost_to_cascades_eur: float


@dataclass(frozen=True, slots=True)
class _Totals:
    gains: float
    profit: float
    failures: float
    cascades: float


def whatif(model: "ParkModel", plans: Iterable[Plan], horizon: int, reference: Plan = REFERENCE) -> list[Outcome]:
    """Each plan tried on a copy of the model over `horizon` steps, measured against a copy
    with `reference` (default: no change). The model is not touched. A plan equal to the
    reference is not simulated twice (its outcome is all zeros).

    In the copies a maintenance that falls due starts at once: they do not run the twin
    themselves (a twin within a twin would multiply the cost without bound)."""
    if horizon < 1:
        raise ValueError(f"whatif: horizon must be at least 1 step, got {horizon}")
    plans = list(plans)
    for plan in (reference, *plans):
        _validate(model, plan)
    start = model.t
    ref = _simulate(model, reference, horizon)
    out = []
    for plan in plans:
        got = ref if plan == reference else _simulate(model, plan, horizon)
        out.append(Outcome(plan, start, horizon, reference.label, lost_gains_eur=ref.gains - got.gains,
                           lost_profit_eur=ref.profit - got.profit,
                           lost_to_failures_eur=got.failures - ref.failures,
                           lost_to_cascades_eur=got.cascades - ref.cascades))
    return out


def best(outcomes: Sequence[Outcome]) -> tuple[Plan, str]:
    """The plan that loses least park profit (ties: the earliest listed), and what was compared."""
    if not outcomes:
        raise ValueError("best: no outcomes to compare")
    top = outcomes[0]
    for o in outcomes[1:]:
        if o.lost_profit_eur < top.lost_profit_eur - TIE_EUR:
            top = o
    o0 = outcomes[0]
    what = (f"{len(outcomes)} plan{'s' if len(outcomes) != 1 else ''} compared over steps {o0.start}-"
            f"{o0.start + o0.horizon - 1} against '{o0.against}', by the park profit each loses")
    others = sorted((o for o in outcomes if o is not top), key=lambda o: o.lost_profit_eur)
    why = f"'{top.plan.label}' loses least: {_eur(top.lost_profit_eur)} of park profit"
    if others:
        nxt = others[0]
        why += f"; next '{nxt.plan.label}' loses {_eur(nxt.lost_profit_eur)}"
        ties = [o for o in outcomes if o is not top and abs(o.lost_profit_eur - top.lost_profit_eur) <= TIE_EUR]
        if ties:
            why += f" (a tie with {len(ties)} other{'s' if len(ties) > 1 else ''}: the first listed is taken)"
    return top.plan, f"{what}. {why}."


def _eur(x: float) -> str:
    return f"{x:,.0f} EUR"


def _validate(model: "ParkModel", plan: Plan) -> None:
    names = model.park.company_index()
    unknown = [e.company for e in plan.events if e.company not in names]
    if unknown:
        raise ValueError(f"plan '{plan.label}': outage of unknown companies {unknown}; the park has {sorted(names)}")
    n = model.reliability.n
    bad = [p for p, _ in plan.maintain if not 0 <= p < n]
    if bad:
        raise ValueError(f"plan '{plan.label}': no process {bad}; the park's processes are numbered 0-{n - 1}")


def _simulate(model: "ParkModel", plan: Plan, horizon: int) -> _Totals:
    twin = snapshot(model)
    twin.reliability.choose = None  # no twin within the twin: a stop that falls due starts at once
    if plan.events:
        twin.add_outages(plan.events)
    pending = sorted((at, p) for p, at in plan.maintain if not _move(twin, p, at))
    first = len(twin.records)
    for _ in range(horizon):
        if pending:
            pending = _stop_due(twin, pending)
        twin.step()
    recs = twin.records[first:]
    return _Totals(gains=float(sum(r.gains_from_trade_eur for r in recs)),
                   profit=float(sum(r.profit_eur for r in recs)) + float(closing_stock_value(twin.ledger).sum()),
                   failures=float(sum(r.lost_failure_eur for r in recs)),
                   cascades=float(sum(r.lost_cascade_eur for r in recs)))


def _move(twin: "ParkModel", p: int, at: int) -> bool:
    """Move process p's next planned maintenance to step `at` through the model's own schedule;
    False when the policy keeps no calendar for it (the caller stops it by hand)."""
    rel = twin.reliability
    policy = rel.settings.maintenance
    if policy is Maintenance.PRESCRIPTIVE:
        rel.scheduled[p] = at
        if rel.every[p] > 0 and rel.next_due[p] > at:
            rel.next_due[p] = at  # brought forward: this stop replaces the planned one
        return True
    if policy in (Maintenance.CALENDAR, Maintenance.COORDINATED) and rel.every[p] > 0:
        rel.next_due[p] = at
        return True
    return False


def _stop_due(twin: "ParkModel", pending: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Before step t: stop each pending process whose window has come and that is running (or
    back from repair) at t, as `Reliability.begin_step` starts a planned stop."""
    rel = twin.reliability
    t = twin.t
    left = []
    for at, p in pending:
        if at <= t and (rel.kind[p] == RUNNING or rel.until[p] <= t):
            days = int(rel.days[p]) if rel.days[p] > 0 else max(1, int(round(rel.mttr[p] / 2)))
            rel.kind[p] = MAINTENANCE
            rel.until[p] = t + days
            rel.stops += 1
            if rel.every[p] > 0:
                while rel.next_due[p] <= t:
                    rel.next_due[p] += rel.every[p]
        else:
            left.append((at, p))
    return left


@dataclass(frozen=True, slots=True)
class Decision:
    """One choice of the prescriptive policy: at `step`, process `process` (flattened index)
    starts its maintenance at `chosen`, of `candidates`; `outcomes` against starting at once."""

    step: int
    process: int
    candidates: tuple[int, ...]
    chosen: int
    outcomes: tuple[Outcome, ...]


class PrescriptiveChooser:
    """`Reliability.choose` for the prescriptive policy: called as chooser(process, candidates)
    when a process's maintenance falls due, it tries each candidate start on the twin over
    `operations.prescriptive_horizon` steps and returns the one that loses the whole park least
    profit (ties: the earliest). The horizon is stretched when needed so that it ends after the
    latest candidate's stop. Process-level: the candidate moves that process's stop alone,
    through the model's own schedule, so each copy does exactly what the model will do if it
    picks that window. The first candidate (start at once) is the reference, so a decision with
    k candidates costs k copies and k x horizon steps. A callable object rather than a closure
    so that copying the model copies it too, bound to the copy. `decisions` logs every choice."""

    def __init__(self, model: "ParkModel"):
        self.model = model
        self.decisions: list[Decision] = []

    def __call__(self, process: int, candidates: list[int]) -> int:
        candidates = [int(c) for c in candidates]
        if len(candidates) < 2:
            return candidates[0]
        m = self.model
        rel = m.reliability
        days = int(rel.days[process]) if rel.days[process] > 0 else max(1, int(round(rel.mttr[process] / 2)))
        # Stretched, if need be, to end after the latest candidate's stop: a window pushed past
        # the end would otherwise look free.
        horizon = max(m.operations.prescriptive_horizon, max(candidates) - m.t + days + 1)
        plans = [Plan(f"start at {c}", maintain=((process, c),)) for c in candidates]
        outcomes = whatif(m, plans, horizon, reference=plans[0])
        plan, _ = best(outcomes)
        chosen = plan.maintain[0][1]
        self.decisions.append(Decision(m.t, process, tuple(candidates), chosen, tuple(outcomes)))
        return chosen


def prescriptive_chooser(model: "ParkModel") -> Callable[[int, list[int]], int]:
    """The prescriptive maintenance policy of `model` (see `PrescriptiveChooser`)."""
    return PrescriptiveChooser(model)


def process_index(model: "ParkModel", company: str) -> list[int]:
    """The flattened indices of a company's processes."""
    c = model.park.company_index()[company]
    return [int(p) for p in np.flatnonzero(model.reliability.company == c)]
