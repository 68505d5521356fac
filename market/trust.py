"""Trust between companies as a beta reputation: how likely a partner is to keep a delivery.

Jøsang & Ismail (2002), "The Beta Reputation System", 15th Bled Electronic Commerce
Conference: after r kept and s broken deliveries the expected probability that the next one
is kept is (r + a) / (r + s + a + b), with a prior of a kept and b broken pseudo-observations.
Old observations are forgotten by a factor `memory` per new one, so trust rises with a run of
kept deliveries and falls after breaches, and neither is permanent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


class TrustBook:
    """trust(i, j): what company i expects of company j, for every ordered pair.

    `prior` is the expectation before any observation and `weight` its strength in
    observations (a = prior * weight, b = (1 - prior) * weight).

    Only the pairs that have been observed are stored (a slot each: the pair's discounted kept
    and broken counts), so a park of 10,000 companies holds no 10^8-entry arrays; every other
    pair is at the prior. `trust_of` reads many pairs at once."""

    def __init__(self, n: int, prior: float = 0.8, weight: float = 5.0, memory: float = 0.98):
        if not 0.0 < prior < 1.0:
            raise ValueError(f"TrustBook: prior must lie in (0, 1), got {prior}")
        if not (math.isfinite(weight) and weight > 0) or not 0.0 < memory <= 1.0:
            raise ValueError(f"TrustBook: weight must be > 0 and memory in (0, 1], got {weight}, {memory}")
        self.n = n
        self._a = prior * weight
        self._b = (1.0 - prior) * weight
        self.memory = memory
        self._slot: dict[int, int] = {}  # i * n + j -> the pair's slot in _kept and _broken
        self._kept: list[float] = []
        self._broken: list[float] = []
        self._keys = np.zeros(0, dtype=np.int64)  # the observed pairs' keys, sorted (rebuilt as pairs come)
        self._order = np.zeros(0, dtype=np.int64)  # their slots

    def trust(self, i: int, j: int) -> float:
        k = self._slot.get(i * self.n + j)
        r, s = (0.0, 0.0) if k is None else (self._kept[k], self._broken[k])
        return float((r + self._a) / (r + s + self._a + self._b))

    def prior_trust(self) -> float:
        """The trust in a pair never observed (what `trust` gives it)."""
        return float((0.0 + self._a) / (0.0 + 0.0 + self._a + self._b))

    def observed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The observed pairs, by key (i * n + j, ascending): i, j, and their discounted kept
        and broken counts."""
        if len(self._keys) != len(self._slot):
            keys = np.fromiter(self._slot.keys(), dtype=np.int64, count=len(self._slot))
            slots = np.fromiter(self._slot.values(), dtype=np.int64, count=len(self._slot))
            order = np.argsort(keys, kind="stable")
            self._keys, self._order = keys[order], slots[order]
        kept = np.array(self._kept)[self._order] if self._kept else np.zeros(0)
        broken = np.array(self._broken)[self._order] if self._broken else np.zeros(0)
        return self._keys // max(self.n, 1), self._keys % max(self.n, 1), kept, broken

    def trust_of(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """trust(i[k], j[k]) for every k, as an array: the same values, without a dense matrix."""
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        r = np.zeros(i.shape)
        s = np.zeros(i.shape)
        _, _, kept, broken = self.observed()
        if len(self._keys):
            keys = i * self.n + j
            pos = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            hit = self._keys[pos] == keys
            r[hit] = kept[pos[hit]]
            s[hit] = broken[pos[hit]]
        return (r + self._a) / (r + s + self._a + self._b)

    def mark_at_least(self, level: float, out: np.ndarray) -> None:
        """out |= (matrix() >= level), for an n x n bool `out`, without the matrix."""
        ii, jj, kept, broken = self.observed()
        above = (kept + self._a) / (kept + broken + self._a + self._b) >= level
        if self.prior_trust() >= level:
            below_i, below_j = ii[~above], jj[~above]
            keep = out[below_i, below_j]
            out[...] = True
            out[below_i, below_j] = keep
        else:
            out[ii[above], jj[above]] = True

    def matrix(self) -> np.ndarray:
        """Every pair's trust, n x n (memory n^2: for small parks and tests; see `trust_of`)."""
        ii, jj, kept_obs, broken_obs = self.observed()
        kept = np.zeros((self.n, self.n))
        broken = np.zeros((self.n, self.n))
        kept[ii, jj] = kept_obs
        broken[ii, jj] = broken_obs
        return (kept + self._a) / (kept + broken + self._a + self._b)

    def record(self, i: int, j: int, kept: bool) -> None:
        """Company i saw company j keep (or break) one delivery."""
        self.record_all(((i, j, kept),))

    def record_all(self, seen: Iterable[tuple[int, int, bool]]) -> None:
        """`record(i, j, kept)` for each (i, j, kept) in turn: the same result, in one call
        for a step's thousands of deliveries."""
        n, slot, kept_of, broken_of, m = self.n, self._slot, self._kept, self._broken, self.memory
        for i, j, kept in seen:
            key = i * n + j
            k = slot.get(key)
            if k is None:
                k = slot[key] = len(kept_of)
                kept_of.append(0.0)
                broken_of.append(0.0)
            kept_of[k] = m * kept_of[k] + (1.0 if kept else 0.0)
            broken_of[k] = m * broken_of[k] + (0.0 if kept else 1.0)
