"""Gain sharing (market.sharing): Shapley's axioms on random games, a brute-force oracle over
all orders of arrival, games with known answers (glove, airport), the sampled estimator on a
large game with a closed-form value, Nash bargaining, the Gini coefficient, and a tiny park."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from market.network import Network
from market.orders import Order, Side
from market.resources import Mode, Resource
from market.sharing import (CoreCheck, cached, coalition_members, core_check, gini, nash, park_game,
                            shapley)

# ---------------------------------------------------------------------------------------------
# Random games


@st.composite
def games(draw, max_n: int = 7):
    """(n, values) with values[mask] = v(mask), values[0] = 0, from whole numbers or floats."""
    n = draw(st.integers(1, max_n))
    number = draw(st.sampled_from([st.integers(-50, 50).map(float),
                                   st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)]))
    rest = draw(st.lists(number, min_size=(1 << n) - 1, max_size=(1 << n) - 1))
    return n, np.array([0.0, *rest])


def as_game(values: np.ndarray):
    return lambda mask: float(values[mask])


def swap_bits(mask: int, i: int, j: int) -> int:
    if (mask >> i & 1) != (mask >> j & 1):
        mask ^= (1 << i) | (1 << j)
    return mask


def close(a, b, scale=1.0):
    return np.allclose(a, b, rtol=1e-9, atol=1e-9 * max(1.0, scale))


@given(games())
def test_exact_shapley_is_efficient(game):
    n, values = game
    phi = shapley(n, as_game(values))
    assert phi.shape == (n,)
    assert close(phi.sum(), values[-1], np.abs(values).max())


@given(games(), st.data())
def test_symmetric_players_get_equal_shares(game, data):
    n, base = game
    if n < 2:
        return
    i, j = data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    # v(S) = v(S with i and j swapped): read every coalition from the smaller of the pair
    values = np.array([base[min(m, swap_bits(m, i, j))] for m in range(1 << n)])
    phi = shapley(n, as_game(values))
    assert close(phi[i], phi[j], np.abs(values).max())


@given(games(), st.data())
def test_dummy_player_gets_nothing(game, data):
    n, base = game
    d = data.draw(st.integers(0, n - 1))
    values = np.array([base[m & ~(1 << d)] for m in range(1 << n)])  # v(S + d) = v(S)
    phi = shapley(n, as_game(values))
    assert phi[d] == 0.0


@given(games(max_n=6), st.data())
def test_shapley_is_additive(game, data):
    n, v = game
    w = data.draw(st.lists(st.integers(-50, 50).map(float), min_size=(1 << n) - 1, max_size=(1 << n) - 1))
    w = np.array([0.0, *w])
    scale = np.abs(v).max() + np.abs(w).max()
    assert close(shapley(n, as_game(v + w)), shapley(n, as_game(v)) + shapley(n, as_game(w)), scale)


def shapley_by_permutations(n: int, values: np.ndarray) -> np.ndarray:
    """The definition: the average marginal contribution over all n! orders of arrival."""
    total = np.zeros(n)
    for order in itertools.permutations(range(n)):
        mask = 0
        for i in order:
            total[i] += values[mask | 1 << i] - values[mask]
            mask |= 1 << i
    return total / math.factorial(n)


@settings(max_examples=40)
@given(games(max_n=6))
def test_exact_shapley_matches_average_over_all_permutations(game):
    n, values = game
    assert close(shapley(n, as_game(values)), shapley_by_permutations(n, values), np.abs(values).max())


# ---------------------------------------------------------------------------------------------
# Games with known answers


def glove(mask: int) -> float:
    """Player 0 holds a left glove, players 1 and 2 a right one; a pair is worth 1."""
    return 1.0 if mask & 1 and mask & 0b110 else 0.0


def test_glove_game_shapley_is_outside_the_single_point_core():
    phi = shapley(3, glove)
    assert np.allclose(phi, [2 / 3, 1 / 6, 1 / 6])
    check = core_check(3, glove, phi)
    assert check == CoreCheck(False, 0b011, pytest.approx(1 / 6), True)  # {0, 1} gets 5/6 < 1
    assert core_check(3, glove, [1.0, 0.0, 0.0]) == CoreCheck(True, 0, 0.0, True)
    assert not core_check(3, glove, [0.9, 0.05, 0.05]).in_core  # {0, 1} blocks
    not_efficient = core_check(3, glove, [1.0, 0.0, 0.5])
    assert not not_efficient.efficient and not not_efficient.in_core


@pytest.mark.parametrize("cost", [[1.0, 2.0, 4.0], [5.0, 1.0, 3.0, 3.0], [2.0], [7.0, 7.0, 7.0, 1.0, 10.0]])
def test_airport_game_matches_littlechild_owen(cost):
    # c(S) = the longest runway a member of S needs. Littlechild & Owen (1973): with the costs
    # sorted c_(1) <= ... <= c_(n), the k-th runway segment is shared by the n - k + 1 players
    # who need it, so phi_(i) = sum_{k <= i} (c_(k) - c_(k-1)) / (n - k + 1).
    n = len(cost)

    def c(mask: int) -> float:
        return max((cost[i] for i in coalition_members(mask, n)), default=0.0)

    order = np.argsort(cost, kind="stable")
    sorted_cost = np.array(cost)[order]
    segment = np.diff(sorted_cost, prepend=0.0) / (n - np.arange(n))
    expected = np.empty(n)
    expected[order] = np.cumsum(segment)
    assert np.allclose(shapley(n, c), expected)


def test_coalition_members_and_cache():
    assert coalition_members(0b1011, 4) == [0, 1, 3]
    assert coalition_members(0, 3) == []
    with pytest.raises(ValueError):
        coalition_members(0b1000, 3)
    calls = []
    v = cached(lambda m: calls.append(m) or float(m))
    assert [v(5), v(5), v(2), v(5)] == [5.0, 5.0, 2.0, 5.0]
    assert calls == [5, 2]


# ---------------------------------------------------------------------------------------------
# Sampled Shapley on a large game with a known value

N_BIG = 18
W = np.linspace(-3.0, 5.0, N_BIG)
UNANIMITY = [((0, 1, 2), 30.0), ((3, 7, 11, 15), 40.0), ((5, 17), -12.0)]


def big_game_table() -> np.ndarray:
    """v(S) = sum_{i in S} w_i + |S|^3 / 10 + sum_k c_k [T_k within S], for all 2^18 masks.

    Its Shapley value by construction: the additive part gives w_i, the symmetric part splits
    N_BIG^3 / 10 equally, and each unanimity game u_T gives c / |T| to each member of T."""
    values = np.zeros(1)
    for w in W:
        values = np.concatenate([values, values + w])
    masks = np.arange(1 << N_BIG)
    size = np.array([bin(m).count("1") for m in range(1 << N_BIG)])
    values += size**3 / 10
    for team, c in UNANIMITY:
        t = sum(1 << i for i in team)
        values += np.where(masks & t == t, c, 0.0)
    return values


def big_game_truth() -> np.ndarray:
    phi = W + N_BIG**2 / 10
    for team, c in UNANIMITY:
        phi[list(team)] += c / len(team)
    return phi


def test_sampled_shapley_is_close_efficient_and_reproducible():
    values = big_game_table()
    v = as_game(values)
    truth = big_game_truth()
    assert np.allclose(shapley(N_BIG, v, exact_max=N_BIG), truth)  # the exact path agrees

    phi = shapley(N_BIG, v, samples=2000, rng=np.random.default_rng(7))
    # With 2000 antithetic permutations the standard error is at most about 0.5 (measured over
    # 40 seeds: 0.17-0.49 by player, the largest for unanimity members; 0.5-1.1 without the
    # reverses). Allow 4 standard errors on shares averaging 37.
    assert np.abs(phi - truth).max() < 2.0
    assert phi.sum() == pytest.approx(values[-1], rel=1e-12)  # efficient up to rounding
    again = shapley(N_BIG, v, samples=2000, rng=np.random.default_rng(7))
    assert np.array_equal(phi, again)


def test_antithetic_pairs_are_exact_on_quadratic_games():
    # In v(S) = sum w_i + |S|^2 player i arriving after k others adds w_i + 2k + 1; in the
    # reversed order it arrives after n-1-k, so every pair averages w_i + n: one pair suffices.
    n = 20
    w = np.arange(n, dtype=float)

    def v(mask: int) -> float:
        members = coalition_members(mask, n)
        return float(w[members].sum() + len(members) ** 2)

    phi = shapley(n, v, samples=2, rng=np.random.default_rng(0))
    assert np.allclose(phi, w + n)


def test_sampled_shapley_is_efficient_on_any_game():
    rng = np.random.default_rng(3)
    values = np.concatenate([[0.0], rng.normal(size=(1 << 10) - 1)])
    phi = shapley(10, as_game(values), exact_max=5, samples=7, rng=np.random.default_rng(1))
    assert phi.sum() == pytest.approx(values[-1], rel=1e-12, abs=1e-12)


def test_sampling_needs_an_rng():
    with pytest.raises(ValueError, match="rng"):
        shapley(16, lambda m: 0.0)


def test_empty_coalition_must_be_worth_nothing():
    with pytest.raises(ValueError, match="v\\(0\\)"):
        shapley(2, lambda m: 1.0)


# ---------------------------------------------------------------------------------------------
# Nash bargaining


def test_nash_splits_the_surplus_equally():
    n = 4
    assert np.allclose(nash(n, lambda m: 12.0 if m == (1 << n) - 1 else 0.0), [3.0, 3.0, 3.0, 3.0])

    alone = [1.0, -2.0, 0.0]  # stand-alone values: the disagreement point

    def v(mask: int) -> float:
        if mask == 0b111:
            return 11.0
        members = coalition_members(mask, 3)
        return alone[members[0]] if len(members) == 1 else 0.0

    x = nash(3, v)
    assert np.allclose(x, np.array(alone) + (11.0 - sum(alone)) / 3)  # surplus 12: 4 each
    assert np.allclose(x, [5.0, 2.0, 4.0])
    assert x.sum() == pytest.approx(11.0)


# ---------------------------------------------------------------------------------------------
# Gini


def gini_by_definition(x: np.ndarray) -> float:
    # 2 n^2 mean(x) written 2 n sum(x): the same number, without the mean of tiny (subnormal)
    # benefits rounding to 0 (fresh-check's Hypothesis run drew [0, 5e-324]: G = 1/2).
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) * x.sum())


def test_gini_known_values():
    assert gini([1, 1, 1]) == 0.0
    assert gini([0, 0, 1]) == pytest.approx(2 / 3)
    assert gini([5.0]) == 0.0
    assert math.isnan(gini([0, 0, 0]))
    assert math.isnan(gini([2, -3]))
    assert math.isnan(gini([]))


@given(st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=40).filter(lambda x: sum(x) > 0))
@example([0.0, 5e-324])
def test_gini_matches_the_pairwise_definition(x):
    x = np.array(x)
    assert gini(x) == pytest.approx(gini_by_definition(x), rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# The park's game


def test_park_game_of_three_companies():
    # Company 0 at km 0 sells 10 t asking 2; company 1 at km 3 wants 6 t at 10, company 2 at
    # km 1 wants 8 t at 8. Trucks cost 0.5 a tonne and km, nothing is lost on the way.
    # Gain a tonne: 0 -> 1: 10 - 2 - 1.5 = 6.5; 0 -> 2: 8 - 2 - 0.5 = 5.5.
    r = Resource("r", "t", 0.0, 0.0, transport=Mode.TRUCK, transport_cost=0.5)
    net = Network(np.array([[0, 0], [3, 0], [1, 0]], float), {"r": r})
    orders = [Order(0, "r", Side.SELL, 10, 2.0), Order(1, "r", Side.BUY, 6, 10.0),
              Order(2, "r", Side.BUY, 8, 8.0)]
    v = park_game(orders, net)
    expected = {
        0b000: 0.0, 0b001: 0.0, 0b010: 0.0, 0b100: 0.0,
        0b011: 6 * 6.5,  # 39: all of company 1's need
        0b101: 8 * 5.5,  # 44: all of company 2's need
        0b110: 0.0,  # two buyers, no seller
        0b111: 6 * 6.5 + 4 * 5.5,  # 61: company 1 first, the last 4 t to company 2
    }
    for mask, gain in expected.items():
        assert v(mask) == pytest.approx(gain), coalition_members(mask, 3)

    phi = shapley(3, v)
    assert phi.sum() == pytest.approx(61.0)
    assert np.allclose(phi, [205 / 6, 73 / 6, 88 / 6])  # by hand over the 6 orders of arrival
    assert core_check(3, v, phi).in_core
    # An equal split of 61 leaves {0, 2} with 122/3 < 44: they would trade on their own.
    equal = nash(3, v)
    assert np.allclose(equal, 61 / 3)
    assert core_check(3, v, equal) == CoreCheck(False, 0b101, pytest.approx(44 - 122 / 3), True)


def test_core_check_refuses_large_parks():
    with pytest.raises(ValueError, match="exponential"):
        core_check(21, lambda m: 0.0, np.zeros(21))
