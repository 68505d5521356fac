"""Trust between partners (market/trust.py) and imitation of successful peers
(agents/imitation.py).

Trust is a beta reputation with forgetting: it starts at the prior, every kept delivery
raises it and every breach lowers it, and with memory < 1 neither lasts. Imitation is the
Fermi pairwise-comparison rule with a random stream that does not depend on the payoffs, so
that two runs differing only in payoffs draw the same peers.
"""

from __future__ import annotations

import math
import warnings
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.imitation import Adoption, fermi_probability, imitate, starting_weights
from market.trust import TrustBook
from tests.strategies import tenths

# --- trust --------------------------------------------------------------------------------------


@pytest.mark.parametrize("prior, weight", [(0.8, 5.0), (0.5, 1.0), (0.3, 20.0)])
def test_trust_is_the_prior_before_any_observation(prior, weight):
    book = TrustBook(4, prior=prior, weight=weight)
    assert book.trust(0, 1) == pytest.approx(prior)
    assert book.trust(3, 2) == pytest.approx(prior)
    np.testing.assert_allclose(book.matrix(), np.full((4, 4), prior))


def test_kept_deliveries_raise_trust_towards_one_without_forgetting():
    book = TrustBook(2, prior=0.8, weight=5.0, memory=1.0)
    seen = [book.trust(0, 1)]
    for _ in range(1000):
        book.record(0, 1, kept=True)
        seen.append(book.trust(0, 1))
    assert all(a < b for a, b in pairwise(seen))
    assert seen[1] == pytest.approx(5 / 6)  # (1 + 4) / (1 + 5)
    assert seen[-1] == pytest.approx(1004 / 1005) and seen[-1] > 0.995


def test_with_forgetting_trust_rises_to_a_ceiling_below_one():
    # r kept deliveries weigh at most 1 / (1 - memory) = 50: trust tends to (50 + 4) / (50 + 5).
    book = TrustBook(2, prior=0.8, weight=5.0, memory=0.98)
    seen = [book.trust(0, 1)]
    for _ in range(2000):
        book.record(0, 1, kept=True)
        seen.append(book.trust(0, 1))
    assert all(a < b for a, b in pairwise(seen[:500]))
    assert all(a <= b for a, b in pairwise(seen))
    assert seen[-1] == pytest.approx(54 / 55, abs=1e-9)


def test_breaches_lower_trust():
    book = TrustBook(2, prior=0.8, weight=5.0, memory=0.98)
    seen = [book.trust(0, 1)]
    for _ in range(20):
        book.record(0, 1, kept=False)
        seen.append(book.trust(0, 1))
    assert all(a > b for a, b in pairwise(seen))
    assert seen[1] == pytest.approx(4 / 6)
    assert seen[-1] < 0.3


def test_trust_is_directed_and_per_pair():
    book = TrustBook(3)
    book.record(0, 1, kept=False)
    assert book.trust(0, 1) < 0.8
    assert book.trust(1, 0) == pytest.approx(0.8)  # 1's view of 0 is untouched
    assert book.trust(0, 2) == pytest.approx(0.8) and book.trust(2, 1) == pytest.approx(0.8)


def test_forgetting_restores_trust_after_breaches():
    # Ten breaches, then a hundred kept deliveries: with forgetting the breaches fade and trust
    # ends above the prior; without, they weigh as much as ever and it stays below.
    def history(memory: float) -> tuple[float, float]:
        book = TrustBook(2, prior=0.8, weight=5.0, memory=memory)
        for _ in range(10):
            book.record(0, 1, kept=False)
        low = book.trust(0, 1)
        for _ in range(100):
            book.record(0, 1, kept=True)
        return low, book.trust(0, 1)

    low, forgetting = history(0.9)
    assert low < 0.4
    assert forgetting > 0.9  # the prior is 0.8
    _, lasting = history(1.0)
    assert lasting == pytest.approx(104 / 115) and lasting < forgetting


@settings(max_examples=100, deadline=None)
@given(prior=st.integers(1, 99).map(lambda v: v / 100), weight=tenths(0.1, 30),
       memory=st.integers(50, 100).map(lambda v: v / 100),
       events=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.booleans()), max_size=60))
