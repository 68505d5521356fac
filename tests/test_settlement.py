"""Settlement books every unit and every euro: checked step by step on generated parks.

Each example runs `agents.model.ParkModel` on a park from `tests.strategies.parks` and looks at
what `market.settlement.settle` was handed (the plans and the call market's trades) and what it
left behind (the step's account, the ledger's cash and stores).
"""

from __future__ import annotations

from dataclasses import dataclass
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.model import ParkModel
from agents.scenario import CompanySpec, ProcessSpec, Scenario
from market.orders import Trade
from market.resources import Resource
from market.settlement import Plan, StepAccount, settle
from tests.strategies import parks

STEPS = 12
REL = 1e-6


@dataclass
class Settled:
    plans: list[Plan]
    trades: list[Trade]
    acc: StepAccount
    cash_before: np.ndarray
    cash_after: np.ndarray
    stores_after: dict[tuple[int, str], list[tuple[int, float]]]


def run_and_watch(park: Scenario, seed: int, steps: int = STEPS) -> tuple[ParkModel, list[Settled]]:
    """Run the park, recording what every call of `settle` saw and did."""
    seen: list[Settled] = []

    def watching(ledger, acc, plans, trades):
        trades = list(trades)
        before = ledger.cash.copy()
        out = settle(ledger, acc, plans, trades)
        stores = {key: [(int(e), float(q)) for e, q in s.batches] for key, s in ledger.stores.items()}
        seen.append(Settled(list(plans), trades, out, before, ledger.cash.copy(), stores))
        return out

    model = ParkModel(park, seed=seed)
    with mock.patch("agents.model.settle", watching):
        model.run(steps)
    assert len(seen) == steps
    return model, seen


def scale(ra) -> float:
    return max(1.0, ra.produced, ra.consumed, ra.bought_outside, ra.disposed, ra.stock_before, ra.stock_after)


