"""The continuous double auction: conservation and limits on small books, price-time priority
in scripted transcripts, determinism by seed, and the two order books (by price, by route)
agreeing where both apply."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from market import cda
from market.cda import ContinuousDoubleAuction
from market.network import Network, Pipeline
from market.orders import MarketEvent, Order, Side, Trade
from market.resources import Mode, Resource
from tests.strategies import Book, order_books

TOL = 1e-7
S, B = Side.SELL, Side.BUY


class Passive:
    """Quotes every order at its own price, like `Fixed`, but is not `Fixed`: the auction
    cannot tell it will never move, so it runs every round."""

    def __init__(self) -> None:
        self.events: list[MarketEvent] = []

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        return order.price

    def observe(self, event: MarketEvent) -> None:
        self.events.append(event)


class ZeroIntelligence(Passive):
    """Gode & Sunder's (1993) ZI-C traders: a fresh random quote each round, never past the
    order's own limit (bids in [limit - 20, limit], asks in [limit, limit + 20])."""

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        room = float(rng.uniform(0, 20))
        return order.price - room if order.side is B else order.price + room


def clear(bk: Book, seed: int = 0, traders=None, rounds: int = 10) -> list[Trade]:
    return ContinuousDoubleAuction(rounds=rounds).clear(list(bk.orders), bk.network, step=0,
                                                        rng=np.random.default_rng(seed), traders=traders)


def route(bk: Book, t: Trade) -> tuple[float, float]:
    """(delivered share, transport cost per unit shipped) of the trade's route, from the
    network's own parameters."""
    r = bk.network.resources[bk.resource]
    return max(0.0, 1 - r.loss_per_km * t.distance_km), r.transport_cost * t.distance_km


def check_books_balance(bk: Book, trades: list[Trade]) -> None:
    """Goods and money are conserved per trade and no order trades past its quantity."""
    shipped: dict[Order, float] = {}
    delivered: dict[Order, float] = {}
    for t in trades:
        assert t.seller != t.buyer
        assert t.shipped > 0
        f, c = route(bk, t)
        assert t.delivered == pytest.approx(t.shipped * f)
        assert t.transport_cost == pytest.approx(c * t.shipped)
        # What the buyer pays is what the seller receives; the seller pays the journey.
        assert t.receipt == pytest.approx(t.payment)
        ask = bk.order_of(t.seller, S)
        bid = bk.order_of(t.buyer, B)
        shipped[ask] = shipped.get(ask, 0.0) + t.shipped
        delivered[bid] = delivered.get(bid, 0.0) + t.delivered
    for o, q in shipped.items():
        assert q <= o.quantity + TOL
    for o, q in delivered.items():
        assert q <= o.quantity + TOL


def check_limits(bk: Book, trades: list[Trade]) -> None:
    """No trade beyond the order's declared price: buyers pay at most their bid per unit
    delivered, sellers net at least their ask per unit shipped."""
    for t in trades:
        assert t.price <= bk.order_of(t.buyer, B).price + TOL
        assert (t.receipt - t.transport_cost) / t.shipped >= bk.order_of(t.seller, S).price - TOL


@settings(max_examples=80, deadline=None)
@given(order_books(max_traders=6, loss_per_km=None, both_sides=True), st.integers(0, 2**32 - 1))
def test_trucks_conserve_goods_and_money_within_limits(bk, seed):
    trades = clear(bk, seed)
    check_books_balance(bk, trades)
    check_limits(bk, trades)


@settings(max_examples=60, deadline=None)
@given(order_books(max_traders=6, mode=Mode.PIPELINE, loss_per_km=None), st.integers(0, 2**32 - 1))
def test_pipeline_resources_trade_only_along_pipes(bk, seed):
    length = {}
    for p in bk.network.pipelines:
        length.setdefault((p.a, p.b), set()).add(p.length_km)
        length.setdefault((p.b, p.a), set()).add(p.length_km)
    trades = clear(bk, seed)
    check_books_balance(bk, trades)
    check_limits(bk, trades)
    for t in trades:
        assert t.distance_km in length[(t.seller, t.buyer)]