def test_each_observation_moves_trust_its_way(prior, weight, memory, events):
    book = TrustBook(3, prior=prior, weight=weight, memory=memory)
    for i, j, kept in events:
        before = book.matrix()
        book.record(i, j, kept)
        after = book.matrix()
        assert (after[i, j] > before[i, j]) if kept else (after[i, j] < before[i, j])
        assert 0 < after[i, j] < 1
        others = np.ones((3, 3), bool)
        others[i, j] = False
        np.testing.assert_array_equal(after[others], before[others])
    m = book.matrix()
    for i in range(3):
        for j in range(3):
            assert m[i, j] == pytest.approx(book.trust(i, j), rel=1e-12)


class _DenseTrust:
    """The dense n x n book TrustBook once was: the reference its sparse store must equal bit for bit."""

    def __init__(self, n: int, prior: float, weight: float, memory: float):
        self.a, self.b, self.memory = prior * weight, (1.0 - prior) * weight, memory
        self.kept, self.broken = np.zeros((n, n)), np.zeros((n, n))

    def record(self, i: int, j: int, kept: bool) -> None:
        self.kept[i, j] = self.memory * self.kept[i, j] + (1.0 if kept else 0.0)
        self.broken[i, j] = self.memory * self.broken[i, j] + (0.0 if kept else 1.0)

    def matrix(self) -> np.ndarray:
        return (self.kept + self.a) / (self.kept + self.broken + self.a + self.b)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 6), prior=st.integers(1, 99).map(lambda v: v / 100), weight=tenths(0.1, 30),
       memory=st.integers(50, 100).map(lambda v: v / 100), level=st.integers(0, 100).map(lambda v: v / 100),
       events=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.booleans()), max_size=80),
       data=st.data())
def test_sparse_trust_equals_the_dense_book_exactly(n, prior, weight, memory, level, events, data):
    # Only observed pairs are stored: trust, trust_of, matrix and mark_at_least must give the
    # dense book's values bit for bit, and an unobserved pair the prior.
    book, dense = TrustBook(n, prior, weight, memory), _DenseTrust(n, prior, weight, memory)
    for i, j, kept in events:
        if i < n and j < n:
            book.record(i, j, kept)
            dense.record(i, j, kept)
    want = dense.matrix()
    np.testing.assert_array_equal(book.matrix(), want)
    ii, jj = np.divmod(np.arange(n * n), n)
    np.testing.assert_array_equal(book.trust_of(ii, jj), want[ii, jj])
    assert [book.trust(int(i), int(j)) for i, j in zip(ii, jj)] == want[ii, jj].tolist()
    seen = {(i, j) for i, j, _ in events if i < n and j < n}
    for i, j in zip(ii.tolist(), jj.tolist()):
        if (i, j) not in seen:
            assert book.trust(i, j) == book.prior_trust() == (0.0 + dense.a) / (0.0 + 0.0 + dense.a + dense.b)
    # Any pairs, in any order and repeated, as the candidate search asks for them.
    pick = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30))
    pi = np.array([p[0] for p in pick], dtype=np.int64)
    pj = np.array([p[1] for p in pick], dtype=np.int64)
    np.testing.assert_array_equal(book.trust_of(pi, pj), want[pi, pj])
    start = data.draw(st.lists(st.booleans(), min_size=n * n, max_size=n * n))
    out = np.array(start, dtype=bool).reshape(n, n)
    book.mark_at_least(level, out)
    np.testing.assert_array_equal(out, np.array(start, dtype=bool).reshape(n, n) | (want >= level))


@settings(max_examples=100, deadline=None)
@given(memory=st.integers(50, 100).map(lambda v: v / 100),
       events=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.booleans()), max_size=60),
       cuts=st.lists(st.integers(0, 60), max_size=5))
def test_record_all_is_each_observation_in_turn(memory, events, cuts):
    # A step's deliveries recorded in one call (in chunks here, a pair seen several times in
    # one, kept and broken mixed) give the dense book's values bit for bit, and the store the
    # observations one by one would leave.
    book, one, dense = TrustBook(4, memory=memory), TrustBook(4, memory=memory), _DenseTrust(4, 0.8, 5.0, memory)
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    for lo, hi in pairwise(bounds):
        book.record_all(e for e in events[lo:hi])
    for i, j, kept in events:
        one.record(i, j, kept)
        dense.record(i, j, kept)
    np.testing.assert_array_equal(book.matrix(), dense.matrix())
    assert (book._slot, book._kept, book._broken) == (one._slot, one._kept, one._broken)


@pytest.mark.parametrize("kwargs", [
    {"prior": 0.0}, {"prior": 1.0}, {"prior": -0.2}, {"prior": 1.5}, {"prior": math.nan},
    {"weight": 0.0}, {"weight": -1.0},
    {"memory": 0.0}, {"memory": -0.5}, {"memory": 1.01}, {"memory": math.nan},
])
def test_trustbook_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="TrustBook"):
        TrustBook(3, **kwargs)


