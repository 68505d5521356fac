"""Bidding strategies (agents/strategies.py).

`TestEveryStrategy` is the contract every strategy in `STRATEGIES` meets, run once per
registered name (as Axelrod's base player test): it pickles, its declared traits are true
(stochastic or not, learns or not, from which hook, constrained or not), and a constrained one
never prices beyond its reservation, whatever the quote and the history (Hypothesis). A new
strategy is covered by registering it. The classes after it read ZIP and Roth-Erev as
transcripts: a scripted market, and how the price moves.
"""

from __future__ import annotations

import copy
import math
import pickle
import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agents.strategies import STRATEGIES, ZIC, ZIP, ZIU, Quote, RothErev, Strategy
from market.orders import MarketEvent, Side
from tests.strategies import tenths

B, S = Side.BUY, Side.SELL
NAMES = sorted(STRATEGIES)
TRAIT_KEYS = {"stochastic", "learns", "constrained", "memory"}

# Quotes the probes price: both sides, a seller paying to be rid of a waste, an all-negative
# range, a reservation beyond the range and a range whose ends cross.
QUOTES = (
    Quote(S, "heat", -10.0, -10.0, 90.0),
    Quote(B, "heat", 90.0, -10.0, 90.0),
    Quote(S, "ash", 5.0, -40.0, 60.0),
    Quote(B, "ash", 30.0, -40.0, 60.0),
    Quote(S, "sludge", -80.0, -120.0, -20.0),
    Quote(B, "sludge", -30.0, -120.0, -20.0),
    Quote(S, "gypsum", 70.0, 0.0, 50.0),
    Quote(B, "water", 10.0, 40.0, 20.0),
)


def probe(strategy: Strategy, seed: int) -> list[float]:
    """The prices a copy of `strategy` gives every quote under `seed`; `strategy` is untouched."""
    s, rng = copy.deepcopy(strategy), np.random.default_rng(seed)
    return [s.price(q, rng) for q in QUOTES]


def primed(name: str) -> Strategy:
    """A fresh strategy that has priced every quote once, so a lazy first draw (ZIP's
    parameters) is behind it and later probes see only what the hooks changed."""
    s, rng = STRATEGIES[name](), np.random.default_rng(99)
    for q in QUOTES:
        s.price(q, rng)
    return s


def train(s: Strategy, seed: int, market: bool = True, outcome: bool = True, rounds: int = 20) -> None:
    """A short random history for every quote: it prices, sees shouts and trades around its
    price (`market`), and hears how its order fared (`outcome`)."""
    rng = np.random.default_rng(seed)
    for t in range(rounds):
        for q in QUOTES:
            p = s.price(q, rng)
            span = abs(q.ceiling - q.floor) + 1.0
            if market:
                for _ in range(3):
                    side = S if rng.random() < 0.5 else B
                    price = p + rng.uniform(-0.5, 0.5) * span
                    s.on_market(q, MarketEvent(t, q.resource, side, price, bool(rng.random() < 0.5)), rng)
            if outcome:
                traded = 10.0 if rng.random() < 0.7 else 0.0
                s.on_outcome(q, p, 10.0, traded, traded * abs(p - q.reservation), rng)


quotes = st.builds(
    Quote,
    side=st.sampled_from(Side),
    resource=st.sampled_from(["heat", "ash"]),
    reservation=tenths(-200, 200),
    floor=tenths(-200, 200),
    ceiling=tenths(-200, 200),
)
histories = st.lists(
    st.tuples(tenths(-300, 300), st.sampled_from(Side), st.booleans(),  # a shout: price, side, accepted
              st.floats(0.5, 20), st.floats(0, 1), tenths(-50, 500)),  # outcome: offered, share traded, surplus
    max_size=8,
)
DEGENERATE = [
    Quote(S, "heat", 70.0, 0.0, 50.0),  # seller's reservation above the ceiling: no room
    Quote(B, "heat", -5.0, 0.0, 50.0),  # buyer's reservation below the floor
    Quote(S, "heat", -20.0, 40.0, 10.0),  # floor above ceiling
    Quote(B, "heat", 3.0, 3.0, 3.0),  # a range of width zero
]


