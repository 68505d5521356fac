"""Orders and trades: the frozen messages between companies and the market."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class Order:
    """A limit order for one step.

    `price` is EUR per unit: for a bid the most the buyer pays per unit delivered, for an ask
    the least the seller accepts per unit shipped. An ask may be negative: the seller pays up to
    that much to be rid of a waste.
    """

    owner: int
    resource: str
    side: Side
    quantity: float
    price: float
    ref: int = -1  # the poster's own label for the order; mechanisms pass it on untouched


@dataclass(frozen=True, slots=True)
class Trade:
    """A matched exchange. The buyer pays `price` per unit delivered; the seller receives
    `seller_price` per unit delivered (the same as `price` unless the mechanism keeps a
    budget), ships `shipped`, pays `transport_cost` for the journey, and `shipped - delivered`
    is lost on the way."""

    step: int
    seller: int
    buyer: int
    resource: str
    shipped: float
    delivered: float
    price: float
    transport_cost: float
    distance_km: float
    seller_price: float | None = None

    @property
    def payment(self) -> float:
        """What the buyer pays."""
        return self.price * self.delivered

    @property
    def seller_unit_price(self) -> float:
        """What the seller receives per unit delivered."""
        return self.price if self.seller_price is None else self.seller_price

    @property
    def receipt(self) -> float:
        """What the seller receives before paying the journey. Less than `payment` only in a
        mechanism that keeps a budget surplus (McAfee's trade reduction)."""
        return self.seller_unit_price * self.delivered


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """Something every trader of a resource can see: a shout (`accepted` false) or a trade at
    `price` (`accepted` true). Prices are per unit delivered for bids and per unit shipped for
    asks, as in `Order`. Learning strategies such as ZIP (Cliff 1997) adapt on these."""

    step: int
    resource: str
    side: Side
    price: float
    accepted: bool


# The slots of Order and Trade, set directly by the builders below.
_new = object.__new__
_ORDER_SLOTS = tuple(Order.__dict__[f].__set__ for f in ("owner", "resource", "side", "quantity", "price", "ref"))
_TRADE_SLOTS = tuple(Trade.__dict__[f].__set__ for f in ("step", "seller", "buyer", "resource", "shipped", "delivered",
                                                         "price", "transport_cost", "distance_km", "seller_price"))


def numbered_orders(rows: Sequence[tuple[int, str, Side, float, float]],
                    numbers: Iterable[int] | None = None) -> list[Order]:
    """Orders from (owner, resource, side, quantity, price) rows, numbered (`ref`) by `numbers`,
    by default each by its row: the same objects as `Order(*row, number)` at about half the cost
    (each slot set directly instead of through the frozen dataclass's `__init__`, which has
    nothing else to do): the model makes thousands a step."""
    owner, resource, side, quantity, price, ref = _ORDER_SLOTS
    out = []
    for i, (c, r, s, q, p) in zip(range(len(rows)) if numbers is None else numbers, rows):
        o = _new(Order)
        owner(o, c)
        resource(o, r)
        side(o, s)
        quantity(o, q)
        price(o, p)
        ref(o, i)
        out.append(o)
    return out


def trades_from(rows: Iterable[tuple[int, int, int, str, float, float, float, float, float]]) -> list[Trade]:
    """Trades from (step, seller, buyer, resource, shipped, delivered, price, transport_cost,
    distance_km) rows, `seller_price` None: the same objects as `Trade(*row)`, as `numbered_orders`."""
    step, seller, buyer, resource, shipped, delivered, price, cost, km, seller_price = _TRADE_SLOTS
    out = []
    for t, s, b, r, x, d, p, c, k in rows:
        o = _new(Trade)
        step(o, t)
        seller(o, s)
        buyer(o, b)
        resource(o, r)
        shipped(o, x)
        delivered(o, d)
        price(o, p)
        cost(o, c)
        km(o, k)
        seller_price(o, None)
        out.append(o)
    return out