# --- the Fermi rule -----------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(own=tenths(-100, 100), noise=st.sampled_from([0.001, 0.01, 0.5, 1.0, 30.0]))
def test_fermi_is_a_coin_toss_between_equals(own, noise):
    assert fermi_probability(own, own, noise) == pytest.approx(0.5)


@settings(max_examples=100, deadline=None)
@given(own=tenths(-50, 50), a=tenths(-50, 50), b=tenths(-50, 50),
       noise=st.sampled_from([0.01, 0.5, 1.0, 30.0]))
def test_fermi_rises_with_the_peers_payoff_and_is_symmetric(own, a, b, noise):
    lo, hi = min(a, b), max(a, b)
    assert fermi_probability(own, lo, noise) <= fermi_probability(own, hi, noise)
    assert 0.0 <= fermi_probability(own, a, noise) <= 1.0
    assert fermi_probability(own, a, noise) + fermi_probability(a, own, noise) == pytest.approx(1.0, abs=1e-12)


def test_fermi_values_and_no_overflow():
    assert fermi_probability(0.0, 1.0, 1.0) == pytest.approx(1 / (1 + math.exp(-1)))
    assert fermi_probability(1.0, 0.0, 1.0) == pytest.approx(1 / (1 + math.exp(1)))
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        assert fermi_probability(0.0, 1e6, 0.01) == 1.0
        assert fermi_probability(1e6, 0.0, 0.01) == 0.0
        assert fermi_probability(-1e300, 1e300, 1e-300) == 1.0
        assert fermi_probability(1e300, -1e300, 1e-300) == 0.0


# --- imitation ----------------------------------------------------------------------------------

def test_imitation_is_deterministic_for_a_seed():
    payoff = np.array([0.1, 0.5, -0.2, 0.3, 0.0, 0.25])
    runs = [imitate(payoff, None, 0.2, np.random.default_rng(7)) for _ in range(2)]
    assert runs[0] == runs[1] and runs[0]
    assert all(isinstance(a, Adoption) for a in runs[0])
    others = [imitate(payoff, None, 0.2, np.random.default_rng(s)) for s in range(8, 14)]
    assert any(o != runs[0] for o in others)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 7), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_a_company_copies_only_a_peer_it_knows(n, data, seed):
    known = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=n, max_size=n)))
    payoff = np.array(data.draw(st.lists(tenths(-5, 5), min_size=n, max_size=n)))
    out = imitate(payoff, known, 5.0, np.random.default_rng(seed))
    assert len({a.who for a in out}) == len(out)  # at most one model each
    for a in out:
        assert a.who != a.model
        assert known[a.who, a.model]


def test_a_company_that_knows_nobody_copies_nobody():
    known = np.zeros((4, 4), bool)
    known[0, 1] = known[2, 3] = True
    np.fill_diagonal(known, True)  # knowing oneself is not knowing a peer
    payoff = np.array([0.0, 10.0, 0.0, 10.0])
    for seed in range(50):
        out = imitate(payoff, known, 0.01, np.random.default_rng(seed))
        assert out == [Adoption(0, 1), Adoption(2, 3)]


def test_with_little_noise_only_better_peers_are_copied():
    payoff = np.array([0.3, -0.1, 0.8, 0.05, 0.5])
    copied_from = set()
    for seed in range(300):
        for a in imitate(payoff, None, 1e-6, np.random.default_rng(seed)):
            assert payoff[a.model] > payoff[a.who], (seed, a)
            copied_from.add((a.who, a.model))
        # The worst always finds a better peer and copies it; the best never copies.
        who = [a.who for a in imitate(payoff, None, 1e-6, np.random.default_rng(seed))]
        assert 1 in who and 2 not in who
    # Every better peer gets copied by every worse company at some point.
    better = {(i, j) for i in range(5) for j in range(5) if payoff[j] > payoff[i]}
    assert copied_from == better


