"""McAfee's two conventions for a missing (k+1)-th pair, against brute force.

"reduce" gives up the k-th pair whenever the bids or the asks run out at k; "bounds" fills in
the missing bid with the floor and the missing ask with the ceiling of the price range, as
McAfee's (1992) paper does, and tries p0 as usual. The oracle enumerates every set of buyers
and sellers of equal size to find the efficient trades, then applies each convention's rule
as stated: which pairs trade, at what prices, and what the auctioneer keeps.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from experiments import config
from experiments.problems import InputError
from market.mcafee import McAfee, budget, mcafee_unit
from market.settings import McAfeeConvention
from tests.test_mcafee import together

FLOOR, CEILING = 0.0, 40.0
S_, B_ = "sell", "buy"


def prices(min_size: int = 0) -> st.SearchStrategy[list[float]]:
    # Distinct values inside the range: the efficient set is then unique.
    return st.lists(st.integers(1, 39).map(float), min_size=min_size, max_size=5, unique=True)


def oracle(bids: list[float], asks: list[float], convention: str
           ) -> tuple[set[float], set[float], float, float, float]:
    """(bids that trade, asks that trade, buyer price, seller price, budget) by enumeration."""
    best: tuple[float, tuple[float, ...], tuple[float, ...]] = (0.0, (), ())
    for m in range(1, min(len(bids), len(asks)) + 1):
        for bs in itertools.combinations(bids, m):
            for ss in itertools.combinations(asks, m):
                gain = sum(bs) - sum(ss)
                # One price must clear every chosen pair; the most gain, then the most pairs.
                if min(bs) >= max(ss) and (gain, m) > (best[0], len(best[1])):
                    best = (gain, bs, ss)
    _, wb, ws = best
    if not wb:
        return set(), set(), np.nan, np.nan, 0.0
    lose_b = [b for b in bids if b not in wb]
    lose_s = [s for s in asks if s not in ws]
    next_b = max(lose_b) if lose_b else (FLOOR if convention == "bounds" else None)
    next_s = min(lose_s) if lose_s else (CEILING if convention == "bounds" else None)
    bk, sk = min(wb), max(ws)
    if next_b is not None and next_s is not None and sk <= (p0 := (next_b + next_s) / 2) <= bk:
        return set(wb), set(ws), p0, p0, 0.0
    kept_b, kept_s = set(wb) - {bk}, set(ws) - {sk}
    return kept_b, kept_s, bk, sk, (bk - sk) * len(kept_b)


def run(bids: list[float], asks: list[float], convention: str):
    bounds = (FLOOR, CEILING) if convention == "bounds" else None
    bi, si, pb, ps = mcafee_unit(np.array(bids), np.array(asks), bounds)
    won_b = {bids[n] for n in bi}
    won_s = {asks[n] for n in si}
    return won_b, won_s, pb, ps, (pb - ps) * len(bi) if len(bi) else 0.0


@pytest.mark.parametrize("convention", ["reduce", "bounds"])
@settings(max_examples=150, deadline=None)
@given(bids=prices(), asks=prices())
@example(bids=[10.0, 8.0], asks=[1.0, 2.0])  # no (k+1)-th pair on either side
@example(bids=[30.0, 25.0, 2.0], asks=[5.0, 6.0])  # no (k+1)-th ask only
@example(bids=[30.0], asks=[3.0, 35.0, 38.0])  # one buyer
def test_each_convention_makes_the_trades_brute_force_says(convention, bids, asks):
    wb, ws, pb, ps, kept = oracle(bids, asks, convention)
    got = run(bids, asks, convention)
    assert (got[0], got[1]) == (wb, ws)
    if wb:
        assert got[2:4] == pytest.approx((pb, ps))
        assert got[4] == pytest.approx(kept)
        assert min(wb) >= got[2] >= got[3] >= max(ws)  # no limit passed, budget >= 0


@settings(max_examples=150, deadline=None)
@given(bids=prices(), asks=prices())
def test_the_bounds_never_trade_less_and_differ_only_without_a_next_pair(bids, asks):
    r = run(bids, asks, "reduce")
    b = run(bids, asks, "bounds")
    assert r[0] <= b[0] and r[1] <= b[1]
    b_sorted, s_sorted = sorted(bids, reverse=True), sorted(asks)
    k = sum(1 for x, y in zip(b_sorted, s_sorted) if x >= y)
    if 0 < k < len(bids) and k < len(asks):
        assert r == b


def test_two_a_side_with_both_pairs_crossing():
    # k = 2 and no third pair. Reduce: one pair trades at b_2 = 8 and s_2 = 2, the auctioneer
    # keeps 6. Bounds (0, 10): p0 = 5 lies in [2, 8], both pairs trade at 5, no budget.
    assert mcafee_unit(np.array([10.0, 8.0]), np.array([1.0, 2.0]))[2:] == (8.0, 2.0)
    bi, si, pb, ps = mcafee_unit(np.array([10.0, 8.0]), np.array([1.0, 2.0]), (0.0, 10.0))
    assert (len(bi), len(si), pb, ps) == (2, 2, 5.0, 5.0)
    # Bounds (0, 30): p0 = 15 is above b_2 = 8, so trade is reduced as before.
    assert len(mcafee_unit(np.array([10.0, 8.0]), np.array([1.0, 2.0]), (0.0, 30.0))[0]) == 1


def utility(values: np.ndarray, reports: np.ndarray, side: str, who: int, others: np.ndarray) -> float:
    bids, asks = (reports, others) if side == B_ else (others, reports)
    bi, si, pb, ps = mcafee_unit(bids, asks, (FLOOR, CEILING))
    if side == B_:
        return values[who] - pb if who in bi else 0.0
    return ps - values[who] if who in si else 0.0


@settings(max_examples=60, deadline=None)
@given(prices(min_size=1), prices(min_size=1))
@example([10.0, 8.0], [1.0, 2.0])
def test_bidding_ones_value_stays_dominant_with_the_bounds(bids, asks):
    values = {B_: np.array(bids), S_: np.array(asks)}
    grid = np.arange(FLOOR, CEILING + 0.25, 0.5)  # every report inside the public range
    for side in (B_, S_):
        mine, others = values[side], values[S_ if side == B_ else B_]
        for who in range(len(mine)):
            truthful = utility(mine, mine, side, who, others)
            for lie in grid:
                reports = mine.copy()
                reports[who] = lie
                assert utility(mine, reports, side, who, others) <= truthful + 1e-12, (side, who, lie)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_park_mechanism_follows_the_convention_on_whole_quantities(data):
    bids, asks = data.draw(prices()), data.draw(prices())
    qb = [data.draw(st.integers(1, 3)) for _ in bids]
    qa = [data.draw(st.integers(1, 3)) for _ in asks]
    orders, net = together(bids, asks, ([float(q) for q in qb], [float(q) for q in qa]))
    trades = McAfee(convention="bounds", bounds=(FLOOR, CEILING)).clear(orders, net, 0, np.random.default_rng(0))
    bi, si, pb, ps = mcafee_unit(np.repeat(bids, qb), np.repeat(asks, qa), (FLOOR, CEILING))
    assert sum(t.delivered for t in trades) == pytest.approx(len(bi))
    for t in trades:
        assert (t.price, t.seller_price) == (pb, ps)
    assert budget(trades) == pytest.approx((pb - ps) * len(bi) if len(bi) else 0.0)


def test_the_convention_is_a_validated_setting():
    cfg = config.apply(config.RunConfig(), {"market.mechanism": "mcafee", "market.mcafee_convention": "bounds"})
    assert cfg.market.mcafee_convention is McAfeeConvention.BOUNDS
    assert cfg.market.build() == McAfee(convention="bounds")
    default = config.apply(config.RunConfig(), {"market.mechanism": "mcafee"})
    assert default.market.build() == McAfee(convention="reduce")
    with pytest.raises(InputError, match="did you mean 'bounds'"):
        config.apply(config.RunConfig(), {"market.mcafee_convention": "bound"})
    with pytest.raises(ValueError, match="convention"):
        McAfee(convention="paper")


def test_bounds_without_a_price_range_say_what_they_need():
    orders, net = together([10.0, 8.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="price_range"):
        McAfee(convention="bounds").clear(orders, net, 0, np.random.default_rng(0))


def test_in_the_park_the_bounds_come_from_the_resources_price_range():
    # Kalundborg's resources have one or two traders a side, so the (k+1)-th pair is often
    # missing: the bounds (minus the disposal price to the park buy value) let more of the
    # gains reach the companies, at the same efficiency or better.
    from experiments import api

    got = {c: api.simulate("kalundborg", steps=20, seed=0, set={"market.mechanism": "mcafee",
                                                               "market.mcafee_convention": c}, yardstick=False).kpis
           for c in ("reduce", "bounds")}
    assert got["bounds"]["mechanism_budget_eur"] >= 0
    assert got["bounds"]["traders_share"] > got["reduce"]["traders_share"]
    assert got["bounds"]["market_efficiency"] >= got["reduce"]["market_efficiency"] - 1e-9
