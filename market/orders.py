"""Orders and trades: the frozen messages between companies and the market."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import chain
from operator import attrgetter
from typing import Generic, Self, TypeVar, overload

import numpy as np


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
                    numbers: Iterable[int] | None = None) -> OrderList | list[Order]:
    """Orders from (owner, resource, side, quantity, price) rows, numbered (`ref`) by `numbers`,
    by default each by its row: the same objects as `Order(*row, number)` at about half the cost
    (each slot set directly instead of through the frozen dataclass's `__init__`, which has
    nothing else to do), made when first asked for: the model makes thousands a step, and a large
    park's reads their columns, made from the rows. `rows` are not to be changed afterwards.
    Fewer than `COLUMNS_FROM` are a plain list, made at once (a small park reads each order)."""
    refs = range(len(rows)) if numbers is None else list(numbers)
    if len(rows) < COLUMNS_FROM:
        return _orders(rows, refs)
    out = OrderList._lazy(min(len(refs), len(rows)), lambda: _orders(rows, refs))
    out._make = lambda: OrderColumns.given(rows if len(refs) >= len(rows) else rows[:len(refs)])
    return out


def _orders(rows: Sequence[tuple[int, str, Side, float, float]], refs: Iterable[int]) -> list[Order]:
    owner, resource, side, quantity, price, ref = _ORDER_SLOTS
    out = []
    for i, (c, r, s, q, p) in zip(refs, rows):
        o = _new(Order)
        owner(o, c)
        resource(o, r)
        side(o, s)
        quantity(o, q)
        price(o, p)
        ref(o, i)
        out.append(o)
    return out


TradeRow = tuple[int, int, int, str, float, float, float, float, float]


def trades_from(rows: Iterable[TradeRow]) -> TradeList | list[Trade]:
    """Trades from (step, seller, buyer, resource, shipped, delivered, price, transport_cost,
    distance_km) rows, `seller_price` None: the same objects as `Trade(*row)`, as `numbered_orders`,
    made when first asked for. Their columns, if asked for, are made from the rows. Fewer than
    `COLUMNS_FROM` are a plain list, made at once."""
    rows = rows if isinstance(rows, list) else list(rows)
    if len(rows) < COLUMNS_FROM:
        return _trades(rows)
    out = TradeList._lazy(len(rows), lambda: _trades(rows))
    out._make = lambda: TradeColumns.given(*zip(*rows))
    return out


def trades_of(columns: TradeColumns) -> TradeList | list[Trade]:
    """`trades_from` the rows of these columns (`seller_unit_price` the price): the trades made
    from the columns' values when first asked for, the columns kept (fewer than `COLUMNS_FROM`:
    a plain list, made at once)."""
    def made() -> list[Trade]:
        return _trades(zip(columns.step.tolist(), columns.seller.tolist(), columns.buyer.tolist(), columns.resource,
                           columns.shipped.tolist(), columns.delivered.tolist(), columns.price.tolist(),
                           columns.transport_cost.tolist(), columns.distance_km.tolist()))
    if len(columns) < COLUMNS_FROM:
        return made()
    out = TradeList._lazy(len(columns), made)
    out._columns = columns
    return out


def _trades(rows: Iterable[TradeRow]) -> list[Trade]:
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


@dataclass(frozen=True, slots=True)
class TradeColumns:
    """Trades' fields as columns, in the trades' order (arrays never changed once made): what
    the passes over a step's trades read (settlement, welfare, the trade log, the records)."""

    step: np.ndarray  # intp
    seller: np.ndarray  # intp
    buyer: np.ndarray  # intp
    resource: list[str]
    shipped: np.ndarray
    delivered: np.ndarray
    price: np.ndarray
    transport_cost: np.ndarray
    distance_km: np.ndarray
    seller_unit_price: np.ndarray  # `Trade.seller_unit_price`: the price unless the seller gets another

    def __len__(self) -> int:
        return len(self.resource)

    @staticmethod
    def of(trades: Sequence[Trade]) -> TradeColumns:
        """Read from the trades, field by field."""
        m = len(trades)
        price = np.fromiter(map(_PRICE, trades), float, m)
        seller_price = list(map(_SELLER_PRICE, trades))
        unit = price if seller_price.count(None) == m else np.array(
            [p if q is None else q for p, q in zip(price.tolist(), seller_price)], dtype=float)
        return TradeColumns(np.fromiter(map(_STEP, trades), np.intp, m), np.fromiter(map(_SELLER, trades), np.intp, m),
                            np.fromiter(map(_BUYER, trades), np.intp, m), list(map(_RESOURCE, trades)),
                            np.fromiter(map(_SHIPPED, trades), float, m), np.fromiter(map(_DELIVERED, trades), float, m),
                            price, np.fromiter(map(_TRANSPORT, trades), float, m), np.fromiter(map(_KM, trades), float, m),
                            unit)

    @staticmethod
    def given(step, seller, buyer, resource, shipped, delivered, price, cost, km) -> TradeColumns:
        """The columns of `trades_from`'s trades, from its rows' fields (sequences or arrays)."""
        price = np.asarray(price, dtype=float)
        return TradeColumns(np.asarray(step, dtype=np.intp), np.asarray(seller, dtype=np.intp),
                            np.asarray(buyer, dtype=np.intp), list(resource), np.asarray(shipped, dtype=float),
                            np.asarray(delivered, dtype=float), price, np.asarray(cost, dtype=float),
                            np.asarray(km, dtype=float), price)

    def sliced(self, start: int) -> TradeColumns:
        """The columns from trade `start` on."""
        price = self.price[start:]
        return TradeColumns(self.step[start:], self.seller[start:], self.buyer[start:], self.resource[start:],
                            self.shipped[start:], self.delivered[start:], price, self.transport_cost[start:],
                            self.distance_km[start:], price if self.seller_unit_price is self.price else
                            self.seller_unit_price[start:])

    @staticmethod
    def joined(parts: Sequence[TradeColumns]) -> TradeColumns:
        """These columns one after another."""
        if len(parts) == 1:
            return parts[0]

        def cat(field: str) -> np.ndarray:
            return np.concatenate([getattr(p, field) for p in parts])

        price = cat("price")
        unit = price if all(p.seller_unit_price is p.price for p in parts) else cat("seller_unit_price")
        return TradeColumns(cat("step"), cat("seller"), cat("buyer"), list(chain.from_iterable(p.resource for p in parts)),
                            cat("shipped"), cat("delivered"), price, cat("transport_cost"), cat("distance_km"), unit)


