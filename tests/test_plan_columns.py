"""A large park's plans as columns (`agents.company.ParkLoads.plans`, `market.settlement.PlanList`):
the columns are the fields of the plans `Company.plan_of` makes, the plans are made only when
read, and the passes that read the columns (the positions, settlement, the planner's stores)
give the same bits as plan by plan."""

from __future__ import annotations

import copy
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.company import park_positions
from market.orders import Trade
from market.settlement import Plan, PlanColumns, PlanList, open_step, settle
from market.storage import Store
from tests.test_settle_arrays import snapshot

# Amounts and prices with the awkward cases: nothing made, -0.0, less than nothing, dust, NaN-free.
amount = st.one_of(st.sampled_from([0.0, -0.0, -1.0, 1e-12, 2e-9]), st.floats(0.001, 500.0).map(lambda x: x / 3.0))
price = st.one_of(st.sampled_from([0.0, -0.0, -12.5]), st.floats(-50.0, 900.0).map(lambda x: x / 7.0))


@cache
def _park():
    from experiments import runner
    cfg, park = runner.resolve("synthetic:80", 10, 3, {})
    model, _ = runner.models(cfg, park)
    for _ in range(2):
        model.step()
    return model


def model_copy():
    return copy.deepcopy(_park())


def same_plan_columns(a: PlanColumns, b: PlanColumns) -> None:
    for f in PlanColumns.__dataclass_fields__:
        x, y = getattr(a, f), getattr(b, f)
        if isinstance(x, list):
            assert x == y, f
        else:
            assert x.dtype == y.dtype and repr(x.tolist()) == repr(y.tolist()), f


@st.composite
def days(draw):
    model = _park()
    n = len(model.companies)
    made = np.array(draw(st.lists(amount, min_size=n, max_size=n)))
    sale = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    # Stores of the park's (of by-products) and more: of an input (what a surplus of it may go
    # to) and of a resource the company neither makes nor needs (stock it only holds).
    names = sorted(model.ledger.resources)
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(names), st.sampled_from([0.5, 6.0, 1e3])),
                          max_size=30, unique_by=lambda x: x[:2]))
    for c in draw(st.lists(st.integers(0, n - 1), max_size=8)):
        inputs = [r for p in model.companies[c].spec.processes for r in p.inputs]
        if inputs:
            extra.append((c, inputs[0], draw(st.sampled_from([0.5, 6.0, 1e3]))))
    levels = draw(st.lists(st.sampled_from([0.0, 0.0, 1e-10, 0.4, 7.0, 1e4]), min_size=len(model.ledger.stores) + len(extra),
                           max_size=len(model.ledger.stores) + len(extra)))
    return made, sale, extra, levels


def with_stores(model, extra):
    """The model's ledger with these (company, resource, capacity) stores more."""
    ledger = model.ledger
    for c, r, cap in extra:
        if (c, r) not in ledger.stores:
            store = ledger.stores[(c, r)] = Store(cap)
            ledger.stores_of[c].append(r)
            ledger.stores_at.setdefault(c, {})[r] = store
    return ledger


def plans_of(model, made, sale) -> tuple[PlanList, list[Plan]]:
    loads = model._loads
    plans = loads.plans(model.companies, made, sale)
    assert isinstance(plans, PlanList)
    return plans, [c.plan_of([q], [p]) for c, q, p in zip(model.companies, made.tolist(), sale.tolist())]


@settings(max_examples=25, deadline=None)
@given(days())
def test_a_large_parks_plans_as_columns_are_the_plans_made_one_by_one(day):
    made, sale, _, _ = day
    model = _park()
    plans, want = plans_of(model, made, sale)
    assert len(plans) == len(want) and plans._items is None
    same_plan_columns(plans.columns, PlanColumns.of(want))
    assert repr([plans.one(k) for k in range(len(want))]) == repr(want)
    assert plans._items is None  # one plan made at a time, not the list
    assert repr(list(plans)) == repr(want)
    # Every entry of the plans, and pairs of no entry (a resource not made or needed, or unknown).
    keys = [(k, r) for k, p in enumerate(want) for r in (*p.byproducts, *p.inputs)]
    keys += [(k, r) for k in range(0, len(want), 7) for r in (*sorted(model.ledger.resources), "nothing-here")]
    got_made, got_used = plans.columns.amounts_at(keys)
    assert repr(got_made) == repr([want[k].byproducts.get(r, 0.0) for k, r in keys])
    assert repr(got_used) == repr([want[k].inputs.get(r, 0.0) for k, r in keys])


@settings(max_examples=12, deadline=None)  # 100 in the slow suite (below)
@given(days())
def test_positions_and_settlement_read_the_plans_columns_to_the_same_bits(day):
    made, sale, extra, levels = day
    model = model_copy()
    ledger = with_stores(model, extra)
    for store, level in zip(ledger.stores.values(), levels):
        if level:
            store.put(min(level, store.capacity), model.t + 3)
    plans, want = plans_of(model, made, sale)
    got = park_positions(model.companies, plans, ledger)
    assert plans._items is None
    assert repr(got) == repr(park_positions(model.companies, want, ledger))
    # Settlement with some trades at the edge of what the companies have.
    rng = np.random.default_rng(int(made.sum() * 1000) % 2**32)
    rows = [row for block in got for row in block]
    asks = [r for r in rows if r[2].value == "sell"]
    bids = [r for r in rows if r[2].value == "buy"]
    trades = [Trade(model.t, a[0], b[0], a[1], a[3] * 0.5, a[3] * 0.5, 3.0, 0.1, 1.0)
              for a, b in zip(asks, bids) if a[1] == b[1] and a[0] != b[0] and rng.random() < 0.7]

    def booked(p):
        led = copy.deepcopy(ledger)
        acc = open_step(led, model.t)
        try:
            settle(led, acc, p, trades)
        except ValueError as e:
            return str(e)
        return snapshot(led, acc)
    assert booked(plans) == booked(want)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(days())
def test_positions_and_settlement_read_the_plans_columns_to_the_same_bits_long(day):
    test_positions_and_settlement_read_the_plans_columns_to_the_same_bits.hypothesis.inner_test(day)
