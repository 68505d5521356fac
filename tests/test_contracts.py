"""Long-term contracts delivering before the spot market (market/contracts.py `deliver`).

Hand-worked cases first (who ships what, who breaches and pays), then conservation on random
order books with several contracts: every unit a company offers or asks for ends up either
in a contract trade or in what is left for the spot market.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.contracts import Contract, Delivery, Terms, deliver
from market.orders import COLUMNS_FROM, Order, Side, Trade, numbered_orders
from tests.strategies import tenths

S, B = Side.SELL, Side.BUY
TOL = 1e-9


def contract(seller=0, buyer=1, resource="heat", quantity=20.0, price=12.0, penalty=3.0, start=0,
             duration=10, share=1.0, cost=0.5, distance_km=2.0, id_=1) -> Contract:
    return Contract(id_, seller, buyer, resource, Terms(price, quantity, duration, 0.5, penalty), start,
                    share, cost, distance_km)


def by_ref(orders: list[Order]) -> dict[int, Order]:
    refs = [o.ref for o in orders]
    assert len(set(refs)) == len(refs)
    return {o.ref: o for o in orders}


# --- hand-worked cases --------------------------------------------------------------------------

def test_contract_delivers_first_and_leaves_the_rest_for_the_spot_market():
    orders = [
        Order(0, "heat", S, 50.0, 2.0, ref=7),
        Order(1, "heat", B, 30.0, 20.0, ref=9),
        Order(2, "heat", B, 40.0, 25.0, ref=11),  # a better bid, but not the contract's buyer
        Order(0, "water", S, 5.0, 1.0, ref=13),  # another resource
    ]
    c = contract(quantity=20.0, share=0.8, cost=0.5, price=12.0)
    trades, done, rest = deliver([c], orders, step=3, tolerance=0.1)
    # 25 shipped, 20 arrive; the seller pays the journey of what it ships.
    assert trades == [Trade(3, 0, 1, "heat", pytest.approx(25.0), pytest.approx(20.0), 12.0, pytest.approx(12.5), 2.0)]
    assert done == [Delivery(1, 3, pytest.approx(20.0), pytest.approx(0.0, abs=TOL), -1, 0.0)]
    assert done[0].kept
    left = by_ref(rest)
    assert left[7] == Order(0, "heat", S, pytest.approx(25.0), 2.0, ref=7)
    assert left[9] == Order(1, "heat", B, pytest.approx(10.0), 20.0, ref=9)
    assert left[11] == orders[2] and left[13] == orders[3]
    # What is left keeps the order it came in.
    assert [o.ref for o in rest] == [7, 9, 11, 13]


def test_emptied_orders_are_dropped():
    orders = [Order(0, "heat", S, 20.0, 2.0, ref=1), Order(1, "heat", B, 20.0, 20.0, ref=2),
              Order(1, "heat", B, 5.0, 20.0, ref=3)]
    _, _, rest = deliver([contract(quantity=20.0)], orders, 0, 0.0)
    assert [o.ref for o in rest] == [3]


def test_seller_ships_from_its_cheapest_ask_first():
    # It parts first with what it would pay to be rid of (-3), then 4, and keeps the 10.
    orders = [Order(0, "heat", S, 5.0, 10.0, ref=1), Order(0, "heat", S, 5.0, -3.0, ref=2),
              Order(0, "heat", S, 5.0, 4.0, ref=3), Order(1, "heat", B, 100.0, 50.0, ref=4)]
    trades, done, rest = deliver([contract(quantity=7.0)], orders, 0, 0.0)
    assert trades[0].shipped == pytest.approx(7.0) and done[0].kept
    left = by_ref(rest)
    assert 2 not in left
    assert left[3].quantity == pytest.approx(3.0)
    assert left[1].quantity == pytest.approx(5.0)
    assert left[4].quantity == pytest.approx(93.0)


def test_contracts_deliver_in_the_order_given():
    # Two contracts draw on the same 30 units of surplus: the first is served in full.
    orders = [Order(0, "heat", S, 30.0, 0.0, ref=1), Order(1, "heat", B, 20.0, 9.0, ref=2),
              Order(2, "heat", B, 20.0, 9.0, ref=3)]
    first = contract(buyer=1, quantity=20.0, id_=1)
    second = contract(buyer=2, quantity=20.0, id_=2)
    _, done, _ = deliver([first, second], orders, 0, 0.1)
    assert [(d.contract, d.delivered, d.breacher) for d in done] == [(1, 20.0, -1), (2, 10.0, 0)]
    _, done, _ = deliver([second, first], orders, 0, 0.1)
    assert [(d.contract, d.delivered, d.breacher) for d in done] == [(2, 20.0, -1), (1, 10.0, 0)]


# delivered = min(quantity, available * share, need); short beyond tolerance * quantity is a
# breach by the side that had less to give, paying penalty * short.
@pytest.mark.parametrize(
    "avail, need, share, tolerance, delivered, breacher",
    [
        (100.0, 100.0, 0.5, 0.1, 10.0, -1),  # plenty on both sides
        (16.0, 100.0, 0.5, 0.1, 8.0, 0),  # the seller's surplus delivers only 8: 2 short > 1
        (16.0, 100.0, 0.5, 0.25, 8.0, -1),  # ... within a tolerance of 2.5: kept, short noted
        (16.0, 100.0, 0.5, 0.2, 8.0, -1),  # short exactly at the tolerance: kept
        (100.0, 7.0, 0.5, 0.1, 7.0, 1),  # the buyer needs only 7: its breach
        (12.0, 7.0, 0.5, 0.1, 6.0, 0),  # both short; the seller's 6 is less than the buyer's 7
        (16.0, 5.0, 0.5, 0.1, 5.0, 1),  # both short; the buyer's 5 is less than the seller's 8
        (0.0, 100.0, 0.8, 0.1, 0.0, 0),  # nothing to ship at all
        (100.0, 0.0, 0.8, 0.1, 0.0, 1),  # nothing needed at all
    ],
)
def test_delivery_shortfall_and_breach(avail, need, share, tolerance, delivered, breacher):
    orders = [o for o in (Order(0, "heat", S, avail, 1.0, ref=1), Order(1, "heat", B, need, 30.0, ref=2))
              if o.quantity > 0]
    c = contract(quantity=10.0, share=share, penalty=3.0, cost=0.25)
    trades, [d], _ = deliver([c], orders, 0, tolerance)
    assert d.delivered == pytest.approx(delivered)
    assert d.short == pytest.approx(10.0 - delivered, abs=TOL)
    assert d.breacher == breacher and d.kept is (breacher < 0)
    assert d.penalty == pytest.approx(0.0 if breacher < 0 else 3.0 * (10.0 - delivered))
    if delivered > 0:
        [t] = trades
        assert t.delivered == pytest.approx(delivered)
        assert t.shipped == pytest.approx(delivered / share)
        assert t.transport_cost == pytest.approx(0.25 * delivered / share)
    else:
        assert trades == []


@pytest.mark.parametrize("step", [0, 4, 8, 9, 100])
def test_inactive_contract_does_nothing(step):
    # Runs steps 5, 6 and 7 only.
    orders = [Order(0, "heat", S, 50.0, 2.0, ref=1), Order(1, "heat", B, 50.0, 20.0, ref=2)]
    c = contract(start=5, duration=3)
    assert c.end == 8 and not c.active(step)
    trades, done, rest = deliver([c], orders, step, 0.1)
    assert trades == [] and done == [] and rest == orders


@pytest.mark.parametrize("step", [5, 6, 7])
def test_active_contract_delivers_every_step_of_its_term(step):
    orders = [Order(0, "heat", S, 50.0, 2.0, ref=1), Order(1, "heat", B, 50.0, 20.0, ref=2)]
    trades, [d], _ = deliver([contract(start=5, duration=3)], orders, step, 0.1)
    assert d.step == step and d.kept and trades[0].step == step


def test_zero_duration_contract_never_runs():
    orders = [Order(0, "heat", S, 50.0, 2.0), Order(1, "heat", B, 50.0, 20.0)]
    assert deliver([contract(start=2, duration=0)], orders, 2, 0.1) == ([], [], orders)


# --- conservation on random books ---------------------------------------------------------------

RES = ("heat", "water")


@st.composite
def books(draw):
    """One to four contracts among companies 0-2 over two resources, most of them running at the
    step drawn; for each, maybe an ask of its seller and a bid of its buyer; and up to ten
    orders more at random."""
    contracts = []
    rows = []
    quantity, price = tenths(0.1, 20), tenths(-10, 30)
    for k in range(draw(st.integers(1, 4))):
        seller, other = draw(st.integers(0, 2)), draw(st.integers(1, 2))
        c = Contract(
            k, seller, (seller + other) % 3, draw(st.sampled_from(RES)),
            Terms(draw(tenths(-5, 30)), draw(tenths(0.1, 15)), draw(st.integers(1, 4)), 0.5, draw(tenths(0, 10))),
            draw(st.integers(0, 3)), draw(tenths(0.5, 1)), draw(tenths(0, 3)), draw(tenths(0, 10)))
        contracts.append(c)
        if draw(st.booleans()):
            rows.append((c.seller, c.resource, S, draw(quantity), draw(price)))
        if draw(st.booleans()):
            rows.append((c.buyer, c.resource, B, draw(quantity), draw(price)))
    rows += draw(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(RES), st.sampled_from(list(Side)),
                                    quantity, price), max_size=10))
    orders = [Order(*row, ref=n) for n, row in enumerate(draw(st.permutations(rows)))]
    return orders, contracts, draw(st.integers(0, 4)), draw(tenths(0, 0.5))


@settings(max_examples=150, deadline=None)
@given(book=books())
def test_deliver_conserves_every_position(book):
    orders, contracts, step, tolerance = book
    trades, done, rest = deliver(contracts, orders, step, tolerance)

    active = [c for c in contracts if c.active(step)]
    assert [d.contract for d in done] == [c.id for c in active]
    assert all(d.step == step for d in done)

    # Leftover orders are the originals with less (never more, never negative) quantity.
    original = {o.ref: o for o in orders}
    for o in rest:
        assert o.quantity > 0
        assert o.quantity <= original[o.ref].quantity + TOL
        assert o == Order(o.owner, o.resource, o.side, o.quantity, original[o.ref].price, ref=o.ref)
        assert (o.owner, o.resource, o.side) == (original[o.ref].owner, original[o.ref].resource, original[o.ref].side)

    # Every unit is either left or traded: shipped out of asks, delivered into bids.
    before: dict = defaultdict(float)
    after: dict = defaultdict(float)
    for o in orders:
        before[(o.owner, o.resource, o.side)] += o.quantity
    for o in rest:
        after[(o.owner, o.resource, o.side)] += o.quantity
    for t in trades:
        after[(t.seller, t.resource, S)] += t.shipped
        after[(t.buyer, t.resource, B)] += t.delivered
    assert set(after) <= set(before)
    for key, q in before.items():
        assert after[key] == pytest.approx(q, abs=1e-7), key

    # One trade per delivery that moved anything, on the contract's terms.
    moved = [(c, d) for c, d in zip(active, done, strict=True) if d.delivered > 0]
    assert len(trades) == len(moved)
    for t, (c, d) in zip(trades, moved, strict=True):
        assert (t.step, t.seller, t.buyer, t.resource) == (step, c.seller, c.buyer, c.resource)
        assert t.delivered == pytest.approx(t.shipped * c.share)
        assert t.delivered == pytest.approx(d.delivered)
        assert t.transport_cost == pytest.approx(c.cost * t.shipped)
        assert t.price == c.terms.price and t.distance_km == c.distance_km

    for c, d in zip(active, done, strict=True):
        q = c.terms.quantity
        assert 0 <= d.delivered <= q + TOL
        assert d.short == pytest.approx(q - d.delivered, abs=1e-7)
        assert d.kept == (d.short <= tolerance * q + 1e-7)
        assert d.breacher in (-1, c.seller, c.buyer)
        assert d.penalty == pytest.approx(0.0 if d.kept else c.terms.penalty * d.short)
        if d.short > 1e-7:
            # It fell short only because one side had nothing more to give.
            seller_left = sum(o.quantity for o in rest if (o.owner, o.resource, o.side) == (c.seller, c.resource, S))
            buyer_left = sum(o.quantity for o in rest if (o.owner, o.resource, o.side) == (c.buyer, c.resource, B))
            assert min(seller_left, buyer_left) <= 1e-7


# --- the fast path against the plain rule ---------------------------------------------------------

def plain_deliver(contracts, orders, step, tolerance):
    """`deliver` as first written: every (owner, resource) side a sorted list, summed and drawn
    on order by order, every object through its constructor. `deliver` must give exactly this
    (the same floats, bit for bit, the same untouched Order objects)."""
    eps = 1e-9
    left = [o.quantity for o in orders]
    asks: dict = defaultdict(list)
    bids: dict = defaultdict(list)
    for n, o in enumerate(orders):
        (asks if o.side is Side.SELL else bids)[(o.owner, o.resource)].append(n)
    for key in asks:
        asks[key].sort(key=lambda n: orders[n].price)
    for key in bids:
        bids[key].sort(key=lambda n: -orders[n].price)

    def take(idx, amount):
        for n in idx:
            if amount <= eps:
                return
            got = min(left[n], amount)
            left[n] -= got
            amount -= got

    trades, done = [], []
    for c in contracts:
        if not c.active(step):
            continue
        mine = asks.get((c.seller, c.resource), [])
        theirs = bids.get((c.buyer, c.resource), [])
        avail = sum(left[n] for n in mine)
        need = sum(left[n] for n in theirs)
        q = c.terms.quantity
        ship = max(0.0, min(q / c.share, avail, need / c.share))
        if ship > eps:
            take(mine, ship)
            take(theirs, ship * c.share)
            trades.append(Trade(step, c.seller, c.buyer, c.resource, ship, ship * c.share, c.terms.price,
                                c.cost * ship, c.distance_km))
        delivered = ship * c.share if ship > eps else 0.0
        short = max(0.0, q - delivered)
        if short > tolerance * q + eps:
            breacher = c.seller if q - avail * c.share >= q - need else c.buyer
            done.append(Delivery(c.id, step, delivered, short, breacher, c.terms.penalty * short))
        else:
            done.append(Delivery(c.id, step, delivered, short, -1, 0.0))
    rest = [(o if q == o.quantity else Order(o.owner, o.resource, o.side, q, o.price, o.ref))
            for o, q in zip(orders, left) if q > eps]
    return trades, done, rest


def exactly(objects) -> list:
    """Each object's type and fields, floats by repr (which tells -0.0 from 0.0 and every bit)."""
    return [(type(x).__name__, *(repr(getattr(x, f)) for f in type(x).__slots__)) for x in objects]