@st.composite
def unit_markets(draw, colocated: bool | None = None) -> Book:
    """One to five sellers and one to five buyers of one unit each, truthful prices, in one
    place or spread over 10 km with trucks."""
    ns, nb = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    here = draw(st.booleans()) if colocated is None else colocated
    n = ns + nb
    pos = np.zeros((n, 2)) if here else np.array([[draw(st.integers(0, 10)), 0] for _ in range(n)], float)
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=Mode.TRUCK,
                 transport_cost=draw(st.sampled_from([0.0, 0.5, 1.0])), loss_per_km=draw(st.sampled_from([0.0, 0.02])))
    price = st.integers(-10, 30).map(float)
    orders = [Order(c, "r", S, 1.0, draw(price)) for c in range(ns)]
    orders += [Order(ns + c, "r", B, 1.0, draw(price)) for c in range(nb)]
    return Book(Network(pos, {"r": r}), tuple(orders), "r")


@settings(max_examples=80, deadline=None)
@given(unit_markets(), st.integers(0, 2**32 - 1))
def test_truthful_unit_traders_never_lose(bk, seed):
    # Each trader's gain over its own value, summed over its trades, is never negative.
    trades = clear(bk, seed)
    check_books_balance(bk, trades)
    for t in trades:
        buyer_gain = (bk.order_of(t.buyer, B).price - t.price) * t.delivered
        seller_gain = t.receipt - t.transport_cost - bk.order_of(t.seller, S).price * t.shipped
        assert buyer_gain >= -TOL and seller_gain >= -TOL


@settings(max_examples=40, deadline=None)
@given(order_books(max_traders=6, loss_per_km=None, both_sides=True), st.integers(0, 2**32 - 1))
def test_zero_intelligence_traders_never_trade_past_their_limits(bk, seed):
    # Gode & Sunder's budget constraint: ZI-C quotes stay within each order's limit, and the
    # auction only trades at a standing quote, so no trade loses on declared limits.
    zi = ZeroIntelligence()
    trades = clear(bk, seed, zi)
    check_books_balance(bk, trades)
    check_limits(bk, trades)
    assert sum(e.accepted for e in zi.events) == len(trades)


@settings(max_examples=40, deadline=None)
@given(order_books(max_traders=6, loss_per_km=None, both_sides=True), st.integers(0, 2**32 - 1))
def test_fixed_traders_need_one_round(bk, seed):
    # After one round no two resting quotes cross; re-posting the same prices cannot trade.
    assert clear(bk, seed) == clear(bk, seed, Passive())


@settings(max_examples=30, deadline=None)
@given(order_books(max_traders=6, loss_per_km=None, both_sides=True), st.integers(0, 2**32 - 1))
def test_same_seed_same_trades(bk, seed):
    assert clear(bk, seed, ZeroIntelligence()) == clear(bk, seed, ZeroIntelligence())


def test_another_seed_another_outcome():
    # One ask and two bids: who arrives first decides who trades and at which price.
    bk = Book(Network(np.zeros((3, 2)), {"r": Resource("r", "t", 0.0, 0.0)}),
              (Order(0, "r", S, 1, 2.0), Order(1, "r", B, 1, 5.0), Order(2, "r", B, 1, 8.0)), "r")
    outcomes = {tuple((t.buyer, t.price) for t in clear(bk, seed)) for seed in range(20)}
    assert len(outcomes) > 1


