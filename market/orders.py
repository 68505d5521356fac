"""Orders and trades: the frozen messages between companies and the market."""

from __future__ import annotations

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
