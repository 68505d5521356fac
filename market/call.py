"""A sealed-bid call market cleared over the transport network."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from market import transport
from market.mechanism import Book, Traders, book_by_resource, small_routes
from market.network import Network, free_routes
from market.orders import COLUMNS_FROM, Order, OrderList, Trade, TradeColumns, TradeList, trades_from, trades_of


@dataclass(frozen=True)
class CallMarket:
    """Collects every order of the step, then matches them to maximise declared gains.

    The matching solves the transportation problem of `market.transport` on declared prices:
    shipping one unit from ask a to bid b over a route with delivered share f and transport cost
    c gains f*b - a - c. Each matched pair trades at a k-double-auction price (Chatterjee &
    Samuelson 1983; Satterthwaite & Williams 1989) stretched over the route: the buyer keeps a
    share 1-k of the pair's declared gain and the seller k, so with f = 1 and c = 0 the price is
    k*b + (1-k)*a. With k = 0.5 the gain is split equally; neither side ever trades beyond its
    declared limit.
    """

    k: float = 0.5
    name: str = "call"
    # The run's memory of its LPs (`market.transport.Warm`): each model builds its own market.
    warm: transport.Warm = field(default_factory=transport.Warm, compare=False, repr=False)

    def clear(self, orders: Sequence[Order], network: Network, step: int, rng: np.random.Generator,
              traders: Traders | None = None) -> Sequence[Trade]:
        if isinstance(orders, OrderList) and len(orders) >= COLUMNS_FROM:
            return self._clear_columns(orders, network, step)
        return TradeList.joined([self._clear_one(resource, asks, bids, network, step)
                                 for resource, (asks, bids) in sorted(book_by_resource(orders).items())])

    def _clear_columns(self, orders: OrderList, network: Network, step: int) -> Sequence[Trade]:
        """`clear` of many orders, grouped into books on their columns: the same books (by
        resource name, each resource's asks and bids in the order posted), as arrays at once. The
        orders themselves are not read."""
        cols = orders.columns
        books = sorted(((cols.resource[int(asks[0])], asks, bids) for asks, bids in cols.books().values()
                        if len(asks) and len(bids)), key=lambda book: book[0])
        parts = []
        for resource, a, b in books:
            if len(a) * len(b) <= transport.SMALL:
                # `_clear_small`'s lists, from the columns (the same Python floats as the orders')
                found = self._clear_lists(resource, cols.owner[a].tolist(), cols.owner[b].tolist(),
                                          cols.price[a].tolist(), cols.price[b].tolist(), cols.quantity[a].tolist(),
                                          cols.quantity[b].tolist(), network, step)
                if found is not None:
                    parts.append(found)
                    continue
            def book(resource: str = resource, a: np.ndarray = a, b: np.ndarray = b) -> Book:
                return Book(resource, cols.owner[a], cols.owner[b], cols.price[a], cols.price[b], cols.quantity[a],
                            cols.quantity[b])
            parts.append(self._clear_arrays(resource, [], [], network, step, book))
        return TradeList.joined(parts)

    def _clear_one(self, resource: str, asks: Sequence[Order], bids: Sequence[Order], network: Network, step: int
                   ) -> Sequence[Trade]:
        """One resource's book cleared."""
        if len(asks) * len(bids) <= transport.SMALL:
            found = self._clear_small(resource, asks, bids, network, step)
            if found is not None:
                return found
        return self._clear_arrays(resource, asks, bids, network, step)

    def _clear_arrays(self, resource: str, asks: Sequence[Order], bids: Sequence[Order], network: Network, step: int,
                      book_of: Callable[[], Book] | None = None) -> Sequence[Trade]:
        book = Book.of(resource, asks, bids) if book_of is None else book_of()
        sellers, buyers, ask, bid, supply, demand = book.sellers, book.buyers, book.ask, book.bid, book.supply, book.demand
        if free_routes(network, resource, np.concatenate([sellers, buyers])) and not set(sellers.tolist()) & set(buyers.tolist()):
            # Every unit travels free: the highest bids meet the lowest asks, by sorting.
            bi, ai, q = transport.clear_uniform(bid, demand, ask, supply)
            price = self.k * bid[bi] + (1.0 - self.k) * ask[ai]
            return [Trade(step, int(s), int(b), resource, float(x), float(x), float(p), 0.0, 0.0)
                    for s, b, x, p in zip(sellers[ai], buyers[bi], q, price)]
        e, gain = book.routes(network, gaining=True)
        if len(e.i) == 0:
            return []
        x = transport.solve(supply, demand, e.i, e.j, gain, e.share, self.warm)
        # Each trade's figures worked out on the arrays (elementwise, so the same bits as in Python
        # floats trade by trade), then handed over as Python floats, one column at a time.
        n = np.flatnonzero(x > 0)
        shipped, f, km = x[n], e.share[n], e.distance[n]
        price = bid[e.j[n]] - (1.0 - self.k) * gain[n] / f
        cols = TradeColumns.given(np.full(len(n), step), sellers[e.i[n]], buyers[e.j[n]], [resource] * len(n), shipped,
                                  shipped * f, price, e.cost[n] * shipped, km)
        return trades_of(cols)

    def _clear_small(self, resource: str, asks: Sequence[Order], bids: Sequence[Order], network: Network, step: int
                     ) -> Sequence[Trade] | None:
        """`_clear_one` of a book of a few orders (most books of a small park), walked in Python
        lists: the same routes, arithmetic and trades. None when the book needs another path
        (every unit travels free, or HiGHS)."""
        return self._clear_lists(resource, [o.owner for o in asks], [o.owner for o in bids],
                                 [float(o.price) for o in asks], [float(o.price) for o in bids],
                                 [float(o.quantity) for o in asks], [float(o.quantity) for o in bids], network, step)

    def _clear_lists(self, resource: str, sellers: list[int], buyers: list[int], ask: list[float], bid: list[float],
                     supply: list[float], demand: list[float], network: Network, step: int) -> Sequence[Trade] | None:
        """`_clear_small` on the asks' and bids' owners, prices and quantities."""
        if free_routes(network, resource, sellers + buyers) and not set(sellers) & set(buyers):
            return None
        i, j, km, share, cost, gain = small_routes(network, resource, sellers, buyers, ask, bid)
        if not i:
            return []
        x = transport.solve_lists(supply, demand, i, j, gain, share)
        if x is None:
            return None
        keep = 1.0 - self.k
        return trades_from([(step, sellers[i[e]], buyers[j[e]], resource, q, q * share[e],
                             bid[j[e]] - keep * gain[e] / share[e], cost[e] * q, km[e])
                            for e, q in enumerate(x) if q > 0])