@pytest.mark.parametrize("name", NAMES)
class TestEveryStrategy:
    def test_declares_its_traits(self, name):
        cls = STRATEGIES[name]
        assert cls.name == name
        assert TRAIT_KEYS <= set(cls.traits), f"{name} lacks traits {TRAIT_KEYS - set(cls.traits)}"
        assert all(isinstance(cls.traits[k], bool) for k in ("stochastic", "learns", "constrained"))
        assert cls.traits["memory"] in ("none", "step", "event")
        assert (cls.traits["memory"] == "none") == (not cls.traits["learns"])
        assert re.search(r"\b(19|20)\d\d\b", cls.__doc__ or ""), f"{name}'s docstring should cite its source"

    def test_pickles_fresh_and_trained(self, name):
        s = STRATEGIES[name]()
        for _ in range(2):
            back = pickle.loads(pickle.dumps(s))
            assert back == s and back is not s
            assert probe(back, 5) == probe(s, 5)
            train(s, 1)

    def test_seed_declaration(self, name):
        s = STRATEGIES[name]()
        if STRATEGIES[name].traits["stochastic"]:
            assert probe(s, 1) != probe(s, 2)
        else:
            assert probe(s, 1) == probe(s, 2)
        assert probe(s, 3) == probe(s, 3)

    def test_pricing_changes_nothing_it_learns_from(self, name):
        s = primed(name)
        before = copy.deepcopy(s)
        probe_rng = np.random.default_rng(4)
        for q in QUOTES:
            s.price(q, probe_rng)
        assert s == before

    def test_learns_declaration(self, name):
        traits = STRATEGIES[name].traits
        for market, outcome in ((True, False), (False, True)):
            s = primed(name)
            before = [probe(s, seed) for seed in range(5)]
            train(s, 2, market=market, outcome=outcome)
            after = [probe(s, seed) for seed in range(5)]
            hook_learns = traits["memory"] == ("event" if market else "step")
            assert (before != after) == hook_learns, (
                f"{name} (memory={traits['memory']!r}) after {'on_market' if market else 'on_outcome'}")

    def test_constrained_declaration(self, name):
        s = STRATEGIES[name]()
        losses = [
            p for seed in range(10) for q, p in zip(QUOTES, probe(s, seed))
            if (p > q.reservation if q.side is B else p < q.reservation)
        ]
        assert (not losses) == STRATEGIES[name].traits["constrained"]

    @settings(max_examples=40, deadline=None)
    @given(q=quotes, history=histories, seed=st.integers(0, 2**32 - 1))
    @example(q=DEGENERATE[0], history=[(80.0, S, False, 1.0, 1.0, 0.0)], seed=0)
    @example(q=DEGENERATE[1], history=[(-50.0, B, True, 1.0, 1.0, 10.0)], seed=0)
    @example(q=DEGENERATE[2], history=[(-100.0, S, False, 1.0, 0.0, 0.0)] * 4, seed=0)
    @example(q=DEGENERATE[3], history=[(3.0, S, True, 1.0, 1.0, 0.0)], seed=0)
    def test_prices_stay_in_bounds(self, name, q, history, seed):
        """Every price is finite and between the range and the reservation; a constrained
        strategy's is never beyond its reservation, after any history."""
        s, rng = STRATEGIES[name](), np.random.default_rng(seed)
        lo = min(q.floor, q.ceiling, q.reservation) - 1e-9
        hi = max(q.floor, q.ceiling, q.reservation) + 1e-9

        def check(p: float) -> None:
            assert math.isfinite(p) and lo <= p <= hi, (p, q)
            if STRATEGIES[name].traits["constrained"]:
                assert (p <= q.reservation) if q.side is B else (p >= q.reservation), (p, q)

        for t, (price, side, accepted, offered, share, surplus) in enumerate(history):
            p = s.price(q, rng)
            check(p)
            s.on_market(q, MarketEvent(t, q.resource, side, price, accepted), rng)
            s.on_outcome(q, p, offered, offered * share, surplus, rng)
        check(s.price(q, rng))


class TestZeroIntelligence:
    def test_zic_spans_reservation_to_far_end(self):
        rng = np.random.default_rng(0)
        seller, buyer = Quote(S, "heat", -10.0, -10.0, 90.0), Quote(B, "heat", 90.0, -10.0, 90.0)
        asks = [ZIC().price(seller, rng) for _ in range(500)]
        bids = [ZIC().price(buyer, rng) for _ in range(500)]
        assert -10 <= min(asks) < -5 and 85 < max(asks) <= 90
        assert -10 <= min(bids) < -5 and 85 < max(bids) <= 90

    @pytest.mark.parametrize("q", DEGENERATE[:2])
    def test_zic_without_room_quotes_its_reservation(self, q):
        assert ZIC().price(q, np.random.default_rng(0)) == q.reservation

    def test_ziu_ignores_the_reservation(self):
        rng = np.random.default_rng(0)
        q = Quote(S, "heat", 60.0, -10.0, 90.0)
        asks = [ZIU().price(q, rng) for _ in range(500)]
        assert min(asks) < 0 and max(asks) > 85 and all(-10 <= a <= 90 for a in asks)


