"""A step's trades as columns (`market.orders.TradeColumns`, `TradeList`): the columns a list
makes from its rows, a slice or a join are the fields of its trades, and the passes that read
columns (welfare, the trade log) give the same bits as the passes trade by trade."""

from __future__ import annotations

import copy
import pickle
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import market.welfare as welfare
from market.call import CallMarket
from market.network import Network
from market.policy import Policy
from market.resources import Mode, Resource
from market.settlement import Ledger
from agents.spool import TradeLog
from market.orders import (COLUMNS_FROM, Order, OrderColumns, OrderList, Side, Trade, TradeColumns, TradeList, columns_of,
                           numbered_orders, order_columns_of, tail, trades_from, trades_of)

RESOURCES = ("ash", "gypsum", "steam")


def rough(lo: float, hi: float):
    """Floats whose sums round (Hypothesis favours round numbers, whose sums are exact in any order)."""
    return st.floats(lo, hi).map(lambda x: x * 0.7071067811865476 + 0.1 / 3)


quantity = rough(0.001, 1e4)


@st.composite
def trade_rows(draw, n_companies: int = 6, min_size: int = 0, max_size: int = 90):
    """(step, seller, buyer, resource, shipped, delivered, price, cost, km) rows, and for each
    the price the seller gets if a mechanism keeps a budget (None mostly)."""
    rows, seller_prices = [], []
    for _ in range(draw(st.integers(min_size, max_size))):
        s, b = draw(st.lists(st.integers(0, n_companies - 1), min_size=2, max_size=2, unique=True))
        shipped = draw(quantity)
        rows.append((3, s, b, draw(st.sampled_from(RESOURCES)), shipped, shipped * draw(st.floats(0.5, 1.0)),
                     draw(rough(-50, 200)), draw(rough(0, 30)), draw(rough(0, 40))))
        seller_prices.append(draw(st.one_of(st.none(), rough(-50, 200))))
    return rows, seller_prices


def as_trades(rows, seller_prices) -> list[Trade]:
    return [Trade(*row, seller_price=p) for row, p in zip(rows, seller_prices)]


def same(a: TradeColumns, b: TradeColumns) -> None:
    for f in TradeColumns.__dataclass_fields__:
        x, y = getattr(a, f), getattr(b, f)
        if f == "resource":
            assert x == y
        else:
            assert np.asarray(x).dtype == np.asarray(y).dtype, f
            assert np.array_equal(x, y), f


@settings(max_examples=20, deadline=None)
@given(trade_rows(), st.data())
def test_the_columns_of_rows_slices_and_joins_are_the_trades_fields(drawn, data):
    rows, seller_prices = drawn
    trades = as_trades(rows, seller_prices)
    made = trades_from(rows)
    assert made == [Trade(*row) for row in rows]
    # (fewer than COLUMNS_FROM: a plain list, its columns read from the trades)
    assert isinstance(made, TradeList) == (len(rows) >= COLUMNS_FROM)
    same(columns_of(made), TradeColumns.of(list(made)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(trades)), max_size=3)))
    parts = [TradeList(trades[a:b]) for a, b in zip([0, *cuts], [*cuts, len(trades)])]
    whole = TradeList.joined(parts)
    assert whole == trades
    same(columns_of(whole), TradeColumns.of(trades))
    start = data.draw(st.integers(0, len(trades)))
    part = tail(whole, start)
    assert part == trades[start:]
    same(columns_of(part), TradeColumns.of(trades[start:]))
    # A copy is a list of the same trades, whose columns are read again.
    for twin in (copy.deepcopy(whole), pickle.loads(pickle.dumps(whole))):
        assert twin == trades
        same(columns_of(twin), TradeColumns.of(trades))


