"""Resilience of a run: what each shock cost and how fast the park recovered.

A shock is an outage (imposed by `events.outage` or the scenario), a failure or a planned stop
(`agents.model.Shock`). For each: the cascade it set off, the companies whose output was cut
for want of an input while it lasted (and for the longest lead time after: the gap closes only
when the outside substitute arrives), their number (size), the deepest round of the cascade
(depth: 1 for the shocked company's direct users, 2 for theirs, ...), the sales value lost to
the cascade, and the time to recover: steps from the end of the shock until the park's gains
from trade are back to 95 % of their mean over the RECOVERY_WINDOW steps before it. Shocks
that overlap share the cascade steps they overlap on: the figures of each are an upper bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.model import ParkModel

RECOVERY_WINDOW = 30
RECOVERED = 0.95


def analyse(model: ParkModel) -> list[dict[str, Any]]:
    names = [c.name for c in model.park.companies]
    gains = model.records.column("gains_from_trade_eur")
    lead = max((r.lead_time for r in model.park.resources.values()), default=0)
    steps = len(gains)
    out = []
    for s in sorted(model.shocks, key=lambda x: (x.start, x.company)):
        if s.start >= steps:
            continue
        window = range(s.start, min(steps, s.end + lead))
        hit: dict[int, int] = {}
        lost = 0.0
        for t in window:
            for c, (depth, eur) in model.cuts.get(t, {}).items():
                if c == s.company:
                    continue
                hit[c] = max(hit.get(c, 0), depth)
                lost += eur
        before = gains[max(0, s.start - RECOVERY_WINDOW):s.start]
        recovery = None
        if len(before) and before.mean() > 0:
            target = RECOVERED * before.mean()
            for t in range(min(s.end, steps), steps):
                if gains[t] >= target:
                    recovery = t - s.end
                    break
        out.append({
            "company": names[s.company], "kind": s.kind, "what": s.label, "start": s.start, "end": s.end,
            "duration": s.end - s.start, "cascade_size": len(hit), "cascade_depth": max(hit.values(), default=0),
            "cascade_companies": [names[c] for c in sorted(hit)], "cascade_lost_eur": lost,
            "recovery_steps": max(0, recovery) if recovery is not None else None,
        })
    return out


def summary(model: ParkModel, shocks: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals for the run's KPIs."""
    recs = model.records
    rec = [s["recovery_steps"] for s in shocks if s["recovery_steps"] is not None]
    return {
        "lost_to_failures_eur": float(recs.total("lost_failure_eur")),
        "lost_to_cascades_eur": float(recs.total("lost_cascade_eur")),
        "failures": int(recs.total("failures")),
        "maintenance_stops": int(recs.total("maintenance_stops")),
        "shocks": len(shocks),
        "max_cascade_size": max((s["cascade_size"] for s in shocks), default=0),
        "max_cascade_depth": max((s["cascade_depth"] for s in shocks), default=0),
        "mean_recovery_steps": float(np.mean(rec)) if rec else None,
    }
