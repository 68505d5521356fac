"""`settle` on arrays books what the loop over every company's every resource booked, bit for bit.

`old_settle` below is `market.settlement.settle` as it was before it booked large parks on arrays:
trade by trade, then plan by plan and resource by resource, each pair through `carry`. Random
books (plans, trades, stores with and without batches, amounts at the edges of `carry`'s
tolerances) go through it and through `settle` on both its paths; every float must come out the
same, and a company that ships more than it had must fail the same way. `Store.put` is held to
its old rule too.
"""

from __future__ import annotations

import copy
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import market.settlement as settlement
from market.orders import Trade
from market.policy import Policy
from market.resources import Resource
from market.settlement import Ledger, Plan, StepAccount, open_step, settle
from market.storage import Store, carry

NAMES = ("ash", "heat", "water", "gypsum", "sludge", "steam")


def old_settle(ledger: Ledger, acc: StepAccount, plans: Sequence[Plan], trades: Iterable[Trade]) -> StepAccount:
    """The loop, as it was (the reference)."""
    step = acc.step
    res = ledger.resources
    money = acc.profit.tolist()
    subsidy = ledger.policy.exchange_subsidy
    budget, subsidies = acc.budget, acc.subsidies

    sold: dict[tuple[int, str], float] = defaultdict(float)
    got: dict[tuple[int, str], float] = defaultdict(float)
    accounts = acc.resources
    for t in trades:
        seller, buyer, r, shipped, delivered = t.seller, t.buyer, t.resource, t.shipped, t.delivered
        sold[(seller, r)] += shipped
        got[(buyer, r)] += delivered
        payment = t.price * delivered
        receipt = (t.price if t.seller_price is None else t.seller_price) * delivered
        money[buyer] -= payment
        money[seller] += receipt - t.transport_cost
        budget += payment - receipt
        if subsidy:
            money[buyer] += subsidy * delivered
            subsidies += subsidy * delivered
        ra = accounts[r]
        ra.shipped += shipped
        ra.exchanged += delivered
        ra.lost += shipped - delivered
    acc.budget, acc.subsidies = budget, subsidies

    touched: dict[int, set[str]] = defaultdict(set)
    for c, r in list(sold) + list(got):
        touched[c].add(r)
    stores = ledger.stores
    expires = {r: step + x.shelf_life + 1 for r, x in res.items()}
    costs = {r: (ledger._buy[r], ledger._buy_tax[r], x.co2_virgin, ledger._dispose[r], ledger._dispose_tax[r],
                 x.co2_disposal) for r, x in res.items()}
    government, taxes, co2 = ledger.government, acc.taxes, acc.co2_t
    nothing: set[str] = set()
    for p in plans:
        c = p.company
        money[c] += p.revenue
        byproducts, inputs = p.byproducts, p.inputs
        for r in sorted(byproducts.keys() | inputs.keys() | touched.get(c, nothing)):
            ra = accounts[r]
            made = byproducts.get(r, 0.0)
            need = inputs.get(r, 0.0)
            ra.produced += made
            ra.consumed += need
            key = (c, r)
            store = stores.get(key)
            out, received = sold.get(key, 0.0), got.get(key, 0.0)
            try:
                own, bought, surplus, overflow = carry(store, made, need, out, received, expires[r])
            except ValueError as e:
                raise ValueError(f"company {c}, {r}: {e}") from None
            ra.self_used += own
            if bought or surplus > 1e-12 or overflow > 1e-12:
                buy, buy_tax, co2_buy, dispose, dispose_tax, co2_dispose = costs[r]
                if bought:
                    money[c] -= bought * buy
                    tax = bought * buy_tax
                    government += tax
                    taxes += tax
                    co2 += bought * co2_buy
                    ra.bought_outside += bought
                for q in (surplus, overflow):
                    if q > 1e-12:
                        money[c] -= q * dispose
                        tax = q * dispose_tax
                        government += tax
                        taxes += tax
                        co2 += q * co2_dispose
                        ra.disposed += q
    ledger.government, acc.taxes, acc.co2_t = government, taxes, co2

    for (_c, r), store in ledger.stores.items():
        acc.resources[r].stock_after += store.level

    acc.profit[:] = money
    money = acc.profit
    ledger.cash += money
    ledger.operator += acc.budget
    ledger.government -= acc.subsidies
    acc.resources = dict(acc.resources)
    return acc


# Amounts: round, tiny (below carry's 1e-12), at the tolerances, and anything.
amounts = st.one_of(st.sampled_from([0.0, 1.0, 1e-13, 2e-12, 2.5, 10.0]), st.floats(0, 60, allow_subnormal=False))
prices = st.one_of(st.sampled_from([0.0, 1.0, 17.5]), st.floats(-20, 120, allow_subnormal=False))
EDGES = (0.0, 1e-13, 1e-9, 5e-7, 1.5e-6, -1e-9, -1.5e-6)


