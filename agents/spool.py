"""Logs that keep a run's memory flat however long it runs.

A `Spool` holds rows of one numpy structured dtype, appended as the run goes (as arrays, or as
tuples a step that it makes into arrays `TUPLE_ROWS` at a time). Up to `chunk_rows` rows stay
in memory; each full chunk is written to an anonymous temporary file (`tempfile.TemporaryFile`:
the system removes it when the spool is closed or the process dies, even on SIGKILL) and
dropped from memory. Reading back goes chunk by chunk, so a
writer that streams the chunks to Parquet never holds the whole log either. The temporary
file lives in the system's temporary folder (`TMPDIR`); it needs the log's size on disk
(64 bytes per trade, 48 per process and day).

`TradeLog` is the run's trades in such a spool, with the running totals the summary and the
page need (count, units delivered per seller, buyer and resource) kept as the trades come.
`ProductionLog` is the per-process production record, one row per process and day.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

import numpy as np

from market.orders import COLUMNS_FROM, Trade, columns_of

CHUNK_ROWS = 1 << 16  # rows per chunk: 4 MB of trades, 3 MB of production rows
RECORD_CHUNK_ROWS = 4096  # steps per chunk of the per-step records (about 1.5 MB)
# Rows added as tuples (`Spool.add`) are made into an array this many at a time: one numpy call
# for many rows, not one a step, while the tuples (some 500 bytes a row) stay few.
TUPLE_ROWS = 1024


class Spool:
    """Rows of one structured dtype: the last chunk in memory, the full ones on disk."""

    def __init__(self, dtype: np.dtype | list, chunk_rows: int | None = None):
        self.dtype = np.dtype(dtype)
        self.chunk_rows = max(1, int(CHUNK_ROWS if chunk_rows is None else chunk_rows))
        self._pending: list[np.ndarray] = []
        # Rows added as tuples (`add`), after those in `_pending`: made into an array (`TUPLE_ROWS`
        # at a time, or when the rows are read).
        self._tuples: list[tuple] = []
        self._pending_rows = 0
        self._file: IO[bytes] | None = None
        self._on_disk = 0
        self._last = np.zeros(0, dtype=self.dtype)  # the rows appended last
        self._last_added = 0  # the last rows of `_tuples`, if they were added last (`add`)

    def __len__(self) -> int:
        return self._on_disk + self._pending_rows

    @property
    def rows_on_disk(self) -> int:
        return self._on_disk

    def append(self, rows: np.ndarray) -> None:
        if rows.dtype != self.dtype:
            raise TypeError(f"Spool.append: rows of dtype {rows.dtype}, expected {self.dtype}")
        if len(rows) == 0:
            return
        self._join_tuples()
        self._last = rows
        self._pending.append(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= self.chunk_rows:
            self._spill()

    def add(self, rows: list[tuple]) -> None:
        """Rows as tuples of their fields' values in the dtype's order (a field of several values
        as a sequence of them): the same row as an array made of them would be."""
        if not rows:
            return
        self._tuples += rows
        self._last_added = len(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= self.chunk_rows:
            self._spill()
        elif len(self._tuples) >= TUPLE_ROWS:
            self._join_tuples()

    def _join_tuples(self) -> None:
        """The rows added as tuples, as an array after the others in memory."""
        if self._tuples:
            block = np.array(self._tuples, dtype=self.dtype)
            self._tuples = []
            self._pending.append(block)
            if self._last_added:
                self._last, self._last_added = block[-self._last_added:], 0

    def _spill(self) -> None:
        self._join_tuples()
        block = np.concatenate(self._pending)
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="ecopark-spool-")
            self._file.seek(0, os.SEEK_END)
            self._file.write(block.tobytes())
        except OSError as e:  # a full disk: say where (run.py turns it into a message and exit 1)
            raise OSError(e.errno, e.strerror, f"the run's log in {tempfile.gettempdir()} (TMPDIR)") from e
        self._on_disk += len(block)
        self._pending, self._pending_rows = [], 0

    def _memory(self) -> np.ndarray:
        """The rows in memory as one array (joined once, then kept joined)."""
        self._join_tuples()
        if len(self._pending) > 1:
            self._pending = [np.concatenate(self._pending)]
        return self._pending[0]

    def chunks(self) -> Iterator[np.ndarray]:
        """Every row in order, at most `chunk_rows` at a time."""
        if self._file is not None:
            size = self.dtype.itemsize
            for start in range(0, self._on_disk, self.chunk_rows):
                count = min(self.chunk_rows, self._on_disk - start)
                self._file.seek(start * size)
                data = self._file.read(count * size)
                yield np.frombuffer(data, dtype=self.dtype, count=count)
        if self._pending or self._tuples:
            yield self._memory()

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows `start` to `stop` (0-based, stop excluded), from disk and memory."""
        start, stop = max(0, start), min(len(self), stop)
        if stop <= start:
            return np.zeros(0, dtype=self.dtype)
        parts = []
        if start < self._on_disk and self._file is not None:
            end = min(stop, self._on_disk)
            size = self.dtype.itemsize
            self._file.seek(start * size)
            parts.append(np.frombuffer(self._file.read((end - start) * size), dtype=self.dtype))
        if stop > self._on_disk:
            mem = self._memory()
            parts.append(mem[max(0, start - self._on_disk):stop - self._on_disk])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def array(self) -> np.ndarray:
        """Every row at once (for short runs and tests: a long run's log may not fit in memory)."""
        parts = list(self.chunks())
        return np.concatenate(parts) if parts else np.zeros(0, dtype=self.dtype)

    def last(self) -> np.ndarray:
        """The rows appended last (by the last `append` or `add`), or none."""
        self._join_tuples()
        return self._last

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._pending, self._tuples, self._pending_rows, self._on_disk = [], [], 0, 0
        self._last, self._last_added = np.zeros(0, dtype=self.dtype), 0

    def __del__(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()

    def __deepcopy__(self, memo: dict) -> "Spool":
        """A copy (a digital twin's) starts an empty log of its own: it shares no file."""
        return type(self)(self.dtype, self.chunk_rows)

    def __getstate__(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "chunk_rows": self.chunk_rows, "rows": self.array()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["dtype"], state["chunk_rows"])  # type: ignore[misc]
        self.append(state["rows"])


TRADE_DTYPE = np.dtype([("step", "<i4"), ("seller", "<i4"), ("buyer", "<i4"), ("resource", "<i4"),
                        ("shipped", "<f8"), ("delivered", "<f8"), ("price", "<f8"), ("seller_price", "<f8"),
                        ("transport_cost", "<f8"), ("distance_km", "<f8")])


class TradeLog:
    """The run's trades as columns (`TRADE_DTYPE`; the resource as an index into `resources`),
    spooled to disk in chunks, with running totals: `flows[(seller, buyer, resource)]` is the
    units delivered so far, added in trade order (the same sums a pass over the trades gives)."""

    def __init__(self, resources: Iterable[str] = (), chunk_rows: int | None = None):
        self.resources: list[str] = list(resources)
        self._code = {r: i for i, r in enumerate(self.resources)}
        self.spool = Spool(TRADE_DTYPE, chunk_rows)
        self.flows: dict[tuple[int, int, str], float] = {}

    def __len__(self) -> int:
        return len(self.spool)

    def _code_of(self, resource: str) -> int:
        code = self._code.get(resource)
        if code is None:
            code = self._code[resource] = len(self.resources)
            self.resources.append(resource)
        return code

    def extend(self, trades: Sequence[Trade]) -> None:
        """The trades logged and added to the running totals (a `TradeList`'s columns are read)."""
        if not trades:
            return
        if len(trades) < COLUMNS_FROM:  # a small park's few: tuples cost less than numpy's calls
            self.spool.add([(t.step, t.seller, t.buyer, self._code_of(t.resource), t.shipped, t.delivered, t.price,
                              t.seller_unit_price, t.transport_cost, t.distance_km) for t in trades])
            for t in trades:
                key = (t.seller, t.buyer, t.resource)
                self.flows[key] = self.flows.get(key, 0.0) + t.delivered
            return
        cols = columns_of(trades)
        rows = np.empty(len(cols), dtype=TRADE_DTYPE)
        rows["step"], rows["seller"], rows["buyer"] = cols.step, cols.seller, cols.buyer
        rows["resource"] = list(map(self._code_of, cols.resource))
        rows["shipped"], rows["delivered"], rows["price"] = cols.shipped, cols.delivered, cols.price
        rows["seller_price"], rows["transport_cost"], rows["distance_km"] = (cols.seller_unit_price, cols.transport_cost,
                                                                             cols.distance_km)
        self.spool.append(rows)
        flows = self.flows
        get = flows.get
        for key, q in zip(zip(cols.seller.tolist(), cols.buyer.tolist(), cols.resource), cols.delivered.tolist()):
            flows[key] = get(key, 0.0) + q

    def chunks(self) -> Iterator[np.ndarray]:
        return self.spool.chunks()

    def array(self) -> np.ndarray:
        return self.spool.array()

    def __iter__(self) -> Iterator[Trade]:
        """The trades as value objects again (a pass over the whole log: for tests and small runs)."""
        names = self.resources
        for chunk in self.chunks():
            for row in chunk.tolist():
                step, seller, buyer, r, shipped, delivered, price, seller_price, transport, km = row
                yield Trade(step, seller, buyer, names[r], shipped, delivered, price, transport, km,
                            None if seller_price == price else seller_price)

    def close(self) -> None:
        self.spool.close()

    def __deepcopy__(self, memo: dict) -> "TradeLog":
        """A copy (a digital twin's) keeps the totals so far and logs its own trades from here."""
        twin = TradeLog(self.resources, self.spool.chunk_rows)
        twin.flows = dict(self.flows)
        return twin


PRODUCTION_DTYPE = np.dtype([("step", "<i4"), ("process", "<i4"), ("available", "<f8"), ("decided", "<f8"),
                             ("produced", "<f8"), ("price", "<f8"), ("outside_unit_cost", "<f8")])


class ProductionLog:
    """Per process and day (`PRODUCTION_DTYPE`, the process as its index over the park's
    companies' processes in order): what it could make, what its company decided, what it made
    after cascades, its sale price and its outside unit cost, spooled like the trades."""

    def __init__(self, chunk_rows: int | None = None):
        self.spool = Spool(PRODUCTION_DTYPE, chunk_rows)
        # Per process over the run, added day by day: output, output x price, sums of prices
        # and outside unit costs, days it ran, days logged.
        self.totals: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.spool)

    def add(self, step: int, available: np.ndarray, decided: np.ndarray, produced: np.ndarray, price: np.ndarray,
            cost: np.ndarray) -> None:
        rows = np.zeros(len(available), dtype=PRODUCTION_DTYPE)
        rows["step"] = step
        rows["process"] = np.arange(len(available))
        rows["available"], rows["decided"], rows["produced"] = available, decided, produced
        rows["price"], rows["outside_unit_cost"] = price, cost
        self.spool.append(rows)
        t = self.totals
        if not t or len(t["made"]) != len(available):
            t.update({k: np.zeros(len(available)) for k in ("made", "value", "price", "cost", "ran", "steps")})
        t["made"] += produced
        t["value"] += produced * price
        t["price"] += price
        t["cost"] += cost
        t["ran"] += produced > 1e-9
        t["steps"] += 1.0

    def last(self) -> np.ndarray:
        """The last day's rows, one per process."""
        return self.spool.last()

    def chunks(self) -> Iterator[np.ndarray]:
        return self.spool.chunks()

    def close(self) -> None:
        self.spool.close()
