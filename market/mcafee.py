"""McAfee's dominant-strategy double auction with trade reduction (McAfee 1992), for unit
traders in one place and generalised to the park's orders and transport network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from market import transport
from market.mechanism import Traders, book_by_resource, public_range
from market.network import Network, free_routes
from market.orders import Order, Trade

EPS = 1e-9
UNIT = 1.0  # the one unit trade reduction gives up, in the resource's own unit


CONVENTIONS = ("reduce", "bounds")


def mcafee_unit(bids: np.ndarray, asks: np.ndarray, bounds: tuple[float, float] | None = None
                ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """McAfee's (1992) double auction for unit traders in one place.

    Sort bids b1 >= b2 >= ... and asks s1 <= s2 <= ... (ties in the order given); k is the
    last index with b_k >= s_k. If a (k+1)-th bid and ask both exist and p0 = (b_{k+1} +
    s_{k+1}) / 2 lies in [s_k, b_k], the first k buyers and sellers trade at p0. Otherwise only
    the first k-1 trade: buyers pay b_k, sellers receive s_k, and the auctioneer keeps
    (b_k - s_k)(k - 1). Bidding one's value is a dominant strategy for every trader.

    Where the (k+1)-th bid or ask does not exist there are two conventions. With `bounds` None
    trade is reduced (the reading of the JASA-style statement used so far: no candidate price,
    so the first k-1 trade). With `bounds` = (floor, ceiling), the range every value and cost
    is known to lie in, the missing bid is the floor and the missing ask the ceiling, as
    McAfee's paper does (McAfee 1992, "A dominant strategy double auction", J. Economic Theory
    56: the missing bid and ask are the lower bound of the buyers' values and the upper bound
    of the sellers' costs), and p0 is tried as above. Bidding one's value in the range stays
    dominant under both (tests/test_mcafee.py tries every misreport on a grid); the bounds
    trade more in thin markets.

    Returns (indices of the buyers who trade, indices of the sellers who trade, price each
    buyer pays, price each seller receives); the i-th buyer and i-th seller can be paired.
    With no trade the indices are empty and the prices those of the marginal pair, or NaN
    when not even one pair crosses.
    """
    bids = np.asarray(bids, dtype=float)
    asks = np.asarray(asks, dtype=float)
    ob = np.argsort(-bids, kind="stable")
    oa = np.argsort(asks, kind="stable")
    b, s = bids[ob], asks[oa]
    n = min(len(b), len(s))
    # b - s never rises along the sorted lists, so the crossing pairs are a prefix.
    k = int(np.count_nonzero(b[:n] >= s[:n]))
    if k == 0:
        return ob[:0], oa[:0], float("nan"), float("nan")
    p0 = _candidate(b[k] if k < len(b) else None, s[k] if k < len(s) else None, bounds)
    if p0 is not None and s[k - 1] <= p0 <= b[k - 1]:
        return ob[:k], oa[:k], float(p0), float(p0)
    return ob[:k - 1], oa[:k - 1], float(b[k - 1]), float(s[k - 1])


def _candidate(next_bid: float | None, next_ask: float | None, bounds: tuple[float, float] | None) -> float | None:
    """McAfee's candidate price p0 from the first pair that does not trade, or None where a
    side of it is missing and no bounds fill it in (the reducing convention)."""
    if bounds is not None:
        floor, ceiling = bounds
        next_bid = floor if next_bid is None else next_bid
        next_ask = ceiling if next_ask is None else next_ask
    if next_bid is None or next_ask is None:
        return None
    return (float(next_bid) + float(next_ask)) / 2


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What McAfee decides for one market: how much trades and at what prices."""

    quantity: float
    buyer_price: float
    seller_price: float


def _cross(bid: np.ndarray, demand: np.ndarray, ask: np.ndarray, supply: np.ndarray,
           bounds: tuple[float, float] | None = None) -> _Outcome:
    """McAfee on cumulative quantities. `bid` must be sorted high to low and `ask` low to high.

    An order of quantity q stands for q units at its price: the k-th unit of demand is matched
    with the k-th unit of supply, Q is the quantity up to which bids cover asks, b_k and s_k are
    the prices at Q, and b_{k+1}, s_{k+1} those just beyond it. Either all of Q trades at p0, or
    Q less one unit trades at b_k and s_k. With every quantity 1 this is `mcafee_unit`, and
    `bounds` fills in a missing b_{k+1} or s_{k+1} as there.
    """
    i = j = 0
    nb, na = len(bid), len(ask)
    bl = demand[0] if nb else 0.0
    al = supply[0] if na else 0.0
    q = 0.0
    last = None
    while i < nb and j < na and bid[i] >= ask[j]:
        step = min(bl, al)
        q += step
        last = (i, j)
        bl -= step
        al -= step
        if bl <= EPS:
            i += 1
            bl = demand[i] if i < nb else 0.0
        if al <= EPS:
            j += 1
            al = supply[j] if j < na else 0.0
    if last is None:
        return _Outcome(0.0, float("nan"), float("nan"))
    bk, sk = float(bid[last[0]]), float(ask[last[1]])
    # The loop stopped at the first pair that does not cross, or where a side ran out.
    p0 = _candidate(float(bid[i]) if i < nb else None, float(ask[j]) if j < na else None, bounds)
    if p0 is not None and sk <= p0 <= bk:
        return _Outcome(q, p0, p0)
    return _Outcome(max(0.0, q - UNIT), bk, sk)


