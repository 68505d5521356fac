"""The park as a Mesa model: one step is plan, post orders, clear, settle, collect."""

from __future__ import annotations

from dataclasses import dataclass, replace

import mesa
import numpy as np

from agents.company import Company
from agents.scenario import Scenario
from agents.population import population
from agents.strategies import STRATEGIES, Truthful
from agents.tactics import TACTICS
from agents.traders import ParkTraders
from market.network import Network, Pipeline
from market.orders import MarketEvent, Side, Trade
from market.policy import Policy
from market.settings import MarketSettings
from market.settlement import Ledger, StepAccount, open_step, settle
from market.welfare import optimal_gain, realised_gain


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What the park did in one step, for the time series."""

    step: int
    gains_from_trade_eur: float
    optimal_gains_eur: float
    budget_eur: float
    profit_eur: float
    co2_t: float
    taxes_eur: float
    subsidies_eur: float
    trades: int
    active_links: int
    symbiosis_share: float
    exchanged: dict[str, float]


class ParkModel(mesa.Model):
    """An eco-industrial park of autonomous companies trading surplus resources.

    The run's one generator is Mesa's `self.rng`, seeded from `seed`. Two child streams are
    spawned from it at start: `ops_rng` for what happens to companies (daily loads, later
    failures) and `market_rng` for the market and strategies. A run with exchanges switched off
    (the baseline) therefore sees the very same loads as the run it is compared with.
    """

    def __init__(self, scenario: Scenario, policy: Policy | None = None,
                 market: MarketSettings | None = None, seed: int = 0):
        super().__init__(rng=seed)
        self.park = scenario
        self.policy = policy if policy is not None else scenario.policy
        self.market = market if market is not None else MarketSettings()
        # Spawned children depend only on their index, so adding a stream never shifts another.
        self.ops_rng, self.market_rng, setup_rng = self.rng.spawn(3)
        self.mechanism = self.market.build()
        self.t = 0
        index = scenario.company_index()
        positions = np.array([c.location for c in scenario.companies], dtype=float).reshape(-1, 2)
        pipes = []
        for p in scenario.pipelines:
            a, b = index[p.source], index[p.target]
            length = p.length_km if p.length_km is not None else float(np.hypot(*(positions[a] - positions[b])))
            pipes.append(Pipeline(a, b, p.resource, length))
        self.network = Network(positions, dict(scenario.resources), tuple(pipes))
        storage = {(i, r): cap for i, c in enumerate(scenario.companies) for r, cap in c.storage.items()}
        self.ledger = Ledger(len(scenario.companies), dict(scenario.resources), self.policy, storage)
        strategies = population(self.market.strategies.shares(), [c.strategy for c in scenario.companies], setup_rng)
        tactics = population(self.market.tactics.shares(), [c.tactic for c in scenario.companies], setup_rng)
        self.companies: list[Company] = [
            Company(self, i, spec, STRATEGIES[s](), TACTICS[t]())
            for i, (spec, s, t) in enumerate(zip(scenario.companies, strategies, tactics))
        ]
        self._learners = [c for c in self.companies if c.strategy.traits.get("learns")]
        self._all_truthful = all(isinstance(c.strategy, Truthful) for c in self.companies)
        self._margins = [c.margins(self.ledger) for c in self.companies]
        self.records: list[StepRecord] = []
        self.trade_log: list[Trade] = []
        self.co2_t = 0.0
        self.taxes_eur = 0.0
        self.subsidies_eur = 0.0
        self.resource_totals: dict[str, dict[str, float]] = {}
        self.output_totals: dict[tuple[int, str], float] = {}

    def step(self) -> None:
        t = self.t
        acc = open_step(self.ledger, t)
        plans = [c.plan(self.ledger, self.ops_rng, m) for c, m in zip(self.companies, self._margins)]
        trades: list[Trade] = []
        true_orders: list = []
        orders: list = []
        optimum = realised = 0.0
        if self.market.exchanges:
            true_orders = [o for c, p in zip(self.companies, plans) for o in c.positions(p, self.ledger)]
            # Each order carries its index, so a re-quote finds its own reservation even when a
            # company has two asks of one resource (what it could keep, what it would dispose of).
            true_orders = [replace(o, ref=i) for i, o in enumerate(true_orders)]
            if self._all_truthful:
                orders = true_orders
            else:
                orders = [self.companies[o.owner].price(o, self.ledger, self.market_rng) for o in true_orders]
            traders = ParkTraders(self.companies, self.ledger, true_orders, self.market_rng)
            trades = self.mechanism.clear(orders, self.network, t, self.market_rng, traders)
            if not getattr(self.mechanism, "reports_events", False) and self._learners:
                self._report(traders, orders, trades)
            optimum = optimal_gain(true_orders, self.network)
            realised = realised_gain(trades, true_orders)
        settle(self.ledger, acc, plans, trades)
        if self._learners:
            self._learn(true_orders, orders, trades)
        self._collect(acc, plans, trades, optimum, realised)
        self.t += 1

    def _report(self, traders: ParkTraders, orders: list, trades: list[Trade]) -> None:
        """For a sealed-bid mechanism, what a trader could have seen: every trade, as an
        accepted bid at the buyer's price and an accepted ask at the seller's net per unit
        shipped, and every order left (partly) unfilled as a shout nobody took."""
        t = self.t
        filled: dict[tuple[int, str, Side], float] = {}
        for tr in trades:
            traders.observe(MarketEvent(t, tr.resource, Side.BUY, tr.price, True))
            traders.observe(MarketEvent(t, tr.resource, Side.SELL, (tr.receipt - tr.transport_cost) / tr.shipped, True))
            filled[(tr.seller, tr.resource, Side.SELL)] = filled.get((tr.seller, tr.resource, Side.SELL), 0.0) + tr.shipped
            filled[(tr.buyer, tr.resource, Side.BUY)] = filled.get((tr.buyer, tr.resource, Side.BUY), 0.0) + tr.delivered
        for o in orders:
            key = (o.owner, o.resource, o.side)
            done = min(o.quantity, filled.get(key, 0.0))
            if key in filled:
                filled[key] -= done
            if done < o.quantity - 1e-9:
                traders.observe(MarketEvent(t, o.resource, o.side, o.price, False))

    def _learn(self, true_orders: list, orders: list, trades: list[Trade]) -> None:
        """End of step: each learning company hears how each of its orders fared, judged
        against the order's true reservation."""
        moved: dict[tuple[int, str, Side], list[float]] = {}
        for tr in trades:
            s = moved.setdefault((tr.seller, tr.resource, Side.SELL), [0.0, 0.0])
            s[0] += tr.shipped
            s[1] += tr.receipt - tr.transport_cost
            b = moved.setdefault((tr.buyer, tr.resource, Side.BUY), [0.0, 0.0])
            b[0] += tr.delivered
            b[1] -= tr.payment
        learners = {c.index for c in self._learners}
        for true, o in zip(true_orders, orders):
            if o.owner not in learners:
                continue
            company = self.companies[o.owner]
            key = (o.owner, o.resource, o.side)
            qty, money = moved.get(key, (0.0, 0.0))
            traded = min(o.quantity, qty)
            if key in moved:
                moved[key][0] -= traded
            q = company.quote(true, self.ledger)
            # Surplus over the outside option, at the true reservation of this order.
            unit_money = money / qty if qty > 0 else 0.0
            surplus = traded * (unit_money - q.reservation) if o.side is Side.SELL else traded * (q.reservation + unit_money)
            company.strategy.on_outcome(q, o.price, o.quantity, traded, surplus, self.market_rng)

    def run(self, steps: int, progress=None) -> None:
        for _ in range(steps):
            self.step()
            if progress is not None:
                progress.update(1)

    def _collect(self, acc: StepAccount, plans, trades: list[Trade], optimum: float, realised: float) -> None:
        self.trade_log.extend(trades)
        for c, p in zip(self.companies, plans):
            c.profit_eur += float(acc.profit[c.index])
            for prod, q in p.output.items():
                key = (c.index, prod)
                self.output_totals[key] = self.output_totals.get(key, 0.0) + q
        self.co2_t += acc.co2_t
        self.taxes_eur += acc.taxes
        self.subsidies_eur += acc.subsidies
        for r, ra in acc.resources.items():
            tot = self.resource_totals.setdefault(r, {"exchanged": 0.0, "bought_outside": 0.0, "disposed": 0.0,
                                                     "lost": 0.0, "produced": 0.0, "consumed": 0.0})
            tot["exchanged"] += ra.exchanged
            tot["bought_outside"] += ra.bought_outside
            tot["disposed"] += ra.disposed
            tot["lost"] += ra.lost
            tot["produced"] += ra.produced
            tot["consumed"] += ra.consumed
        links = {(t.seller, t.buyer, t.resource) for t in trades}
        members = {t.seller for t in trades} | {t.buyer for t in trades}
        self.records.append(StepRecord(
            step=acc.step,
            gains_from_trade_eur=realised,
            optimal_gains_eur=optimum,
            budget_eur=acc.budget,
            profit_eur=float(acc.profit.sum()),
            co2_t=acc.co2_t,
            taxes_eur=acc.taxes,
            subsidies_eur=acc.subsidies,
            trades=len(trades),
            active_links=len(links),
            symbiosis_share=len(members) / max(1, len(self.companies)),
            exchanged={r: ra.exchanged for r, ra in acc.resources.items()},
        ))
