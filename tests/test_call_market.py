"""The call market on small order books, checked against exhaustive enumeration.

Books come from `tests.strategies.order_books`: up to five companies, each with one order of a
resource for 1-3 whole units. On lossless routes the best whole-unit plan is the best plan of
all, so enumerating every whole-unit shipment plan over every feasible route is an exact oracle
for the declared gain the market should reach (the NegMAS habit of checking a fast algorithm
against a brute-force one).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from market.call import CallMarket
from market.mechanism import book_by_resource
from market.network import Network, Pipeline, free_routes
from market.orders import Order, Side, Trade
from market.resources import Mode, Resource
from tests.strategies import Book, order_books

TOL = 1e-7


def clear(book: Book, k: float = 0.5) -> list[Trade]:
    return CallMarket(k=k).clear(list(book.orders), book.network, step=0, rng=np.random.default_rng(0))


def routes(book: Book) -> list[tuple[Order, Order, float]]:
    """Every (ask, bid, distance) that may trade, found here from the positions and pipes."""
    r = book.network.resources[book.resource]
    pos = book.network.positions
    pipes = {}
    for p in book.network.pipelines:
        pipes[(p.a, p.b)] = pipes[(p.b, p.a)] = p.length_km
    out = []
    for a in book.orders:
        for b in book.orders:
            if a.side is not Side.SELL or b.side is not Side.BUY or a.owner == b.owner:
                continue
            if r.transport is Mode.PIPELINE:
                if (a.owner, b.owner) not in pipes:
                    continue
                d = pipes[(a.owner, b.owner)]
            else:
                d = math.dist(pos[a.owner], pos[b.owner])
            out.append((a, b, d))
    return out


def brute_force_gain(book: Book) -> float:
    """Best declared gain over every whole-unit shipment plan (lossless routes only)."""
    r = book.network.resources[book.resource]
    assert r.loss_per_km == 0
    edges = [(a, b, b.price - a.price - r.transport_cost * d) for a, b, d in routes(book)]
    edges = [e for e in edges if e[2] > 0]  # a losing route is never part of an optimum
    if not edges:
        return 0.0
    plans = np.array(list(itertools.product(*[range(int(min(a.quantity, b.quantity)) + 1)
                                              for a, b, _ in edges])), dtype=float)
    ok = np.ones(len(plans), bool)
    for o in book.orders:  # no order ships or receives more than its quantity
        ok &= plans[:, [n for n, e in enumerate(edges) if o in (e[0], e[1])]].sum(axis=1) <= o.quantity
    return float((plans[ok] @ np.array([g for _, _, g in edges])).max())


def declared_gain(book: Book, t: Trade) -> float:
    ask = book.order_of(t.seller, Side.SELL)
    bid = book.order_of(t.buyer, Side.BUY)
    return bid.price * t.delivered - ask.price * t.shipped - t.transport_cost


def surpluses(book: Book, t: Trade) -> tuple[float, float]:
    """(buyer's, seller's) gain over their declared limits."""
    ask = book.order_of(t.seller, Side.SELL)
    bid = book.order_of(t.buyer, Side.BUY)
    return (bid.price - t.price) * t.delivered, t.payment - t.transport_cost - ask.price * t.shipped


def book(positions, orders, transport_cost=1.0, loss=0.0, mode=Mode.TRUCK, pipes=()) -> Book:
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=mode,
                 transport_cost=transport_cost, loss_per_km=loss)
    net = Network(np.array(positions, float), {"r": r}, tuple(Pipeline(a, b, "r", d) for a, b, d in pipes))
    return Book(net, tuple(Order(c, "r", side, q, p) for c, side, q, p in orders), "r")


S, B = Side.SELL, Side.BUY


@settings(max_examples=80, deadline=None)
@given(order_books(max_traders=5))
# Taking the best pair first (0->2 gains 8, then 1->3 gains 3) is not optimal: crossing over
# (0->3 gains 6, 1->2 gains 7) is.
@example(book([[0, 0], [3, 0], [2, 0], [1, 0]], [(0, S, 1, 0), (1, S, 1, 2), (2, B, 1, 10), (3, B, 1, 7)]))
def test_total_declared_gain_is_the_brute_force_optimum(bk):
    trades = clear(bk)
    got = sum(declared_gain(bk, t) for t in trades)
    best = brute_force_gain(bk)
    assert got == pytest.approx(best, rel=TOL, abs=TOL)


@settings(max_examples=60, deadline=None)
@given(order_books(max_traders=5, mode=Mode.PIPELINE))
def test_pipeline_gain_is_the_brute_force_optimum(bk):
    got = sum(declared_gain(bk, t) for t in clear(bk))
    assert got == pytest.approx(brute_force_gain(bk), rel=TOL, abs=TOL)


@settings(max_examples=80, deadline=None)
@given(order_books(max_traders=5, loss_per_km=None, both_sides=True), st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_no_trade_beyond_a_declared_limit(bk, k):
    for t in clear(bk, k):
        ask = bk.order_of(t.seller, Side.SELL)
        bid = bk.order_of(t.buyer, Side.BUY)
        assert t.shipped > 0
        assert t.price <= bid.price + TOL
        assert (t.payment - t.transport_cost) / t.shipped >= ask.price - TOL
        assert t.shipped <= ask.quantity + TOL
        assert t.delivered <= bid.quantity + TOL


@settings(max_examples=60, deadline=None)
@given(order_books(max_traders=5, loss_per_km=None), st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0]))
def test_k_sets_the_sellers_share_of_each_pairs_gain(bk, k):
    for t in clear(bk, k):
        buyer, seller = surpluses(bk, t)
        g = declared_gain(bk, t)
        assert seller == pytest.approx(k * g, rel=1e-9, abs=1e-9)
        assert buyer == pytest.approx((1 - k) * g, rel=1e-9, abs=1e-9)
        if k == 0.5:
            assert buyer == pytest.approx(seller, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(order_books(max_traders=5, mode=Mode.PIPELINE, loss_per_km=None))
def test_pipeline_resources_trade_only_along_pipelines(bk):
    length = {}
    for p in bk.network.pipelines:
        length[(p.a, p.b)] = length[(p.b, p.a)] = p.length_km
    r = bk.network.resources["r"]
    for t in clear(bk):
        assert (t.seller, t.buyer) in length
        assert t.distance_km == length[(t.seller, t.buyer)]
        assert t.transport_cost == pytest.approx(r.transport_cost * length[(t.seller, t.buyer)] * t.shipped)
        assert t.delivered == pytest.approx(t.shipped * (1 - r.loss_per_km * t.distance_km))


@pytest.mark.parametrize("mode", [Mode.TRUCK, Mode.PIPELINE])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_company_never_trades_with_itself(mode, data):
    bk = data.draw(order_books(max_traders=5, both_sides=True, loss_per_km=None, mode=mode))
    assert all(t.seller != t.buyer for t in clear(bk))


def test_a_company_on_both_sides_is_not_matched_with_itself():
    # Company 0 asks -50 and bids +50 for the same resource in the same spot: matched with
    # itself the gain would be 100 a unit; it must trade with the others instead.
    bk = book([[0, 0], [5, 0]], [(0, S, 2, -50), (0, B, 2, 50), (1, S, 1, 0), (1, B, 1, 0)])
    trades = clear(bk)
    assert {(t.seller, t.buyer) for t in trades} == {(0, 1), (1, 0)}


def test_waste_given_away_trades_at_a_negative_price():
    # The seller pays up to 20 a unit to be rid of a waste (ask -20); the buyer values it at 0.
    # One km at 1 EUR a unit: the pair gains 19 a unit, split equally, so the seller pays the
    # buyer 9.5 a unit and 1 a unit for the truck: 10.5 in all, short of the 20 disposal.
    bk = book([[0, 0], [1, 0]], [(0, S, 10, -20.0), (1, B, 5, 0.0)], transport_cost=1.0)
    [t] = clear(bk)
    assert (t.seller, t.buyer, t.shipped, t.delivered) == (0, 1, 5, 5)
    assert t.price == pytest.approx(-9.5)
    assert t.payment == pytest.approx(-47.5)
    assert t.transport_cost == pytest.approx(5.0)
    assert surpluses(bk, t) == (pytest.approx(47.5), pytest.approx(47.5))


@settings(max_examples=40, deadline=None)
@given(order_books(max_traders=5, ask_prices=st.integers(-40, -5).map(float),
                   bid_prices=st.integers(-5, 2).map(float)))
def test_negative_prices_still_respect_limits(bk):
    for t in clear(bk):
        ask = bk.order_of(t.seller, Side.SELL)
        bid = bk.order_of(t.buyer, Side.BUY)
        assert t.price <= bid.price + TOL
        assert (t.payment - t.transport_cost) / t.shipped >= ask.price - TOL


def test_transcript_two_sellers_three_buyers():
    # A short log of play to read: sellers 0 and 1 (asks 0), buyers 2, 3, 4 (bids 10, 9, 1),
    # all on a line 1 km apart, 0.5 EUR a unit and km. Both sellers' 4 units go to buyers 2 and
    # 3; buyer 4's low bid is left out. Each pair's price splits its gain equally.
    bk = book([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]],
              [(0, S, 2, 0), (1, S, 2, 0), (2, B, 2, 10), (3, B, 2, 9), (4, B, 2, 1)], transport_cost=0.5)
    trades = clear(bk)
    assert sum(t.shipped for t in trades) == pytest.approx(4)
    assert {t.buyer for t in trades} == {2, 3}
    for t in trades:
        bid = bk.order_of(t.buyer, Side.BUY).price
        per_unit_gain = bid - 0.5 * t.distance_km
        assert t.price == pytest.approx(bid - per_unit_gain / 2)
    # Every plan that fills buyers 2 and 3 moves 8 unit-km (sellers at 0 and 1, buyers at 2
    # and 3, two units each): gain 2*10 + 2*9 - 8*0.5.
    assert sum(declared_gain(bk, t) for t in trades) == pytest.approx(38 - 4)


@pytest.mark.parametrize("mode", [Mode.TRUCK, Mode.PIPELINE])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_small_books_walked_in_lists_trade_as_the_array_path(mode, data):
    """Most books of a small park are cleared in Python lists (`CallMarket._clear_small`): the
    same trades, bit for bit, as the array path, with losses, pipes and who-knows-whom, also
    after `known` changes in place between two steps (the routes are kept between calls)."""
    bk = data.draw(order_books(max_traders=5, both_sides=True, loss_per_km=None, mode=mode))
    n = len(bk.network.positions)
    known = np.array(data.draw(st.lists(st.booleans(), min_size=n * n, max_size=n * n))).reshape(n, n)
    book = book_by_resource(bk.orders).get("r")
    if book is None:
        return
    k = data.draw(st.sampled_from([0.0, 0.5, 1.0]))
    market = CallMarket(k=k)
    for network in (dataclasses.replace(bk.network, known=known), bk.network):
        for flip in (False, True):
            if flip and network.known is not None:
                network.known[...] = ~network.known  # changed in place, as the model does as companies meet
            small = market._clear_small("r", *book, network, 3)
            assert free_routes(network, "r", [o.owner for o in bk.orders]) == \
                free_routes(network, "r", np.array([o.owner for o in bk.orders]))
            if small is not None:
                assert small == market._clear_arrays("r", *book, network, 3)
                lists = network.route_lists("r", [o.owner for o in book[0]], [o.owner for o in book[1]])
                e = network.edges("r", np.array([o.owner for o in book[0]]), np.array([o.owner for o in book[1]]))
                assert lists == (e.i.tolist(), e.j.tolist(), e.distance.tolist(), e.share.tolist(), e.cost.tolist())


def test_routes_within_a_reach_are_kept_per_book_and_reach(monkeypatch):
    """The k-d tree's routes of a dense book (`Network._all_edges`) are kept with the reach they
    were found within: the same reach gives the same routes, in the same order, as a network that
    never saw the book; another reach finds them again and replaces the kept set (one per book)."""
    monkeypatch.setattr(Network, "DENSE_PAIRS", 4)
    rng = np.random.default_rng(5)
    r = Resource("r", "t", 0.0, 1.0, Mode.TRUCK, loss_per_km=0.01)
    positions = rng.uniform(0, 20, (12, 2))
    network = Network(positions, {"r": r})
    sellers, buyers = np.arange(0, 6), np.arange(4, 12)
    for max_km in (5.0, 5.0, 9.0, 5.0, np.inf):
        got = network.edges("r", sellers, buyers, max_km)
        fresh = Network(positions, {"r": r}).edges("r", sellers, buyers, max_km)
        for a, b in zip(dataclasses.astuple(got), dataclasses.astuple(fresh)):
            assert a.tobytes() == b.tobytes() and a.dtype == b.dtype
        assert np.isinf(max_km) or got.distance.max() <= max_km
    kept = [k for k in network._routes if k not in ("of", "keep", "bytes")]
    assert len(kept) == 2  # the book's last set within a reach, and its every route (max_km inf)
    assert network._routes["bytes"] == sum(
        sum(a.nbytes for a in dataclasses.astuple(v[1] if k[0] == "near" else v)) + len(k[-3]) + len(k[-1])
        for k, v in ((k, network._routes[k]) for k in kept))


@pytest.mark.parametrize("mode", [Mode.TRUCK, Mode.PIPELINE])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_gaining_routes_are_every_route_that_gains_in_order(mode, data):
    """`mechanism.Book.routes(gaining=True)`, the call market's routes: every route whose gain
    passes `transport.EPS`, in the order of all routes, with the same gains bit for bit."""
    from market import transport
    from market.mechanism import Book as Columns

    bk = data.draw(order_books(max_traders=8, both_sides=True, loss_per_km=None, mode=mode,
                               ask_prices=st.floats(-50, 50), bid_prices=st.floats(-20, 60)))
    book = book_by_resource(bk.orders).get("r")
    if book is None:
        return
    columns = Columns.of("r", *book)
    e, gain = columns.routes(bk.network)
    few, few_gain = columns.routes(bk.network, gaining=True)
    rows = list(zip(e.i.tolist(), e.j.tolist(), e.distance.tolist(), gain.tolist()))
    kept = list(zip(few.i.tolist(), few.j.tolist(), few.distance.tolist(), few_gain.tolist()))
    assert [r for r in rows if r[3] > transport.EPS] == [r for r in kept if r[3] > transport.EPS]
    assert set(kept) <= set(rows) and sorted(kept, key=rows.index) == kept