def _fill(quantity: np.ndarray, total: float) -> np.ndarray:
    """How much of each order (in priority order) is needed to make up `total`."""
    before = np.concatenate([[0.0], np.cumsum(quantity)[:-1]])
    take = np.clip(total - before, 0.0, quantity)
    return np.where(take > EPS, take, 0.0)


def budget(trades: Sequence[Trade]) -> float:
    """The auctioneer's surplus: what buyers pay less what sellers receive (each seller pays
    its journeys out of its receipts, as under every mechanism here). McAfee's is never
    negative; a mechanism that passes every payment on has none."""
    return float(sum(t.payment - t.receipt for t in trades))


@dataclass(frozen=True)
class McAfee:
    """McAfee's (1992) double auction, "A dominant strategy double auction", J. Economic
    Theory 56, per resource of the park.

    Quantities. An order of quantity q is q units at one price, and McAfee runs on cumulative
    quantities (`_cross`): with every quantity 1 it is exactly `mcafee_unit`, and with whole
    quantities it is `mcafee_unit` on the orders split into units. Trade reduction gives up one
    unit of the resource (`UNIT`). Bidding one's value is dominant only for a unit trader: a
    company whose order holds several units can set b_k or s_k with its own price and then pay
    or receive it on its other units, so it may gain by shading (as in any uniform-price
    auction with multi-unit bidders).

    The network. McAfee's traders meet in one place. When every pair of companies trading a
    resource is a route of share 1 and cost 0 (`market.network.free_routes`: a truck or ship
    resource whose traders sit together, or one that travels free), this is McAfee exactly, and
    the winners are paired in priority order. Otherwise:

    1. Each ask a is put in delivered terms over its seller's best route: â = min over its
       routes of (a + c) / f, with capacity q * f on that route. Bids are already delivered
       prices. Orders with no route drop out.
    2. The traders are split into groups connected by routes (a pipeline network may fall
       apart), and McAfee runs in each group on the bids against the delivered asks, giving a
       buyer price P_B and a seller price P_S per unit delivered, and the winners.
    3. The winners are shipped over the routes whose delivered ask the buyer price covers,
       (a + c) / f <= P_B, for the largest declared gain (`market.transport.solve`, with a
       small weight on volume so that McAfee's neutral trades happen too). Every buyer pays
       P_B. A seller receives P_S per unit delivered, or, on a route dearer than P_S, that
       route's delivered ask, so that it nets its ask there.

    Why the lift in step 3: a winner's best route may lead to a buyer with no room left, and a
    seller with several buyers (Asnaes' steam) would otherwise be held to its best route by its
    own marginal ask. Without it, a park whose resources each have one seller would trade at
    most over one route per seller.

    What holds: no buyer pays more than its bid; every seller nets at least its ask per unit
    shipped on every route it uses; the budget is never negative, trade by trade (the seller's
    price never exceeds P_B); and co-located unit traders get McAfee's dominant strategy. What
    does not, on a network with transport differences: a seller shipping over a dearer route
    than its best is paid by its own report there, so a winner that is not marginal can gain by
    asking more; one delivered price per group charges near and far buyers alike; and the
    shipment, not the ranking, decides which winners trade when routes are scarce. The faithful
    generalisation (Babaioff, Nisan & Pavlov 2004, "Mechanisms for a spatially distributed
    market"; Gonen, Gonen & Pavlov 2007, generalized trade reduction) prices each trader at its
    critical value in a reduced min-cost flow; it costs a flow computation per trader and is
    left for later. In a park where a resource has one seller and one buyer, McAfee sets P_B to
    that buyer's bid and P_S to that seller's ask: the trade happens, less one unit, and the
    whole gain goes to the auctioneer (the price of dominant-strategy truthfulness in a thin
    market).

    Missing (k+1)-th pair (`convention`). "reduce" (the default, as before) reduces trade
    whenever Q exhausts the bids or the asks; "bounds" fills in the missing bid with the floor
    and the missing ask with the ceiling of the resource's public price range, as McAfee's
    paper does (`mcafee_unit`). The range is `bounds` when given, else the traders'
    `price_range(resource)` (in the park: minus the disposal price to the park buy value, the
    range every strategy quotes in); delivered asks are compared with it as they are. Either
    way p0 must lie in [s_k, b_k], so no limit is passed and the budget stays >= 0.

    Ties between equal prices go to the order posted first. The mechanism is deterministic and
    ignores `rng`, and of `traders` reads only the price range (sealed bids: nobody re-quotes).
    """

    name: str = "mcafee"
    convention: str = "reduce"
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"McAfee: convention must be one of {', '.join(CONVENTIONS)}, got {self.convention!r}")

    def clear(self, orders: Sequence[Order], network: Network, step: int, rng: np.random.Generator,
              traders: Traders | None = None) -> list[Trade]:
        """Buyers pay each trade's `price`, sellers receive its `seller_price` (per unit
        delivered); `budget(trades)` is the auctioneer's surplus."""
        trades: list[Trade] = []
        for resource, (asks, bids) in sorted(book_by_resource(orders).items()):
            trades.extend(_Market(network, resource, asks, bids, step, self._bounds(resource, traders)).clear())
        return trades

    def _bounds(self, resource: str, traders: Traders | None) -> tuple[float, float] | None:
        if self.convention == "reduce":
            return None
        return public_range(self.bounds, traders, resource,
                            "McAfee(convention='bounds') needs the price range: give `bounds` or traders "
                            "with a price_range(resource) method (agents.traders.ParkTraders)")


