"""Running averages and totals of what each company shows of a resource, step by step.

`agents.partnerships` keeps each company's surplus and need per resource as an exponential
average over about one cooperation period (and a total over the run): the amounts a pair
negotiates a contract on. A large park has thousands of such (company, resource) keys; each
is a slot in an array here, so a step's update is a few array operations rather than a Python
pass over every key ever seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class KeyedAverages:
    """Per key, in the order keys were first seen: the average `avg = (1 - a) avg + a seen`
    over steps (a key not seen in a step adds 0) and the total seen.

    The arithmetic is, key by key, that of a dict updated as `b * avg.get(k, 0.0) + a *
    seen.get(k, 0.0)` and `total[k] += seen[k]`, so the same bits; `averages` and `totals`
    give those dicts, in the same order. Up to `FEW` keys the slots are Python lists (numpy's
    calls would cost more than the work), from then on arrays."""

    FEW = 64

    def __init__(self) -> None:
        self.keys: list[tuple[int, str]] = []
        self._slot: dict[tuple[int, str], int] = {}
        self._avg: list[float] | np.ndarray = []
        self._total: list[float] | np.ndarray = []

    def add(self, seen: Sequence[tuple[int, str]], amounts: Sequence[float] | np.ndarray, a: float) -> None:
        """One step: `seen` the keys shown this step (each once, in the order first shown) with
        their `amounts`; `a` the weight of this step."""
        slot_of, keys = self._slot, self.keys
        slots = []
        for key in seen:
            s = slot_of.get(key)
            if s is None:
                s = slot_of[key] = len(keys)
                keys.append(key)
            slots.append(s)
        k = len(keys)
        avg, total = self._avg, self._total
        if isinstance(avg, list) and k < self.FEW:
            b, zero = 1 - a, a * 0.0
            old = avg + [0.0] * (k - len(avg))
            total += [0.0] * (k - len(total))
            new = [b * v + zero for v in old]
            for s, q in zip(slots, np.asarray(amounts, dtype=float).tolist() if isinstance(amounts, np.ndarray)
                            else amounts):
                new[s] = b * old[s] + a * q
                total[s] += q
            self._avg = new
            return
        if k > len(avg):  # room for the new keys (doubling, so rarely)
            size = max(k, 2 * len(avg), self.FEW)
            avg = self._avg = np.concatenate((np.asarray(avg, dtype=float), np.zeros(size - len(avg))))
            total = self._total = np.concatenate((np.asarray(total, dtype=float), np.zeros(size - len(total))))
        assert isinstance(avg, np.ndarray) and isinstance(total, np.ndarray)
        new_seen = np.zeros(k)
        new_seen[slots] = amounts
        now = avg[:k]
        now[:] = (1 - a) * now + a * new_seen
        total[slots] += amounts

    def averages(self) -> dict[tuple[int, str], float]:
        return dict(zip(self.keys, np.asarray(self._avg[:len(self.keys)], dtype=float).tolist()))

    def totals(self) -> dict[tuple[int, str], float]:
        return dict(zip(self.keys, np.asarray(self._total[:len(self.keys)], dtype=float).tolist()))