@settings(max_examples=25, deadline=None)
@given(parks(), st.integers(0, 2**16))
def test_every_resource_is_conserved(park, seed):
    _, seen = run_and_watch(park, seed)
    for s in seen:
        for r, ra in s.acc.resources.items():
            assert abs(ra.imbalance()) <= REL * scale(ra), (s.acc.step, r, ra)
            assert min(ra.produced, ra.consumed, ra.shipped, ra.exchanged, ra.lost,
                       ra.bought_outside, ra.disposed, ra.stock_before, ra.stock_after) >= -1e-9
        by_res: dict[str, list[Trade]] = {}
        for t in s.trades:
            by_res.setdefault(t.resource, []).append(t)
        for r, ts in by_res.items():
            ra = s.acc.resources[r]
            assert ra.shipped == pytest.approx(sum(t.shipped for t in ts))
            assert ra.exchanged == pytest.approx(sum(t.delivered for t in ts))
            assert ra.lost == pytest.approx(sum(t.shipped - t.delivered for t in ts), abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(parks(), st.integers(0, 2**16))
def test_money_is_conserved(park, seed):
    """Revenue from products is the only money coming in. It ends up as company profit, as
    taxes, as transport paid, or with outside suppliers and disposal firms (their prices net of
    tax). Trades between companies move money only between them."""
    model, seen = run_and_watch(park, seed)
    ledger = model.ledger
    for s in seen:
        acc = s.acc
        np.testing.assert_allclose(s.cash_after - s.cash_before, acc.profit, rtol=1e-12, atol=1e-9)
        revenue = sum(p.revenue for p in s.plans)
        transport = sum(t.transport_cost for t in s.trades)
        outside_cost = sum(ra.bought_outside * ledger.buy_price(r) + ra.disposed * ledger.dispose_price(r)
                           for r, ra in acc.resources.items())
        expected_taxes = sum(ra.bought_outside * model.policy.buy_tax(park.resources[r])
                             + ra.disposed * model.policy.dispose_tax(park.resources[r])
                             for r, ra in acc.resources.items())
        size = max(1.0, revenue, outside_cost)
        assert acc.taxes == pytest.approx(expected_taxes, rel=1e-9, abs=1e-9 * size)
        # Where every euro of revenue went: profit + taxes + transport + outside firms' share.
        outside_firms = outside_cost - expected_taxes
        assert acc.profit.sum() + acc.taxes + transport + outside_firms == pytest.approx(
            revenue, rel=1e-9, abs=1e-9 * size)
        # Between companies: what buyers pay is what sellers receive before paying the journey.
        paid = np.zeros(len(park.companies))
        received = np.zeros(len(park.companies))
        for t in s.trades:
            paid[t.buyer] += t.price * t.delivered
            received[t.seller] += t.price * t.delivered
        assert paid.sum() == pytest.approx(received.sum(), rel=1e-12, abs=1e-9)
    assert ledger.government == pytest.approx(sum(s.acc.taxes for s in seen), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(ledger.cash, sum(s.acc.profit for s in seen), rtol=1e-9, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(parks(), st.integers(0, 2**16))
def test_stores_stay_within_capacity_and_shelf_life(park, seed):
    model, seen = run_and_watch(park, seed)
    caps = {(i, r): cap for i, c in enumerate(park.companies) for r, cap in c.storage.items()}
    for s in seen:
        t = s.acc.step
        for (c, r), batches in s.stores_after.items():
            life = park.resources[r].shelf_life
            assert life > 0, "a store for a resource that does not keep"
            level = sum(q for _, q in batches)
            assert -1e-12 <= level <= caps[(c, r)] * (1 + 1e-12)
            for expires_at, q in batches:
                assert q > 0
                made = expires_at - life - 1  # settle stores this step's output until step+life
                assert t - life <= made <= t, f"step {t}: batch of {r} made at step {made} in store"


def test_stored_surplus_expires_after_its_shelf_life():
    # A transcript: a maker of ash (keeps 2 steps, store of 15) and nobody to buy it. 10 units a
    # step: the store fills to 15 in two steps; a batch made at step s is disposed of at the
    # start of step s+3, so no batch ever stays longer than 2 steps.
    ash = Resource("ash", "t", virgin_price=10, disposal_cost=4, shelf_life=2)
    maker = CompanySpec("maker", "test", (0.0, 0.0),
                        (ProcessSpec("p", "thing", "t", capacity=10, sale_price=100, byproducts={"ash": 1.0}),),
                        storage={"ash": 15})
    park = Scenario("one maker", "", {"ash": ash}, (maker,))
    model, seen = run_and_watch(park, seed=0, steps=6)
    levels = [s.stores_after[(0, "ash")] for s in seen]
    assert levels[0] == [(3, 10.0)]
    assert levels[1] == [(3, 10.0), (4, 5.0)]
    assert levels[2] == [(3, 10.0), (4, 5.0)]  # full: step 2's output is all disposed of
    assert levels[3] == [(4, 5.0), (6, 10.0)]  # step 0's batch is gone at the start of step 3
    disposed = [s.acc.resources["ash"].disposed for s in seen]
    assert disposed == pytest.approx([0, 5, 10, 10, 10, 10])
    assert [s.acc.resources["ash"].imbalance() for s in seen] == pytest.approx([0] * 6)


def test_stock_decays_and_costs_to_hold():
    """A store loses `decay` of its stock each step and its owner pays `holding_cost` per unit
    kept; what decays is counted as lost, so every resource still balances."""
    from market.policy import Policy
    from market.settlement import Ledger, open_step

    res = {"ash": Resource("ash", "t", 10.0, 5.0, shelf_life=100, holding_cost=0.5, decay=0.1)}
    ledger = Ledger(1, res, Policy(), {(0, "ash"): 1000.0})
    ledger.stores[(0, "ash")].put(200.0, 100)
    acc = open_step(ledger, 1)
    assert ledger.stock(0, "ash") == pytest.approx(180.0)
    assert acc.resources["ash"].lost == pytest.approx(20.0)
    assert acc.profit[0] == pytest.approx(-0.5 * 180.0)
    settle(ledger, acc, [Plan(0, 0.0, {}, {}, {})], [])
    assert acc.resources["ash"].imbalance() == pytest.approx(0.0, abs=1e-9)
    assert acc.resources["ash"].stock_after == pytest.approx(180.0)
