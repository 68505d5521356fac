"""The market lab reproduces the classic results on Ecopark's own mechanisms (small runs here;
`run.py market-lab` runs the full set)."""

import numpy as np
import pytest

from experiments import market_lab as lab
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


@pytest.mark.slow
def test_zip_converges_above_97_percent():
    assert lab.cda_efficiency("zip", 12, days=8, converged_from=4) >= 0.97


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
