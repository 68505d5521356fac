"""The optimum's bookkeeping on arrays (issue 15) gives what the per-order code gave, exactly:
the allocation built from columns of the orders against the per-object one it replaced, the
two planners sharing their stores while they allocate alike against two planners each on its
own stores, the valuation of trades and the carrying of a store against the code they replaced."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.model import ParkModel
from market.mechanism import Book
from market.network import Network
from market.optimum import Optimum, Planner, StepOptimum
from market.orders import COLUMNS_FROM, Order, Side, Trade, numbered_orders
from market.policy import Policy
from market.settlement import Ledger
from market.storage import TOL, Carried, Store, carry
from market.welfare import N_PARTS, _allocate, exchange_values, optimal_allocation
from tests.strategies import parks, resources, tenths


def per_order_allocation(true_orders, network):
    """The allocation as it was computed order by order (before issue 15)."""
    total = 0.0
    moved = np.zeros(len(true_orders))
    books: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for k, o in enumerate(true_orders):
        if o.quantity > 0:
            books[o.resource][0 if o.side is Side.SELL else 1].append(k)
    for resource, (ai, bi) in books.items():
        if not ai or not bi:
            continue
        gain, out, into = _allocate(resource, [true_orders[k] for k in ai], [true_orders[k] for k in bi], network)
        total += gain
        moved[ai] = out
        moved[bi] = into
    return total, moved


@st.composite
def books(draw, min_size: int = 0, max_size: int = 14):
    res = draw(resources(draw(st.integers(1, 3))))
    n = draw(st.integers(2, 6))
    positions = np.array(draw(st.lists(st.tuples(tenths(0, 20), tenths(0, 20)), min_size=n, max_size=n)))
    orders = draw(st.lists(st.builds(Order, st.integers(0, n - 1), st.sampled_from(sorted(res)),
                                     st.sampled_from(list(Side)), st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]),
                                     tenths(-30, 120), st.integers(-1, 50)), min_size=min_size, max_size=max_size))
    return orders, Network(positions, res)


@settings(max_examples=150, deadline=None)
@given(case=books())
def test_the_allocation_on_columns_is_the_per_order_one(case):
    orders, network = case
    want_gain, want_moved = per_order_allocation(orders, network)
    memo: dict = {}
    for _ in range(2):  # the second call from the memo
        gain, moved = optimal_allocation(orders, network, memo)
        assert gain == want_gain
        assert moved.tolist() == want_moved.tolist()


@settings(max_examples=15, deadline=None)
@given(case=books(min_size=COLUMNS_FROM, max_size=COLUMNS_FROM + 30))
def test_many_orders_are_grouped_on_their_columns_into_the_same_books(case):
    # Enough orders for `optimal_allocation` to group them on their columns: made from rows (an
    # `OrderList`, as the model's) and read from the orders, against the allocation order by order.
    orders, network = case
    want_gain, want_moved = per_order_allocation(orders, network)
    made = numbered_orders([(o.owner, o.resource, o.side, o.quantity, o.price) for o in orders])
    for given_orders in (made, list(orders)):
        gain, moved = optimal_allocation(given_orders, network, {})
        assert gain == want_gain
        assert moved.tolist() == want_moved.tolist()


def test_a_book_is_the_one_the_orders_make():
    orders = [Order(0, "a", Side.SELL, 2.0, 1.0), Order(1, "a", Side.BUY, 0.0, 9.0), Order(2, "b", Side.BUY, 1.0, 5.0),
              Order(1, "a", Side.BUY, 3.0, 8.0), Order(3, "a", Side.SELL, 1.0, 2.0)]
    b = Book.of("a", [orders[0], orders[4]], [orders[3]])
    assert (b.sellers.tolist(), b.buyers.tolist(), b.supply.tolist(), b.demand.tolist()) == ([0, 3], [1], [2.0, 1.0], [3.0])


class Checked(Optimum):
    """The model's optimum stepped beside two planners that never share their stores."""

    def __init__(self, ledger):
        super().__init__(ledger)
        self.apart = (Planner(ledger), Planner(ledger, social=True))
        self.diverged = False

    def step(self, t, plans, orders_for, network) -> StepOptimum:
        got = super().step(t, plans, orders_for, network)
        memo: dict = {}
        want = StepOptimum(*(p.step(t, plans, orders_for, network, memo) for p in self.apart))
        assert got == want
        for mine, theirs in zip((self.private, self.social), self.apart):
            assert mine.stores.keys() == theirs.stores.keys()
            for key, s in mine.stores.items():
                assert list(map(list, s.batches)) == list(map(list, theirs.stores[key].batches)), key
                assert s.level == theirs.stores[key].level
        self.diverged |= self.social.stores is not self.private.stores
        return got


