"""A company's store of one resource: batches that keep for a shelf life, oldest used first."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Store:
    """First-in first-out batches of one resource, each with the step it must be gone by."""

    capacity: float
    batches: deque[list[float]] = field(default_factory=deque)  # [expires_at_step, quantity]

    @property
    def level(self) -> float:
        return sum(q for _, q in self.batches)

    def expire(self, step: int) -> float:
        """Remove and return what has reached its shelf life by `step`."""
        gone = 0.0
        while self.batches and self.batches[0][0] <= step:
            gone += self.batches.popleft()[1]
        return gone

    def take(self, quantity: float) -> float:
        """Take up to `quantity`, oldest first; return what was taken."""
        taken = 0.0
        while self.batches and taken < quantity:
            batch = self.batches[0]
            q = min(batch[1], quantity - taken)
            batch[1] -= q
            taken += q
            if batch[1] <= 1e-12:
                self.batches.popleft()
        return taken

    def put(self, quantity: float, expires_at: int) -> float:
        """Store up to the free room; return what did not fit."""
        room = max(0.0, self.capacity - self.level)
        q = min(quantity, room)
        if q > 1e-12:
            self.batches.append([expires_at, q])
        return quantity - q

    def shrink(self, share: float) -> float:
        """Lose `share` of every batch (decay in storage); return what was lost."""
        if share <= 0:
            return 0.0
        lost = 0.0
        for batch in self.batches:
            q = batch[1] * share
            batch[1] -= q
            lost += q
        return lost
