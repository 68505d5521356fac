"""The optimum counts each unit once (`market.optimum`, issue 13): a storable unit the market
leaves unsold adds nothing when it is offered again, so the optimum does not grow when bidders
fail to trade and is the same, on the same production, whatever their strategies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.model import ParkModel
from agents.operations import OperationsSettings
from agents.production import Decision, ProductionSettings
from experiments import runner
from experiments.config import resolve
from market.network import Network
from market.optimum import Optimum
from market.orders import Order, Side, Trade
from market.policy import Policy
from market.resources import Resource
from market.settings import MarketSettings, MechanismName, StrategyMix
from market.settlement import Ledger, Plan, open_step, settle
from market.welfare import exchange_values, optimal_gain
from tests.conftest import EXAMPLE
from tests.strategies import parks
from tests.test_mechanisms_in_park import store_allowance

STRATEGIES = ("truthful", "zic", "ziu", "zip", "roth_erev")


def _mix(name: str) -> StrategyMix:
    return StrategyMix() if name == "truthful" else StrategyMix(**{"truthful": 0.0, name: 1.0})


class TwoDays:
    """Hand case: Asnaes (0) makes 10 t of gypsum a day and keeps up to 100 t in store for 30
    days; Gyproc (1) next door needs 10 t on day 0 and 20 t on day 1. Disposal costs 10 EUR/t,
    virgin gypsum 30 EUR/t, no taxes: each tonne exchanged gains 40 EUR. The market sells
    nothing on day 0 (Gyproc buys outside, Asnaes stores its 10 t) and all it can on day 1."""

    NEED = (10.0, 20.0)

    def __init__(self, decay: float = 0.0):
        gypsum = Resource("gypsum", "t", virgin_price=30.0, disposal_cost=10.0, shelf_life=30, decay=decay)
        self.ledger = Ledger(2, {"gypsum": gypsum}, Policy(), {(0, "gypsum"): 100.0})
        self.network = Network(np.zeros((2, 2)), {"gypsum": gypsum})
        self.optimum = Optimum(self.ledger)

    def plans(self, day: int) -> list[Plan]:
        return [Plan(0, 0.0, {}, {"gypsum": 10.0}, {}), Plan(1, 0.0, {}, {}, {"gypsum": self.NEED[day]})]

    def orders(self, day: int, stock=None) -> list[Order]:
        """Truthful orders as `Company.positions` builds them (Asnaes does not use gypsum: all
        its surplus is priced at minus its disposal cost)."""
        level = self.ledger.stock if stock is None else stock
        return [Order(0, "gypsum", Side.SELL, 10.0 + level(0, "gypsum"), -10.0),
                Order(1, "gypsum", Side.BUY, self.NEED[day], 30.0)]

    def day(self, day: int, sell: bool) -> tuple[float, float, float]:
        """One day: (the optimum, the per-step optimum on the park's own orders as it was
        measured before, the realised gains)."""
        acc = open_step(self.ledger, day)
        orders = self.orders(day)
        before = optimal_gain(orders, self.network)
        best = self.optimum.step(day, self.plans(day), lambda stock: self.orders(day, stock), self.network)
        trades = []
        if sell:
            q = min(orders[0].quantity, orders[1].quantity)
            trades = [Trade(day, 0, 1, "gypsum", q, q, 10.0, 0.0, 0.0)]
        settle(self.ledger, acc, self.plans(day), trades)
        return best.gains_eur, before, exchange_values(trades, orders)[0]


def test_a_unit_left_unsold_on_day_one_is_counted_once():
    park = TwoDays()
    opt0, before0, got0 = park.day(0, sell=False)
    assert park.ledger.stock(0, "gypsum") == pytest.approx(10.0)  # the market left it in store
    opt1, before1, got1 = park.day(1, sell=True)
    assert (opt0, got0) == (pytest.approx(400.0), 0.0)  # 10 t x 40 EUR that the market missed
    assert got1 == pytest.approx(800.0)  # day 1 sells the stored 10 t and the fresh 10 t
    assert opt1 == pytest.approx(400.0)  # the planner sold its 10 t on day 0: only the fresh 10 t
    assert opt0 + opt1 == pytest.approx(800.0)  # 20 t made, 20 t exchangeable, each once
    assert before0 + before1 == pytest.approx(1200.0)  # before: the stored 10 t counted twice
    assert (got0 + got1) / (opt0 + opt1) == pytest.approx(1.0)  # the same gains were realised


def test_decay_in_store_is_what_a_late_sale_loses_against_the_optimum():
    park = TwoDays(decay=0.1)
    opt0, _, got0 = park.day(0, sell=False)
    opt1, _, got1 = park.day(1, sell=True)
    assert opt0 + opt1 == pytest.approx(800.0)  # the planner sold before anything decayed
    assert got0 + got1 == pytest.approx(19.0 * 40.0)  # 1 t of the 10 t stored decayed
    assert (got0 + got1) / (opt0 + opt1) == pytest.approx(0.95)


def _kalundborg(mechanism: str, strategy: str, steps: int = 60, **sets) -> dict:
    cfg, park = resolve("kalundborg", steps, 0, {"market.mechanism": mechanism, **sets})
    cfg = dataclasses.replace(cfg, market=dataclasses.replace(cfg.market, strategies=_mix(strategy)))
    return runner.simulate(cfg, park, yardstick=False).summary["kpis"]


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
@pytest.mark.parametrize("mechanism", ["call", "cda"])
def test_kalundborgs_optimum_does_not_depend_on_how_the_companies_bid(mechanism):
    """Issue 13's case: with the call market and ZI-C bidders the per-step optimum grew from
    EUR 6.7 M to 9.0 M in 60 days. Production here does not depend on the bidders, so the
    planner sees the same park and the optimum is the same to rounding."""
    truthful = _kalundborg(mechanism, "truthful")
    for strategy in STRATEGIES[1:]:
        k = _kalundborg(mechanism, strategy)
        for kpi in ("optimal_gains_eur", "optimal_exchange_surplus_eur"):
            assert k[kpi] == pytest.approx(truthful[kpi], rel=1e-9), (strategy, kpi)
        assert k["gains_from_trade_eur"] <= k["optimal_gains_eur"] * (1 + 1e-9)
        assert k["exchange_surplus_eur"] <= k["optimal_exchange_surplus_eur"] * (1 + 1e-9)
        assert k["market_efficiency"] == pytest.approx(k["exchange_surplus_eur"] / k["optimal_exchange_surplus_eur"])
        assert k["market_efficiency_private"] == pytest.approx(k["gains_from_trade_eur"] / k["optimal_gains_eur"])
    if mechanism == "call":
        assert truthful["market_efficiency"] == pytest.approx(1.0)
    assert truthful["optimal_exchange_surplus_eur"] < truthful["optimal_gains_eur"]  # the landfill tax is a transfer


@settings(max_examples=10, deadline=None)
@given(park=parks(max_companies=5), seed=st.integers(0, 1000),
       mechanism=st.sampled_from([m.value for m in MechanismName]), strategies=st.lists(st.sampled_from(STRATEGIES),
                                                                                      min_size=2, max_size=2))
def test_on_the_same_production_the_optimum_is_the_same_whatever_the_bidders(park, seed, mechanism, strategies):
    """Production judged at outside prices and no cascades: every company makes the same
    whatever the market did, so the planner's park is the same and so is the optimum, exactly
    (decay and storage costs act on the planner's own stores, not on the park's). The gains
    realised stay below it within what the stores explain (`store_allowance`)."""
    runs = []
    for name in strategies:
        market = MarketSettings(mechanism=MechanismName(mechanism), strategies=_mix(name))
        model = ParkModel(park, market=market, seed=seed, production=ProductionSettings(decision=Decision.OUTSIDE),
                          operations=OperationsSettings(cascades=False))
        model.run(8)
        runs.append(model)
        realised = sum(r.gains_from_trade_eur for r in model.records)
        optimum = sum(r.optimal_gains_eur for r in model.records)
        assert realised <= optimum + store_allowance(model) + 1e-6 * max(1.0, optimum)
    a, b = (np.array([(r.optimal_gains_eur, r.optimal_exchange_surplus_eur) for r in m.records]) for m in runs)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_the_example_parks_efficiency_is_social_and_the_private_one_is_kept_apart():
    cfg, park = resolve(str(EXAMPLE), 20, 0, {"policy.landfill_tax": 40.0})
    s = runner.simulate(cfg, park, yardstick=False)
    k, ts = s.summary["kpis"], s.timeseries
    assert k["optimal_exchange_surplus_eur"] < k["optimal_gains_eur"]
    assert k["market_efficiency"] == pytest.approx(k["exchange_surplus_eur"] / k["optimal_exchange_surplus_eur"])
    assert k["market_efficiency_private"] == pytest.approx(k["gains_from_trade_eur"] / k["optimal_gains_eur"])
    assert ts["optimal_exchange_surplus_eur"].sum() == pytest.approx(k["optimal_exchange_surplus_eur"])
    assert {"market_efficiency", "market_efficiency_private"} <= set(ts.columns)
