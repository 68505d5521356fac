"""Long-term supply contracts: their terms, and how they deliver before the spot market.

A contract binds a seller to deliver, and a buyer to take, `quantity` units a step at `price`
per unit delivered for `duration` steps from `start`. A delivery short of the quantity by more
than the contract's tolerance is a breach: the party that fell short pays `penalty` per unit
missing to the other. The seller pays the journey, as on the spot market.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from market.orders import COLUMNS_FROM, Order, OrderList, Side, Trade, numbered_orders, trades_from

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


# The slots of the deliveries `deliver` builds, in field order, set directly (as
# `market.orders.trades_from` builds trades).
_new = object.__new__
_DELIVERY_SLOTS = tuple(Delivery.__dict__[f.name].__set__ for f in fields(Delivery))


def deliver(contracts: Sequence[Contract], orders: Sequence[Order], step: int,
            tolerance: float) -> tuple[Sequence[Trade], list[Delivery], Sequence[Order]]:
    """Contracts deliver first, in the order given, out of the companies' true positions.

    A seller ships from its surplus of the resource, the part it values least first (what it
    would dispose of before what it could keep); a buyer takes into its need. Returns the
    contract trades, one `Delivery` per active contract, and the orders with what is left.
    A shortfall beyond `tolerance` of the quantity is a breach of whichever side had less to
    give (the seller when its surplus fell short, else the buyer whose need did).
    """
    # Thousands of contracts a step in a large park, nearly all between companies with one
    # order each of the resource: the orders are indexed once by (owner, resource, is an ask),
    # and only the keys of several orders get a list (asks cheapest first, bids dearest first).
    # A one-order side is read and drawn on directly: the same operations as `sum` and `_take`
    # on a list of one, without them. Trades, deliveries and orders are built slot by slot
    # (`market.orders.trades_from`, `numbered_orders`).
    # A large park's orders are read from their columns (`market.orders.OrderList`): the same
    # Python values, without making the orders.
    given = orders if isinstance(orders, OrderList) and len(orders) >= COLUMNS_FROM else None
    if given is not None:
        cols = given.columns
        left = cols.quantity.tolist()
        keys = list(zip(cols.owner.tolist(), cols.resource, cols.is_ask.tolist()))
    else:
        sell = Side.SELL
        left = [o.quantity for o in orders]
        keys = [(o.owner, o.resource, o.side is sell) for o in orders]
    at = {key: n for n, key in enumerate(keys)}  # a key's last order
    several: dict[tuple[int, str, bool], list[int]] = {}
    if len(at) < len(orders):
        for n, key in enumerate(keys):
            if at[key] != n or key in several:
                several.setdefault(key, []).append(n)
        prices = cols.price.tolist() if given is not None else [o.price for o in orders]
        for (_, _, is_ask), idx in several.items():
            idx.sort(key=(lambda n: prices[n]) if is_ask else (lambda n: -prices[n]))

    shipments: list[tuple[int, int, int, str, float, float, float, float, float]] = []  # trades_from's rows
    done: list[Delivery] = []
    d_contract, d_step, d_delivered, d_short, d_breacher, d_penalty = _DELIVERY_SLOTS
    for c in contracts:
        start, terms = c.start, c.terms
        if not start <= step < start + terms.duration:  # c.active(step)
            continue
        share = c.share
        if not share > 0:
            raise ValueError(f"contract {c.id}: its route delivers nothing (share {share}); a contract needs share > 0")
        resource = c.resource
        ask, bid = (c.seller, resource, True), (c.buyer, resource, False)
        i, j = at.get(ask, -1), at.get(bid, -1)
        mine = several.get(ask) if several else None
        theirs = several.get(bid) if several else None
        # sum() over no order is the int 0, over one order 0 + its float.
        if mine is not None:
            avail = sum(left[n] for n in mine)
        else:
            avail = 0 if i < 0 else 0.0 + left[i]
        if theirs is not None:
            need = sum(left[n] for n in theirs)
        else:
            need = 0 if j < 0 else 0.0 + left[j]
        q = terms.quantity
        # min(q / share, avail, need / share), compare by compare as min does; nothing reads
        # ship but where ship > EPS, so the max(0.0, ...) of the plain rule changes nothing.
        ship = q / share
        if avail < ship:
            ship = avail
        x = need / share
        if x < ship:
            ship = x
        if ship > EPS:
            delivered = ship * share
            if mine is None:  # _take(left, [i], ship): left[i] -= min(left[i], ship)
                x = left[i]
                left[i] = x - (ship if ship < x else x)
            else:
                _take(left, mine, ship)
            if theirs is None:
                if delivered > EPS:
                    x = left[j]
                    left[j] = x - (delivered if delivered < x else x)
            else:
                _take(left, theirs, delivered)
            shipments.append((step, c.seller, c.buyer, resource, ship, delivered, terms.price, c.cost * ship,
                              c.distance_km))
        else:
            delivered = 0.0
        short = q - delivered
        if not short > 0.0:  # max(0.0, q - delivered)
            short = 0.0
        d = _new(Delivery)
        d_contract(d, c.id)
        d_step(d, step)
        d_delivered(d, delivered)
        d_short(d, short)
        if short > tolerance * q + EPS:
            seller_gap = q - avail * share
            buyer_gap = q - need
            d_breacher(d, c.seller if seller_gap >= buyer_gap else c.buyer)
            d_penalty(d, terms.penalty * short)
        else:
            d_breacher(d, -1)
            d_penalty(d, 0.0)
        done.append(d)

    rest: Sequence[Order]
    if given is not None:
        # The orders left keep columns (the spot market reads them): the given orders' own, those
        # left over, with what is left of each; the orders are made when first asked for.
        quantity = np.array(left, dtype=float)
        keep = np.flatnonzero(quantity > EPS)
        rest = OrderList._lazy(len(keep), lambda: _left(orders, left))
        rest._make = lambda: given.columns.taken(keep, quantity[keep])
    else:
        rest = _left(orders, left)
    return trades_from(shipments), done, rest


def _left(orders: Sequence[Order], left: list[float]) -> list[Order]:
    """The orders with something left, each with what is left: the same order where nothing of
    it was taken, a new one with the same number where some was."""
    rest: list[Order] = []
    at_less: list[int] = []  # where in `rest` an order goes on with less than it had
    less: list[tuple[int, str, Side, float, float]] = []
    for o, q in zip(orders, left):
        if q > EPS:
            if q != o.quantity:  # Order(o.owner, o.resource, o.side, q, o.price, o.ref)
                at_less.append(len(rest))
                less.append((o.owner, o.resource, o.side, q, o.price))
            rest.append(o)
    for k, o in zip(at_less, numbered_orders(less, [rest[k].ref for k in at_less])):
        rest[k] = o
    return rest


def _take(left: list[float], idx: list[int], amount: float) -> None:
    for n in idx:
        if amount <= EPS:
            return
        got = min(left[n], amount)
        left[n] -= got
        amount -= got