# Quantities off the tenths grid too: a ship that is not a tenth, dust at and below 1e-9, -0.0, and
# with a share of 1e-6 a ship above 1e-9 that delivers less.
awkward = st.one_of(tenths(0, 20), st.floats(0, 30, allow_nan=False, allow_subnormal=False),
                    st.sampled_from([0.0, -0.0, 1e-9, 5e-10, 2e-9, 1e-4, 1 / 3]))


@st.composite
def crowded_books(draw):
    """Books where a company often has several orders of one resource and side (its asks drawn
    on cheapest first, its bids dearest first) beside the one-order case, with awkward numbers:
    up to six contracts among companies 0-2, up to two orders for each side of each, and up to
    six orders more."""
    contracts, rows = [], []
    for k in range(draw(st.integers(0, 6))):
        c = Contract(k, draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.sampled_from(RES)),
                     Terms(draw(tenths(-5, 30)), draw(awkward), draw(st.integers(0, 3)), 0.5, draw(tenths(0, 10))),
                     draw(st.integers(0, 2)), draw(st.sampled_from([1.0, 0.9, 0.7, 1 / 3, 1e-6])),
                     draw(tenths(0, 3)), draw(tenths(0, 10)))
        contracts.append(c)
        for owner, side in ((c.seller, S), (c.buyer, B)):
            rows += [(owner, c.resource, side, draw(awkward), draw(tenths(-3, 3))) for _ in range(draw(st.integers(0, 2)))]
    rows += draw(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(RES), st.sampled_from(list(Side)),
                                    awkward, tenths(-3, 3)), max_size=6))
    orders = [Order(*row, ref=n) for n, row in enumerate(draw(st.permutations(rows)))]
    return orders, contracts, draw(st.integers(0, 3)), draw(st.sampled_from([0.0, 0.1, 0.25]))