(_STEP, _SELLER, _BUYER, _RESOURCE, _SHIPPED, _DELIVERED, _PRICE, _TRANSPORT, _KM, _SELLER_PRICE) = (
    attrgetter(f) for f in ("step", "seller", "buyer", "resource", "shipped", "delivered", "price", "transport_cost",
                            "distance_km", "seller_price"))

# From this many trades on, the passes over them read their columns: below it numpy's calls cost
# more than a pass trade by trade (a 10-company park has a handful a step).
COLUMNS_FROM = 64


T = TypeVar("T")
C = TypeVar("C")


class _WithColumns(Sequence, Generic[T, C]):
    """A sequence of frozen items (orders or trades) that a large park's model mostly reads as
    `columns`: the columns are worked out on first asking and kept, from what the sequence was
    built from where that is known (`_make`), else read from the items; and the items, where the
    sequence was built from rows or columns (`_lazy`), are made on first asking too, the same
    objects as made at once. A step of `synthetic:1000` makes thousands of orders and trades that
    only their columns are read of. Read-only: it compares equal to a list of the same items, and
    `+` with a list gives a list; a copy (`list(...)`) is a plain list."""

    __slots__ = ("_items", "_items_of", "_n", "_columns", "_make")

    def __init__(self, items: Iterable[T] = ()):
        self._items: list[T] | None = list(items)
        self._items_of: Callable[[], list[T]] | None = None  # how to make the items, if not made yet
        self._n = len(self._items)
        self._columns: C | None = None
        self._make: Callable[[], C] | None = None  # how to make the columns, if not by reading the items

    @classmethod
    def _lazy(cls, n: int, items_of: Callable[[], list[T]]) -> Self:
        """`n` items that `items_of()` makes when first asked for."""
        out = cls.__new__(cls)
        out._items, out._items_of, out._n, out._columns, out._make = None, items_of, n, None, None
        return out

    def _list(self) -> list[T]:
        items = self._items
        if items is None:
            make = self._items_of
            assert make is not None
            items = self._items = make()
            self._items_of = None
            if len(items) != self._n:
                raise AssertionError(f"{type(self).__name__}: made {len(items)} items, expected {self._n}")
        return items

    def _read(self) -> C:
        raise NotImplementedError

    @property
    def columns(self) -> C:
        if self._columns is None:
            self._columns = self._read() if self._make is None else self._make()
            self._make = None
        return self._columns

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i):
        return self._list()[i]

    def __iter__(self) -> Iterator[T]:
        return iter(self._list())

    def __reversed__(self) -> Iterator[T]:
        return reversed(self._list())

    def __contains__(self, item: object) -> bool:
        return item in self._list()

    def index(self, item: T, *args: int) -> int:
        return self._list().index(item, *args)

    def count(self, item: T) -> int:
        return self._list().count(item)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _WithColumns):
            return self._list() == other._list()
        if isinstance(other, list):
            return self._list() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Iterable[T]) -> list[T]:
        return self._list() + list(other)

    def __radd__(self, other: Iterable[T]) -> list[T]:
        return list(other) + self._list()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list()!r})"

    def __reduce__(self):
        return type(self), (list(self._list()),)


