"""The park's per-step record (`StepRecord`) and the run's records as compact columns
(`RecordLog`): one row of numbers per step in a spool (`agents.spool`), so a run's memory does
not grow with its length. The log reads like the list it replaces: `len`, iteration, indexing
and slicing give `StepRecord`s back; `column(name)` gives a field over the run as an array.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

import numpy as np

from agents import spool
from agents.spool import Spool
from market.welfare import N_PARTS


def _over_time(default: Any) -> Any:
    """A StepRecord field that is one column of the time series as it is (`EMERGENCE`)."""
    return field(default=default, metadata={"emergence": True})


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What the park did in one step, for the time series. The fields made with `_over_time`
    show how cooperation and operations emerge: each is a column of the time series as it is
    (`EMERGENCE`)."""

    step: int
    gains_from_trade_eur: float
    optimal_gains_eur: float
    budget_eur: float
    profit_eur: float
    co2_t: float
    taxes_eur: float
    subsidies_eur: float
    trades: int
    active_links: int
    symbiosis_share: float
    exchanged: dict[str, float]
    density: float = _over_time(0.0)
    contract_trades: int = _over_time(0)
    contracts_active: int = _over_time(0)
    contracts_signed: int = _over_time(0)
    deliveries_kept: int = _over_time(0)
    deliveries_breached: int = _over_time(0)
    penalties_eur: float = _over_time(0.0)
    investment_eur: float = _over_time(0.0)
    pipes_built: int = _over_time(0)
    capital_cost_eur: float = _over_time(0.0)
    search_cost_eur: float = _over_time(0.0)
    known_share: float = _over_time(1.0)
    mean_trust: float = _over_time(float("nan"))
    mean_sv_weight: float = _over_time(0.0)
    cooperative_share: float = _over_time(0.0)
    adoptions: int = _over_time(0)
    lost_failure_eur: float = _over_time(0.0)
    lost_cascade_eur: float = _over_time(0.0)
    processes_down: int = _over_time(0)
    failures: int = _over_time(0)
    maintenance_stops: int = _over_time(0)
    cascade_cut: int = _over_time(0)
    cascade_depth: int = _over_time(0)
    project_charges_eur: float = 0.0  # fixed opex and capital charges of processes and entries
    # The transfers in gains_from_trade_eur, by market.policy.TRANSFER_PARTS: taxes the exchanges
    # avoided and subsidies they earned (gains less these are the exchanges' social surplus).
    transfers_eur: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    pipe_subsidy_eur: float = 0.0  # the government's share of this step's pipe annuities
    # The largest exchange surplus (gains at real costs, transfers left out) a planner could
    # reach this step; with optimal_gains_eur, each unit counted once (`market.optimum`).
    optimal_exchange_surplus_eur: float = 0.0


# Emergence over time: the StepRecord fields that are time-series columns as they are.
EMERGENCE = tuple(f.name for f in fields(StepRecord) if f.metadata.get("emergence"))


_KINDS = {"int": "<i8", "float": "<f8"}


def record_dtype(resources: list[str]) -> np.dtype:
    """A StepRecord as one row: numbers as they are, `exchanged` as one column per resource
    (with a mask of the resources the step's account named), `transfers_eur` per part."""
    cols: list[tuple] = []
    for f in fields(StepRecord):
        if f.name == "exchanged":
            cols += [("exchanged", "<f8", (len(resources),)), ("exchanged_named", "?", (len(resources),))]
        elif f.name == "transfers_eur":
            cols.append(("transfers_eur", "<f8", (N_PARTS,)))
        else:
            cols.append((f.name, _KINDS[str(f.type)]))
    return np.dtype(cols)


class RecordLog:
    """The run's StepRecords, spooled. A digital twin's copy (`copy.deepcopy`) starts empty at
    the step it was made: it counts the earlier steps but holds only its own."""

    def __init__(self, resources: Iterable[str], chunk_rows: int | None = None, start: int = 0):
        self.resources = list(resources)
        self._index = {r: i for i, r in enumerate(self.resources)}
        rows = spool.RECORD_CHUNK_ROWS if chunk_rows is None else chunk_rows
        self.spool = Spool(record_dtype(self.resources), rows)
        self.start = start
        self._last: StepRecord | None = None
        self._names = [f.name for f in fields(StepRecord)]
        # A record's fields in order, all at once; `exchanged` becomes two columns (`record_dtype`).
        self._values = attrgetter(*self._names)
        self._exchanged_at = self._names.index("exchanged")

    def __len__(self) -> int:
        return self.start + len(self.spool)

    def append(self, rec: StepRecord) -> None:
        exchanged, named = [0.0] * len(self.resources), [False] * len(self.resources)
        for r, q in rec.exchanged.items():
            i = self._index.get(r)
            if i is None:
                raise ValueError(f"RecordLog: resource {r!r} is not one of the park's {self.resources}")
            exchanged[i] = q
            named[i] = True
        row = list(self._values(rec))
        at = self._exchanged_at
        row[at:at + 1] = exchanged, named
        self.spool.add([tuple(row)])
        self._last = rec

    def _records(self, rows: np.ndarray) -> Iterator[StepRecord]:
        res = self.resources
        for values in rows.tolist():
            kw: dict[str, Any] = {}
            k = 0
            for name in self._names:
                if name == "exchanged":
                    q, named = values[k].tolist(), values[k + 1].tolist()
                    kw[name] = {r: x for r, x, m in zip(res, q, named) if m}
                    k += 2
                    continue
                v = values[k]
                kw[name] = tuple(v.tolist()) if name == "transfers_eur" else v
                k += 1
            yield StepRecord(**kw)

    def __iter__(self) -> Iterator[StepRecord]:
        for chunk in self.spool.chunks():
            yield from self._records(chunk)

    def __getitem__(self, key: int | slice) -> Any:
        n = len(self)
        if isinstance(key, slice):
            lo, hi, stride = key.indices(n)
            return list(self._records(self._own(lo, hi)))[::stride]
        i = key + n if key < 0 else key
        if not 0 <= i < n:
            raise IndexError("RecordLog index out of range")
        if i == n - 1 and self._last is not None:
            return self._last
        return next(self._records(self._own(i, i + 1)))

    def _own(self, lo: int, hi: int) -> np.ndarray:
        if lo < self.start and hi > lo:
            raise IndexError(f"this copy holds steps from {self.start} on, not step {lo}")
        return self.spool.rows(lo - self.start, hi - self.start)

    def column(self, name: str) -> np.ndarray:
        """One field over the run (`transfers_eur`: one row per step, a column per part)."""
        parts = [chunk[name] for chunk in self.spool.chunks()]
        if parts:
            return np.concatenate(parts)
        return np.zeros((0, *self.spool.dtype[name].shape), dtype=self.spool.dtype[name].base)

    def total(self, name: str) -> Any:
        """A field summed over the run, step by step in order (as `sum` over the records would)."""
        return sum(self.column(name).tolist())

    def __deepcopy__(self, memo: dict) -> "RecordLog":
        return RecordLog(self.resources, self.spool.chunk_rows, start=len(self))
