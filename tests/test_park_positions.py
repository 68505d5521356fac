"""`agents.company.park_positions` (the park's positions in one loop) against the per-company
code it replaced, and `ParkModel._truthful`'s planner orders against the same built afresh."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.company import Company, park_positions
from agents.model import ParkModel
from market.orders import Side
from market.settlement import Ledger, Plan
from tests.strategies import parks

Row = tuple[int, str, Side, float, float]


def _old_positions(company: Company, plan: Plan, ledger: Ledger, stock=None) -> list[Row]:
    """`Company._positions` as it was, company by company (the reference)."""
    level_of = ledger.stock if stock is None else stock
    stores = ledger.stores
    idx = company.index
    out: list[Row] = []

    def asks(r: str, surplus: float) -> None:
        if r in company.uses:
            cap = ledger.store_capacity(idx, r)
            keep = cap if cap < surplus else surplus
        else:
            keep = 0.0
        if keep > 1e-9:
            out.append((idx, r, Side.SELL, keep, ledger.buy_prices[r]))
        if surplus - keep > 1e-9:
            out.append((idx, r, Side.SELL, surplus - keep, -ledger.dispose_price(r)))

    byproducts, inputs = plan.byproducts, plan.inputs
    for r in sorted(byproducts.keys() | inputs.keys()):
        net = byproducts.get(r, 0.0) + (level_of(idx, r) if (idx, r) in stores else 0.0) - inputs.get(r, 0.0)
        if net > 1e-9:
            asks(r, net)
        elif net < -1e-9:
            out.append((idx, r, Side.BUY, -net, ledger.park_buy_value(r)))
    for r in ledger.stores_of.get(idx, ()):
        level = level_of(idx, r)
        if r not in byproducts and r not in inputs and level > 1e-9:
            asks(r, level)
    return out


def _stock(model: ParkModel, shifts: list[float]):
    """A stock off the park's by `shifts` (cycled over the stores), never below zero."""
    keys = sorted(model.ledger.stores)

    def stock(c: int, r: str) -> float:
        k = keys.index((c, r)) if (c, r) in keys else 0
        return max(0.0, model.ledger.stock(c, r) + shifts[k % len(shifts)])

    return stock


@settings(max_examples=25, deadline=None)
@given(park=parks(max_companies=6), seed=st.integers(0, 1000),
       shifts=st.lists(st.sampled_from([0.0, 0.0, 1e-10, 0.5, -0.25, 3.0, 1e6]), min_size=1, max_size=8),
       scale=st.sampled_from([0.0, 0.5, 1.0, 2.0]))
def test_park_positions_are_the_companies_positions_bit_for_bit(park, seed, shifts, scale):
    model = ParkModel(park, seed=seed)
    stock = _stock(model, shifts)
    for _ in range(3):
        plans = model._plan(model.t).plans
        # Plans scaled (none made at 0.0): surpluses and needs of every size against the stores.
        plans = [Plan(p.company, p.revenue, p.output, {r: q * scale for r, q in p.byproducts.items()},
                      dict(p.inputs)) if scale != 1.0 else p for p in plans]
        for s in (None, stock):
            want = [_old_positions(c, p, model.ledger, s) for c, p in zip(model.companies, plans)]
            got = park_positions(model.companies, plans, model.ledger, s)
            assert repr(got) == repr(want)
            assert [c._positions(p, model.ledger, s) for c, p in zip(model.companies, plans)] == want
        model.step()


@settings(max_examples=20, deadline=None)
@given(park=parks(max_companies=6), seed=st.integers(0, 1000),
       shifts=st.lists(st.sampled_from([0.0, 0.0, 0.0, 1e-10, 0.5, -0.25, 3.0, 1e6]), min_size=1, max_size=8))
def test_the_planners_orders_are_the_orders_made_afresh(park, seed, shifts):
    """The planner's orders reuse the park's where its stock is the park's: the same orders,
    numbers and all, as made from scratch on its stock."""
    model = ParkModel(park, seed=seed)
    stock = _stock(model, shifts)
    for _ in range(3):
        t = model.t
        plans = model._plan(t).plans
        park_orders = model._truthful(plans, t)
        got = model._truthful(plans, t, stock)
        kept = model._park_positions
        model._park_positions = None
        assert repr(got) == repr(model._truthful(plans, t, stock))
        assert repr(park_orders) == repr(model._truthful(plans, t))
        model._park_positions = kept
        model.step()
