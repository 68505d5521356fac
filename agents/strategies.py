"""Bidding strategies: how far from its reservation price a company bids.

Each strategy is a small class that declares its `traits` (as Axelrod's classifiers do), so a
sweep can pick a population by trait and a base test can check the declaration is true. A
company holds one strategy instance; a strategy that keeps state keeps it per (resource, side).

Prices are additive, not multiplicative: a seller's reservation is often negative (minus its
disposal cost), so a margin is a share of the distance between the reservation and the far end
of the market's price range [floor, ceiling].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.orders import MarketEvent, Side


@dataclass(frozen=True, slots=True)
class Quote:
    """What a strategy knows when it prices one order.

    reservation: the most a buyer gains per unit delivered, or the least a seller accepts per
    unit shipped (its outside option). floor and ceiling: the range where prices can matter in
    this market (in a park, the sellers' lowest and the buyers' highest reservation).
    """

    side: Side
    resource: str
    reservation: float
    floor: float
    ceiling: float
    step: int = 0

    @property
    def room(self) -> float:
        """Distance from the reservation to the far end of the range (never negative)."""
        if self.side is Side.BUY:
            return max(0.0, self.reservation - self.floor)
        return max(0.0, self.ceiling - self.reservation)


@dataclass
class Strategy:
    """Prices orders. Subclasses override `price`; learning ones also the two hooks."""

    name: ClassVar[str] = "base"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False}

    def price(self, q: Quote, rng: np.random.Generator) -> float:
        raise NotImplementedError

    def on_market(self, q: Quote, event: MarketEvent, rng: np.random.Generator) -> None:
        """A shout or trade of `q.resource` seen in the market. Default: ignore."""

    def on_outcome(self, q: Quote, price: float, offered: float, traded: float, surplus: float,
                   rng: np.random.Generator) -> None:
        """End of step: of `offered` units at `price`, `traded` traded for `surplus` EUR of gain
        over the outside option. Default: ignore."""


@dataclass
class Truthful(Strategy):
    """Bids exactly the reservation price: the benchmark of every mechanism, and the dominant
    strategy in a truthful mechanism (Vickrey 1961; McAfee 1992)."""

    name: ClassVar[str] = "truthful"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False}

    def price(self, q: Quote, rng: np.random.Generator) -> float:
        return q.reservation


STRATEGIES: dict[str, type[Strategy]] = {"truthful": Truthful}
