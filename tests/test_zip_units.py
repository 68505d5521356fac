"""ZIP per unit in the park (agents/traders.py): a ZIP company posts each order as equal
units, each priced and taught with its own margin (Cliff 1997); other strategies post their
orders whole, as before."""

from dataclasses import replace

import numpy as np
import pytest

from agents.strategies import ZIC, ZIP, Quote
from agents.traders import ParkTraders, order_ranks
from experiments import runner
from experiments.problems import InputError
from market.orders import MarketEvent, Order, Side
from tests.conftest import EXAMPLE

S, B = Side.SELL, Side.BUY


class Company:
    """A company as ParkTraders sees it: a strategy, and quotes on the range [0, 100]."""

    def __init__(self, strategy):
        self.strategy = strategy

    def quote(self, o: Order, ledger, unit: int = 0) -> Quote:
        return Quote(o.side, o.resource, o.price, 0.0, 100.0, 0, unit)

    def shade(self, q: Quote, rng) -> float:
        return self.strategy.price(q, rng)

    def price(self, o: Order, ledger, rng, unit: int = 0) -> Order:
        return replace(o, price=self.shade(self.quote(o, ledger, unit), rng))


# Company 0 (ZIP) asks 8 t at 30 (what it could keep) and 4 t at 10 (what it would dispose
# of); company 1 (ZI-C) bids for 6 t at 50.
TRUE = [Order(0, "ash", S, 8.0, 30.0, ref=0), Order(0, "ash", S, 4.0, 10.0, ref=1), Order(1, "ash", B, 6.0, 50.0, ref=2)]


def traders(units: int = 2) -> tuple[ParkTraders, ZIP]:
    z = ZIP(margin_range=(0.2, 0.2), beta_range=(0.5, 0.5), momentum_range=(0.0, 0.0))
    return ParkTraders([Company(z), Company(ZIC())], None, TRUE, np.random.default_rng(0), units), z


def test_orders_rank_best_first():
    assert order_ranks(TRUE) == {1: 0, 0: 1, 2: 0}


def test_a_zip_company_posts_each_order_as_units_and_others_post_whole():
    t, z = traders(units=2)
    posted = t.post(np.random.default_rng(0))
    mine = [o for o in posted if o.owner == 0]
    assert [o.quantity for o in mine] == [4.0, 4.0, 2.0, 2.0]
    assert len({o.ref for o in posted}) == len(posted) and not {o.ref for o in mine} & {0, 1, 2}
    assert [t.true_of(o).ref for o in mine] == [0, 0, 1, 1]
    # The ask at 10 ranks first: its units are 0 and 1, the ask at 30's units 2 and 3.
    assert sorted(key[2] for key in z.state) == [0, 1, 2, 3]
    assert [o.price for o in mine] == pytest.approx([30 + 0.2 * 70] * 2 + [10 + 0.2 * 90] * 2)
    [bid] = [o for o in posted if o.owner == 1]
    assert bid.ref == 2 and bid.quantity == 6.0 and t.true_of(bid) is TRUE[2]


def test_each_unit_learns_apart_and_is_requoted_with_its_own_margin():
    t, z = traders(units=2)
    posted = t.post(np.random.default_rng(0))
    before = {o.ref: o.price for o in posted if o.owner == 0}
    # A rival asks 35: only the units asking more (the ask at 30's, at 44; not the ask at 10's,
    # at 28) have reason to lower.
    t.observe(MarketEvent(0, "ash", S, 35.0, False))
    after = {o.ref: t.requote(o, np.random.default_rng(0)) for o in posted if o.owner == 0}
    moved = {ref: after[ref] < before[ref] - 1e-9 for ref in before}
    assert [moved[o.ref] for o in posted if o.owner == 0] == [True, True, False, False]


def test_one_unit_per_order_is_one_order():
    t, _ = traders(units=1)
    posted = t.post(np.random.default_rng(0))
    assert [o.quantity for o in posted] == [8.0, 4.0, 6.0]


def test_units_per_order_runs_in_the_park_and_is_checked():
    cfg, park = runner.resolve(str(EXAMPLE), 10, 1, {"market.strategies.zip": 1.0, "market.mechanism": "call",
                                                     "market.units_per_order": 3})
    a, b = runner.simulate(cfg, park), runner.simulate(cfg, park)
    assert a.trades.equals(b.trades)
    assert a.summary["kpis"]["market_efficiency"] <= 1.0 + 1e-9
    with pytest.raises(InputError, match="units_per_order"):
        runner.resolve(str(EXAMPLE), 10, 1, {"market.units_per_order": 0})
