"""Negotiation tactics: how a company concedes, offer by offer, in a bilateral negotiation.

The time-dependent tactics of Faratin, Sierra & Jennings (1998), "Negotiation decision
functions for autonomous agents", Robotics and Autonomous Systems 24(3-4), 159-182. At round t
of a negotiation with deadline T an agent has conceded the share

    alpha(t) = kappa + (1 - kappa) * (min(t, T) / T) ** (1 / beta)

of the way from its opening offer to its reservation price: a buyer offers
`opening + alpha(t) * (reservation - opening)`, a seller `opening - alpha(t) * (opening -
reservation)`. beta < 1 is Boulware (holds firm, concedes near the deadline), beta = 1 linear,
beta > 1 Conceder (gives ground early). kappa is the share conceded at the opening.

Buyers open at the market's `floor`, sellers at its `ceiling` (the public price range of the
resource, see `market.bilateral`), never beyond their own reservation. A negotiator accepts an
offer at least as good as the one it would make next (Faratin et al.'s acceptance rule), so it
never accepts beyond its reservation. Offers are in EUR per unit delivered, as in the
`market.mechanism.Negotiator` protocol.

Each tactic is a small frozen class that declares its `traits`, as `agents.strategies` does.
None draws random numbers: given the same reservation, range and rounds it makes the same
offers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from market.contract_negotiation import concession
from market.mechanism import Negotiator
from market.orders import Side


@dataclass(frozen=True, slots=True)
class Concession:
    """A time-dependent negotiator for one pair: a `market.mechanism.Negotiator`.

    `reservation` is the owner's limit per unit delivered for this pair and `opening` its first
    offer (on the far side of the reservation: below it for a buyer, above it for a seller).
    """

    side: Side
    reservation: float
    opening: float
    beta: float
    kappa: float = 0.0

    def propose(self, round_: int, deadline: int) -> float:
        a = concession(round_, deadline, self.beta, self.kappa)
        if a >= 1.0:
            # Exactly the reservation: opening + (reservation - opening) may miss it by a
            # rounding error, and the other side's limit may be this very number.
            return self.reservation
        offer = self.opening + a * (self.reservation - self.opening)
        return min(offer, self.reservation) if self.side is Side.BUY else max(offer, self.reservation)

    def accepts(self, price: float, round_: int, deadline: int) -> bool:
        """Faratin et al.'s rule: accept what is at least as good as one's own next offer. At the
        last round the next offer would be the reservation, so anything within it is taken."""
        mine = self.propose(round_ + 1, deadline)
        return price <= mine if self.side is Side.BUY else price >= mine


@dataclass(frozen=True)
class Tactic:
    """Makes a company's negotiator for each pair it negotiates in. Subclasses override
    `negotiator`."""

    name: ClassVar[str] = "base"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False}

    def negotiator(self, reservation: float, floor: float, ceiling: float, side: Side) -> Negotiator:
        raise NotImplementedError


@dataclass(frozen=True)
class TimeDependent(Tactic):
    """Faratin et al.'s time-dependent tactic with any `beta` > 0 and initial concession
    `kappa` in [0, 1]; Boulware, Linear and Conceder are its named families."""

    beta: float = 1.0
    kappa: float = 0.0

    name: ClassVar[str] = "time-dependent"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False, "concedes": "any"}

    def __post_init__(self) -> None:
        kind = type(self).__name__
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"{kind}: beta must be a positive number (beta < 1 Boulware, 1 linear, "
                             f"> 1 Conceder), got {self.beta}")
        if not 0.0 <= self.kappa <= 1.0:
            raise ValueError(f"{kind}: kappa is the share conceded at the opening and must lie in "
                             f"[0, 1], got {self.kappa}")

    def negotiator(self, reservation: float, floor: float, ceiling: float, side: Side) -> Concession:
        """A negotiator with limit `reservation` that opens at the far end of the market's range
        [floor, ceiling]: a buyer at `floor`, a seller at `ceiling`. A reservation outside the
        range moves the opening to the reservation: nobody opens beyond its own limit."""
        if not floor <= ceiling:
            raise ValueError(f"{type(self).__name__}.negotiator: the price range is empty "
                             f"(floor {floor} > ceiling {ceiling}); pass floor <= ceiling")
        side = Side(side)
        opening = min(floor, reservation) if side is Side.BUY else max(ceiling, reservation)
        return Concession(side, float(reservation), float(opening), self.beta, self.kappa)


@dataclass(frozen=True)
class Boulware(TimeDependent):
    """Holds close to its opening offer and concedes near the deadline (beta < 1; Faratin et
    al. 1998 after Raiffa's "Boulware" negotiator)."""

    beta: float = 0.2

    name: ClassVar[str] = "boulware"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False, "concedes": "late"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.beta < 1:
            raise ValueError(f"Boulware: beta must be below 1 (a Boulware tactic concedes late), got "
                             f"{self.beta}; use Linear for 1 or Conceder above 1")


@dataclass(frozen=True)
class Linear(TimeDependent):
    """Concedes the same amount every round (beta = 1; Faratin et al. 1998)."""

    beta: float = field(default=1.0, init=False)

    name: ClassVar[str] = "linear"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False, "concedes": "steadily"}


@dataclass(frozen=True)
class Conceder(TimeDependent):
    """Gives ground early and approaches its reservation quickly (beta > 1; Faratin et al.
    1998)."""

    beta: float = 5.0

    name: ClassVar[str] = "conceder"
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False, "concedes": "early"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.beta > 1:
            raise ValueError(f"Conceder: beta must be above 1 (a Conceder concedes early), got "
                             f"{self.beta}; use Boulware below 1 or Linear for 1")


TACTICS: dict[str, type[Tactic]] = {"linear": Linear, "boulware": Boulware, "conceder": Conceder}