@st.composite
def books(draw):
    """A ledger (with stores, some holding batches), the step's plans and its trades."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True))
    resources = {r: Resource(r, "t", virgin_price=draw(prices), disposal_cost=draw(prices),
                             co2_virgin=draw(st.sampled_from([0.0, 0.3, 1.7])),
                             co2_disposal=draw(st.sampled_from([0.0, 0.1, 0.9])),
                             shelf_life=draw(st.integers(0, 3)), landfill=draw(st.booleans()),
                             virgin_material=draw(st.booleans()),
                             holding_cost=draw(st.sampled_from([0.0, 0.5])),
                             decay=draw(st.sampled_from([0.0, 0.1])))
                 for r in names}
    policy = Policy(carbon_tax=draw(st.sampled_from([0.0, 30.0, 85.3])), landfill_tax=draw(st.sampled_from([0.0, 12.0])),
                    virgin_tax=draw(st.sampled_from([0.0, 4.5])), exchange_subsidy=draw(st.sampled_from([0.0, 0.0, 2.5])))
    n = draw(st.integers(1, 7))
    keys = [(c, r) for c in range(n) for r in names]
    storage = {key: draw(st.sampled_from([1.0, 5.0, 50.0])) for key in keys if draw(st.integers(0, 2)) == 0}
    ledger = Ledger(n, resources, policy, storage)
    step = draw(st.integers(1, 4))
    for store in ledger.stores.values():
        for _ in range(draw(st.integers(0, 3))):
            store.put(draw(amounts), step + draw(st.integers(-1, 3)))
    companies = draw(st.permutations(range(n)))[:draw(st.integers(0, n))]
    plans = [Plan(c, draw(prices), {}, {r: draw(amounts) for r in draw(st.sets(st.sampled_from(names)))},
                  {r: draw(amounts) for r in draw(st.sets(st.sampled_from(names)))}) for c in companies]
    plan_of = {p.company: p for p in plans}
    trades = []
    for _ in range(draw(st.integers(0, 3 * n))):
        seller, buyer = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        r = draw(st.sampled_from(names))
        shipped = draw(amounts)
        p, store = plan_of.get(seller), ledger.stores.get((seller, r))
        if p is not None and draw(st.booleans()):  # at the edge of what the seller has (before this step's expiry)
            made, need = p.byproducts.get(r, 0.0), p.inputs.get(r, 0.0)
            available = made + (store.level if store else 0.0)
            room = available - min(need, available)
            shipped = max(0.0, room + draw(st.sampled_from(EDGES)) * max(1.0, available))
        delivered = shipped * draw(st.sampled_from([1.0, 1.0, 0.97, 0.0]))
        trades.append(Trade(step, seller, buyer, r, shipped, delivered, draw(prices), draw(amounts), 1.0,
                            draw(st.one_of(st.none(), prices))))
    return ledger, step, plans, trades


def snapshot(ledger: Ledger, acc: StepAccount) -> dict:
    """Every number of the books, as reprs (so -0.0 and 0.0 differ, and so do any two floats)."""
    return {
        "profit": repr(acc.profit.tolist()),
        "cash": repr(ledger.cash.tolist()),
        "resources": [(r, repr(ra)) for r, ra in acc.resources.items()],
        "totals": repr((acc.co2_t, acc.taxes, acc.budget, acc.subsidies, ledger.government, ledger.operator)),
        "stores": {key: repr((list(map(list, s.batches)), s.level)) for key, s in ledger.stores.items()},
    }


def settled(f, ledger: Ledger, step: int, plans: list[Plan], trades: list[Trade]) -> dict | str:
    ledger = copy.deepcopy(ledger)
    acc = open_step(ledger, step)
    try:
        f(ledger, acc, plans, trades)
    except ValueError as e:
        return str(e)
    return snapshot(ledger, acc)


def books_as_the_loop_booked(ledger: Ledger, step: int, plans: list[Plan], trades: list[Trade]) -> None:
    want = settled(old_settle, ledger, step, plans, trades)
    for arrays_from in (0, 10**9):  # on arrays; by the loop
        with mock.patch.object(settlement, "ARRAYS_FROM", arrays_from):
            assert settled(settle, ledger, step, plans, trades) == want


@settings(max_examples=150, deadline=None)
@given(books())
def test_settle_books_what_the_loop_booked(case):
    books_as_the_loop_booked(*case)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(books())
def test_settle_books_what_the_loop_booked_on_many_more_books(case):
    """The same at length: a term added out of order shows only in some last bits."""
    books_as_the_loop_booked(*case)


def test_a_company_that_ships_more_than_it_had_is_named():
    res = {r: Resource(r, "t", 10.0, 5.0, shelf_life=2) for r in ("ash", "gypsum")}
    ledger = Ledger(2, res, Policy(), {(0, "gypsum"): 10.0})
    plans = [Plan(0, 0.0, {}, {"ash": 1.0, "gypsum": 1.0}, {}), Plan(1, 0.0, {}, {"ash": 2.0}, {})]
    for trades, message in (
        ([Trade(0, 1, 0, "ash", 3.0, 3.0, 1.0, 0.0, 1.0)], "company 1, ash: shipped 3 but had 2"),
        ([Trade(0, 1, 0, "ash", 3.0, 3.0, 1.0, 0.0, 1.0), Trade(0, 0, 1, "gypsum", 4.0, 4.0, 1.0, 0.0, 1.0)],
         "company 0, gypsum: shipped 4 but had 1"),  # the store's pair comes first in the loop's order
    ):
        for arrays_from in (0, 10**9):
            with mock.patch.object(settlement, "ARRAYS_FROM", arrays_from), pytest.raises(ValueError) as e:
                settle(copy.deepcopy(ledger), open_step(copy.deepcopy(ledger), 0), plans, trades)
            assert str(e.value) == message
    assert np.all(ledger.cash == 0)


def old_put(store: Store, quantity: float, expires_at: int) -> float:
    """`Store.put` as it was (with max and min)."""
    room = max(0.0, store.capacity - store.level)
    q = min(quantity, room)
    if q > 1e-12:
        store.add_batch(expires_at, q)
    return quantity - q


@settings(max_examples=300, deadline=None)
@given(st.lists(amounts, max_size=4), st.sampled_from([0.0, 1e-13, 3.0, 20.0]), st.lists(amounts, min_size=1, max_size=4))
def test_a_store_takes_in_what_it_took_in_before(batches, capacity, puts):
    stores = [Store(capacity, [[1, q] for q in batches]) for _ in range(2)]
    for i, q in enumerate(puts):
        assert repr(stores[0].put(q, i)) == repr(old_put(stores[1], q, i))
        assert repr(stores[0].level) == repr(stores[1].level)
    assert stores[0].batches == stores[1].batches


class PairStore:
    """`market.storage.Store` as it was before its batches became two queues: one queue of
    [expires_at_step, quantity] pairs, the level summed over a list of their quantities."""

    def __init__(self, capacity: float, batches: Iterable[Sequence[float]] = ()):
        self.capacity = capacity
        self.batches = deque([[e, q] for e, q in batches])

    @property
    def level(self) -> float:
        return sum([b[1] for b in self.batches])

    def expire(self, step: int) -> float:
        gone = 0.0
        while self.batches and self.batches[0][0] <= step:
            gone += self.batches.popleft()[1]
        return gone

    def take(self, quantity: float) -> float:
        taken = 0.0
        while self.batches and taken < quantity:
            batch = self.batches[0]
            q = min(batch[1], quantity - taken)
            batch[1] -= q
            taken += q
            if batch[1] <= 1e-12:
                self.batches.popleft()
        return taken

    def put(self, quantity: float, expires_at: int) -> float:
        q = min(quantity, max(0.0, self.capacity - self.level))
        if q > 1e-12:
            self.batches.append([expires_at, q])
        return quantity - q

    def shrink(self, share: float) -> float:
        if share <= 0:
            return 0.0
        lost = 0.0
        for batch in self.batches:
            q = batch[1] * share
            batch[1] -= q
            lost += q
        return lost


operations = st.lists(st.one_of(st.tuples(st.just("put"), amounts, st.integers(0, 12)),
                                st.tuples(st.just("take"), amounts), st.tuples(st.just("expire"), st.integers(0, 12)),
                                st.tuples(st.just("shrink"), st.sampled_from([0.0, 0.01, 0.3])),
                                st.tuples(st.just("copy"))), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), amounts), max_size=5), st.sampled_from([0.0, 1e-13, 3.0, 20.0, 1e9]),
       operations)
def test_a_store_keeps_the_bits_of_its_batches_as_pairs(batches, capacity, ops):
    """Every operation of a store, its return and its level after it, bit for bit the same as
    on the pairs the batches were before (and a copy goes on as the original would)."""
    new, old = Store(capacity, batches), PairStore(capacity, batches)
    for op, *args in ops:
        if op == "copy":
            new = new.copy()
            continue
        assert repr(getattr(new, op)(*args)) == repr(getattr(old, op)(*args))
        assert repr(new.level) == repr(old.level)
        assert new.batches == [list(b) for b in old.batches]