class TradeList(_WithColumns[Trade, TradeColumns]):
    """Trades with their columns (`_WithColumns`): a large park's model reads the same fields of
    thousands of trades a step in several passes, and seldom a trade. Where the trades were made
    from rows or columns (`trades_from`, `trades_of`), or are a slice (`tail`) or a join
    (`joined`) of lists that have theirs, the columns are taken from those rather than read from
    the trades, and the trades are made when first asked for."""

    __slots__ = ()

    def _read(self) -> TradeColumns:
        return TradeColumns.of(self._list())

    def tail(self, start: int) -> TradeList:
        """The trades from `start` (0 or more) on (as a `TradeList` whatever their number)."""
        part = TradeList._lazy(max(0, self._n - start), lambda: self._list()[start:])
        part._make = lambda: self.columns.sliced(start)
        return part

    @staticmethod
    def joined(parts: Sequence[Sequence[Trade]]) -> TradeList | list[Trade]:
        """The trades of these lists one after another (the lists not changed afterwards); fewer
        than `COLUMNS_FROM` as a plain list."""
        parts = list(parts)
        n = sum(map(len, parts))
        if n < COLUMNS_FROM:
            return list(chain.from_iterable(parts))
        whole = TradeList._lazy(n, lambda: list(chain.from_iterable(parts)))
        whole._make = lambda: TradeColumns.joined([columns_of(p) for p in parts if len(p)] or [TradeColumns.of(())])
        return whole


def tail(trades: Sequence[Trade], start: int) -> Sequence[Trade]:
    """The trades from `start` on: a `TradeList`'s `tail` (its columns kept), else a slice."""
    return trades.tail(start) if isinstance(trades, TradeList) else trades[start:]


def columns_of(trades: Sequence[Trade]) -> TradeColumns:
    """The trades' columns: a `TradeList`'s own, else read for this call."""
    return trades.columns if isinstance(trades, TradeList) else TradeColumns.of(trades)


