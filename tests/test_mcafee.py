"""McAfee's double auction: the unit case against brute force and its dominant strategy, the
park mechanism against the unit case, and its budget and limits over the transport network.

The oracle finds k, the number of trades the market can support at one price, by trying every
set of buyers and sellers of equal size; McAfee's rule is then applied to it as
the paper states it. Truthfulness is checked the direct way: every trader tries a grid of
misreports against the others' true values and never does better than with its value.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from market.mcafee import McAfee, budget, mcafee_unit
from market.network import Network, Pipeline
from market.orders import Order, Side, Trade
from market.resources import Mode, Resource
from tests.strategies import Book, order_books

TOL = 1e-7
S, B = Side.SELL, Side.BUY


def prices(min_size: int = 0, unique: bool = False) -> st.SearchStrategy[list[float]]:
    return st.lists(st.integers(-10, 30).map(float), min_size=min_size, max_size=5, unique=unique)


def brute_force_k(bids: list[float], asks: list[float]) -> int:
    """The most pairs that can trade at one price: m buyers and m sellers with every chosen bid
    at least every chosen ask. (Pairing alone is not enough: bids 10, 8, 6 can each be paired
    with one of the asks 7, 3, 2, but no price clears all three pairs.)"""
    for m in range(min(len(bids), len(asks)), 0, -1):
        for bs in itertools.combinations(bids, m):
            for ss in itertools.combinations(asks, m):
                if min(bs) >= max(ss):
                    return m
    return 0


def oracle(bids: list[float], asks: list[float]) -> tuple[list[float], list[float], float, float]:
    """(values of the buyers who trade, of the sellers who trade, buyer price, seller price)."""
    k = brute_force_k(bids, asks)
    b = sorted(bids, reverse=True)
    s = sorted(asks)
    if k == 0:
        return [], [], np.nan, np.nan
    if k < len(b) and k < len(s):
        p0 = (b[k] + s[k]) / 2
        if s[k - 1] <= p0 <= b[k - 1]:
            return b[:k], s[:k], p0, p0
    return b[:k - 1], s[:k - 1], b[k - 1], s[k - 1]


@settings(max_examples=150, deadline=None)
@given(prices(), prices())
# k = 2 and p0 = (6 + 7) / 2 lies in [3, 8]: both pairs trade at 6.5.
@example([10.0, 8.0, 6.0], [2.0, 3.0, 7.0])
# p0 = (5 + 9) / 2 = 7 is above b_k = 6: one pair trades, buyers pay 6, sellers get 5.5.
@example([10.0, 6.0, 5.0], [2.0, 5.5, 9.0])
# No (k+1)-th ask: trade reduction.
@example([10.0, 8.0], [1.0, 2.0])
def test_unit_auction_is_mcafees_rule_on_the_brute_force_k(bids, asks):
    bi, si, pb, ps = mcafee_unit(np.array(bids), np.array(asks))
    wb, ws, ob, os_ = oracle(bids, asks)
    assert sorted(np.array(bids)[bi].tolist()) == sorted(wb)
    assert sorted(np.array(asks)[si].tolist()) == sorted(ws)
    assert len(bi) == len(si)
    if wb:
        assert (pb, ps) == (ob, os_)


@settings(max_examples=100, deadline=None)
@given(prices(unique=True), prices(unique=True))
def test_unit_auction_picks_the_highest_bids_and_lowest_asks(bids, asks):
    bi, si, pb, ps = mcafee_unit(np.array(bids), np.array(asks))
    wb, ws, _, _ = oracle(bids, asks)
    assert {bids[n] for n in bi} == set(wb)
    assert {asks[n] for n in si} == set(ws)
    if len(bi):
        assert pb >= ps  # the budget is never negative
        assert min(bids[n] for n in bi) >= pb  # buyers pay at most their bid
        assert max(asks[n] for n in si) <= ps  # sellers get at least their ask


def utility(values: np.ndarray, reports: np.ndarray, side: Side, who: int, others: np.ndarray) -> float:
    """Trader `who`'s gain when the traders of `side` report `reports` and the other side
    reports `others` truthfully."""
    bids, asks = (reports, others) if side is B else (others, reports)
    bi, si, pb, ps = mcafee_unit(bids, asks)
    if side is B:
        return values[who] - pb if who in bi else 0.0
    return ps - values[who] if who in si else 0.0


@settings(max_examples=60, deadline=None)
@given(prices(min_size=1), prices(min_size=1))
@example([10.0, 8.0, 6.0], [2.0, 3.0, 7.0])
@example([10.0, 6.0, 5.0], [2.0, 5.5, 9.0])
def test_no_trader_gains_by_misreporting(bids, asks):
    # McAfee's theorem: bidding one's value is a dominant strategy. Misreports cover every
    # half-unit from below the lowest price to above the highest, so every rank a trader can
    # move to, and every tie, is tried.
    values = {B: np.array(bids), S: np.array(asks)}
    grid = np.arange(min(bids + asks) - 2, max(bids + asks) + 2.5, 0.5)
    for side in (B, S):
        mine, others = values[side], values[S if side is B else B]
        for who in range(len(mine)):
            truthful = utility(mine, mine, side, who, others)
            for lie in grid:
                reports = mine.copy()
                reports[who] = lie
                assert utility(mine, reports, side, who, others) <= truthful + 1e-12, (side, who, lie)


def together(bids: list[float], asks: list[float], quantities: tuple[list[float], list[float]] | None = None,
             transport_cost: float = 2.0) -> tuple[list[Order], Network]:
    """Buyers 0.. and sellers after them, all in one place (truck routes of length 0)."""
    qb, qa = quantities or ([1.0] * len(bids), [1.0] * len(asks))
    orders = [Order(n, "r", B, q, p) for n, (p, q) in enumerate(zip(bids, qb))]
    orders += [Order(len(bids) + n, "r", S, q, p) for n, (p, q) in enumerate(zip(asks, qa))]
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=Mode.TRUCK,
                 transport_cost=transport_cost, loss_per_km=0.05)
    return orders, Network(np.full((len(bids) + len(asks), 2), 3.0), {"r": r})


def clear(orders, network, seed: int = 0) -> list[Trade]:
    return McAfee().clear(orders, network, step=0, rng=np.random.default_rng(seed))


@settings(max_examples=80, deadline=None)
@given(prices(), prices())
@example([10.0, 8.0, 6.0], [2.0, 3.0, 7.0])
@example([10.0, 6.0, 5.0], [2.0, 5.5, 9.0])
def test_the_park_mechanism_is_mcafee_on_unit_orders_in_one_place(bids, asks):
    orders, net = together(bids, asks)
    trades = clear(orders, net)
    bi, si, pb, ps = mcafee_unit(np.array(bids), np.array(asks))
    assert sorted(t.buyer for t in trades) == sorted(bi.tolist())
    assert sorted(t.seller - len(bids) for t in trades) == sorted(si.tolist())
    for t in trades:
        assert (t.shipped, t.delivered, t.transport_cost, t.distance_km) == (1, 1, 0, 0)
        assert (t.price, t.seller_price) == (pb, ps)
    assert budget(trades) == pytest.approx((pb - ps) * len(bi) if len(bi) else 0.0)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_whole_quantities_are_mcafee_on_the_orders_split_into_units(data):
    bids, asks = data.draw(prices()), data.draw(prices())
    qb = [float(data.draw(st.integers(1, 3))) for _ in bids]
    qa = [float(data.draw(st.integers(1, 3))) for _ in asks]
    orders, net = together(bids, asks, (qb, qa))
    trades = clear(orders, net)
    # The same market with every order split into unit orders of its owner.
    unit_bid_owner = np.repeat(np.arange(len(bids)), np.array(qb, dtype=int))
    unit_ask_owner = np.repeat(np.arange(len(asks)), np.array(qa, dtype=int))
    bi, si, pb, ps = mcafee_unit(np.repeat(bids, np.array(qb, dtype=int)), np.repeat(asks, np.array(qa, dtype=int)))
    bought = np.bincount(unit_bid_owner[bi], minlength=len(bids))
    sold = np.bincount(unit_ask_owner[si], minlength=len(asks))
    got_b = np.zeros(len(bids))
    got_s = np.zeros(len(asks))
    for t in trades:
        got_b[t.buyer] += t.delivered
        got_s[t.seller - len(bids)] += t.shipped
        assert (t.price, t.seller_price) == (pb, ps)
    np.testing.assert_allclose(got_b, bought, atol=1e-9)
    np.testing.assert_allclose(got_s, sold, atol=1e-9)


def test_worked_example_with_trade_reduction():
    # Bids 10, 6, 5 and asks 2, 5.5, 9: k = 2 (6 >= 5.5, 5 < 9); p0 = (5 + 9) / 2 = 7 is above
    # b_2 = 6, so McAfee drops the second pair: buyer 0 pays 6, seller 3 gets 5.5, and the
    # auctioneer keeps 0.5.
    orders, net = together([10, 6, 5], [2, 5.5, 9])
    [t] = clear(orders, net)
    assert (t.seller, t.buyer, t.shipped, t.price, t.seller_price) == (3, 0, 1, 6, 5.5)
    assert (t.payment, t.receipt, budget([t])) == (6, 5.5, 0.5)


def test_worked_example_at_the_candidate_price():
    # Bids 10, 8, 6 and asks 2, 3, 7: k = 2, p0 = (6 + 7) / 2 = 6.5 lies in [3, 8], so both
    # pairs trade at 6.5 and nothing is left with the auctioneer.
    orders, net = together([10, 8, 6], [2, 3, 7])
    trades = clear(orders, net)
    assert sorted((t.seller, t.buyer) for t in trades) == [(3, 0), (4, 1)]
    assert {(t.price, t.seller_price) for t in trades} == {(6.5, 6.5)}
    assert budget(trades) == 0


def test_waste_changes_hands_at_negative_prices():
    # Three sellers pay to be rid of a waste (asks -20, -15, -5), two buyers take it for a
    # little (bids 1, -2). k = 2 and there is no third bid to make p0 of: trade reduction, so
    # one unit goes from the seller of ask -20 to the buyer of bid 1; the buyer "pays" -2 (is
    # paid 2), the seller "receives" -15 (pays 15), and the auctioneer keeps 13.
    orders, net = together([1, -2], [-20, -15, -5])
    [t] = clear(orders, net)
    assert (t.seller, t.buyer, t.price, t.seller_price) == (2, 0, -2, -15)
    assert budget([t]) == 13


def test_a_company_on_both_sides_is_not_paired_with_itself():
    # Company 0 bids 10 and asks 1, company 1 bids 9 and asks 2, company 2 bids 3 and asks 4,
    # in one place. k = 2 and p0 = (3 + 4) / 2 = 3.5: the two best bids and asks trade, and
    # paired in priority order company 0 would sell to itself.
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=Mode.TRUCK)
    net = Network(np.zeros((3, 2)), {"r": r})
    orders = [Order(0, "r", B, 1, 10), Order(0, "r", S, 1, 1), Order(1, "r", B, 1, 9), Order(1, "r", S, 1, 2),
              Order(2, "r", B, 1, 3), Order(2, "r", S, 1, 4)]
    trades = clear(orders, net)
    assert sorted((t.seller, t.buyer) for t in trades) == [(0, 1), (1, 0)]
    assert {(t.price, t.seller_price) for t in trades} == {(3.5, 3.5)}


def declared_limits_hold(bk: Book, trades: list[Trade]) -> None:
    shipped: dict[Order, float] = {}
    delivered: dict[Order, float] = {}
    for t in trades:
        ask = bk.order_of(t.seller, S)
        bid = bk.order_of(t.buyer, B)
        assert t.seller != t.buyer
        assert t.shipped > 0
        assert t.price <= bid.price + TOL
        assert (t.receipt - t.transport_cost) / t.shipped >= ask.price - TOL
        assert t.seller_price <= t.price + TOL
        shipped[ask] = shipped.get(ask, 0.0) + t.shipped
        delivered[bid] = delivered.get(bid, 0.0) + t.delivered
    for o, q in shipped.items():
        assert q <= o.quantity + TOL
    for o, q in delivered.items():
        assert q <= o.quantity + TOL
    assert budget(trades) >= -TOL


@settings(max_examples=80, deadline=None)
@given(order_books(max_traders=6, loss_per_km=None, both_sides=True))
def test_over_trucks_no_trade_passes_a_limit_and_the_budget_holds(bk):
    declared_limits_hold(bk, clear(list(bk.orders), bk.network))


@settings(max_examples=60, deadline=None)
@given(order_books(max_traders=6, mode=Mode.PIPELINE, loss_per_km=None))
def test_over_pipelines_trades_follow_pipes_and_the_budget_holds(bk):
    trades = clear(list(bk.orders), bk.network)
    declared_limits_hold(bk, trades)
    length = {}
    for p in bk.network.pipelines:
        length.setdefault((p.a, p.b), set()).add(p.length_km)
        length.setdefault((p.b, p.a), set()).add(p.length_km)
    r = bk.network.resources["r"]
    for t in trades:
        assert t.distance_km in length[(t.seller, t.buyer)]
        assert t.transport_cost == pytest.approx(r.transport_cost * t.distance_km * t.shipped)
        assert t.delivered == pytest.approx(t.shipped * (1 - r.loss_per_km * t.distance_km))


def test_each_pipeline_group_clears_on_its_own():
    # Two pipes that do not meet: 0 -> 1 and 2 -> 3. Each group has one crossing pair and no
    # (k+1)-th, so trade reduction leaves nothing in either. Pooled, k would be 2 and the pair
    # 0 -> 1 would trade at prices set by orders it has no pipe to.
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=Mode.PIPELINE, transport_cost=0.0)
    pipes = (Pipeline(0, 1, "r", 1.0), Pipeline(2, 3, "r", 1.0))
    net = Network(np.array([[0, 0], [1, 0], [5, 0], [6, 0]], float), {"r": r}, pipes)
    orders = [Order(0, "r", S, 1, 1), Order(1, "r", B, 1, 10), Order(2, "r", S, 1, 3), Order(3, "r", B, 1, 4)]
    assert clear(orders, net) == []


def test_equal_routes_are_mcafee_in_delivered_prices():
    # Every seller is joined to every buyer by a pipe of 2 km at 1 EUR a unit and km: asks 2,
    # 3, 7 cost 4, 5, 9 delivered. With bids 10, 8, 6: k = 2, p0 = (6 + 9) / 2 = 7.5 in [5, 8]:
    # two units trade at 7.5 delivered, and each seller nets 7.5 - 2 = 5.5 a unit shipped.
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=Mode.PIPELINE, transport_cost=1.0)
    pipes = tuple(Pipeline(a, b, "r", 2.0) for a in (3, 4, 5) for b in (0, 1, 2))
    net = Network(np.zeros((6, 2)), {"r": r}, pipes)
    orders = [Order(0, "r", B, 1, 10), Order(1, "r", B, 1, 8), Order(2, "r", B, 1, 6),
              Order(3, "r", S, 1, 2), Order(4, "r", S, 1, 3), Order(5, "r", S, 1, 7)]
    trades = clear(orders, net)
    assert sorted(t.buyer for t in trades) == [0, 1]
    assert sorted(t.seller for t in trades) == [3, 4]
    for t in trades:
        assert (t.price, t.seller_price, t.transport_cost) == (7.5, 7.5, 2.0)
        assert t.receipt - t.transport_cost == 5.5


@settings(max_examples=20, deadline=None)
@given(order_books(max_traders=5, loss_per_km=None), st.integers(0, 2**32 - 1))
def test_the_auction_is_deterministic(bk, seed):
    assert clear(list(bk.orders), bk.network, seed) == clear(list(bk.orders), bk.network, seed + 1)


def test_a_seller_serves_a_farther_buyer_at_that_routes_delivered_ask():
    # Seller 0 (km 0) asks 0 for 3 units; buyers at km 1, 3, 1, 1 bid 10, 9, 6, 5 for one unit
    # each; trucks cost 1 a unit and km. The seller's best route costs 1 delivered, so its
    # units stand at 1: k = 3, no fourth ask, trade reduction: the buyers of 10 and 9 win and
    # pay b_3 = 6; the seller gets s_3 = 1 for the unit to km 1 and, on the 3 km route, that
    # route's delivered ask of 3, which nets it its ask of 0 after the truck.
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=Mode.TRUCK, transport_cost=1.0)
    net = Network(np.array([[0, 0], [1, 0], [3, 0], [0, 1], [0, -1]], float), {"r": r})
    orders = [Order(0, "r", S, 3, 0.0), Order(1, "r", B, 1, 10.0), Order(2, "r", B, 1, 9.0),
              Order(3, "r", B, 1, 6.0), Order(4, "r", B, 1, 5.0)]
    trades = sorted(clear(orders, net), key=lambda t: t.buyer)
    assert [(t.buyer, t.shipped, t.price, t.seller_price) for t in trades] == [(1, 1, 6, 1), (2, 1, 6, 3)]
    assert [t.receipt - t.transport_cost for t in trades] == [0, 0]
    assert budget(trades) == 8
