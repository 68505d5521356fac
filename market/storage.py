"""A company's store of one resource: batches that keep for a shelf life, oldest used first."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

TOL = 1e-6  # relative: a need this small is no need, a shipment this much over stock no error


class Store:
    """First-in first-out batches of one resource, each with the step it must be gone by.

    The batches are kept as two queues side by side, the steps they expire at and their
    quantities: the level is summed over the quantities many times a step (after each change),
    and a queue of floats is read several times quicker than a queue of [step, quantity] pairs
    (one hop in memory, not two; the same sum, so the same bits)."""

    __slots__ = ("capacity", "expires", "amounts", "_level")

    def __init__(self, capacity: float, batches: Iterable[Sequence[float]] = ()):
        self.capacity = capacity
        self.expires: deque[int] = deque()
        self.amounts: deque[float] = deque()
        for expires_at, q in batches:
            self.expires.append(int(expires_at))
            self.amounts.append(q)
        # The level as last summed, None once a batch changed: the model asks for a store's level
        # many times a step between changes. Only the methods below change the batches.
        self._level: float | None = None

    @property
    def batches(self) -> list[list[float]]:
        """The batches as [expires_at_step, quantity] pairs, oldest first (a copy)."""
        return [[e, q] for e, q in zip(self.expires, self.amounts)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Store):
            return NotImplemented
        return self.capacity == other.capacity and self.expires == other.expires and self.amounts == other.amounts

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Store(capacity={self.capacity!r}, batches={self.batches!r})"

    @property
    def level(self) -> float:
        level = self._level
        if level is None:
            level = self._level = sum(self.amounts)
        return level

    def add_batch(self, expires_at: int, quantity: float) -> None:
        """A batch put in as it is (no room checked): what `put` stores."""
        self.expires.append(expires_at)
        self.amounts.append(quantity)
        self._level = None

    def copy(self) -> Store:
        """Another store with the same batches."""
        twin = Store(self.capacity)
        twin.expires = self.expires.copy()
        twin.amounts = self.amounts.copy()
        return twin

    def expire(self, step: int) -> float:
        """Remove and return what has reached its shelf life by `step`."""
        gone = 0.0
        expires, amounts = self.expires, self.amounts
        while expires and expires[0] <= step:
            expires.popleft()
            gone += amounts.popleft()
            self._level = None
        return gone

    def take(self, quantity: float) -> float:
        """Take up to `quantity`, oldest first; return what was taken."""
        taken = 0.0
        amounts = self.amounts
        if amounts and quantity > 0:
            self._level = None
            while amounts and taken < quantity:
                rest, q = quantity - taken, amounts[0]
                if rest < q:  # min(batch quantity, quantity - taken)
                    q = rest
                left = amounts[0] - q
                taken += q
                if left <= 1e-12:
                    amounts.popleft()
                    self.expires.popleft()
                else:
                    amounts[0] = left
        return taken

    def put(self, quantity: float, expires_at: int) -> float:
        """Store up to the free room; return what did not fit."""
        # (max and min written out as comparisons, with the same results, as in `carry`.)
        room = self.capacity - self.level
        if not room > 0.0:  # max(0.0, room)
            room = 0.0
        q = room if room < quantity else quantity  # min(quantity, room)
        if q > 1e-12:
            self.add_batch(expires_at, q)
        return quantity - q

    def shrink(self, share: float) -> float:
        """Lose `share` of every batch (decay in storage); return what was lost."""
        if share <= 0:
            return 0.0
        lost = 0.0
        kept = []
        for a in self.amounts:
            q = a * share
            kept.append(a - q)
            lost += q
        self.amounts = deque(kept)
        self._level = None
        return lost


# What became of one company's resource in one step, after `carry`: (own, bought, surplus, overflow),
# - own: used by the company itself, from what it made and what it had in store;
# - bought: need still open after own use and receipts: bought outside;
# - surplus: received beyond its need and not stored: disposed of;
# - overflow: made but neither used, shipped nor stored: disposed of.
# (A plain tuple: made for every company and resource of every step, a named tuple cost `settle`
# a quarter of its time.)
Carried = tuple[float, float, float, float]


def carry(store: Store | None, made: float, need: float, shipped: float, received: float,
          expires_at: int) -> Carried:
    """One company's resource through a step: it uses what it made and had in store (oldest
    first) for its own need, ships `shipped` from the store before this step's output, stores
    what it received beyond its need (stocking up) and what it made and did not use or ship,
    up to the store's room. `settle` books the park this way; `market.optimum` keeps the
    planner's stores by the same rule."""
    # (min and max written out as comparisons, with the same results: this runs for every store
    # of the park and of both planners every step.)
    available = made + (store.level if store is not None else 0.0)
    own = available if available < need else need  # min(need, available)
    room = available - own
    if shipped > room + TOL * (available if available > 1.0 else 1.0):
        raise ValueError(f"shipped {shipped:g} but had {room:g}")
    if room < shipped:
        shipped = room
    used = own + shipped
    from_store = store.take(used) if store is not None and used > 0 else 0.0
    fresh_left = made - (used - from_store)
    open_need = need - own - received
    bought = surplus = overflow = 0.0
    if open_need > TOL * (need if need > 1.0 else 1.0):
        bought = open_need
    elif open_need < -1e-12:
        surplus = -open_need
        if store is not None:
            surplus = store.put(surplus, expires_at)
    if fresh_left > 1e-12:
        overflow = fresh_left
        if store is not None:
            overflow = store.put(fresh_left, expires_at)
    return own, bought, surplus, overflow