def true_orders(trades: list[Trade]) -> list[Order]:
    """Orders that cover every trade: per seller and resource two asks, per buyer two bids."""
    out = []
    for key_of, side, q_of in ((lambda t: (t.seller, t.resource), Side.SELL, lambda t: t.shipped),
                               (lambda t: (t.buyer, t.resource), Side.BUY, lambda t: t.delivered)):
        total: dict[tuple[int, str], float] = {}
        for t in trades:
            total[key_of(t)] = total.get(key_of(t), 0.0) + q_of(t)
        for (c, r), q in total.items():
            out += [Order(c, r, side, 0.6 * q + 1.0, 10.0), Order(c, r, side, 0.6 * q + 1.0, 25.0)]
    return out


@settings(max_examples=15, deadline=None)
@given(trade_rows(min_size=COLUMNS_FROM, max_size=120))
def test_welfare_and_the_trade_log_read_the_columns_to_the_same_bits(drawn):
    """Enough trades for the columns (`COLUMNS_FROM`), against the pass trade by trade."""
    rows, seller_prices = drawn
    trades = as_trades(rows, seller_prices)
    orders = true_orders(trades)
    by_columns = welfare.exchange_values(TradeList(trades), orders, 6)
    log = TradeLog(RESOURCES)
    log.extend(TradeList(trades))
    with mock.patch.object(welfare, "COLUMNS_FROM", 10**9), mock.patch("agents.spool.COLUMNS_FROM", 10**9):
        one_by_one = welfare.exchange_values(trades, orders, 6)
        plain = TradeLog(RESOURCES)
        plain.extend(trades)
    assert by_columns[0] == one_by_one[0]
    assert np.array_equal(by_columns[1], one_by_one[1]) and np.array_equal(by_columns[2], one_by_one[2])
    assert log.flows == plain.flows and list(log.flows) == list(plain.flows)
    assert np.array_equal(log.array(), plain.array())
    assert list(log) == list(plain)


@st.composite
def order_rows(draw, min_size: int = 0, max_size: int = 40):
    return draw(st.lists(st.tuples(st.integers(0, 9), st.sampled_from(RESOURCES), st.sampled_from(list(Side)),
                                   rough(0, 100), rough(-50, 200)), min_size=min_size, max_size=max_size))


def same_orders(a: OrderColumns, b: OrderColumns) -> None:
    assert a.resource == b.resource
    for f in ("owner", "code", "is_ask", "quantity", "price"):
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and np.array_equal(x, y), f


@settings(max_examples=30, deadline=None)
@given(order_rows(), st.data())
def test_the_columns_of_orders_made_or_replaced_are_their_fields(rows, data):
    made = numbered_orders(rows)
    same_orders(order_columns_of(made), OrderColumns.of(list(made)))
    # Some orders replaced (as the planner's orders replace the park's where its stock differs).
    at = sorted(data.draw(st.sets(st.integers(0, max(len(rows) - 1, 0)), max_size=len(rows))) if rows else [])
    new_rows = [data.draw(order_rows(1).filter(len))[0] for _ in at]
    replaced = OrderList.replacing(made, at, numbered_orders(new_rows, at), new_rows)
    want = list(made)
    for i, o in zip(at, numbered_orders(new_rows, at)):
        want[i] = o
    assert replaced == want
    same_orders(order_columns_of(replaced), OrderColumns.of(want))
    assert made == numbered_orders(rows)  # the base unchanged


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_a_call_market_clears_many_orders_on_their_columns_as_one_by_one(data):
    # Enough orders (of three resources, some of no quantity) for the call market to group them
    # on their columns (an `OrderList`'s): the same trades, in the same order, to the bit.
    n = data.draw(st.integers(8, 40))
    positions = np.array(data.draw(st.lists(st.tuples(rough(0, 30), rough(0, 30)), min_size=n, max_size=n)))
    network = Network(positions, {r: Resource(r, "t", virgin_price=0.0, disposal_cost=0.0, transport=Mode.TRUCK,
                                              transport_cost=data.draw(st.sampled_from([0.0, 0.4, 1.5])),
                                              loss_per_km=data.draw(st.sampled_from([0.0, 0.01])))
                                  for r in RESOURCES})
    rows = [(data.draw(st.integers(0, n - 1)), data.draw(st.sampled_from(RESOURCES)),
             data.draw(st.sampled_from(list(Side))), data.draw(st.one_of(st.just(0.0), rough(0, 50))),
             data.draw(rough(-20, 60)))
            for _ in range(data.draw(st.integers(COLUMNS_FROM, COLUMNS_FROM + 40)))]
    market = CallMarket()
    want = market.clear([Order(*row, ref=i) for i, row in enumerate(rows)], network, 0, np.random.default_rng(0))
    got = market.clear(numbered_orders(rows), network, 0, np.random.default_rng(0))
    assert repr(list(got)) == repr(list(want))
    same(columns_of(got), TradeColumns.of(list(want)))