class _Market:
    """One resource's orders and the routes between them."""

    def __init__(self, network: Network, resource: str, asks: list[Order], bids: list[Order], step: int,
                 bounds: tuple[float, float] | None = None):
        self.network = network
        self.bounds = bounds
        self.resource = resource
        self.step = step
        self.sellers = np.array([o.owner for o in asks], dtype=np.int64)
        self.buyers = np.array([o.owner for o in bids], dtype=np.int64)
        self.ask = np.array([o.price for o in asks], dtype=float)
        self.bid = np.array([o.price for o in bids], dtype=float)
        self.supply = np.array([o.quantity for o in asks], dtype=float)
        self.demand = np.array([o.quantity for o in bids], dtype=float)

    def clear(self) -> list[Trade]:
        if free_routes(self.network, self.resource, np.concatenate([self.sellers, self.buyers])):
            return self._clear_together()
        return self._clear_over_routes()

    # -- every pair is a free route: McAfee exactly -------------------------------------------

    def _clear_together(self) -> list[Trade]:
        ob = np.argsort(-self.bid, kind="stable")
        oa = np.argsort(self.ask, kind="stable")
        out = _cross(self.bid[ob], self.demand[ob], self.ask[oa], self.supply[oa], self.bounds)
        if out.quantity <= EPS:
            return []
        buy = np.zeros(len(self.bid))
        sell = np.zeros(len(self.ask))
        buy[ob] = _fill(self.demand[ob], out.quantity)
        sell[oa] = _fill(self.supply[oa], out.quantity)
        pairs = _zip(ob[buy[ob] > 0], buy[ob][buy[ob] > 0], oa[sell[oa] > 0], sell[oa][sell[oa] > 0])
        if any(self.sellers[a] == self.buyers[b] for a, b, _ in pairs):
            # A company on both sides must not be paired with itself: ship the winners over
            # the pairs of distinct companies instead.
            grid_i, grid_j = np.meshgrid(np.flatnonzero(sell), np.flatnonzero(buy), indexing="ij")
            i, j = grid_i.ravel(), grid_j.ravel()
            keep = self.sellers[i] != self.buyers[j]
            one = np.ones(int(keep.sum()))
            return self._ship(sell, buy, i[keep], j[keep], one, 0 * one, self._km(i[keep], j[keep]), out,
                              out.seller_price * one)
        km = self._km(np.array([a for a, _, _ in pairs], dtype=np.int64),
                      np.array([b for _, b, _ in pairs], dtype=np.int64))
        return [self._row(a, b, q, 1.0, 0.0, d, out.buyer_price, out.seller_price)
                for (a, b, q), d in zip(pairs, km.tolist())]

    def _km(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        d = self.network.positions[self.sellers[i]] - self.network.positions[self.buyers[j]]
        return np.hypot(d[:, 0], d[:, 1]) if len(d) else np.zeros(0)

    # -- routes differ: McAfee per connected group on delivered prices -------------------------

    def _clear_over_routes(self) -> list[Trade]:
        e = self.network.edges(self.resource, self.sellers, self.buyers)
        if len(e.i) == 0:
            return []
        na, nb = len(self.ask), len(self.bid)
        delivered_ask = (self.ask[e.i] + e.cost) / e.share
        # Each seller's best route: lowest delivered ask, the first such route on ties.
        order = np.lexsort((np.arange(len(e.i)), delivered_ask, e.i))
        first = order[np.concatenate([[True], e.i[order][1:] != e.i[order][:-1]])]
        best_ask = np.full(na, np.inf)
        best_share = np.zeros(na)
        best_ask[e.i[first]] = delivered_ask[first]
        best_share[e.i[first]] = e.share[first]
        graph = coo_matrix((np.ones(len(e.i)), (e.i, na + e.j)), shape=(na + nb, na + nb))
        _, group = connected_components(graph, directed=False)
        rows: list[Trade] = []
        for g in np.unique(group[e.i]):
            a_in = np.flatnonzero((group[:na] == g) & np.isfinite(best_ask))
            b_in = np.flatnonzero(group[na:] == g)
            ob = b_in[np.argsort(-self.bid[b_in], kind="stable")]
            oa = a_in[np.argsort(best_ask[a_in], kind="stable")]
            capacity = self.supply[oa] * best_share[oa]  # units delivered over the best route
            out = _cross(self.bid[ob], self.demand[ob], best_ask[oa], capacity, self.bounds)
            if out.quantity <= EPS:
                continue
            buy = np.zeros(nb)
            sell = np.zeros(na)
            buy[ob] = _fill(self.demand[ob], out.quantity)
            sell[oa] = _fill(capacity, out.quantity) / best_share[oa]  # back to units shipped
            use = (sell[e.i] > 0) & (buy[e.j] > 0) & (delivered_ask <= out.buyer_price)
            n = np.flatnonzero(use)
            rows.extend(self._ship(sell, buy, e.i[n], e.j[n], e.share[n], e.cost[n], e.distance[n], out,
                                   np.maximum(out.seller_price, delivered_ask[n])))
        return rows

    def _ship(self, sell: np.ndarray, buy: np.ndarray, i: np.ndarray, j: np.ndarray, share: np.ndarray,
              cost: np.ndarray, km: np.ndarray, out: _Outcome, seller_price: np.ndarray) -> list[Trade]:
        """Ship the winners' quantities (`sell` in units shipped, `buy` delivered) over the
        routes given, for the largest declared gain plus a little volume; `seller_price` is
        what the seller receives per unit delivered on each route."""
        if len(i) == 0:
            return []
        gain = share * self.bid[j] - self.ask[i] - cost
        # Admissible routes never lose on declared prices; the volume term makes McAfee's
        # neutral trades (bid = ask) happen too, and is too small to trade gain for volume
        # beyond rounding.
        scale = 1.0 + float(np.abs(self.bid).max(initial=0.0)) + float(np.abs(self.ask).max(initial=0.0))
        x = transport.solve(sell, buy, i, j, np.maximum(gain, 0.0) + 1e-6 * scale * share, share)
        return [self._row(int(i[n]), int(j[n]), float(x[n]), float(share[n]), float(cost[n]), float(km[n]),
                          out.buyer_price, float(seller_price[n]))
                for n in np.flatnonzero(x > EPS)]

    def _row(self, a: int, b: int, shipped: float, f: float, c: float, km: float, buyer_price: float,
             seller_price: float) -> Trade:
        return Trade(
            step=self.step,
            seller=int(self.sellers[a]),
            buyer=int(self.buyers[b]),
            resource=self.resource,
            shipped=shipped,
            delivered=shipped * f,
            price=buyer_price,
            transport_cost=c * shipped,
            distance_km=km,
            seller_price=seller_price,
        )


def _zip(bi: np.ndarray, bq: np.ndarray, ai: np.ndarray, aq: np.ndarray) -> list[tuple[int, int, float]]:
    """Pair winning bids and asks in priority order, unit for unit: (ask, bid, quantity)."""
    cb = np.cumsum(bq)
    ca = np.cumsum(aq)
    cuts = np.unique(np.concatenate([[0.0], cb, ca]))
    cuts = cuts[cuts <= min(cb[-1], ca[-1]) + EPS]
    # Rounding in the two cumulative sums can leave slivers between cuts that are one point.
    cuts = cuts[np.concatenate([[True], np.diff(cuts) > EPS])]
    mid = (cuts[:-1] + cuts[1:]) / 2
    b = np.searchsorted(cb, mid)
    a = np.searchsorted(ca, mid)
    q = np.diff(cuts)
    return list(zip(ai[a].tolist(), bi[b].tolist(), q.tolist()))