@settings(max_examples=120, deadline=None)  # 1,000 in the slow suite (below)
@given(book=st.one_of(books(), crowded_books()))
def test_deliver_is_the_plain_rule_bit_for_bit(book):
    orders, contracts, step, tolerance = book
    trades, done, rest = deliver(contracts, orders, step, tolerance)
    want_trades, want_done, want_rest = plain_deliver(contracts, orders, step, tolerance)
    assert exactly(trades) == exactly(want_trades)
    assert exactly(done) == exactly(want_done)
    assert exactly(rest) == exactly(want_rest)
    # An order nothing was taken from is passed on as it came, not copied.
    assert [o is w for o, w in zip(rest, want_rest)] == [any(o is x for x in orders) for o in want_rest]


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(book=st.one_of(books(), crowded_books()))
def test_deliver_is_the_plain_rule_bit_for_bit_long(book):
    """The same on more books: a term out of order shows only in some last bits."""
    test_deliver_is_the_plain_rule_bit_for_bit.hypothesis.inner_test(book)


@settings(max_examples=25, deadline=None)
@given(book=st.one_of(books(), crowded_books()),
       more=st.lists(st.tuples(st.integers(0, 9), st.sampled_from(RES), st.sampled_from(list(Side)), awkward,
                               tenths(-3, 3)), min_size=COLUMNS_FROM, max_size=COLUMNS_FROM + 12))
