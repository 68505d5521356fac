"""Trust between companies as a beta reputation: how likely a partner is to keep a delivery.

Jøsang & Ismail (2002), "The Beta Reputation System", 15th Bled Electronic Commerce
Conference: after r kept and s broken deliveries the expected probability that the next one
is kept is (r + a) / (r + s + a + b), with a prior of a kept and b broken pseudo-observations.
Old observations are forgotten by a factor `memory` per new one, so trust rises with a run of
kept deliveries and falls after breaches, and neither is permanent.
"""

from __future__ import annotations

import math

import numpy as np


class TrustBook:
    """trust(i, j): what company i expects of company j, for every ordered pair.

    `prior` is the expectation before any observation and `weight` its strength in
    observations (a = prior * weight, b = (1 - prior) * weight)."""

    def __init__(self, n: int, prior: float = 0.8, weight: float = 5.0, memory: float = 0.98):
        if not 0.0 < prior < 1.0:
            raise ValueError(f"TrustBook: prior must lie in (0, 1), got {prior}")
        if not (math.isfinite(weight) and weight > 0) or not 0.0 < memory <= 1.0:
            raise ValueError(f"TrustBook: weight must be > 0 and memory in (0, 1], got {weight}, {memory}")
        self._a = prior * weight
        self._b = (1.0 - prior) * weight
        self.memory = memory
        self.kept = np.zeros((n, n))
        self.broken = np.zeros((n, n))

    def trust(self, i: int, j: int) -> float:
        r, s = self.kept[i, j], self.broken[i, j]
        return float((r + self._a) / (r + s + self._a + self._b))

    def matrix(self) -> np.ndarray:
        return (self.kept + self._a) / (self.kept + self.broken + self._a + self._b)

    def record(self, i: int, j: int, kept: bool) -> None:
        """Company i saw company j keep (or break) one delivery."""
        self.kept[i, j] = self.memory * self.kept[i, j] + (1.0 if kept else 0.0)
        self.broken[i, j] = self.memory * self.broken[i, j] + (0.0 if kept else 1.0)