@settings(max_examples=25, deadline=None)
@given(park=parks(max_companies=5), seed=st.integers(0, 1000))
def test_planners_sharing_their_stores_are_planners_on_their_own(park, seed):
    model = ParkModel(park, seed=seed)
    model.optimum = Checked(model.ledger)
    model.run(10)


# The valuation of trades against the truthful orders (`exchange_values`) with its one-order
# case written out, against the code it replaced.

def per_order_exchange_values(trades: Iterable[Trade], true_orders: Sequence[Order], n: int = 0,
                    transfer_of: Callable[[Order], np.ndarray] | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """`exchange_values` as it was, order by order (before issue 15)."""
    shipped: dict[tuple[int, str], float] = defaultdict(float)
    got: dict[tuple[int, str], float] = defaultdict(float)
    own = [0.0] * n  # Python floats while summing (the same sums as on an array), an array at the end
    transport_paid = 0.0
    for t in trades:
        shipped[(t.seller, t.resource)] += t.shipped
        got[(t.buyer, t.resource)] += t.delivered
        transport_paid += t.transport_cost
        if n:  # t.receipt and t.payment, written out
            own[t.seller] += (t.price if t.seller_price is None else t.seller_price) * t.delivered - t.transport_cost
            own[t.buyer] -= t.price * t.delivered
    # Only the orders of a company and resource that traded are valued.
    asks: dict[tuple[int, str], list[Order]] = defaultdict(list)
    bids: dict[tuple[int, str], list[Order]] = defaultdict(list)
    for o in true_orders:
        key = (o.owner, o.resource)
        if o.side is Side.SELL:
            if key in shipped:
                asks[key].append(o)
        elif key in got:
            bids[key].append(o)
    total = -transport_paid
    # The transfers part by part as Python floats (the same sums as on arrays); the arrays
    # `transfer_of` returns, as tuples of floats, by identity while this call runs.
    transfers = [0.0] * N_PARTS
    parts: dict[int, tuple[np.ndarray, tuple[float, ...]]] = {}
    none: list[Order] = []
    for key, q in shipped.items():
        orders = asks.get(key, none)
        value, moved = _old_schedule_value(q, sorted(orders, key=_old_price) if len(orders) > 1 else orders, key, "sold",
                                       transfer_of, parts)
        total -= value
        for k, m in enumerate(moved):
            transfers[k] -= m
        if n:
            own[key[0]] -= value
    for key, q in got.items():
        orders = bids.get(key, none)
        value, moved = _old_schedule_value(q, sorted(orders, key=_old_minus_price) if len(orders) > 1 else orders, key, "bought",
                                       transfer_of, parts)
        total += value
        for k, m in enumerate(moved):
            transfers[k] += m
        if n:
            own[key[0]] += value
    return total, np.array(transfers, dtype=float), np.array(own, dtype=float)


def _old_price(o: Order) -> float:
    return o.price


def _old_minus_price(o: Order) -> float:
    return -o.price


def _old_schedule_value(q: float, orders: list[Order], key: tuple[int, str], what: str,
                    transfer_of: Callable[[Order], np.ndarray] | None,
                    parts: dict[int, tuple[np.ndarray, tuple[float, ...]]]) -> tuple[float, list[float]]:
    value, left = 0.0, q
    moved = [0.0] * N_PARTS
    for o in orders:
        quantity = o.quantity
        take = quantity if quantity < left else left  # min(left, quantity)
        value += take * o.price
        if transfer_of is not None and take > 0:
            per_unit = transfer_of(o)
            found = parts.get(id(per_unit))
            if found is None:  # the array is kept beside its floats, so its id stays its own
                found = parts[id(per_unit)] = (per_unit, tuple(np.asarray(per_unit, dtype=float).tolist()))
            for k, u in enumerate(found[1]):
                moved[k] += take * u
        left -= take
    if left > 1e-6 * max(1.0, q):
        raise ValueError(f"company {key[0]} {what} {q:g} {key[1]} but offered only {q - left:g}")
    return value, moved


PARTS = [np.zeros(N_PARTS), np.array([0.0, 4.0, 0.0, -1.5]), np.array([2.5, 0.0, 0.1, 0.0]), np.array([-0.0, 0.0, 0.0, -0.0])]


@st.composite
def valued_trades(draw):
    """Orders of up to 4 companies, and trades mostly between owners of an ask and a bid of the
    same resource within what they offer (and a few beyond it, which must raise alike)."""
    n = draw(st.integers(1, 4))
    orders = draw(st.lists(st.builds(Order, st.integers(0, n - 1), st.sampled_from(["a", "b"]), st.sampled_from(list(Side)),
                                     st.sampled_from([10.0, 4.0, 1.0, 0.0]), tenths(-20, 40)), min_size=1, max_size=10))
    trades = []
    for _ in range(draw(st.integers(0, 6))):
        r = draw(st.sampled_from(["a", "b"]))
        asks = [o.owner for o in orders if o.resource == r and o.side is Side.SELL]
        bids = [o.owner for o in orders if o.resource == r and o.side is Side.BUY]
        if not (asks and bids) and draw(st.integers(0, 9)) < 8:
            continue
        seller = draw(st.sampled_from(asks)) if asks and draw(st.integers(0, 9)) < 8 else draw(st.integers(0, n - 1))
        buyer = draw(st.sampled_from(bids)) if bids and draw(st.integers(0, 9)) < 8 else draw(st.integers(0, n - 1))
        shipped = draw(st.sampled_from([1.0, 0.5, 2.0, 0.0]))
        trades.append(Trade(0, seller, buyer, r, shipped, shipped * draw(st.sampled_from([1.0, 0.9])), draw(tenths(-5, 30)),
                            draw(tenths(0, 3)), 1.0, draw(st.one_of(st.none(), tenths(-5, 30)))))
    transfer = draw(st.dictionaries(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(list(Side))),
                                    st.sampled_from([1, 2, 3, 0])))
    return orders, trades, n, transfer