def test_every_arrival_is_a_shout_and_every_trade_an_acceptance():
    zi = ZeroIntelligence()
    bk = Book(Network(np.zeros((4, 2)), {"r": Resource("r", "t", 0.0, 0.0)}),
              (Order(0, "r", S, 2, 2.0), Order(1, "r", S, 1, 4.0), Order(2, "r", B, 1, 9.0),
               Order(3, "r", B, 3, 7.0)), "r")
    trades = clear(bk, 3, zi, rounds=4)
    shouts = [e for e in zi.events if not e.accepted]
    accepted = [e for e in zi.events if e.accepted]
    assert len(accepted) == len(trades) > 0
    assert len(shouts) >= len(bk.orders)
    assert all(e.step == 0 and e.resource == "r" for e in zi.events)


# -- transcripts -------------------------------------------------------------------------------


class Script:
    """Stands in for the generator: arrivals in a scripted order. Indices count the orders
    still unfilled at the start of the round, asks first, then bids, in posting order."""

    def __init__(self, *rounds: list[int]):
        self.rounds = list(rounds)

    def permutation(self, n: int) -> np.ndarray:
        order = self.rounds.pop(0)
        assert sorted(order) == list(range(n)), (order, n)
        return np.array(order)


def transcript(orders: list[Order], network: Network, script: Script, traders=None) -> list[str]:
    """Events and trades as lines to read: a shout, or a resting quote taken and the trade."""
    log = Passive() if traders is None else traders
    trades = iter(ContinuousDoubleAuction(rounds=1).clear(orders, network, 0, script, log))
    lines = []
    for e in log.events:
        if not e.accepted:
            lines.append(f"{e.side.value} {e.price:g}")
        else:
            t = next(trades)
            lines.append(f"  takes {e.side.value} {e.price:g}: {t.seller} -> {t.buyer} "
                         f"{t.shipped:g} shipped, {t.price:g} a unit delivered")
    return lines


def test_transcript_price_then_time_priority():
    # All in one place. Asks: company 0 two units at 5, company 1 one at 4, company 2 one at 4;
    # bids: company 3 one at 3, company 4 three at 6. Arrivals: 0, 1, 3, 2, 4.
    r = Resource("r", "t", 0.0, 0.0)
    net = Network(np.zeros((5, 2)), {"r": r})
    orders = [Order(0, "r", S, 2, 5.0), Order(1, "r", S, 1, 4.0), Order(2, "r", S, 1, 4.0),
              Order(3, "r", B, 1, 3.0), Order(4, "r", B, 3, 6.0)]
    assert transcript(orders, net, Script([0, 1, 3, 2, 4])) == [
        "sell 5",  # book: asks 5
        "sell 4",  # book: asks 4, 5
        "buy 3",  # below the best ask: rests. book: bids 3 | asks 4, 5
        "sell 4",  # above the best bid: rests behind company 1's 4. book: bids 3 | asks 4, 4, 5
        "buy 6",  # takes the asks from the lowest, and among the 4s the earlier
        "  takes sell 4: 1 -> 4 1 shipped, 4 a unit delivered",
        "  takes sell 4: 2 -> 4 1 shipped, 4 a unit delivered",
        "  takes sell 5: 0 -> 4 1 shipped, 5 a unit delivered",
    ]  # left: bids 3 | asks 5 (one unit of company 0)


def test_transcript_an_ask_takes_the_bid_with_the_best_net_over_the_route():
    # Seller 0 at km 0. Buyer 1 at km 1 bids 10, buyer 2 at km 4 bids 11; trucks cost 1 a unit
    # and km. Buyer 2's higher bid nets the seller 11 - 4 = 7, buyer 1's 10 - 1 = 9: the ask
    # goes to buyer 1 at buyer 1's standing bid, and the seller pays the truck.
    r = Resource("r", "t", 0.0, 0.0, transport=Mode.TRUCK, transport_cost=1.0)
    net = Network(np.array([[0, 0], [1, 0], [4, 0]], float), {"r": r})
    orders = [Order(0, "r", S, 1, 6.0), Order(1, "r", B, 1, 10.0), Order(2, "r", B, 1, 11.0)]
    assert transcript(orders, net, Script([2, 1, 0])) == [
        "buy 11",
        "buy 10",
        "sell 6",
        "  takes buy 10: 0 -> 1 1 shipped, 10 a unit delivered",
    ]


