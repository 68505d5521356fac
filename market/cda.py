"""A continuous double auction over the transport network: an order book with price-time
priority, matched as orders arrive (Friedman 1991; the market of Gode & Sunder 1993)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from market.mechanism import Fixed, Traders, book_by_resource, reach_km
from market.network import Network, free_routes
from market.orders import MarketEvent, Order, Side, Trade

EPS = 1e-9  # quantities below this are filled
RULES = ("persistent", "gode_sunder")  # the order books of `ContinuousDoubleAuction.rules`


def _other(side: Side) -> Side:
    return Side.BUY if side is Side.SELL else Side.SELL


# A match for an incoming order: the index of the resting order on the other side, and the
# route between them as (delivered share, transport cost per unit shipped, km).
Match = tuple[int, float, float, float]


class _Book:
    """The resting quotes of one resource: for each order index, (price, arrival number) or
    None. An order has at most one resting quote; a new arrival replaces it."""

    def __init__(self, n_asks: int, n_bids: int):
        self.quote: dict[Side, list[tuple[float, int] | None]] = {
            Side.SELL: [None] * n_asks, Side.BUY: [None] * n_bids}

    def rest(self, side: Side, x: int, price: float, seq: int) -> None:
        self.quote[side][x] = (price, seq)

    def withdraw(self, side: Side, x: int) -> None:
        self.quote[side][x] = None

    def clear(self) -> None:
        """Every resting quote withdrawn."""
        for side, quotes in self.quote.items():
            for x in range(len(quotes)):
                self.withdraw(side, x)

    def best(self, side: Side, x: int, price: float) -> Match | None:
        """The resting order an incoming order `x` of `side` at `price` trades with first, if
        any crosses it."""
        raise NotImplementedError


class _RouteBook(_Book):
    """Matching over the network's routes: each order looks at the resting orders it has a
    route to. A bid takes the ask of lowest delivered cost (ask + c) / f, an ask the bid of
    highest net f * bid - c; among equals the earlier arrival. Parallel routes between one pair
    are all candidates, so the pair's best route for these prices is used.

    A park order has a handful of routes, and a loop over a Python list of them beats the fixed
    cost of numpy calls several times over; an order with more than `DENSE` routes (a dense
    truck market) is scanned with numpy over its slice of the route arrays instead, against a
    copy of the quotes kept as arrays. Both scans pick the same order."""

    DENSE = 48

    def __init__(self, n_asks: int, n_bids: int, i: np.ndarray, j: np.ndarray, share: np.ndarray,
                 cost: np.ndarray, km: np.ndarray):
        super().__init__(n_asks, n_bids)
        self.routes = {Side.BUY: _Routes(j, n_bids, i, share, cost, km),
                       Side.SELL: _Routes(i, n_asks, j, share, cost, km)}
        # Quotes as arrays for the numpy scan: no quote is +inf for an ask and -inf for a bid,
        # which no route can cross.
        self.prices = {Side.SELL: np.full(n_asks, np.inf), Side.BUY: np.full(n_bids, -np.inf)}
        self.seqs = {Side.SELL: np.zeros(n_asks, dtype=np.int64), Side.BUY: np.zeros(n_bids, dtype=np.int64)}

    def rest(self, side: Side, x: int, price: float, seq: int) -> None:
        super().rest(side, x, price, seq)
        self.prices[side][x] = price
        self.seqs[side][x] = seq

    def withdraw(self, side: Side, x: int) -> None:
        super().withdraw(side, x)
        self.prices[side][x] = np.inf if side is Side.SELL else -np.inf

    def best(self, side: Side, x: int, price: float) -> Match | None:
        routes = self.routes[side]
        if routes.count(x) > self.DENSE:
            return self._best_dense(side, x, price)
        found: Match | None = None
        key: tuple[float, int] | None = None
        if side is Side.BUY:
            asks = self.quote[Side.SELL]
            for a, f, c, d in routes.of(x):
                q = asks[a]
                if q is not None and (key is None or ((q[0] + c) / f, q[1]) < key):
                    key, found = ((q[0] + c) / f, q[1]), (a, f, c, d)
            return found if key is not None and key[0] <= price else None
        bids = self.quote[Side.BUY]
        for b, f, c, d in routes.of(x):
            q = bids[b]
            if q is not None and (key is None or (c - f * q[0], q[1]) < key):
                key, found = (c - f * q[0], q[1]), (b, f, c, d)
        return found if key is not None and -key[0] >= price else None

    def _best_dense(self, side: Side, x: int, price: float) -> Match | None:
        other = _other(side)
        y, f, c, d = self.routes[side].arrays(x)
        if len(y) == 0:
            return None
        quoted = self.prices[other][y]
        if side is Side.BUY:
            score = (quoted + c) / f  # delivered cost: lower is better
        else:
            score = c - f * quoted  # minus the seller's net: lower is better
        top = score.min()
        if not np.isfinite(top) or (top > price if side is Side.BUY else -top < price):
            return None
        tied = np.flatnonzero(score == top)
        k = int(tied[np.argmin(self.seqs[other][y[tied]])]) if len(tied) > 1 else int(tied[0])
        return int(y[k]), float(f[k]), float(c[k]), float(d[k])


class _Routes:
    """The routes of each order on one side, grouped by order: (other end, share, cost, km)."""

    def __init__(self, key: np.ndarray, n: int, other: np.ndarray, share: np.ndarray, cost: np.ndarray,
                 km: np.ndarray):
        order = np.argsort(key, kind="stable")
        self.columns = (other[order], share[order], cost[order], km[order])
        self.ends = np.searchsorted(key[order], np.arange(n + 1)).tolist()
        self.lists: dict[int, list[tuple[int, float, float, float]]] = {}

    def count(self, x: int) -> int:
        return self.ends[x + 1] - self.ends[x]

    def arrays(self, x: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = self.ends[x], self.ends[x + 1]
        other, share, cost, km = (col[lo:hi] for col in self.columns)
        return other, share, cost, km

    def of(self, x: int) -> list[tuple[int, float, float, float]]:
        # Built on the order's first arrival, then reused.
        routes = self.lists.get(x)
        if routes is None:
            routes = self.lists[x] = list(zip(*(col.tolist() for col in self.arrays(x))))
        return routes


class _PriceBook(_Book):
    """Matching when every pair of distinct companies trades at share 1 and cost 0 (see
    `free_routes`): the best counterparty is the best price, so each side is a heap ordered by
    (price, arrival). Replaced and filled quotes are dropped lazily when they reach the top."""

    def __init__(self, sellers: list[int], buyers: list[int], positions: np.ndarray):
        super().__init__(len(sellers), len(buyers))
        self.owner = {Side.SELL: sellers, Side.BUY: buyers}
        self.heap: dict[Side, list[tuple[float, int, int]]] = {Side.SELL: [], Side.BUY: []}
        self.positions = positions

    def rest(self, side: Side, x: int, price: float, seq: int) -> None:
        super().rest(side, x, price, seq)
        heapq.heappush(self.heap[side], (price if side is Side.SELL else -price, seq, x))

    def clear(self) -> None:
        super().clear()
        for heap in self.heap.values():
            heap.clear()

    def best(self, side: Side, x: int, price: float) -> Match | None:
        other = _other(side)
        heap, quotes, owners = self.heap[other], self.quote[other], self.owner[other]
        me = self.owner[side][x]
        skipped = []  # the incoming company's own quotes on the other side: never its partner
        found = None
        while heap:
            _, seq, y = heap[0]
            q = quotes[y]
            if q is None or q[1] != seq:
                heapq.heappop(heap)
            elif owners[y] == me:
                skipped.append(heapq.heappop(heap))
            else:
                found = y, q[0]
                break
        for entry in skipped:
            heapq.heappush(heap, entry)
        if found is None:
            return None
        y, p = found
        if (p > price) if side is Side.BUY else (p < price):
            return None
        d = self.positions[owners[y]] - self.positions[me]
        return y, 1.0, 0.0, float(np.hypot(d[0], d[1]))


@dataclass(frozen=True)
class ContinuousDoubleAuction:
    """A continuous double auction per resource (Friedman 1991), as in the markets of Gode &
    Sunder (1993), run over the park's transport network.

    In each of `rounds` rounds every order with quantity still unfilled arrives once, in an
    order drawn with `rng.permutation`. In round 0 it shouts its own posted price (the owner's
    strategy priced it this step; asking again would throw that quote away); in later rounds
    its owner re-quotes it with `traders.requote` on the order with its unfilled quantity.

    An arriving bid trades with the resting ask of lowest delivered cost (ask + c) / f over
    their route, if that is at most the bid; an arriving ask with the resting bid of highest net
    f * bid - c, if that is at least the ask; ties go to the earlier arrival (price-time
    priority). It keeps trading down the book until it is filled or nothing crosses it. The
    incoming order takes the standing quote: a resting ask a is paid (a + c) / f per unit
    delivered, so its seller nets exactly a per unit shipped; a resting bid b pays b. A trade
    ships min(seller's unfilled quantity, buyer's unfilled quantity / f).

    What is left rests in the book and replaces the order's earlier resting quote. Each
    `Order` is one trader here: a company that posts two asks of one resource (what it could
    store and what it would dispose of) keeps both in the book, one quote each.

    Every arrival is reported to `traders.observe` as a shout (`accepted` false) at its quoted
    price, then every trade as an acceptance of the resting quote, at that quote's price and
    side; before the acceptance, traders that have a `left(order, quantity)` method hear how
    much of each of the two orders is left. The book is cleared at the end of the step.

    `rules` selects the order book. "persistent" (the default) is the book above: every
    unfilled order keeps a resting quote until it is filled, replaced or the step ends.
    "gode_sunder" is the book of Gode & Sunder's (1993) markets, the New York Stock Exchange
    rules of Smith's experiments: a new bid is accepted only if it beats the best resting bid
    (a new ask only if it beats the best resting ask), an accepted shout that crosses the other
    side trades once with the best quote there, and every trade clears the book, both sides
    (the incoming order's unfilled rest included; it shouts again on its next arrival). A
    rejected shout is not posted, so no trader hears it. "Best" is by price alone, as on a
    trading floor, while crossing still looks at delivered prices over routes.

    With `Fixed` traders (or `traders=None`) one round is enough: after it every unfilled
    order rests in a book where no two quotes cross, and later rounds would post the same
    prices again, so the session stops there. Only then are routes longer than any pair could
    gain over left out (`market.mechanism.reach_km`), since other traders may re-quote beyond the
    prices posted.
    """

    rounds: int = 10
    name: str = "cda"
    rules: str = "persistent"
    reports_events: ClassVar[bool] = True  # every shout and trade goes to traders.observe

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"ContinuousDoubleAuction.rounds must be at least 1, got {self.rounds}")
        if self.rules not in RULES:
            raise ValueError(f"ContinuousDoubleAuction.rules must be one of {', '.join(RULES)}, got {self.rules!r}")

    def clear(self, orders: Sequence[Order], network: Network, step: int, rng: np.random.Generator,
              traders: Traders | None = None) -> list[Trade]:
        traders = Fixed() if traders is None else traders
        fixed = type(traders) is Fixed
        trades: list[Trade] = []
        for resource, (asks, bids) in sorted(book_by_resource(orders).items()):
            book = _book_for(network, resource, asks, bids, prune=fixed)
            session = _Session(step, resource, asks, bids, book, traders, self.rules == "gode_sunder")
            # Under Gode & Sunder's rules a fixed price can shout again after a trade cleared
            # the book, so the session runs every round.
            trades.extend(session.run(1 if fixed and self.rules == "persistent" else self.rounds, rng))
        return trades


def _book_for(network: Network, resource: str, asks: list[Order], bids: list[Order], prune: bool) -> _Book:
    sellers = np.array([o.owner for o in asks], dtype=np.int64)
    buyers = np.array([o.owner for o in bids], dtype=np.int64)
    if free_routes(network, resource, np.concatenate([sellers, buyers])):
        return _PriceBook(sellers.tolist(), buyers.tolist(), network.positions)
    max_km = np.inf
    if prune:
        max_km = reach_km(network, resource, np.array([o.price for o in asks]), np.array([o.price for o in bids]))
    e = network.edges(resource, sellers, buyers, max_km=max_km)
    return _RouteBook(len(asks), len(bids), e.i, e.j, e.share, e.cost, e.distance)


class _Session:
    """One step of the auction for one resource; its state lives and dies with the step."""

    def __init__(self, step: int, resource: str, asks: list[Order], bids: list[Order], book: _Book,
                 traders: Traders, improve: bool = False):
        self.step = step
        # Gode & Sunder's rules: the best resting price of each side (None: that side is empty).
        self.improve = improve
        self.top: dict[Side, float | None] = {Side.SELL: None, Side.BUY: None}
        self.resource = resource
        self.orders = {Side.SELL: asks, Side.BUY: bids}
        # Unfilled quantity: units shipped for an ask, units delivered for a bid, as in `Order`.
        self.left = {Side.SELL: [o.quantity for o in asks], Side.BUY: [o.quantity for o in bids]}
        self.book = book
        self.traders = traders
        # Traders that keep state per unit want to hear how much of an order is left after a
        # fill (`Traders.left`, optional).
        self.tell = getattr(traders, "left", None)
        self.trades: list[Trade] = []

    def run(self, rounds: int, rng: np.random.Generator) -> list[Trade]:
        seq = 0
        for r in range(rounds):
            active = [(side, x) for side in (Side.SELL, Side.BUY)
                      for x, q in enumerate(self.left[side]) if q > EPS]
            if not any(s is Side.SELL for s, _ in active) or not any(s is Side.BUY for s, _ in active):
                break
            for n in rng.permutation(len(active)):
                side, x = active[n]
                if self.left[side][x] <= EPS:  # filled while resting earlier in this round
                    continue
                order = self.orders[side][x]
                price = order.price if r == 0 else self.traders.requote(
                    replace(order, quantity=self.left[side][x]), rng)
                self.arrive(side, x, price, seq)
                seq += 1
        return self.trades

    def arrive(self, side: Side, x: int, price: float, seq: int) -> None:
        if self.improve:
            self.arrive_improving(side, x, price, seq)
            return
        self.book.withdraw(side, x)
        self.traders.observe(MarketEvent(self.step, self.resource, side, price, False))
        while self.left[side][x] > EPS:
            match = self.book.best(side, x, price)
            if match is None:
                break
            self.fill(side, x, *match)
        if self.left[side][x] > EPS:
            self.book.rest(side, x, price, seq)

    def arrive_improving(self, side: Side, x: int, price: float, seq: int) -> None:
        """Gode & Sunder's (1993) rules: trade once with the best crossing quote and clear the
        book, or rest if the shout beats the best quote of its side, or be rejected."""
        match = self.book.best(side, x, price)
        if match is not None:
            self.book.withdraw(side, x)
            self.traders.observe(MarketEvent(self.step, self.resource, side, price, False))
            self.fill(side, x, *match)
            self.book.clear()
            self.top = {Side.SELL: None, Side.BUY: None}
            return
        top = self.top[side]
        if top is not None and not (price > top if side is Side.BUY else price < top):
            return  # does not improve: rejected, the earlier quotes stand
        self.book.withdraw(side, x)
        self.traders.observe(MarketEvent(self.step, self.resource, side, price, False))
        self.book.rest(side, x, price, seq)
        self.top[side] = price

    def fill(self, side: Side, x: int, y: int, f: float, c: float, km: float) -> None:
        other = _other(side)
        quote = self.book.quote[other][y]
        assert quote is not None
        standing = quote[0]
        a, b = (x, y) if side is Side.SELL else (y, x)
        supply, demand = self.left[Side.SELL][a], self.left[Side.BUY][b]
        if supply * f <= demand:
            shipped = supply
            self.left[Side.SELL][a] = 0.0
            self.left[Side.BUY][b] = max(0.0, demand - shipped * f)
        else:
            shipped = demand / f
            self.left[Side.BUY][b] = 0.0
            self.left[Side.SELL][a] = max(0.0, supply - shipped)
        price = (standing + c) / f if other is Side.SELL else standing
        if self.tell is not None:
            self.tell(self.orders[Side.SELL][a], self.left[Side.SELL][a])
            self.tell(self.orders[Side.BUY][b], self.left[Side.BUY][b])
        self.trades.append(Trade(
            step=self.step,
            seller=self.orders[Side.SELL][a].owner,
            buyer=self.orders[Side.BUY][b].owner,
            resource=self.resource,
            shipped=shipped,
            delivered=shipped * f,
            price=price,
            transport_cost=c * shipped,
            distance_km=km,
        ))
        self.traders.observe(MarketEvent(self.step, self.resource, other, standing, True))
        if self.left[other][y] <= EPS:
            self.book.withdraw(other, y)