@settings(max_examples=300, deadline=None)
@given(case=valued_trades(), with_transfers=st.booleans())
def test_the_trades_are_valued_as_order_by_order(case, with_transfers):
    orders, trades, n, transfer = case
    of = (lambda o: PARTS[transfer.get((o.resource, o.side), 0)]) if with_transfers else None
    try:
        want = per_order_exchange_values(trades, orders, n, of)
    except ValueError as e:
        with pytest.raises(ValueError, match=str(e).split(" but")[0]):
            exchange_values(trades, orders, n, of)
        return
    got = exchange_values(trades, orders, n, of)
    assert got[0] == want[0] or (math.isnan(got[0]) and math.isnan(want[0]))
    assert [repr(x) for x in got[1].tolist()] == [repr(x) for x in want[1].tolist()]  # -0.0 apart from 0.0
    assert [repr(x) for x in got[2].tolist()] == [repr(x) for x in want[2].tolist()]


# A store carried through a step (`market.storage.carry`, min and max written out) against the
# code it replaced (before issue 15), on the same batches.

def _old_take(store: Store, quantity: float) -> float:
    taken = 0.0
    amounts = store.amounts
    while amounts and taken < quantity:
        q = min(amounts[0], quantity - taken)
        amounts[0] -= q
        taken += q
        store._level = None
        if amounts[0] <= 1e-12:
            amounts.popleft()
            store.expires.popleft()
    return taken


def old_carry(store: Store | None, made: float, need: float, shipped: float, received: float,
              expires_at: int) -> Carried:
    available = made + (store.level if store else 0.0)
    own = min(need, available)
    if shipped > available - own + TOL * max(1.0, available):
        raise ValueError(f"shipped {shipped:g} but had {available - own:g}")
    shipped = min(shipped, available - own)
    from_store = _old_take(store, own + shipped) if store else 0.0
    fresh_left = made - (own + shipped - from_store)
    open_need = need - own - received
    bought = surplus = overflow = 0.0
    if open_need > TOL * max(1.0, need):
        bought = open_need
    elif open_need < -1e-12:
        surplus = -open_need
        if store is not None:
            surplus = store.put(surplus, expires_at)
    if fresh_left > 1e-12:
        overflow = fresh_left
        if store is not None:
            overflow = store.put(fresh_left, expires_at)
    return own, bought, surplus, overflow


amounts = st.one_of(st.sampled_from([0.0, 1.0, 1e-13, 2.5]), st.floats(0, 50, allow_subnormal=False))