@settings(max_examples=20, deadline=None)
@given(order_rows(min_size=COLUMNS_FROM, max_size=COLUMNS_FROM + 40))
def test_what_the_market_left_is_summed_alike_on_columns(rows):
    from agents.model import ParkModel
    orders = numbered_orders(rows)
    # Trades that take part of some orders (a seller's ask, a buyer's bid of the same resource).
    asks = [o for o in orders if o.side is Side.SELL][:5]
    bids = [o for o in orders if o.side is Side.BUY and o.resource in {a.resource for a in asks}][:5]
    spot = [Trade(0, a.owner, b.owner, a.resource, a.quantity / 3, a.quantity / 4, 1.0, 0.0, 0.0)
            for a, b in zip(asks, bids) if a.resource == b.resource]
    got = ParkModel._rest(orders, spot)
    want = ParkModel._rest(list(orders), spot)
    assert list(got.items()) == list(want.items())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.large_base_example])
@given(trade_rows(min_size=COLUMNS_FROM, max_size=COLUMNS_FROM + 20), order_rows(min_size=COLUMNS_FROM, max_size=80),
       st.data())
def test_orders_and_trades_are_made_only_when_read_and_then_as_made_at_once(drawn, rows, data):
    """`trades_from`, `trades_of`, `numbered_orders`, joins, slices and replacements make their
    items only when an item is read; their length and columns need none. Read, they are the
    objects made at once, and the sequence behaves as a read-only list of them."""
    trade_rows_, _ = drawn
    want_trades = [Trade(*row) for row in trade_rows_]
    want_orders = [Order(*row, ref=i) for i, row in enumerate(rows)]
    cut = data.draw(st.integers(0, len(trade_rows_)))
    made = trades_from(trade_rows_)
    again = trades_of(made.columns)
    joined = TradeList.joined([trades_from(trade_rows_[:cut]), tail(trades_of(made.columns), cut)])
    orders = numbered_orders(rows)
    at = sorted(data.draw(st.sets(st.integers(0, len(rows) - 1), max_size=3)))
    replaced = OrderList.replacing(orders, at, numbered_orders([rows[0]] * len(at), at), [rows[0]] * len(at))
    for lazy, want in ((made, want_trades), (again, want_trades), (joined, want_trades), (orders, want_orders)):
        assert len(lazy) == len(want) and bool(lazy)
        assert len(lazy.columns) == len(want)
        assert lazy._items is None  # nothing made yet
        assert lazy == want and want == lazy and lazy != want[:-1]
        assert list(lazy) == want and lazy[-1] == want[-1] and lazy[1:] == want[1:]
        assert list(reversed(lazy)) == want[::-1] and want[0] in lazy and lazy.index(want[-1]) == want.index(want[-1])
        assert lazy + want[:1] == want + want[:1] and want[:1] + lazy == want[:1] + want
        assert pickle.loads(pickle.dumps(lazy)) == want and copy.deepcopy(lazy) == want
        assert repr(lazy) == f"{type(lazy).__name__}({want!r})"
    same(again.columns, TradeColumns.of(want_trades))
    same(joined.columns, TradeColumns.of(want_trades))
    want_replaced = list(want_orders)
    for i in at:
        want_replaced[i] = Order(*rows[0], ref=i)
    assert replaced._items is None and len(replaced) == len(rows)
    same_orders(replaced.columns, OrderColumns.of(want_replaced))
    assert replaced == want_replaced