def test_transcript_a_bid_takes_the_lowest_delivered_cost():
    # Buyer 0 at km 0 bids 12 for 0.49 units. Seller 1 at km 5 asks 2, seller 2 at km 1 asks
    # 4; trucks cost 1 a unit and km and lose 2% a km. Delivered costs: (2 + 5) / 0.90 = 7.78
    # and (4 + 1) / 0.98 = 5.10: the bid takes seller 2's cheaper delivered ask although its
    # ask is higher, pays 5.10 a unit delivered, and seller 2 nets exactly its 4 after the
    # truck; 0.5 units leave for 0.49 to arrive.
    r = Resource("r", "t", 0.0, 0.0, transport=Mode.TRUCK, transport_cost=1.0, loss_per_km=0.02)
    net = Network(np.array([[0, 0], [5, 0], [1, 0]], float), {"r": r})
    orders = [Order(1, "r", S, 1, 2.0), Order(2, "r", S, 1, 4.0), Order(0, "r", B, 0.49, 12.0)]
    trades = ContinuousDoubleAuction(rounds=1).clear(orders, net, 0, Script([0, 1, 2]))
    [t] = trades
    assert (t.seller, t.buyer) == (2, 0)
    assert t.delivered == pytest.approx(0.49) and t.shipped == pytest.approx(0.5)
    assert t.price == pytest.approx(5 / 0.98)
    assert (t.receipt - t.transport_cost) / t.shipped == pytest.approx(4.0)


def test_transcript_requotes_in_later_rounds():
    # Round 0 shouts the posted prices and nothing crosses; in round 1 the traders re-quote
    # (the seller comes down to 5, the buyer up to 5) and the later arrival takes the earlier.
    class Concede(Passive):
        def requote(self, order, rng):
            return 5.0

    r = Resource("r", "t", 0.0, 0.0)
    net = Network(np.zeros((2, 2)), {"r": r})
    orders = [Order(0, "r", S, 1, 7.0), Order(1, "r", B, 1, 3.0)]
    log = Concede()
    trades = ContinuousDoubleAuction(rounds=3).clear(orders, net, 0, Script([0, 1], [1, 0]), log)
    assert [(e.side.value, e.price, e.accepted) for e in log.events] == [
        ("sell", 7.0, False), ("buy", 3.0, False),  # round 0: posted prices, no cross
        ("buy", 5.0, False),  # round 1: the buyer re-quotes first and replaces its bid
        ("sell", 5.0, False), ("buy", 5.0, True),  # the seller's 5 takes the standing bid
    ]
    assert [(t.seller, t.buyer, t.price) for t in trades] == [(0, 1, 5.0)]


# -- the two books agree -----------------------------------------------------------------------


def zero_length_pipes(bk: Book) -> Book:
    """The same orders with the resource moved by pipes of length 0 between every two
    companies: every pair trades at share 1 and cost 0, as when all sit in one place, but the
    auction has to use the route book."""
    r = bk.network.resources["r"]
    pipe = Resource("r", "t", r.virgin_price, r.disposal_cost, transport=Mode.PIPELINE)
    n = len(bk.network.positions)
    pipes = tuple(Pipeline(a, b, "r", 0.0) for a in range(n) for b in range(a + 1, n))
    return Book(Network(bk.network.positions, {"r": pipe}, pipes), bk.orders, "r")


def colocated(bk: Book) -> Book:
    return Book(Network(np.zeros_like(bk.network.positions), bk.network.resources), bk.orders, "r")


@settings(max_examples=40, deadline=None)
@given(order_books(max_traders=6, both_sides=True), st.integers(0, 2**32 - 1))
@example(Book(Network(np.zeros((3, 2)), {"r": Resource("r", "t", 0.0, 0.0)}),
              (Order(0, "r", S, 2, 1.0), Order(0, "r", B, 2, 9.0), Order(1, "r", B, 1, 5.0),
               Order(2, "r", S, 1, 3.0)), "r"), 0)