@settings(max_examples=400, deadline=None)
@given(batches=st.lists(st.tuples(st.integers(0, 9), amounts), max_size=4), capacity=st.sampled_from([0.0, 3.0, 20.0, 100.0]),
       stored=st.booleans(), made=amounts, need=amounts, shipped=amounts, received=amounts,
       over=st.sampled_from([None, 0.0, 1e-13, 1e-9, 5e-7, 1.5e-6]),
       short=st.sampled_from([None, 0.0, 5e-13, -5e-13, 1e-9, 5e-7, 1.5e-6, -1.5e-6]))
def test_a_store_is_carried_as_before(batches, capacity, stored, made, need, shipped, received, over, short):
    available = made + (sum(q for _, q in batches) if stored else 0.0)
    if over is not None:  # shipped at the edge of what the company had, within the tolerance or beyond it
        shipped = available - min(need, available) + over * max(1.0, available)
    if short is not None:  # received at the edge of the need left open: a hair short or over, within or beyond
        received = max(0.0, need - min(need, available) - short * max(1.0, need))  # the tolerances
    stores = [Store(capacity, batches) if stored else None for _ in range(2)]
    try:
        want = old_carry(stores[0], made, need, shipped, received, 12)
    except ValueError:
        with pytest.raises(ValueError):
            carry(stores[1], made, need, shipped, received, 12)
        return
    got = carry(stores[1], made, need, shipped, received, 12)
    assert [repr(x) for x in got] == [repr(x) for x in want]
    if stored:
        assert stores[1].batches == stores[0].batches
        assert repr(stores[1].level) == repr(stores[0].level)


def _shifted_by_definition(ledger: Ledger, orders: list[Order]) -> list[Order]:
    out = []
    for o in orders:
        d = float(ledger.transfer_of(o).sum())
        out.append(o if d == 0.0 else dataclasses.replace(o, price=o.price - d))
    return out


@settings(max_examples=40, deadline=None)
@given(res=resources(3), taxes=st.lists(st.tuples(st.sampled_from([0.0, 0.0, 20.0]), st.sampled_from([0.0, 15.0])),
                                        min_size=1, max_size=3),
       orders=st.lists(st.builds(Order, st.integers(0, 2), st.sampled_from(["a", "b", "c"]), st.sampled_from(list(Side)),
                                 st.just(1.0), st.sampled_from([-10.0, 0.0, 5.0, 30.0, 40.0])), max_size=8))
def test_the_social_planners_prices_are_the_orders_less_their_transfers(res, taxes, orders):
    """`_at_real_costs` keeps what it found until the ledger is repriced (a new year's policy)."""
    names = dict(zip(["a", "b", "c"], res))
    orders = [dataclasses.replace(o, resource=names[o.resource]) for o in orders if o.resource in names]
    # Asks at their owner's keep value too (priced at the outside purchase they save).
    ledger = Ledger(3, res, Policy(), {})
    orders += [Order(1, r, Side.SELL, 1.0, ledger.buy_price(r)) for r in res]
    planner = Planner(ledger, social=True)
    for landfill, carbon in taxes:
        ledger.policy = Policy(landfill_tax=landfill, carbon_tax=carbon)
        ledger.reprice(res)
        orders += [Order(2, r, Side.SELL, 1.0, ledger.buy_price(r)) for r in res]
        for _ in range(2):
            got = planner._at_real_costs(orders)
            assert got == _shifted_by_definition(ledger, orders)
            if got == orders:
                assert got is orders  # nothing shifted: the very list


@settings(max_examples=20, deadline=None)
@given(park=parks(max_companies=5), seed=st.integers(0, 1000), shifts=st.lists(st.sampled_from([0.0, 0.0, 0.5, -0.25, 3.0]),
                                                                                 min_size=8, max_size=8))
def test_the_planners_orders_reuse_the_park_positions_only_where_its_stock_is_the_parks(park, seed, shifts):
    """`ParkModel._truthful` on another stock keeps the park's positions of a company whose
    stores hold what the park's hold: the same orders as built from scratch."""
    model = ParkModel(park, seed=seed)
    keys = sorted(model.ledger.stores)

    def stock(c, r):
        level = model.ledger.stock(c, r)
        k = keys.index((c, r)) if (c, r) in keys else 0
        return max(0.0, level + shifts[k % len(shifts)])

    for _ in range(3):
        t = model.t
        plans = model._plan(t).plans
        model._truthful(plans, t)
        got = model._truthful(plans, t, stock)
        model._park_positions = None  # from scratch
        assert got == model._truthful(plans, t, stock)
        model.step()
