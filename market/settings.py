"""Market settings of a run, and the registry of mechanisms they select."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from market.call import CallMarket
from market.mechanism import Mechanism


class MechanismName(str, Enum):
    CALL = "call"


@dataclass(frozen=True, slots=True)
class MarketSettings:
    """mechanism: which mechanism clears the step; k: the seller's share of a matched pair's
    gain in the call market's pricing; exchanges: false runs the no-symbiosis baseline."""

    mechanism: MechanismName = MechanismName.CALL
    k: float = 0.5
    exchanges: bool = True

    def build(self) -> Mechanism:
        if self.mechanism is MechanismName.CALL:
            return CallMarket(k=self.k)
        raise ValueError(f"unknown mechanism {self.mechanism!r}")
