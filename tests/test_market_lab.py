"""The market lab reproduces the classic results on Ecopark's own mechanisms (small runs here;
`run.py market-lab` runs the full set)."""

import math

import numpy as np
import pytest

from agents.strategies import STRATEGIES
from experiments import market_lab as lab
from experiments.lab_markets import LabTraders, Schedule, cda_period, lab_result, random_markets, smith_alpha
from experiments.problems import InputError
from tests.conftest import REPO, run_cli


def test_zic_is_efficient_and_ziu_is_not():
    zic = lab.cda_efficiency("zic", 12)
    ziu = lab.cda_efficiency("ziu", 12)
    assert zic >= 0.95
    assert ziu < zic - 0.1


@pytest.mark.slow
@pytest.mark.parametrize("n, published", [(2, 0.77), (4, 0.92), (10, 0.98), (25, 0.997)])
def test_mcafee_share_of_optimal_gains_matches_the_published_figure(n, published):
    assert lab.mcafee_share(n, 20_000) == pytest.approx(published, abs=0.01)


def test_call_market_with_truthful_bids_is_exactly_optimal():
    assert lab.call_market_gap(20) <= 1e-9


def test_bilateral_linear_tactics_agree_and_keep_the_gains():
    agree, gains = lab.bilateral_deals("linear", "linear", 400, 25)
    assert agree >= 0.95 and gains >= 0.90


@pytest.mark.slow  # about 3 s
def test_bilateral_rows_split_by_toughness_and_agree_less_at_the_tight_deadline():
    # A small lab: 300 deals x 3 seeds. Every row meets its bar: the later-conceding side keeps
    # more than half, equal tactics split about evenly, every pairing agrees less at 3 rounds.
    rows = lab.bilateral_rows(lambda n: lab.random_pairs(300, n), *lab.BILATERAL_RANGE, 3, "small", True)
    assert len(rows) == 18 and all(r.ok for r in rows), [r for r in rows if not r.ok]


def test_boulware_keeps_more_in_the_lab():
    boulware_sells = lab.bilateral_split("conceder", "boulware", lab.random_pairs(300, 0), 25, *lab.BILATERAL_RANGE)
    conceder_sells = lab.bilateral_split("boulware", "conceder", lab.random_pairs(300, 0), 25, *lab.BILATERAL_RANGE)
    assert boulware_sells.seller_share > 0.8 and conceder_sells.seller_share < 0.2


def test_bilateral_pairs_of_a_market_file_are_the_units_with_gains():
    m = Schedule("m", ((10.0, 4.0),), ((3.0, 8.0),), 0.0, 20.0)
    assert lab.schedule_pairs(m) == [(3.0, 10.0), (8.0, 10.0), (3.0, 4.0)]


def test_max_surplus_is_the_brute_force_optimum():
    rng = np.random.default_rng(3)
    m = lab.gode_sunder_market(rng, traders=2, units=2)
    values = [v for vs in m.values for v in vs]
    costs = [c for cs in m.costs for c in cs]
    from itertools import permutations

    best = 0.0
    for perm in permutations(range(len(costs))):
        best = max(best, sum(max(0.0, v - costs[p]) for v, p in zip(values, perm)))
    assert m.max_surplus() == pytest.approx(best)


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
@pytest.mark.parametrize("rules", ["persistent", "gode_sunder"])
def test_zip_per_unit_converges_to_the_equilibrium_price_and_beats_zic(rules):
    """ZIP with a margin per unit (Cliff 1997): Smith's alpha at most 10 % on each of days
    5-8, and efficiency over those days at least ZI-C's, on the same random markets."""
    markets = random_markets(12)
    zip_ = lab_result(markets, "zip", 8, rules)
    zic = lab_result(markets, "zic", 1, rules)
    assert zip_.worst_alpha_from(5) <= 10.0, zip_.alpha
    assert zip_.efficiency_from(5) >= zic.efficiency_from(1)


@pytest.mark.slow
def test_zip_per_unit_on_the_full_lab():
    rows = {r.experiment: r for r in lab.cda_rows(random_markets(50), "50 markets", True)}
    assert all(r.ok for r in rows.values()), [r for r in rows.values() if not r.ok]


def test_zic_under_gode_sunder_rules_is_efficient():
    assert lab.cda_efficiency("zic", 12, rules="gode_sunder") >= 0.95


def test_ziu_trades_every_unit():
    """Unconstrained, ZI-U trades every unit, so its efficiency is what that allocation gives:
    on random U[1,200] markets about 0, which is why the published 49-90 % (Gode & Sunder's
    designed markets) is no bar here."""
    markets = random_markets(12)
    for rules in ("persistent", "gode_sunder"):
        assert lab_result(markets, "ziu", 1, rules).efficiency_from(1) == pytest.approx(lab.all_units_share(markets),
                                                                                       abs=0.02)


def test_equilibrium_price_and_smith_alpha():
    # Values 10, 8, 3 against costs 2, 4, 9: two units trade; prices in [max(4, 3), min(8, 9)].
    m = Schedule("s", ((10.0, 3.0), (8.0,)), ((2.0, 9.0), (4.0,)), 0.0, 20.0)
    assert m.equilibrium() == (2, 4.0, 8.0)
    assert m.equilibrium_price() == 6.0
    assert smith_alpha([6.0, 6.0], 6.0) == 0.0
    assert smith_alpha([3.0, 9.0], 6.0) == pytest.approx(50.0)
    assert math.isnan(smith_alpha([1.0], 0.0)) and math.isnan(smith_alpha([], 6.0))
    assert smith_alpha([1e300, -1e300], 1.0) == pytest.approx(1e302)


def test_a_unit_is_spent_the_moment_it_trades():
    """The lab hears each fill from the auction: a day's surplus adds up unit by unit."""
    m = Schedule("s", ((10.0, 3.0),), ((2.0, 9.0),), 0.0, 20.0)
    traders = LabTraders(m, [STRATEGIES["truthful"](), STRATEGIES["truthful"]()], np.random.default_rng(0))
    day = cda_period(m, traders, np.random.default_rng(0))
    assert traders.done == [1, 1] and day.surplus == 8.0 and len(day.prices) == 1


@pytest.mark.slow  # over a second each: the full suite runs it, the quick subset stays under a minute
def test_a_market_file_replays(tmp_path):
    r = run_cli("market-lab", "--market", str(REPO / "tests" / "data" / "market.toml"), "--seeds", "3")
    assert r.returncode == 0, r.stderr
    assert "call market, truthful" in r.stdout and "100.0 %" in r.stdout


def test_a_bad_market_file_names_every_problem(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[market]\nceilng = 5\n[[buyers]]\nvalues = ["x"]\n[[sellers]]\ncost = [1]\n')
    with pytest.raises(InputError) as e:
        lab.read_market(bad)
    text = "\n".join(e.value.problems)
    assert "market m.toml: market.ceilng: unknown key (did you mean 'ceiling'?)" in text
    assert "buyers[0].values: must be a non-empty list of finite numbers" in text
    assert "sellers[0].cost: unknown key (did you mean 'costs'?)" in text
