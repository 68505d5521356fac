"""Induced-value markets for the market lab, and lab traders who trade them day after day in a
continuous double auction.

A market is a step schedule (Smith 1962, "An experimental study of competitive market
behavior", JPE 70(2)): each buyer's unit values and each seller's unit costs, traded in order.
A day (a "trading period" in the experimental literature) starts with every trader holding
all its units; learning strategies keep what they learned from one day to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.strategies import STRATEGIES, Quote, Strategy
from market.cda import ContinuousDoubleAuction
from market.mechanism import Negotiator
from market.network import Network
from market.orders import MarketEvent, Order, Side
from market.resources import Resource

GOOD = "unit"


@dataclass(frozen=True)
class Schedule:
    """An induced-value market: each buyer's unit values and each seller's unit costs, in the
    order the trader must trade them (Smith 1962; Gode & Sunder 1993)."""

    name: str
    values: tuple[tuple[float, ...], ...]
    costs: tuple[tuple[float, ...], ...]
    floor: float
    ceiling: float

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        v = np.sort(np.concatenate([np.array(x, float) for x in self.values]))[::-1]
        c = np.sort(np.concatenate([np.array(x, float) for x in self.costs]))
        return v, c

    def max_surplus(self) -> float:
        v, c = self._sorted()
        k = min(len(v), len(c))
        g = v[:k] - c[:k]
        return float(g[g > 0].sum())

    def equilibrium(self) -> tuple[int, float, float] | None:
        """The competitive equilibrium: the quantity q* of units whose value exceeds their cost
        when demand (values falling) meets supply (costs rising), and the range [low, high] of
        prices that clear it (no unit traded at a loss, no extra-marginal unit wanting to
        trade). None when no unit has gains from trade."""
        v, c = self._sorted()
        k = min(len(v), len(c))
        q = int(np.sum(v[:k] - c[:k] > 0))
        if q == 0:
            return None
        low = max(c[q - 1], v[q] if q < len(v) else -math.inf)
        high = min(v[q - 1], c[q] if q < len(c) else math.inf)
        return q, float(low), float(high)

    def equilibrium_price(self) -> float | None:
        """P0, the middle of the range of competitive equilibrium prices."""
        eq = self.equilibrium()
        return None if eq is None else (eq[1] + eq[2]) / 2.0


def smith_alpha(prices: list[float] | tuple[float, ...], p0: float) -> float:
    """Smith's (1962) coefficient of convergence, in percent: the root mean squared deviation
    of the trade prices from the equilibrium price P0, over |P0| (nan with no price or P0 = 0,
    where it is undefined)."""
    if not prices or p0 == 0:
        return math.nan  # undefined at P0 = 0
    d = np.abs(np.asarray(prices, float) - p0)
    scale = float(d.max())  # scaled, so that huge prices do not overflow the squares
    if scale == 0:
        return 0.0
    return 100.0 * scale * math.sqrt(float(np.mean((d / scale) ** 2))) / abs(p0)


def gode_sunder_market(rng: np.random.Generator, traders: int = 6, units: int = 4,
                       floor: float = 1.0, ceiling: float = 200.0) -> Schedule:
    """6 buyers and 6 sellers with multi-unit step schedules in the price range of Gode & Sunder
    (1993), 1 to 200: values drawn uniform and sorted down per buyer (falling marginal value),
    costs drawn uniform and sorted up per seller. Random, not their five designed schedules."""
    values = tuple(tuple(np.sort(rng.uniform(floor, ceiling, units))[::-1].round(2)) for _ in range(traders))
    costs = tuple(tuple(np.sort(rng.uniform(floor, ceiling, units)).round(2)) for _ in range(traders))
    return Schedule("random U[1,200]", values, costs, floor, ceiling)


def _network(n: int) -> Network:
    r = Resource(GOOD, "unit", virgin_price=0.0, disposal_cost=0.0)
    return Network(np.zeros((n, 2)), {GOOD: r})


class LabTraders:
    """Lab traders: each owns a strategy and its unit schedule, trades its units in order, and
    quotes its next unit's value or cost through its strategy.

    Every market event is shown to every unit of every trader, each with its own quote
    (`Quote.unit` is the unit's place in the schedule, `Quote.held` false once the unit has
    traded this day): a strategy that learns per unit, such as ZIP, learns for each unit what
    it would as a one-unit trader (Cliff 1997). The auction tells the lab of each fill
    (`left`), so a unit is spent from the moment it trades, and `surplus` adds up the realised
    surplus at induced values."""

    def __init__(self, market: Schedule, strategies: list[Strategy], rng: np.random.Generator):
        self.m = market
        self.nb = len(market.values)
        self.strategies = strategies
        self.rng = rng
        self.done = [0] * (self.nb + len(market.costs))
        self.surplus = 0.0
        self._listens = [s.traits.get("memory") == "event" for s in strategies]
        self._rivals_only = [bool(s.traits.get("rival_shouts_only")) for s in strategies]
        # Every quote a trader can give, built once: [owner][unit][held].
        self._quotes = [[(Quote(self.side(o), GOOD, r, market.floor, market.ceiling, unit=k, held=False),
                          Quote(self.side(o), GOOD, r, market.floor, market.ceiling, unit=k))
                         for k, r in enumerate(self.schedule(o))] for o in range(len(self.done))]

    def side(self, owner: int) -> Side:
        return Side.BUY if owner < self.nb else Side.SELL

    def schedule(self, owner: int) -> tuple[float, ...]:
        return self.m.values[owner] if owner < self.nb else self.m.costs[owner - self.nb]

    def reservation(self, owner: int) -> float | None:
        sched = self.schedule(owner)
        k = self.done[owner]
        return sched[k] if k < len(sched) else None

    def quote(self, owner: int) -> Quote:
        """The quote of the trader's next unit."""
        return self._quotes[owner][self.done[owner]][True]

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        return self.strategies[order.owner].price(self.quote(order.owner), rng)

    def observe(self, event: MarketEvent) -> None:
        untaken = not event.accepted
        for owner, s in enumerate(self.strategies):
            if not self._listens[owner]:
                continue
            done, units = self.done[owner], self._quotes[owner]
            if untaken and self._rivals_only[owner]:
                # it learns from an untaken shout only of its own side, and only while held
                if self.side(owner) is event.side:
                    for k in range(done, len(units)):
                        s.on_market(units[k][True], event, self.rng)
                continue
            for k, quotes in enumerate(units):
                s.on_market(quotes[k >= done], event, self.rng)

    def left(self, order: Order, quantity: float) -> None:
        """The auction filled `order` (one unit) down to `quantity`: at 0 the unit is traded."""
        if quantity <= 1e-9:
            owner = order.owner
            r = self.reservation(owner)
            self.surplus += r if owner < self.nb else -r
            self.done[owner] += 1

    def negotiator(self, order: Order, reservation: float, floor: float, ceiling: float) -> Negotiator:
        raise NotImplementedError("the lab negotiates pairs directly")

    def orders(self) -> list[Order]:
        out = []
        for owner in range(len(self.done)):
            if self.reservation(owner) is not None:
                out.append(Order(owner, GOOD, self.side(owner), 1.0,
                                 self.strategies[owner].price(self.quote(owner), self.rng)))
        return out


