"""Private gains, transfers and social welfare kept apart (`market.welfare.exchange_values`,
`experiments.runner.welfare_kpis`): the gains from trade at the companies' reservation prices
are the real costs the exchanges avoid plus the taxes they avoid and the subsidies they earn."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import runner, scenario_io
from experiments.config import resolve
from market.policy import TRANSFER_PARTS
from tests.conftest import EXAMPLE


def _example():
    return scenario_io.parse(tomllib.loads(EXAMPLE.read_text()), "example.toml")


@settings(max_examples=12, deadline=None)
@given(carbon=st.floats(0, 120), landfill=st.floats(0, 80), subsidy=st.floats(0, 15))
def test_the_transfers_are_the_taxes_and_subsidies_of_the_units_exchanged(carbon, landfill, subsidy):
    """Computed trade by trade from the resources' data, independently of the reservation
    prices the model used: what is left of the gains is the same real-cost formula whatever the
    taxes (every ask in this park is a unit its owner would dispose of)."""
    park = _example()
    cfg, _ = resolve(str(EXAMPLE), 20, 1, {"policy.carbon_tax": carbon, "policy.landfill_tax": landfill,
                                           "policy.exchange_subsidy": subsidy})
    res = runner.simulate(cfg, park, yardstick=False)
    k = res.summary["kpis"]
    expect = dict.fromkeys(TRANSFER_PARTS, 0.0)
    real = 0.0
    for t in res.trades.itertuples():  # trades.parquet, as a user reads it
        r = park.resources[t.resource]
        expect["carbon_tax"] += carbon * (t.delivered * r.co2_virgin + t.shipped * r.co2_disposal)
        expect["landfill_tax"] += landfill * t.shipped * r.landfill
        expect["exchange_subsidy"] += subsidy * t.delivered
        real += t.delivered * r.virgin_price + t.shipped * r.disposal_cost - t.transport_cost_eur
    assert len(res.trades)
    for part in TRANSFER_PARTS:
        assert k[f"transfers_{part}_eur"] == pytest.approx(expect[part], rel=1e-9, abs=1e-6)
    assert k["exchange_surplus_eur"] == pytest.approx(real, rel=1e-9)
    assert k["gains_from_trade_eur"] == pytest.approx(k["exchange_surplus_eur"] + k["transfers_eur"], rel=1e-12)
    assert k["social_surplus_eur"] == pytest.approx(k["exchange_surplus_eur"] - k["link_costs_eur"], rel=1e-12)


def _kalundborg(**sets):
    cfg, park = resolve("kalundborg", 60, 0, sets)
    return runner.simulate(cfg, park, yardstick=False).summary["kpis"]


def test_a_landfill_tax_moves_private_gains_but_not_the_social_surplus_of_the_same_trades():
    """Issue 13's case: Kalundborg's 60-day gains with and without its landfill tax, the same
    trades; the difference is the tax avoided, a transfer from the government."""
    taxed, untaxed = _kalundborg(), _kalundborg(**{"policy.landfill_tax": 0.0})
    assert taxed["trades"] == untaxed["trades"]
    assert taxed["gains_from_trade_eur"] > untaxed["gains_from_trade_eur"] + 1e6
    assert taxed["exchange_surplus_eur"] == pytest.approx(untaxed["exchange_surplus_eur"], rel=1e-9)
    assert taxed["transfers_landfill_tax_eur"] == pytest.approx(
        taxed["gains_from_trade_eur"] - untaxed["gains_from_trade_eur"], rel=1e-9)
    assert untaxed["transfers_eur"] == 0.0
    assert taxed["co2_value_eur"] == pytest.approx(taxed["co2_avoided_t"] * 100.0)
    valued = _kalundborg(**{"policy.social_cost_of_carbon": 50.0})
    assert valued["co2_value_eur"] == pytest.approx(valued["co2_avoided_t"] * 50.0)
    assert valued["gains_from_trade_eur"] == taxed["gains_from_trade_eur"]  # a valuation, not an instrument


def test_gain_sharing_leaves_the_transfers_in_the_gains_as_they_are():
    """The operator's side payments redistribute the gains; they are not the taxes avoided and
    subsidies earned in them (they were recorded in their place, and the split read zero)."""
    market = _kalundborg(**{"policy.carbon_tax": 20.0})
    shared = _kalundborg(**{"policy.carbon_tax": 20.0, "policy.gain_sharing": "shapley"})
    assert market["transfers_eur"] > 0
    assert shared["gains_from_trade_eur"] == pytest.approx(market["gains_from_trade_eur"], rel=1e-9)
    assert shared["transfers_eur"] == pytest.approx(market["transfers_eur"], rel=1e-9)


def test_the_mechanisms_budget_is_reported_apart_from_what_the_traders_keep():
    k = _kalundborg(**{"market.mechanism": "mcafee"})
    assert k["mechanism_budget_eur"] > 0
    assert k["traders_gains_eur"] == pytest.approx(k["gains_from_trade_eur"] - k["mechanism_budget_eur"])
    assert k["traders_share"] == pytest.approx(k["traders_gains_eur"] / k["gains_from_trade_eur"])
    assert k["traders_share"] < 0.5  # McAfee's budget takes most of Kalundborg's gains
    assert _kalundborg()["traders_share"] == pytest.approx(1.0)


def test_a_park_with_pipes_to_build_pays_for_them_out_of_its_social_surplus():
    park = dataclasses.replace(scenario_io.load("kalundborg"), pipelines=())
    cfg, _ = resolve("kalundborg", 90, 0, {"policy.investment_subsidy": 0.25})
    k = runner.simulate(cfg, park, yardstick=False).summary["kpis"]
    model_links = k["link_costs_eur"]
    assert model_links > 0  # pipes were built; the government's quarter is in it too
    assert k["social_surplus_eur"] == pytest.approx(k["exchange_surplus_eur"] - model_links)


def test_the_mechanisms_budget_can_be_audited_trade_by_trade(tmp_path):
    cfg, park = resolve("kalundborg", 20, 0, {"market.mechanism": "mcafee"})
    res = runner.simulate(cfg, park, yardstick=False)
    t = res.trades
    budget = float((t["payment_eur"] - t["receipt_eur"]).sum())
    assert budget == pytest.approx(res.summary["kpis"]["mechanism_budget_eur"], rel=1e-9)
    assert (t["receipt_eur"] <= t["payment_eur"] + 1e-9).all() and (t["seller_price_eur"] < t["price_eur"]).any()


def test_the_operators_gain_sharing_moves_money_between_companies_not_the_transfers_in_the_gains():
    """The operator's re-split of the gains (Shapley) is a payment between companies; the taxes
    avoided and subsidies earned in the same gains are what they were under the market's split."""
    market, shapley = _kalundborg(), _kalundborg(**{"policy.gain_sharing": "shapley"})
    assert shapley["gains_from_trade_eur"] == pytest.approx(market["gains_from_trade_eur"], rel=1e-12)
    assert shapley["transfers_eur"] == pytest.approx(market["transfers_eur"], rel=1e-12)
    assert shapley["transfers_eur"] > 1e6
