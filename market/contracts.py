"""Long-term supply contracts: their terms, and how they deliver before the spot market.

A contract binds a seller to deliver, and a buyer to take, `quantity` units a step at `price`
per unit delivered for `duration` steps from `start`. A delivery short of the quantity by more
than the contract's tolerance is a breach: the party that fell short pays `penalty` per unit
missing to the other. The seller pays the journey, as on the spot market.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from market.orders import Order, Side, Trade

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Terms:
    """What two companies agree: price (EUR per unit delivered), quantity (units delivered per
    step), duration (steps), seller_share (share of the new pipe's cost, after any subsidy, that
    the seller pays; the buyer pays the rest) and penalty (EUR per unit short)."""

    price: float
    quantity: float
    duration: int
    seller_share: float
    penalty: float


@dataclass(frozen=True, slots=True)
class Contract:
    """A signed contract over one route: `share` is the delivered share per unit shipped and
    `cost` the transport cost per unit shipped on it; `investment` the pipe built for it (EUR,
    0 when it uses an existing route)."""

    id: int
    seller: int
    buyer: int
    resource: str
    terms: Terms
    start: int
    share: float
    cost: float
    distance_km: float
    investment: float = 0.0

    @property
    def end(self) -> int:
        """The first step the contract no longer runs."""
        return self.start + self.terms.duration

    def active(self, step: int) -> bool:
        return self.start <= step < self.end


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a contract fared in one step. `breacher` is the company that fell short (-1: kept)
    and `penalty` what it paid the other."""

    contract: int
    step: int
    delivered: float
    short: float
    breacher: int
    penalty: float

    @property
    def kept(self) -> bool:
        return self.breacher < 0


def deliver(contracts: Sequence[Contract], orders: Sequence[Order], step: int,
            tolerance: float) -> tuple[list[Trade], list[Delivery], list[Order]]:
    """Contracts deliver first, in the order given, out of the companies' true positions.

    A seller ships from its surplus of the resource, the part it values least first (what it
    would dispose of before what it could keep); a buyer takes into its need. Returns the
    contract trades, one `Delivery` per active contract, and the orders with what is left.
    A shortfall beyond `tolerance` of the quantity is a breach of whichever side had less to
    give (the seller when its surplus fell short, else the buyer whose need did).
    """
    left = [o.quantity for o in orders]
    asks: dict[tuple[int, str], list[int]] = defaultdict(list)
    bids: dict[tuple[int, str], list[int]] = defaultdict(list)
    for n, o in enumerate(orders):
        (asks if o.side is Side.SELL else bids)[(o.owner, o.resource)].append(n)
    for key in asks:
        asks[key].sort(key=lambda n: orders[n].price)
    for key in bids:
        bids[key].sort(key=lambda n: -orders[n].price)

    trades: list[Trade] = []
    done: list[Delivery] = []
    for c in contracts:
        if not c.active(step):
            continue
        if not c.share > 0:
            raise ValueError(f"contract {c.id}: its route delivers nothing (share {c.share}); a contract needs share > 0")
        mine = asks.get((c.seller, c.resource), [])
        theirs = bids.get((c.buyer, c.resource), [])
        avail = sum(left[n] for n in mine)
        need = sum(left[n] for n in theirs)
        q = c.terms.quantity
        ship = max(0.0, min(q / c.share, avail, need / c.share))
        if ship > EPS:
            _take(left, mine, ship)
            _take(left, theirs, ship * c.share)
            trades.append(Trade(step, c.seller, c.buyer, c.resource, ship, ship * c.share, c.terms.price,
                                c.cost * ship, c.distance_km))
        delivered = ship * c.share if ship > EPS else 0.0
        short = max(0.0, q - delivered)
        if short > tolerance * q + EPS:
            seller_gap = q - avail * c.share
            buyer_gap = q - need
            breacher = c.seller if seller_gap >= buyer_gap else c.buyer
            done.append(Delivery(c.id, step, delivered, short, breacher, c.terms.penalty * short))
        else:
            done.append(Delivery(c.id, step, delivered, short, -1, 0.0))
    rest = [(o if q == o.quantity else Order(o.owner, o.resource, o.side, q, o.price, o.ref))
            for o, q in zip(orders, left) if q > EPS]
    return trades, done, rest


def _take(left: list[float], idx: list[int], amount: float) -> None:
    for n in idx:
        if amount <= EPS:
            return
        got = min(left[n], amount)
        left[n] -= got
        amount -= got