@settings(max_examples=10, deadline=None)  # 100 in the slow suite (below)
@given(trade_rows(min_size=COLUMNS_FROM, max_size=120), st.data())
def test_welfare_reads_a_large_parks_true_orders_from_their_columns(drawn, data):
    """The true orders as an `OrderList` (a large park's): valued from their columns, none
    made, to the same bits as order by order, with and without transfers. A company and resource
    has one order (most) or several; an ask at the outside price is one its owner would keep."""
    rows, seller_prices = drawn
    trades = as_trades(rows, seller_prices)
    orders = []
    pairs = true_orders(trades)  # two orders a key, one after the other
    short = data.draw(st.integers(-4, len(pairs) // 2))  # the key offered too little, if any
    for k, (o, other) in enumerate(zip(pairs[::2], pairs[1::2])):
        if data.draw(st.integers(0, 3)):  # one order for the key (most): what it traded, a little more, or less
            orders.append(Order(o.owner, o.resource, o.side, 2 * o.quantity - 2.0 + data.draw(st.sampled_from(
                [0.0, 0.5, 1e-9, 1e-9, -1e-3])) - (5.0 if k == short else 0.0),
                data.draw(st.sampled_from([25.0, 12.5, -3.0]))))
        else:
            orders += [o, other] if k != short else [o]
    # (with orders of a resource nobody trades, for a large park's count)
    orders += [Order(c % 6, "slag", Side(side), 1.0 + c, 3.0) for c in range(COLUMNS_FROM) for side in ("buy", "sell")]
    given_orders = numbered_orders([(o.owner, o.resource, o.side, o.quantity, o.price) for o in orders])
    ledger = ledger_for(RESOURCES)
    for transfer_of in (ledger.transfer_of, None):
        try:
            want = welfare.exchange_values(TradeList(trades), orders, 6, transfer_of)
        except ValueError as e:
            with pytest.raises(ValueError) as got_error:
                welfare.exchange_values(TradeList(trades), given_orders, 6, transfer_of)
            assert str(got_error.value) == str(e)
            continue
        got = welfare.exchange_values(TradeList(trades), given_orders, 6, transfer_of)
        assert given_orders._items is None
        assert repr(got[0]) == repr(want[0])
        assert repr(got[1].tolist()) == repr(want[1].tolist()) and repr(got[2].tolist()) == repr(want[2].tolist())


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(trade_rows(min_size=COLUMNS_FROM, max_size=120), st.data())
def test_welfare_reads_a_large_parks_true_orders_from_their_columns_long(drawn, data):
    test_welfare_reads_a_large_parks_true_orders_from_their_columns.hypothesis.inner_test(drawn, data)


def test_a_call_market_makes_none_of_a_large_parks_orders():
    rng = np.random.default_rng(4)
    n = 30
    network = Network(rng.random((n, 2)) * 20, {r: Resource(r, "t", virgin_price=0.0, disposal_cost=0.0,
                                                            transport=Mode.TRUCK, transport_cost=0.5)
                                                for r in RESOURCES})
    rows = [(int(rng.integers(n)), RESOURCES[int(rng.integers(3))], Side.SELL if rng.random() < 0.5 else Side.BUY,
             float(rng.random() * 40), float(rng.random() * 60 - 10)) for _ in range(3 * COLUMNS_FROM)]
    orders = numbered_orders(rows)
    trades = CallMarket().clear(orders, network, 0, rng)
    assert len(trades) and orders._items is None and trades._items is None


def ledger_for(names) -> Ledger:
    """A ledger whose prices carry taxes and a subsidy, so that the transfers are not all zero
    (an ask at 25 is what its owner would keep, at the outside price; the rest it disposes of)."""
    res = {r: Resource(r, "t", virgin_price=25.0, disposal_cost=4.0, landfill=True, virgin_material=True)
           for r in names}
    return Ledger(6, res, Policy(carbon_tax=40.0, landfill_tax=7.0, virgin_tax=3.0, exchange_subsidy=1.5), {})