@dataclass(frozen=True)
class Day:
    """One trading day: the realised surplus at induced values and the trade prices in order."""

    surplus: float
    prices: tuple[float, ...]


def cda_period(market: Schedule, traders: LabTraders, rng: np.random.Generator, sessions: int = 60,
               rounds: int = 10, rules: str = "persistent") -> Day:
    """One trading day of the continuous double auction: sessions of `rounds` arrivals in which
    every trader shouts for its next unit, until `sessions` pass or three in a row bring no
    trade. `rules` selects the order book (see `ContinuousDoubleAuction`)."""
    cda = ContinuousDoubleAuction(rounds=rounds, rules=rules)
    net = _network(len(traders.done))
    start, idle, prices = traders.surplus, 0, []
    for s in range(sessions):
        orders = traders.orders()
        if not any(o.side is Side.BUY for o in orders) or not any(o.side is Side.SELL for o in orders):
            break
        trades = cda.clear(orders, net, s, rng, traders)  # traders.left counts each traded unit
        prices.extend(t.price for t in trades)
        idle = 0 if trades else idle + 1
        if idle >= 3:
            break
    return Day(traders.surplus - start, tuple(prices))


def trade_days(market: Schedule, strategy: str, seed: int, days: int = 1, rules: str = "persistent") -> list[Day]:
    """`days` trading days on one market by traders of one strategy, learning carried over."""
    rng = np.random.default_rng(seed)
    strategies = [STRATEGIES[strategy]() for _ in range(len(market.values) + len(market.costs))]
    return [cda_period(market, LabTraders(market, strategies, rng), rng, rules=rules) for _ in range(days)]


@dataclass(frozen=True)
class LabResult:
    """A strategy on a family of markets: mean efficiency per day and mean Smith's alpha per
    day (over the markets whose day had a trade), day 1 first."""

    efficiency: tuple[float, ...]
    alpha: tuple[float, ...]

    def efficiency_from(self, day: int) -> float:
        """Mean efficiency over days `day`, `day` + 1, ... (day 1 is the first)."""
        return float(np.mean(self.efficiency[day - 1:]))

    def worst_alpha_from(self, day: int) -> float:
        return float(np.max(self.alpha[day - 1:]))


def lab_result(markets: list[Schedule], strategy: str, days: int = 1, rules: str = "persistent",
               seed: int = 0) -> LabResult:
    """Trades each of `markets` for `days` days (market n on seed `seed` + n)."""
    eff = np.zeros((len(markets), days))
    alpha = np.full((len(markets), days), np.nan)
    for n, m in enumerate(markets):
        p0, best = m.equilibrium_price(), m.max_surplus()
        for d, day in enumerate(trade_days(m, strategy, seed + n, days, rules)):
            eff[n, d] = day.surplus / best
            if p0 is not None and day.prices:
                alpha[n, d] = smith_alpha(day.prices, p0)
    # A day with no trade in any market has no alpha (nan), without numpy's empty-mean warning.
    alphas = tuple(float(np.mean(a[~np.isnan(a)])) if (~np.isnan(a)).any() else math.nan for a in alpha.T)
    return LabResult(tuple(float(x) for x in eff.mean(axis=0)), alphas)


def random_markets(seeds: int) -> list[Schedule]:
    """The random U[1,200] markets, market n drawn from seed n."""
    return [gode_sunder_market(np.random.default_rng(seed)) for seed in range(seeds)]
