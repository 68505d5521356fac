"""Settings of how the park operates over time: profiles, failures, maintenance, cascades, and
the outages a user or a scenario imposes (`operations.*` and `events.*` keys)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Maintenance(str, Enum):
    """When processes stop for planned maintenance (`agents.reliability`):

    none: never (they run until they fail); calendar: every `maintenance_every` steps at a
    phase of their own; coordinated: on the same calendar, with the phases of companies linked
    by exchanges aligned by the park; predictive: when a process's condition falls below
    `operations.predictive_threshold`; prescriptive: when due, at the window the digital twin
    finds least costly to the whole park (`agents.twin`)."""

    NONE = "none"
    CALENDAR = "calendar"
    COORDINATED = "coordinated"
    PREDICTIVE = "predictive"
    PRESCRIPTIVE = "prescriptive"


@dataclass(frozen=True, slots=True)
class OperationsSettings:
    """profiles: whether seasonal, weekly and campaign profiles of processes apply.
    failures: whether processes with an mtbf fail. mtbf, mttr (steps): given to every process
    that has none of its own (0: leave them). maintenance: the policy (`Maintenance`);
    maintenance_every, maintenance_days: given to every process with an mtbf and no calendar of
    its own (0: leave them). predictive_threshold: the condition (1 new, 0 failed) below which
    predictive maintenance stops a process. cascades: whether a missing input without a
    substitute at hand cuts its user's output (off: the user always buys it outside).
    prescriptive_windows, prescriptive_horizon: candidate start steps the twin compares for a
    due maintenance, and how far ahead it simulates each. forecast_steps: how far ahead a
    platform (information level 1) shows partners' planned stops (`agents.forecast`)."""

    profiles: bool = True
    failures: bool = True
    mtbf: float = 0.0
    mttr: float = 0.0
    maintenance: Maintenance = Maintenance.CALENDAR
    maintenance_every: int = 0
    maintenance_days: int = 0
    predictive_threshold: float = 0.25
    cascades: bool = True
    prescriptive_windows: int = 4
    prescriptive_horizon: int = 60
    forecast_steps: int = 30


CHECKS = {
    "operations.mtbf": lambda v: None if v >= 0 else "must be >= 0 (steps; 0 leaves each process its own)",
    "operations.mttr": lambda v: None if v >= 0 else "must be >= 0 (steps)",
    "operations.maintenance_every": lambda v: None if v >= 0 else "must be >= 0 (steps)",
    "operations.maintenance_days": lambda v: None if v >= 0 else "must be >= 0 (steps)",
    "operations.predictive_threshold": lambda v: None if 0 < v < 1 else "must be between 0 and 1",
    "operations.prescriptive_windows": lambda v: None if v >= 1 else "must be at least 1",
    "operations.prescriptive_horizon": lambda v: None if v >= 1 else "must be at least 1",
    "operations.forecast_steps": lambda v: None if v >= 0 else "must be >= 0",
}


@dataclass(frozen=True, slots=True)
class Outage:
    """A company out of action from step `at`: for each (steps, capacity) stage in turn it can
    run at most that share of its capacity (0: stopped), then it is back to full. A staged
    restart is several stages, e.g. ((8, 0.0), (170, 0.5)); a closure one stage to the end.
    An announced outage can be seen coming by partners (`agents.forecast`); a surprise cannot."""

    company: str
    at: int
    stages: tuple[tuple[int, float], ...]
    label: str = ""
    announced: bool = False  # known ahead (a planned shutdown), not a surprise (a fire)

    @property
    def duration(self) -> int:
        return sum(n for n, _ in self.stages)

    def capacity(self, step: int) -> float | None:
        """The share of capacity left at `step`, or None when the outage does not apply."""
        if step < self.at:
            return None
        k = step - self.at
        for n, cap in self.stages:
            if k < n:
                return cap
            k -= n
        return None


def parse_outage(text: str, announced: bool = False) -> Outage:
    """NAME@STEP:DURATION (the company stops for DURATION steps from STEP), as on the command
    line: `--set events.outage="Asnaes power station@100:14"` (a surprise) or
    `--set events.announced_outage=...` (known ahead)."""
    name, sep, rest = text.rpartition("@")
    at, colon, dur = rest.partition(":")
    if not sep or not colon or not name.strip() or not at.strip().isdigit() or not dur.strip().isdigit() or int(dur) < 1:
        raise ValueError(f"'{text}': write NAME@STEP:DURATION, e.g. \"Asnaes power station@100:14\" "
                         f"(a company name, the first step it is down, how many steps)")
    return Outage(name.strip(), int(at), ((int(dur), 0.0),), "announced outage" if announced else "outage", announced)