def test_deliver_reads_a_large_parks_orders_from_their_columns(book, more):
    """A large park's orders (an `OrderList` of `COLUMNS_FROM` or more) are read from their
    columns, and what is left is made only when read: the plain rule's figures, bit for bit."""
    orders, contracts, step, tolerance = book
    rows = [(o.owner, o.resource, o.side, o.quantity, o.price) for o in orders] + more
    given_orders = numbered_orders(rows)
    trades, done, rest = deliver(contracts, given_orders, step, tolerance)
    assert given_orders._items is None and rest._items is None  # no order made yet
    plain = [Order(*row, ref=n) for n, row in enumerate(rows)]
    want_trades, want_done, want_rest = plain_deliver(contracts, plain, step, tolerance)
    assert exactly(trades) == exactly(want_trades)
    assert exactly(done) == exactly(want_done)
    assert len(rest) == len(want_rest)
    left = rest.columns
    assert [repr(x) for x in left.quantity.tolist()] == [repr(o.quantity) for o in want_rest]
    assert left.owner.tolist() == [o.owner for o in want_rest] and left.resource == [o.resource for o in want_rest]
    assert left.price.tolist() == [o.price for o in want_rest]
    assert left.is_ask.tolist() == [o.side is Side.SELL for o in want_rest]
    assert exactly(rest) == exactly(want_rest)