def test_price_book_and_route_book_agree(bk, seed):
    together = colocated(bk)
    assert clear(together, seed, ZeroIntelligence()) == clear(zero_length_pipes(together), seed, ZeroIntelligence())


@settings(max_examples=40, deadline=None)
@given(order_books(max_traders=6, loss_per_km=None, both_sides=True), st.integers(0, 2**32 - 1))
def test_list_scan_and_array_scan_agree(bk, seed):
    lists = clear(bk, seed, ZeroIntelligence())
    saved = cda._RouteBook.DENSE
    cda._RouteBook.DENSE = -1  # every order scanned with numpy
    try:
        arrays = clear(bk, seed, ZeroIntelligence())
    finally:
        cda._RouteBook.DENSE = saved
    assert arrays == lists


def test_rounds_must_be_positive():
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        ContinuousDoubleAuction(rounds=0)


def naive_cda(bk: Book, seed: int, traders, rounds: int) -> list[tuple]:
    """A brute-force reading of the documented rules: every arrival scans every resting quote
    on the other side for the best one over its route. Slow and plain, to check the books."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    orders = {S: [o for o in bk.orders if o.side is S and o.quantity > 0],
              B: [o for o in bk.orders if o.side is B and o.quantity > 0]}
    if not orders[S] or not orders[B]:
        return []
    sellers = np.array([o.owner for o in orders[S]])
    buyers = np.array([o.owner for o in orders[B]])
    e = bk.network.edges(bk.resource, sellers, buyers)
    route = {(int(i), int(j)): (float(f), float(c)) for i, j, f, c in zip(e.i, e.j, e.share, e.cost)}
    left = {S: [o.quantity for o in orders[S]], B: [o.quantity for o in orders[B]]}
    resting: dict = {}
    out, seq = [], 0
    for r in range(rounds):
        active = [(side, x) for side in (S, B) for x, q in enumerate(left[side]) if q > 1e-9]
        if not any(s is S for s, _ in active) or not any(s is B for s, _ in active):
            break
        for n in rng.permutation(len(active)):
            side, x = active[n]
            if left[side][x] <= 1e-9:
                continue
            o = orders[side][x]
            price = o.price if r == 0 else traders.requote(replace(o, quantity=left[side][x]), rng)
            resting.pop((side, x), None)
            while left[side][x] > 1e-9:
                best = None
                for (oside, y), (p, sq) in resting.items():
                    if oside is side:
                        continue
                    a, b = (x, y) if side is S else (y, x)
                    if (a, b) not in route:
                        continue
                    f, c = route[(a, b)]
                    if side is B:
                        key, ok = (p + c) / f, (p + c) / f <= price
                    else:
                        key, ok = -(f * p - c), f * p - c >= price
                    if ok and (best is None or (key, sq) < best[0]):
                        best = ((key, sq), y, p, f, c)
                if best is None:
                    break
                _, y, p, f, c = best
                a, b = (x, y) if side is S else (y, x)
                shipped = min(left[S][a], left[B][b] / f)
                left[S][a] -= shipped
                left[B][b] -= shipped * f
                pay = (p + c) / f if side is B else p
                out.append((orders[S][a].owner, orders[B][b].owner, shipped, pay))
                if left[S if side is B else B][y] <= 1e-9:
                    resting.pop((S if side is B else B, y))
            if left[side][x] > 1e-9:
                resting[(side, x)] = (price, seq)
            seq += 1
    return out


@settings(max_examples=80, deadline=None)
@given(order_books(max_traders=5, loss_per_km=None), st.integers(0, 2**32 - 1))
def test_the_auction_matches_a_brute_force_reading_of_its_rules(bk, seed):
    for traders, rounds in ((Passive(), 3), (ZeroIntelligence(), 4)):
        got = [(t.seller, t.buyer, t.shipped, t.price) for t in clear(bk, seed, traders, rounds)]
        want = naive_cda(bk, seed, traders, rounds)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g[:2] == w[:2]
            assert g[2:] == pytest.approx(w[2:], rel=1e-9, abs=1e-9)


# -- Gode & Sunder's rules ---------------------------------------------------------------------


def gs_transcript(orders: list[Order], script: Script, rules: str) -> list[str]:
    """`transcript` in one place, under the given order book rules."""
    r = Resource("r", "t", 0.0, 0.0)
    log = Passive()
    auction = ContinuousDoubleAuction(rounds=1, rules=rules)
    trades = iter(auction.clear(orders, Network(np.zeros((6, 2)), {"r": r}), 0, script, log))
    lines = []
    for e in log.events:
        if not e.accepted:
            lines.append(f"{e.side.value} {e.price:g}")
        else:
            t = next(trades)
            lines.append(f"  takes {e.side.value} {e.price:g}: {t.seller} -> {t.buyer}")
    return lines


# Asks: company 0 at 9, company 4 at 4, company 5 at 3; bids: company 1 at 5, company 2 at 4,
# company 3 at 6. Arrivals: 0 (ask 9), 1 (bid 5), 2 (bid 4), 3 (bid 6), 4 (ask 4), 5 (ask 3).
GS_ORDERS = [Order(0, "r", S, 1, 9.0), Order(4, "r", S, 1, 4.0), Order(5, "r", S, 1, 3.0),
             Order(1, "r", B, 1, 5.0), Order(2, "r", B, 1, 4.0), Order(3, "r", B, 1, 6.0)]
GS_ARRIVALS = [0, 3, 4, 5, 1, 2]


def test_gode_sunder_rules_reject_a_bid_that_does_not_improve_and_clear_the_book_after_a_trade():
    assert gs_transcript(GS_ORDERS, Script(GS_ARRIVALS), "gode_sunder") == [
        "sell 9",
        "buy 5",
        # company 2's bid of 4 does not beat the best bid, 5: rejected, never shown
        "buy 6",  # beats 5: the best bid now
        "sell 4",  # crosses the best bid
        "  takes buy 6: 4 -> 3",
        # the trade cleared the book: the bid of 5 and the ask of 9 are gone
        "sell 3",  # nothing to cross: the book is empty, so it rests
    ]


def test_the_persistent_book_keeps_every_quote():
    assert gs_transcript(GS_ORDERS, Script(GS_ARRIVALS), "persistent") == [
        "sell 9", "buy 5", "buy 4", "buy 6",
        "sell 4", "  takes buy 6: 4 -> 3",
        "sell 3", "  takes buy 5: 5 -> 1",  # the bid of 5 still rests
    ]


def test_gode_sunder_rules_an_ask_must_beat_the_best_ask():
    orders = [Order(0, "r", S, 1, 8.0), Order(1, "r", S, 1, 9.0), Order(2, "r", S, 1, 7.0),
              Order(3, "r", B, 1, 7.5)]
    assert gs_transcript(orders, Script([0, 1, 2, 3]), "gode_sunder") == [
        "sell 8",
        # 9 does not beat 8: rejected
        "sell 7",
        "buy 7.5", "  takes sell 7: 2 -> 3",
    ]


@settings(max_examples=60, deadline=None)
@given(order_books(max_traders=6, loss_per_km=None, both_sides=True), st.integers(0, 2**32 - 1))
def test_gode_sunder_rules_conserve_goods_and_money_within_limits(bk, seed):
    for traders in (None, ZeroIntelligence()):
        trades = ContinuousDoubleAuction(rules="gode_sunder").clear(
            list(bk.orders), bk.network, step=0, rng=np.random.default_rng(seed), traders=traders)
        check_books_balance(bk, trades)
        if traders is None:
            check_limits(bk, trades)


def test_unknown_rules_are_an_error():
    with pytest.raises(ValueError, match="rules"):
        ContinuousDoubleAuction(rules="nyse")
