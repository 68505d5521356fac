"""The one interface every market mechanism implements: orders and the network in, trades out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from market.network import Edges, Network
from market.orders import MarketEvent, Order, Side, Trade


class Negotiator(Protocol):
    """One side of a bilateral negotiation over the price of one unit delivered.

    Offers alternate; the protocol asks `accepts` before the negotiator makes its own next
    offer, and ends with no deal after `deadline` rounds (Rubinstein 1982 protocol with a
    deadline; tactics after Faratin, Sierra & Jennings 1998)."""

    def propose(self, round_: int, deadline: int) -> float: ...

    def accepts(self, price: float, round_: int, deadline: int) -> bool: ...


class Traders(Protocol):
    """What a mechanism may ask of the traders behind the orders, without seeing them.

    The market never imports agents; the model hands a `Traders` to `clear`."""

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        """A fresh limit price for `order` (its owner re-submits, as in a CDA round)."""
        ...

    def observe(self, event: MarketEvent) -> None:
        """Tell every trader of the event's resource what just happened in the market."""
        ...

    # Optional: `left(order, quantity)`, told by a mechanism that reports fills (the CDA) how
    # much of `order` is still unfilled, for traders that keep state per unit. Optional:
    # `price_range(resource)`, the resource's public (floor, ceiling), read by McAfee's
    # "bounds" convention and by bilateral negotiation (the only range its negotiators see).
    # Optional: `negotiated(deal)`, told of every bilateral negotiation (`market.bilateral.Deal`).

    def negotiator(self, order: Order, reservation: float, floor: float, ceiling: float) -> Negotiator:
        """The owner's negotiator for one pair: `reservation` is its limit per unit delivered
        for this pair (transport and losses included), [floor, ceiling] the price range."""
        ...


class Fixed:
    """Traders that always quote their order's price and ignore events: truthful, passive."""

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        return order.price

    def observe(self, event: MarketEvent) -> None:
        return None

    def negotiator(self, order: Order, reservation: float, floor: float, ceiling: float) -> Negotiator:
        raise NotImplementedError("Fixed traders do not negotiate; give the mechanism real Traders")


class Mechanism(Protocol):
    @property
    def name(self) -> str:
        """The mechanism's name in outputs and settings (read only: the frozen dataclasses that
        implement it fix it as a field)."""
        ...

    def clear(self, orders: Sequence[Order], network: Network, step: int, rng: np.random.Generator,
              traders: Traders | None = None) -> Sequence[Trade]:
        """Match `orders` over `network` and return the trades of this step. `traders` lets a
        mechanism ask for re-quotes, report events and get negotiators; None means `Fixed`."""
        ...


def book_by_resource(orders: Sequence[Order]) -> dict[str, tuple[list[Order], list[Order]]]:
    """Asks and bids of each resource, in the order they were posted."""
    books: dict[str, tuple[list[Order], list[Order]]] = defaultdict(lambda: ([], []))
    for o in orders:
        if o.quantity <= 0:
            continue
        asks, bids = books[o.resource]
        (asks if o.side is Side.SELL else bids).append(o)
    return {r: b for r, b in books.items() if b[0] and b[1]}


def reach_km(network: Network, resource: str, ask: np.ndarray, bid: np.ndarray) -> float:
    """Beyond this distance no pair of these orders can gain: the best bid less the lowest ask
    no longer covers the transport cost (losses only lower the gain further)."""
    cost = network.resources[resource].transport_cost
    best = max(0.0, float(bid.max())) - float(ask.min())
    return best / cost if cost > 0 else np.inf


@dataclass(frozen=True, slots=True)
class Book:
    """One resource's asks and bids as arrays, in the order they were posted: the owners
    (`sellers`, `buyers`), prices (`ask`, `bid`) and quantities (`supply`, `demand`). What every
    mechanism that clears over the network starts from."""

    resource: str
    sellers: np.ndarray
    buyers: np.ndarray
    ask: np.ndarray
    bid: np.ndarray
    supply: np.ndarray
    demand: np.ndarray

    @staticmethod
    def of(resource: str, asks: Sequence[Order], bids: Sequence[Order]) -> Book:
        return Book(resource,
                    np.array([o.owner for o in asks], dtype=np.int64), np.array([o.owner for o in bids], dtype=np.int64),
                    np.array([o.price for o in asks]), np.array([o.price for o in bids]),
                    np.array([o.quantity for o in asks]), np.array([o.quantity for o in bids]))

    def routes(self, network: Network, gaining: bool = False) -> tuple[Edges, np.ndarray]:
        """The routes the network allows from these sellers to these buyers, within reach of the
        best prices (`reach_km`), and each route's declared gain per unit shipped: delivered
        share x bid - ask - transport cost. With `gaining`, only the routes whose transport cost
        leaves room for a gain, in their order: every route that gains more than
        `transport.EPS` is among them (what a mechanism that ships on gains alone needs; the
        optimum's total, a dot product over every route, needs them all)."""
        # (The reach only matters where `edges` would look for routes with a k-d tree.)
        dense = len(self.sellers) * len(self.buyers) > network.DENSE_PAIRS
        e = network.edges(self.resource, self.sellers, self.buyers,
                          max_km=reach_km(network, self.resource, self.ask, self.bid) if dense else np.inf)
        if gaining and len(e.i):
            # A gain is at most the best bid less the lowest ask less the cost (a delivered share
            # is at most 1); the slack, a billionth of the prices, is far beyond their rounding.
            bid, ask = self.bid, self.ask
            best = max(0.0, float(bid.max())) - float(ask.min())
            slack = 1e-9 * (1.0 + float(np.abs(bid).max()) + float(np.abs(ask).max()))
            ok = np.flatnonzero(e.cost < best + slack)
            if len(ok) < len(e.i):
                e = Edges(e.i[ok], e.j[ok], e.distance[ok], e.share[ok], e.cost[ok])
        return e, e.share * self.bid[e.j] - self.ask[e.i] - e.cost


def small_routes(network: Network, resource: str, sellers: list[int], buyers: list[int], ask: list[float],
                 bid: list[float]) -> tuple[list[int], list[int], list[float], list[float], list[float], list[float]]:
    """`Book.routes` of a book of a few orders in Python lists: the routes of
    `Network.route_lists` (i, j, distance, share, cost) and each one's declared gain, with the
    same arithmetic (so the same bits)."""
    i, j, km, share, cost = network.route_lists(resource, sellers, buyers)
    return i, j, km, share, cost, [f * bid[b] - ask[a] - c for a, b, f, c in zip(i, j, share, cost)]


def public_range(bounds: tuple[float, float] | None, traders: object, resource: str, missing: str) -> tuple[float, float]:
    """A resource's public (floor, ceiling) of prices: the mechanism's `bounds` if set, else the
    traders' `price_range(resource)`; `missing` is the error when neither is there."""
    if bounds is not None:
        return bounds
    price_range = getattr(traders, "price_range", None)
    if price_range is None:
        raise ValueError(missing)
    lo, hi = price_range(resource)
    return float(lo), float(hi)