@dataclass(frozen=True, slots=True)
class OrderColumns:
    """Orders' fields as columns, in the orders' order (arrays never changed once made), and
    each resource's code (`resource_code`, the same for a resource in every run of a process)."""

    owner: np.ndarray  # intp
    resource: list[str]
    code: np.ndarray  # intp: `resource_code` of each order's resource
    is_ask: np.ndarray  # bool
    quantity: np.ndarray
    price: np.ndarray

    def __len__(self) -> int:
        return len(self.resource)

    @staticmethod
    def of(orders: Sequence[Order]) -> OrderColumns:
        """Read from the orders, field by field."""
        return OrderColumns.given([(o.owner, o.resource, o.side, o.quantity, o.price) for o in orders])

    @staticmethod
    def given(rows: Sequence[tuple[int, str, Side, float, float]]) -> OrderColumns:
        """From `numbered_orders`' (owner, resource, side, quantity, price) rows."""
        m = len(rows)
        if not m:
            return OrderColumns(np.zeros(0, np.intp), [], np.zeros(0, np.intp), np.zeros(0, bool), np.zeros(0),
                                np.zeros(0))
        owner, resource, side, quantity, price = zip(*rows)
        sell = Side.SELL
        return OrderColumns(np.fromiter(owner, np.intp, m), list(resource),
                            np.fromiter(map(_CODES.__getitem__, resource), np.intp, m),
                            np.fromiter([s is sell for s in side], bool, m), np.fromiter(quantity, float, m),
                            np.fromiter(price, float, m))

    def books(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The orders with a quantity, by resource code, in the order each resource first
        appears: the numbers of its asks and of its bids, each in the orders' order."""
        pos = np.flatnonzero(self.quantity > 0)
        if not len(pos):
            return {}
        code = self.code[pos]
        _, first = np.unique(code, return_index=True)
        # A stable sort on resource, then side (2 x code for an ask, + 1 for a bid).
        key = code * 2 + ~self.is_ask[pos]
        order = np.argsort(key, kind="stable")
        sorted_pos, sorted_key = pos[order], key[order]
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(sorted_key)) + 1, [len(sorted_key)])).tolist()
        side = {k: sorted_pos[a:b] for k, a, b in zip(sorted_key[bounds[:-1]].tolist(), bounds[:-1], bounds[1:])}
        none = np.zeros(0, dtype=np.intp)
        return {c: (side.get(2 * c, none), side.get(2 * c + 1, none)) for c in code[np.sort(first)].tolist()}

    def taken(self, keep: np.ndarray, quantity: np.ndarray) -> OrderColumns:
        """The orders at `keep` (ascending), with these quantities."""
        resource = self.resource
        return OrderColumns(self.owner[keep], [resource[k] for k in keep.tolist()], self.code[keep], self.is_ask[keep],
                            quantity, self.price[keep])

    def replaced(self, at: Sequence[int], rows: Sequence[tuple[int, str, Side, float, float]]) -> OrderColumns:
        """These columns with the orders at `at` replaced by orders of these rows."""
        if not len(at):
            return self
        new = OrderColumns.given(rows)
        at_ = np.asarray(at, dtype=np.intp)
        owner, code, is_ask, quantity, price = (self.owner.copy(), self.code.copy(), self.is_ask.copy(),
                                                self.quantity.copy(), self.price.copy())
        owner[at_], code[at_], is_ask[at_], quantity[at_], price[at_] = (new.owner, new.code, new.is_ask, new.quantity,
                                                                        new.price)
        resource = list(self.resource)
        for i, r in zip(at, new.resource):
            resource[i] = r
        return OrderColumns(owner, resource, code, is_ask, quantity, price)


# Each resource's code, in the order the process first meets them.
_CODES: defaultdict[str, int] = defaultdict(lambda: len(_CODES))


def resource_code(resource: str) -> int:
    return _CODES[resource]


def by_resource_code(values: Mapping[str, float]) -> np.ndarray:
    """`values` by resource, as an array by `resource_code` (NaN for every other code known, so
    that any comparison with it is false)."""
    codes = [resource_code(r) for r in values]
    out = np.full(len(_CODES), np.nan)
    out[codes] = list(values.values())
    return out


class OrderList(_WithColumns[Order, OrderColumns]):
    """Orders with their columns (`_WithColumns`), made from the (owner, resource, side,
    quantity, price) rows they were made of (`numbered_orders`): large parks read thousands of
    orders a step, and seldom an order."""

    __slots__ = ()

    def _read(self) -> OrderColumns:
        return OrderColumns.of(self._list())

    @staticmethod
    def replacing(base: Sequence[Order], at: Sequence[int], orders: Sequence[Order],
                  rows: Sequence[tuple[int, str, Side, float, float]]) -> OrderList | list[Order]:
        """`base` with its orders at `at` replaced by `orders` (made of `rows`): columns, if asked
        for, are `base`'s with those rows replaced; the orders are made when first asked for."""
        def items() -> list[Order]:
            out = list(base)
            for i, o in zip(at, orders):
                out[i] = o
            return out
        if len(base) < COLUMNS_FROM:
            return items()
        out = OrderList._lazy(len(base), items)
        out._make = lambda: order_columns_of(base).replaced(at, rows)
        return out


def order_columns_of(orders: Sequence[Order]) -> OrderColumns:
    """The orders' columns: an `OrderList`'s own, else read for this call."""
    return orders.columns if isinstance(orders, OrderList) else OrderColumns.of(orders)