def fixed_zip() -> ZIP:
    """A ZIP trader with no randomness in its parameters: margin 0.2, beta 0.5, no momentum."""
    return ZIP(margin_range=(0.2, 0.2), beta_range=(0.5, 0.5), momentum_range=(0.0, 0.0))


def transcript(q: Quote, log: list[tuple[tuple[Side, float, bool], str]]) -> None:
    """Plays `log`, a list of (shout side, shout price, accepted) -> how the own price moves."""
    z, rng = fixed_zip(), np.random.default_rng(0)
    for t, ((side, price, accepted), expected) in enumerate(log):
        before = z.price(q, rng)
        z.on_market(q, MarketEvent(t, q.resource, side, price, accepted), rng)
        after = z.price(q, rng)
        seen = "up" if after > before else "down" if after < before else "same"
        assert seen == expected, f"step {t}: {(side.value, price, accepted)} moved {before:.2f} -> {after:.2f}"


class TestZIP:
    def test_seller_transcript(self):
        # ask starts at -10 + 0.2 * 100 = 10
        transcript(Quote(S, "heat", -10.0, -10.0, 90.0), [
            ((B, 40.0, True), "up"),  # a trade above its ask: it could have asked more
            ((S, 5.0, False), "down"),  # a rival's lower ask is standing unaccepted
            ((B, 0.0, False), "same"),  # a bid nobody took tells a seller nothing
            ((S, 60.0, False), "same"),  # a rival asking more is no threat
            ((B, 5.0, True), "down"),  # a bid below its ask was accepted by someone else
            ((S, 50.0, True), "up"),  # an ask above its own was lifted
        ])

    def test_buyer_transcript(self):
        # bid starts at 90 - 0.2 * 100 = 70
        transcript(Quote(B, "heat", 90.0, -10.0, 90.0), [
            ((S, 40.0, True), "down"),  # a trade below its bid: it could have bid less
            ((B, 80.0, False), "up"),  # a rival's higher bid is standing unaccepted
            ((S, 30.0, False), "same"),  # an ask nobody took tells a buyer nothing
            ((B, 10.0, False), "same"),  # a rival bidding less is no threat
            ((S, 85.0, True), "up"),  # an ask above its bid was accepted by someone else
        ])

    def test_negative_prices_move_the_right_way(self):
        # a waste: reservation -100 (disposal), range [-100, 0], ask starts at -80
        transcript(Quote(S, "sludge", -100.0, -100.0, 0.0), [
            ((B, -50.0, True), "up"),
            ((S, -95.0, False), "down"),
        ])

    def test_margin_never_crosses_the_reservation_or_the_range(self):
        z, rng = fixed_zip(), np.random.default_rng(0)
        seller, buyer = Quote(S, "heat", -10.0, -10.0, 90.0), Quote(B, "heat", 90.0, -10.0, 90.0)
        for t in range(200):
            z.on_market(seller, MarketEvent(t, "heat", S, -500.0, False), rng)
            z.on_market(buyer, MarketEvent(t, "heat", B, 500.0, False), rng)
        assert z.price(seller, rng) == -10.0 and z.price(buyer, rng) == 90.0
        for t in range(200):
            z.on_market(seller, MarketEvent(t, "heat", B, 500.0, True), rng)
            z.on_market(buyer, MarketEvent(t, "heat", S, -500.0, True), rng)
        assert z.price(seller, rng) == pytest.approx(90.0) and z.price(buyer, rng) == pytest.approx(-10.0)

    def test_state_is_kept_per_resource_and_side(self):
        z, rng = ZIP(), np.random.default_rng(3)
        heat_s, heat_b = Quote(S, "heat", 0.0, 0.0, 100.0), Quote(B, "heat", 100.0, 0.0, 100.0)
        ash_s = Quote(S, "ash", 0.0, 0.0, 100.0)
        before = [z.price(q, rng) for q in (heat_s, heat_b, ash_s)]
        z.on_market(heat_s, MarketEvent(0, "heat", B, 95.0, True), rng)
        after = [z.price(q, rng) for q in (heat_s, heat_b, ash_s)]
        assert after[0] > before[0] and after[1:] == before[1:]

    def test_state_is_kept_per_unit(self):
        """Cliff (1997) gives each unit its own margin: a trader's units learn apart."""
        z, rng = ZIP(), np.random.default_rng(3)
        first, second = Quote(S, "heat", 0.0, 0.0, 100.0), Quote(S, "heat", 30.0, 0.0, 100.0, unit=1)
        before = [z.price(q, rng) for q in (first, second)]
        z.on_market(second, MarketEvent(0, "heat", S, 31.0, False), rng)  # a rival undercuts unit 1
        after = [z.price(q, rng) for q in (first, second)]
        assert after[0] == before[0] and after[1] < before[1]

    def test_a_spent_unit_only_raises(self):
        """A unit already traded this period hears the market but, like Cliff's inactive
        traders, only raises its margin."""
        spent = Quote(S, "heat", -10.0, -10.0, 90.0, held=False)  # ask starts at 10
        transcript(spent, [
            ((S, 5.0, False), "same"),  # a rival's lower ask: a held unit would lower
            ((B, 5.0, True), "same"),  # a trade below its ask: likewise
            ((B, 40.0, True), "up"),  # a trade above its ask: it could have asked more
        ])

    def test_the_same_in_any_currency_unit(self):
        """Perturbations are shares of the range, so scaling every number scales every price."""
        def run(scale: float) -> list[float]:
            z, rng = ZIP(), np.random.default_rng(11)
            q = Quote(S, "heat", -30.0 * scale, -30.0 * scale, 70.0 * scale)
            out = []
            script = [(B, 50, True), (S, 0, False), (S, -20, False), (B, 60, True)]
            for t, (side, price, accepted) in enumerate(script):
                z.on_market(q, MarketEvent(t, "heat", side, price * scale, accepted), rng)
                out.append(z.price(q, rng) / scale)
            return out
        assert run(1000.0) == pytest.approx(run(1.0), rel=1e-9)

    def test_an_event_of_another_resource_is_an_error(self):
        with pytest.raises(ValueError, match="'ash'.*'heat'"):
            ZIP().on_market(QUOTES[0], MarketEvent(0, "ash", S, 1.0, False), np.random.default_rng(0))

    def test_bad_parameters_are_errors(self):
        with pytest.raises(ValueError, match="margin_range"):
            ZIP(margin_range=(0.5, 0.1))


