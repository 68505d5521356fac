"""The optimum's bookkeeping on arrays (issue 15) gives what the per-order code gave: the
allocation built from columns of the orders against the per-object one it replaced, and the
two planners sharing their stores while they allocate alike against two planners each on its
own stores, exactly."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.model import ParkModel
from market.mechanism import Book
from market.network import Network
from market.optimum import Optimum, Planner, StepOptimum
from market.orders import Order, Side
from market.welfare import _allocate, optimal_allocation
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
def books(draw):
    res = draw(resources(draw(st.integers(1, 3))))
    n = draw(st.integers(2, 6))
    positions = np.array(draw(st.lists(st.tuples(tenths(0, 20), tenths(0, 20)), min_size=n, max_size=n)))
    orders = draw(st.lists(st.builds(Order, st.integers(0, n - 1), st.sampled_from(sorted(res)),
                                     st.sampled_from(list(Side)), st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]),
                                     tenths(-30, 120), st.integers(-1, 50)), max_size=14))
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
