"""Failures, repairs and maintenance of every process in the park.

Wear is a gamma process (van Noortwijk 2009, "A survey of the application of gamma processes
in maintenance", Reliability Engineering & System Safety 94(1), 2-21): each step a running
process loses condition load x G, G ~ Gamma(k, theta) with mean 1 / mtbf, so at full load it
fails on average every mtbf steps, with a coefficient of variation of the time to failure of
about WEAR_CV. A process fails when its condition reaches 0 and is repaired in an exponential
time of mean mttr (at least one step); repair and maintenance restore its condition to 1.

Maintenance policies (`agents.operations.Maintenance`): calendar stops a process every
`maintenance_every` steps at a phase of its own, drawn at the start; coordinated gives the
processes of companies joined by pipelines one phase, so a supplier and its dependants stop in
the same window rather than cutting each other at different times; predictive stops a process
when its condition falls below a threshold (condition-based maintenance); prescriptive asks
the model's digital twin which of a few windows costs the park least when a stop falls due.

Random numbers come from the run's reliability stream, drawn for every process with an mtbf
every step whatever happens, so a run and its baseline see the same wear.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from agents.operations import Maintenance, OperationsSettings
from agents.scenario import Scenario

WEAR_CV = 0.3

RUNNING, FAILED, MAINTENANCE = 0, 1, 2


class Reliability:
    """State of every process of the park, flattened in company order.

    `choose` (prescriptive policy) is called as choose(process, candidate_steps) and returns
    the start step it picks."""

    def __init__(self, park: Scenario, settings: OperationsSettings, rng: np.random.Generator,
                 choose: Callable[[int, list[int]], int] | None = None):
        self.settings = settings
        self.rng = rng
        self.choose = choose
        procs = [(ci, p) for ci, c in enumerate(park.companies) for p in c.processes]
        self.company = np.array([ci for ci, _ in procs], dtype=np.int64)
        self.first_of = np.searchsorted(self.company, np.arange(len(park.companies)))
        n = len(procs)
        s = settings
        own_mtbf = np.array([p.mtbf for _, p in procs], dtype=float)
        own_mttr = np.array([p.mttr for _, p in procs], dtype=float)
        self.mtbf = np.where(own_mtbf > 0, own_mtbf, s.mtbf)
        self.mttr = np.where(own_mtbf > 0, own_mttr, s.mttr if s.mtbf > 0 else 0.0)
        own_every = np.array([p.maintenance_every for _, p in procs], dtype=np.int64)
        own_days = np.array([p.maintenance_days for _, p in procs], dtype=np.int64)
        gets = (own_every == 0) & (self.mtbf > 0) & (s.maintenance_every > 0) & (s.maintenance_days > 0)
        self.every = np.where(gets, s.maintenance_every, own_every)
        self.days = np.where(gets, s.maintenance_days, own_days)
        self.wears = self.mtbf > 0
        self.condition = np.ones(n)
        self.kind = np.zeros(n, dtype=np.int64)
        self.until = np.zeros(n, dtype=np.int64)
        # Phases of the calendar: each process its own, or one per group of linked companies.
        # Both draws are made whatever the policy, so policies compare on the same wear.
        phase_u = rng.random(n)
        per_group = rng.random(len(park.companies))
        if s.maintenance is Maintenance.COORDINATED:
            group = _groups(len(park.companies), park)
            phase_u = per_group[group[self.company]]
        self.next_due = np.where(self.every > 0, np.floor(phase_u * np.maximum(self.every, 1)).astype(np.int64), -1)
        self.scheduled = np.full(n, -1, dtype=np.int64)
        self.failures = 0
        self.stops = 0
        self.started: list[tuple[int, int, str]] = []  # (step, process, "failure" | "maintenance") this step
        self.down = 0  # processes stopped this step (failed or in maintenance), as `begin_step` left them
        # Set once (`every`, `wears` and `mtbf` do not change): whether any process has a calendar
        # of stops, the processes that wear (`worn`) and the shape of their gamma wear (`wear`),
        # and the availability of a day on which every process runs (read-only: such days share it).
        self.calendar = bool((self.every > 0).any())
        self.worn = np.flatnonzero(self.wears)
        self._shape = 1.0 / (WEAR_CV ** 2 * self.mtbf[self.worn])
        self._all_up = np.ones(n)
        self._all_up.flags.writeable = False

    @property
    def n(self) -> int:
        return len(self.kind)

    def begin_step(self, t: int) -> np.ndarray:
        """End finished repairs and stops, start the stops due; return each process's
        availability this step (1 running, 0 stopped) and count the stopped ones (`down`)."""
        self.started = []
        kind = self.kind
        # Most days every process runs and no stop falls due: each array operation below is
        # skipped when a cheaper test over the whole park says it would change nothing.
        stopped = bool(kind.any())  # RUNNING is 0
        if stopped:
            done = (kind != RUNNING) & (self.until <= t)
            if done.any():
                kind[done] = RUNNING
                self.condition[done] = 1.0
                stopped = bool(kind.any())
        policy = self.settings.maintenance
        due = None
        if policy in (Maintenance.CALENDAR, Maintenance.COORDINATED):
            if self.calendar:
                due = (kind == RUNNING) & (self.every > 0) & (self.next_due >= 0) & (self.next_due <= t)
        elif policy is Maintenance.PREDICTIVE:
            has = (self.days > 0) | (self.every > 0)
            due = (kind == RUNNING) & has & self.wears & (self.condition < self.settings.predictive_threshold)
        elif policy is Maintenance.PRESCRIPTIVE:
            running = kind == RUNNING
            fall_due = running & (self.every > 0) & (self.next_due >= 0) & (self.next_due <= t) & (self.scheduled < 0)
            for p in np.flatnonzero(fall_due).tolist():
                self.scheduled[p] = self._pick(p, t)
            due = running & (self.scheduled >= 0) & (self.scheduled <= t)
            self.scheduled[due] = -1
        if due is not None and due.any():
            stopped = True
            for p in np.flatnonzero(due).tolist():
                days = int(self.days[p]) if self.days[p] > 0 else max(1, int(round(self.mttr[p] / 2)))
                kind[p] = MAINTENANCE
                self.until[p] = t + days
                self.stops += 1
                self.started.append((t, p, "maintenance"))
                if self.every[p] > 0:
                    while self.next_due[p] <= t:
                        self.next_due[p] += self.every[p]
        if not stopped:
            self.down = 0
            return self._all_up
        up = kind == RUNNING
        self.down = len(up) - int(np.count_nonzero(up))
        return up.astype(float)

    def _pick(self, p: int, t: int) -> int:
        every = int(self.every[p])
        windows = max(1, self.settings.prescriptive_windows)
        step = max(1, every // (2 * windows))
        candidates = [t + k * step for k in range(windows)]
        if self.choose is None:
            return t
        return int(self.choose(p, candidates))

    def wear(self, t: int, load: np.ndarray | None) -> None:
        """End of step: running processes wear by their load (share of capacity used) and
        those worn out fail; they are down from the next step for their repair time."""
        if load is None or not len(self.worn):
            return
        idx = self.worn
        g = self.rng.gamma(self._shape, WEAR_CV ** 2)
        repair = self.rng.exponential(1.0, size=len(idx))
        if not self.settings.failures:
            return
        run = self.kind[idx] == RUNNING
        self.condition[idx] -= np.where(run, load[idx] * g, 0.0)
        broke = run & (self.condition[idx] <= 0.0)
        for n in np.flatnonzero(broke).tolist():
            p = int(idx[n])
            self.kind[p] = FAILED
            self.until[p] = t + 1 + max(1, int(math.ceil(repair[n] * self.mttr[p])))
            self.failures += 1
            self.started.append((t + 1, p, "failure"))


def _groups(n: int, park: Scenario) -> np.ndarray:
    """Connected groups of companies joined by the scenario's pipelines (union-find)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    idx = park.company_index()
    for p in park.pipelines:
        a, b = find(idx[p.source]), find(idx[p.target])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(n)], dtype=np.int64)