class TestRothErev:
    SELLER = Quote(S, "heat", -10.0, -10.0, 90.0)

    def test_mass_moves_to_the_action_rewarded_repeatedly(self):
        s, rng = RothErev(), np.random.default_rng(0)
        ask = -10.0 + 0.3 * 100.0  # the price of action 3 (margin 0.3)
        assert s.probabilities(self.SELLER)[3] == pytest.approx(0.1)
        for _ in range(40):
            s.on_outcome(self.SELLER, ask, 10.0, 10.0, 10.0 * 0.3 * 100.0, rng)
        assert s.probabilities(self.SELLER)[3] > 0.5
        asks = [s.price(self.SELLER, rng) for _ in range(400)]
        assert sum(a == pytest.approx(ask) for a in asks) > 200
        # other (resource, side) pairs learned nothing
        assert s.probabilities(Quote(B, "heat", 90.0, -10.0, 90.0)) == pytest.approx([0.1] * 10)

    def test_learns_to_ask_what_the_market_takes(self):
        """A market that takes any ask up to margin 0.4: most mass ends on margins that trade."""
        s, rng = RothErev(), np.random.default_rng(1)
        for _ in range(300):
            ask = s.price(self.SELLER, rng)
            traded = 10.0 if ask <= -10.0 + 0.4 * 100.0 + 1e-9 else 0.0
            s.on_outcome(self.SELLER, ask, 10.0, traded, traded * (ask + 10.0), rng)
        assert sum(s.probabilities(self.SELLER)[:5]) > 0.8

    def test_no_trade_only_forgets(self):
        s, rng = RothErev(), np.random.default_rng(0)
        for _ in range(2000):
            s.on_outcome(self.SELLER, s.price(self.SELLER, rng), 10.0, 0.0, 0.0, rng)
        assert s.probabilities(self.SELLER) == pytest.approx([0.1] * 10)
        assert min(s.propensities[("heat", S)]) >= s.min_propensity

    def test_a_loss_is_no_reward(self):
        """Transport or a uniform price can leave an order below its outside option; the
        reward is floored at zero (Erev & Roth reinforce x - x_min with x_min = 0 here)."""
        s, rng = RothErev(recency=0.0), np.random.default_rng(0)
        s.on_outcome(self.SELLER, 20.0, 10.0, 10.0, -100.0, rng)
        assert s.probabilities(self.SELLER) == pytest.approx([0.1] * 10)

    def test_bad_parameters_are_errors(self):
        with pytest.raises(ValueError, match="actions"):
            RothErev(actions=1)


def test_every_strategy_has_a_share_key_and_every_share_key_a_strategy():
    """The registry (agents) and the mix a run config takes (market, which may not import
    agents) name the same strategies, and the tactics likewise: `--set market.strategies.NAME`
    works for each and only for these."""
    import dataclasses

    from agents.tactics import TACTICS
    from market.settings import StrategyMix, TacticMix

    assert {f.name for f in dataclasses.fields(StrategyMix)} == set(STRATEGIES)
    assert {f.name for f in dataclasses.fields(TacticMix)} == set(TACTICS)
