"""Bidding strategies: how far from its reservation price a company bids.

Each strategy is a small class that declares its `traits` (as Axelrod's classifiers do), so a
sweep can pick a population by trait and a base test can check the declaration is true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.orders import Side


@dataclass
class Strategy:
    """Prices an order from the company's reservation price.

    For a bid the reservation is the most the company gains per unit delivered (its outside
    purchase cost); for an ask it is the least it accepts per unit shipped (minus its disposal
    cost, so usually negative).
    """

    name: ClassVar[str] = "base"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False}

    def price(self, side: Side, reservation: float, rng: np.random.Generator) -> float:
        raise NotImplementedError

    def observe(self, side: Side, reservation: float, price: float, traded: float, offered: float) -> None:
        """Learn from the step's outcome (quantity traded of quantity offered). Default: nothing."""


@dataclass
class Truthful(Strategy):
    """Bids exactly the reservation price: the benchmark of every mechanism, and the dominant
    strategy in a truthful mechanism (Vickrey 1961; McAfee 1992)."""

    name: ClassVar[str] = "truthful"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False}

    def price(self, side: Side, reservation: float, rng: np.random.Generator) -> float:
        return reservation


STRATEGIES: dict[str, type[Strategy]] = {"truthful": Truthful}