def test_peers_are_picked_uniformly():
    # With a huge noise every pick is a fair coin: each of the 3 peers of company 0 is
    # copied about 1/6 of the time.
    payoff = np.arange(4.0)
    counts = np.zeros(4)
    rng = np.random.default_rng(3)
    trials = 6000
    for _ in range(trials):
        for a in imitate(payoff, None, 1e9, rng):
            if a.who == 0:
                counts[a.model] += 1
    assert counts[0] == 0
    np.testing.assert_allclose(counts[1:] / trials, 1 / 6, atol=0.02)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 8), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_the_random_stream_does_not_depend_on_payoffs(n, seed, data):
    a = np.array(data.draw(st.lists(tenths(-5, 5), min_size=n, max_size=n)))
    b = np.array(data.draw(st.lists(tenths(-5, 5), min_size=n, max_size=n)))
    known = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=n, max_size=n)),
                     dtype=bool).reshape(n, n)
    ra, rb = np.random.default_rng(seed), np.random.default_rng(seed)
    imitate(a, known, 0.3, ra)
    imitate(b, None, 0.01, rb)
    assert ra.bit_generator.state == rb.bit_generator.state
    # Two draws per company (peer and coin), none when there is nobody to compare with.
    ref = np.random.default_rng(seed)
    ref.random(2 * n if n >= 2 else 0)
    assert ra.bit_generator.state == ref.bit_generator.state


def test_same_seed_same_peers_whatever_the_payoffs():
    # With a tiny noise a company copies the peer it drew exactly when that peer earns more.
    # First make every peer of company i better than i, so that i's pick shows; then, under
    # any other payoffs and the same seed, whoever copies copies that same pick.
    n, seed = 6, 11
    picks = {}
    for i in range(n):
        p = np.ones(n)
        p[i] = 0.0
        [a] = [x for x in imitate(p, None, 1e-6, np.random.default_rng(seed)) if x.who == i]
        picks[i] = a.model
    assert len(set(picks.values())) > 1  # the picks do differ between companies
    for payoff in (np.arange(n, 0, -1.0), np.array([3.0, -1.0, 2.0, 0.5, 4.0, 1.0]), np.zeros(n)):
        out = imitate(payoff, None, 1e-6, np.random.default_rng(seed))
        assert out
        for a in out:
            assert a.model == picks[a.who]


# --- starting weights ---------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 50), mean=tenths(-0.5, 1.5), spread=tenths(0, 1), seed=st.integers(0, 2**32 - 1))
def test_starting_weights_lie_in_the_unit_interval(n, mean, spread, seed):
    w = starting_weights(n, mean, spread, np.random.default_rng(seed))
    assert w.shape == (n,)
    assert np.all((w >= 0) & (w <= 1))
    assert np.all(w >= min(max(mean - spread, 0.0), 1.0) - 1e-12)
    assert np.all(w <= max(min(mean + spread, 1.0), 0.0) + 1e-12)


@pytest.mark.parametrize("mean, spread", [(0.4, 0.3), (0.5, 0.5), (0.2, 0.1)])
def test_starting_weights_average_the_mean(mean, spread):
    w = starting_weights(20000, mean, spread, np.random.default_rng(5))
    assert w.mean() == pytest.approx(mean, abs=0.01)
    assert w.min() < mean - 0.9 * spread and w.max() > mean + 0.9 * spread


def test_starting_weights_clip_but_do_not_renormalise():
    w = starting_weights(20000, 0.9, 0.5, np.random.default_rng(5))
    assert w.max() == 1.0 and (w == 1.0).mean() == pytest.approx(0.4, abs=0.02)


@pytest.mark.parametrize("mean", [0.0, 0.35, 1.0])
def test_no_spread_gives_everyone_the_mean(mean):
    np.testing.assert_array_equal(starting_weights(12, mean, 0.0, np.random.default_rng(1)), np.full(12, mean))


@pytest.mark.parametrize("n", [0, 1, 17])
def test_starting_weights_always_draw_n_numbers(n):
    r0, r3, ref = (np.random.default_rng(9) for _ in range(3))
    starting_weights(n, 0.5, 0.0, r0)
    starting_weights(n, 0.5, 0.3, r3)
    ref.random(n)
    assert r0.bit_generator.state == r3.bit_generator.state == ref.bit_generator.state


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**32 - 1), noise=st.sampled_from([0.01, 0.3, 5.0]))
def test_everyone_known_is_a_known_matrix_of_ones(n, seed, noise):
    # With known=None a company's peer is picked among all others without listing them: the
    # same peers, adoptions and random stream as a known matrix with every pair set.
    payoff = np.random.default_rng(seed).normal(size=n)
    ra, rb = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    assert imitate(payoff, None, noise, ra) == imitate(payoff, np.ones((n, n), dtype=bool), noise, rb)
    assert ra.random() == rb.random()
