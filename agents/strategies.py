"""Bidding strategies: how far from its reservation price a company bids.

Each strategy is a small class that declares its `traits` (as Axelrod's classifiers do), so a
sweep can pick a population by trait and a base test can check the declaration is true. A
company holds one strategy instance; a strategy that keeps state keeps it per (resource, side).

Prices are additive, not multiplicative: a seller's reservation is often negative (minus its
disposal cost), so a margin is a share of the distance between the reservation and the far end
of the market's price range [floor, ceiling].

Traits every strategy declares: "stochastic" (draws from the generator it is given),
"learns" (the hooks change later prices), "constrained" (never bids above its reservation as a
buyer nor asks below it as a seller) and "memory": "none", "step" (learns from `on_outcome`
only) or "event" (learns from `on_market`). A strategy that keeps one state per unit
(`Quote.unit`) declares "per_unit": True, and the park then posts each of its orders as
several units, each priced apart (agents/traders.py). One that learns nothing from an untaken
shout of the other side of the market, nor from any untaken shout once its unit is spent,
declares "rival_shouts_only": True, so a caller may skip those calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from market.orders import MarketEvent, Side


@dataclass(frozen=True, slots=True)
class Quote:
    """What a strategy knows when it prices one order.

    reservation: the most a buyer gains per unit delivered, or the least a seller accepts per
    unit shipped (its outside option). floor and ceiling: the range where prices can matter in
    this market (in a park, the sellers' lowest and the buyers' highest reservation). unit:
    which of the trader's units of this resource and side the quote prices, 0 for the one it
    trades first (a buyer's highest value, a seller's lowest cost); a strategy that learns per
    unit, as ZIP does, keeps one state per unit. held: false for a unit the trader has
    already traded in this trading period (it still hears the market; ZIP then only raises its
    margin, as Cliff's inactive traders do).
    """

    side: Side
    resource: str
    reservation: float
    floor: float
    ceiling: float
    step: int = 0
    unit: int = 0
    held: bool = True

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
    traits: ClassVar[dict[str, object]] = {"stochastic": False, "learns": False, "constrained": True,
                                           "memory": "none"}

    def price(self, q: Quote, rng: np.random.Generator) -> float:
        return q.reservation


def _at_margin(q: Quote, margin: float) -> float:
    """The price `margin` of the way from the reservation to the far end of the range: a
    seller asks above its reservation, a buyer bids below it. Margin 0 is truthful."""
    if q.side is Side.BUY:
        return q.reservation - margin * q.room
    return q.reservation + margin * q.room


def _margin_of(q: Quote, price: float) -> float:
    """Inverse of `_at_margin` (the caller checks that `q.room` is positive)."""
    gap = q.reservation - price if q.side is Side.BUY else price - q.reservation
    return gap / q.room


def _check_range(owner: str, key: str, lo_hi: tuple[float, float], lo: float, hi: float) -> None:
    a, b = lo_hi
    if not lo <= a <= b <= hi:
        raise ValueError(f"{owner}: {key}={lo_hi!r} must be (low, high) with {lo} <= low <= high <= {hi}")


@dataclass
class ZIU(Strategy):
    """Zero intelligence, unconstrained (Gode & Sunder 1993, "Allocative efficiency of markets
    with zero-intelligence traders", JPE 101(1)): a price uniform on [floor, ceiling] whatever
    the reservation, so it can trade at a loss. The control that shows how much of a market's
    efficiency comes from the budget constraint alone.

    Gode and Sunder drew from one fixed range for both sides; here the range is the quote's,
    with floor and ceiling taken in either order when a park makes them cross.
    """

    name: ClassVar[str] = "ziu"
    traits: ClassVar[dict[str, object]] = {"stochastic": True, "learns": False, "constrained": False,
                                           "memory": "none"}

    def price(self, q: Quote, rng: np.random.Generator) -> float:
        lo, hi = min(q.floor, q.ceiling), max(q.floor, q.ceiling)
        return lo + (hi - lo) * rng.random()


@dataclass
class ZIC(Strategy):
    """Zero intelligence, constrained (Gode & Sunder 1993, JPE 101(1)): a buyer bids uniform on
    [floor, reservation], a seller asks uniform on [reservation, ceiling]; never at a loss.

    When the reservation lies beyond the far end of the range (a buyer whose reservation is
    below the floor, a seller whose reservation is above the ceiling) there is no room, and the
    strategy quotes its reservation: the only price that is neither a loss nor pointless. One
    uniform is drawn in every case, so the random stream does not depend on the quote.
    """

    name: ClassVar[str] = "zic"
    traits: ClassVar[dict[str, object]] = {"stochastic": True, "learns": False, "constrained": True,
                                           "memory": "none"}

    def price(self, q: Quote, rng: np.random.Generator) -> float:
        return _at_margin(q, rng.random())


@dataclass
class ZipState:
    """What a ZIP trader keeps for one unit of a (resource, side): its margin (a share of the room), its
    learning rate beta, its momentum gamma, and the last price change Gamma (price units)."""

    margin: float
    beta: float
    momentum: float
    change: float = 0.0


@dataclass
class ZIP(Strategy):
    """Zero intelligence plus (Cliff 1997, "Minimal-intelligence agents for bargaining
    behaviours in market-based environments", HP Labs Technical Report HPL-97-91).

    Each unit a trader holds of a (resource, side) has its own profit margin mu in [0, 1] (the
    `unit` of the quote): a seller asks reservation + mu * (ceiling - reservation), a buyer bids
    reservation - mu * (reservation - floor). On the first use of a unit, its mu, learning rate
    beta and momentum gamma are drawn once from the uniform ranges below (Cliff's values). On
    each market event (a shout at price p, accepted or not) a seller
      - raises its margin if the shout was accepted and its own price <= p;
      - else lowers it if the shout was an accepted bid and its own price >= p;
      - else lowers it if the shout was an unaccepted ask and its own price >= p;
    and a buyer mirrors this (raises its margin, i.e. bids lower, after a trade at p <= its bid;
    lowers it after an accepted ask >= its bid, or an unaccepted bid >= its bid). The move is
    Widrow-Hoff with momentum towards a target price tau a little beyond p:
    Delta = beta * (tau - price), Gamma <- gamma * Gamma + (1 - gamma) * Delta, and the new
    margin is that of price + Gamma, clipped to [0, 1] so the trader never crosses its
    reservation (nor the far end of the range).

    Adaptations, and why:
    - Cliff's traders each hold a unit with its own limit price and margin; Preist & van Tol
      (1998, "Adaptive agents in a persistent shout double auction", ICE '98) run ZIP-style
      traders in a persistent book like this module's CDA. A trader of several units therefore
      keeps one margin per unit, and the caller shows each event to each unit with its own
      quote: what the same units would learn as one-unit traders. One margin shared by all of
      a trader's units fails: the extra-marginal units that cannot trade keep shouting at the
      end of a period, every unaccepted shout lowers the shared margin, and the next period
      starts at margin 0 (measured in the market lab: Smith's alpha rose from 25 % on day 1 to
      46-48 % on days 2-8). The lab's units are its schedule's; in the park each order is cut
      into `market.units_per_order` units (agents/traders.py).
    - Cliff's margins are multiplicative (price = limit * (1 + mu)). Here prices are additive
      and often negative, so mu is a share of the room, as for every strategy of this module.
    - Cliff's target is tau = R * p + A, with R ~ U[1, 1 + c_R], A ~ U[0, c_A] to go up and
      R ~ U[1 - c_R, 1], A ~ U[-c_A, 0] to go down, c_R = c_A = 0.05 and A in currency units.
      With p < 0, R * p would move the target the wrong way, and an absolute A means something
      different for every resource. Here tau = p +/- (r * |p| + a * (ceiling - floor)) with
      r ~ U[0, c_R], a ~ U[0, c_A]: the same as Cliff's for p > 0 and a range of width 1, and a
      ZIP trader behaves the same whatever the currency unit of a resource.
    - Cliff clips nothing: a move that would take a seller below its limit is refused. Clipping
      to [0, 1] keeps the step as far as the bound allows.
    - In Cliff's market only active traders (with a unit still to trade) lower their margins;
      every trader raises. Here a unit lowers its margin only while the quote says it is
      `held`; a spent unit (`held` false) still raises, so it starts the next period greedier.
      The caller decides who hears what: the lab marks traded units spent, the park does not
      (its periods are too short to bring raised margins down; agents/traders.py).
    - A raise (own price <= p) is checked before a lowering (own price >= p), so a trader whose
      price equals p raises, as in Cliff's Bristol Stock Exchange (BSE) code.
    - With no room (reservation at or beyond the far end) the price is the reservation whatever
      mu is, and events leave the state as it is.
    """

    name: ClassVar[str] = "zip"
    traits: ClassVar[dict[str, object]] = {"stochastic": True, "learns": True, "constrained": True,
                                           "memory": "event", "per_unit": True,
                                           "rival_shouts_only": True}

    margin_range: tuple[float, float] = (0.05, 0.35)
    beta_range: tuple[float, float] = (0.1, 0.5)
    momentum_range: tuple[float, float] = (0.0, 0.1)
    relative_perturbation: float = 0.05  # c_R
    absolute_perturbation: float = 0.05  # c_A, as a share of ceiling - floor
    state: dict[tuple[str, Side, int], ZipState] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_range("ZIP", "margin_range", self.margin_range, 0.0, 1.0)
        _check_range("ZIP", "beta_range", self.beta_range, 0.0, 1.0)
        _check_range("ZIP", "momentum_range", self.momentum_range, 0.0, 1.0)
        if self.relative_perturbation < 0 or self.absolute_perturbation < 0:
            raise ValueError("ZIP: relative_perturbation and absolute_perturbation must be >= 0")

    def _state(self, q: Quote, rng: np.random.Generator) -> ZipState:
        key = (q.resource, q.side, q.unit)
        s = self.state.get(key)
        if s is None:
            s = ZipState(margin=float(rng.uniform(*self.margin_range)),
                         beta=float(rng.uniform(*self.beta_range)),
                         momentum=float(rng.uniform(*self.momentum_range)))
            self.state[key] = s
        return s

    def price(self, q: Quote, rng: np.random.Generator) -> float:
        return _at_margin(q, self._state(q, rng).margin)

    def on_market(self, q: Quote, event: MarketEvent, rng: np.random.Generator) -> None:
        if event.resource != q.resource:
            raise ValueError(f"ZIP.on_market: event of {event.resource!r} shown with a quote of "
                             f"{q.resource!r}; pass the quote of the resource the event is about")
        accepted, same = event.accepted, event.side is q.side
        if not accepted and (not same or not q.held):
            return  # an untaken shout of the other side tells nothing; a spent unit only raises
        s = self._state(q, rng)
        sell = q.side is Side.SELL
        room = q.ceiling - q.reservation if sell else q.reservation - q.floor
        if room <= 0:
            return
        p = event.price
        own = q.reservation + s.margin * room if sell else q.reservation - s.margin * room
        # +1: move the price up, -1: down. A seller raising its margin and a buyer lowering its
        # margin both move the price up.
        if accepted and (own <= p if sell else own >= p):
            direction = 1 if sell else -1  # raise the margin
        elif not q.held:
            return
        elif (accepted and not same or not accepted and same) and (own >= p if sell else own <= p):
            # lower it: the other side accepted a worse price, or a rival shouted a better one
            direction = -1 if sell else 1
        else:
            return
        # r ~ U[0, c_R], a ~ U[0, c_A] (random() scaled: three times faster than uniform())
        r = self.relative_perturbation * rng.random()
        a = self.absolute_perturbation * rng.random()
        target = p + direction * (r * abs(p) + a * max(q.ceiling - q.floor, 0.0))
        delta = s.beta * (target - own)
        s.change = s.momentum * s.change + (1.0 - s.momentum) * delta
        gap = own + s.change - q.reservation if sell else q.reservation - own - s.change
        s.margin = min(1.0, max(0.0, gap / room))


@dataclass
class RothErev(Strategy):
    """Reinforcement learning over a grid of margins (Roth & Erev 1995, "Learning in
    extensive-form games", Games and Economic Behavior 8; with forgetting and experimentation as
    in Erev & Roth 1998, "Predicting how people play games", AER 88(4)).

    Each (resource, side) has K actions, margins 0, max_margin / (K - 1), ..., max_margin
    (defaults: K = 10, margins 0, 0.1, ..., 0.9), and a propensity for each, all s(1) / K at
    first. An order's margin is drawn with probability proportional to propensity. After the
    step, the action that produced the order's price is found back from the price, and with
    reward x, every propensity becomes (1 - phi) * q_j + x * (1 - epsilon) for the chosen
    action and (1 - phi) * q_j + x * epsilon / (K - 1) for the others, then at least
    `min_propensity` (Erev & Roth's truncation, which keeps every action alive).

    The reward is the surplus over the outside option as a share of the most the order could
    have earned, x = max(surplus, 0) / (offered * room): about traded / offered * margin in a
    pay-as-bid market. Rewards are thus comparable across resources and currency units, and
    typically in [0, 1]; s(1) = 9 is Erev & Roth's initial strength with their A(1), the mean
    absolute payoff, taken as 1, the largest normalised reward. Erev & Roth reinforce x - x_min;
    x_min is 0 here, since a constrained order never earns less than its outside option.
    Orders without room (all margins give the same price) teach nothing and are skipped.
    Finding the action back from the price, rather than remembering the last draw, keeps two
    orders of one (resource, side) in one step apart.
    """

    name: ClassVar[str] = "roth_erev"
    traits: ClassVar[dict[str, object]] = {"stochastic": True, "learns": True, "constrained": True,
                                           "memory": "step"}

    actions: int = 10
    max_margin: float = 0.9
    strength: float = 9.0  # s(1)
    recency: float = 0.1  # phi, forgetting
    experimentation: float = 0.2  # epsilon
    min_propensity: float = 1e-4  # v
    propensities: dict[tuple[str, Side], list[float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.actions < 2:
            raise ValueError(f"RothErev: actions={self.actions} must be at least 2")
        if not 0.0 <= self.max_margin <= 1.0:
            raise ValueError(f"RothErev: max_margin={self.max_margin} must be in [0, 1]")
        if not 0.0 <= self.recency < 1.0 or not 0.0 <= self.experimentation <= 1.0:
            raise ValueError("RothErev: recency must be in [0, 1) and experimentation in [0, 1]")
        if self.strength <= 0 or self.min_propensity <= 0:
            raise ValueError("RothErev: strength and min_propensity must be positive")

    def margin(self, k: int) -> float:
        return self.max_margin * k / (self.actions - 1)

    def _propensities(self, q: Quote) -> list[float]:
        key = (q.resource, q.side)
        if key not in self.propensities:
            self.propensities[key] = [self.strength / self.actions] * self.actions
        return self.propensities[key]

    def probabilities(self, q: Quote) -> tuple[float, ...]:
        """The chance of each margin for `q`'s (resource, side)."""
        props = self.propensities.get((q.resource, q.side)) or [1.0] * self.actions
        total = sum(props)
        return tuple(v / total for v in props)

    def price(self, q: Quote, rng: np.random.Generator) -> float:
        props = self._propensities(q)
        u = rng.random() * sum(props)
        k, acc = 0, props[0]
        while acc <= u and k < self.actions - 1:
            k += 1
            acc += props[k]
        return _at_margin(q, self.margin(k))

    def on_outcome(self, q: Quote, price: float, offered: float, traded: float, surplus: float,
                   rng: np.random.Generator) -> None:
        if q.room <= 0 or offered <= 0:
            return
        step = self.max_margin / (self.actions - 1)
        k = 0 if step == 0 else min(self.actions - 1, max(0, round(_margin_of(q, price) / step)))
        x = max(surplus, 0.0) / (offered * q.room)
        props = self._propensities(q)
        rest = x * self.experimentation / (self.actions - 1)
        for j, v in enumerate(props):
            gain = x * (1.0 - self.experimentation) if j == k else rest
            props[j] = max(self.min_propensity, (1.0 - self.recency) * v + gain)


STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s for s in (Truthful, ZIU, ZIC, ZIP, RothErev)
}
