"""The park as a Mesa model: one step is plan, post orders, clear, settle, collect."""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from agents.company import Company
from agents.scenario import Scenario
from agents.strategies import Truthful
from market.network import Network, Pipeline
from market.orders import Trade
from market.policy import Policy
from market.settings import MarketSettings
from market.settlement import Ledger, StepAccount, open_step, settle


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What the park did in one step, for the time series."""

    step: int
    gains_from_trade_eur: float
    profit_eur: float
    co2_t: float
    taxes_eur: float
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
        self.ops_rng, self.market_rng = self.rng.spawn(2)
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
        self.companies: list[Company] = [
            Company(self, i, spec, Truthful()) for i, spec in enumerate(scenario.companies)
        ]
        self._margins = [c.margins(self.ledger) for c in self.companies]
        self.records: list[StepRecord] = []
        self.trade_log: list[Trade] = []
        self.accounts_profit = np.zeros(len(self.companies))
        self.co2_t = 0.0
        self.taxes_eur = 0.0
        self.resource_totals: dict[str, dict[str, float]] = {}
        self.output_totals: dict[tuple[int, str], float] = {}
        self.last_account: StepAccount | None = None

    def step(self) -> None:
        t = self.t
        acc = open_step(self.ledger, t)
        plans = [c.plan(self.ledger, self.ops_rng, m) for c, m in zip(self.companies, self._margins)]
        trades: list[Trade] = []
        if self.market.exchanges:
            orders = [o for c, p in zip(self.companies, plans) for o in c.orders(p, self.ledger, self.market_rng)]
            trades = self.mechanism.clear(orders, self.network, t, self.market_rng)
        settle(self.ledger, acc, plans, trades)
        self._collect(acc, plans, trades)
        self.t += 1

    def run(self, steps: int, progress=None) -> None:
        for _ in range(steps):
            self.step()
            if progress is not None:
                progress.update(1)

    def _collect(self, acc: StepAccount, plans, trades: list[Trade]) -> None:
        self.last_account = acc
        self.trade_log.extend(trades)
        self.accounts_profit += acc.profit
        for c, p in zip(self.companies, plans):
            c.profit_eur += float(acc.profit[c.index])
            for prod, q in p.output.items():
                key = (c.index, prod)
                self.output_totals[key] = self.output_totals.get(key, 0.0) + q
        self.co2_t += acc.co2_t
        self.taxes_eur += acc.taxes
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
            gains_from_trade_eur=acc.gains_from_trade,
            profit_eur=float(acc.profit.sum()),
            co2_t=acc.co2_t,
            taxes_eur=acc.taxes,
            trades=len(trades),
            active_links=len(links),
            symbiosis_share=len(members) / max(1, len(self.companies)),
            exchanged={r: ra.exchanged for r, ra in acc.resources.items()},
        ))
