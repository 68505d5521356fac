"""The park as a Mesa model: one step is plan production, deliver contracts, clear, settle, learn, collect."""

from __future__ import annotations

import gc
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import accumulate

import mesa
import numpy as np

from agents.cascade import Cascade
from agents.company import Company, ParkLoads, park_positions
from agents.forecast import foresight, stock_up
from agents.cooperation import CooperationSettings
from agents.decisions import ProductionDecisions
from agents.pricing import ProductPrices
from agents.production import Decision, Expectations, ProductionSettings
from agents.synchronised import Operator
from agents.operations import Maintenance, OperationsSettings, Outage
from agents.reliability import Reliability
from agents.imitation import imitate, starting_weights
from agents.investment import InvestmentSettings, Investor
from agents.partnerships import Partnerships
from agents.records import EMERGENCE, RecordLog, StepRecord  # noqa: F401  (part of this module's API)
from agents.scenario import Scenario
from agents.spool import ProductionLog, TradeLog
from agents.population import population
from agents.strategies import STRATEGIES, Truthful
from agents.tactics import TACTICS
from agents.traders import PairTally, ParkTraders, tally_deals
from market import sharing
from market.network import Network, Pipeline
from market.orders import (COLUMNS_FROM, MarketEvent, Order, OrderList, Side, Trade, TradeList, by_resource_code,
                           columns_of, numbered_orders, tail)
from market.policy import Coordination, GainSharing, Policy
from market.settings import MarketSettings
from market.contracts import Delivery
from market.settlement import Ledger, Plan, PlanList, StepAccount, book, open_step, settle
from market.optimum import Optimum, Stock, StepOptimum
from market.transport import Warm
from market.welfare import N_PARTS, exchange_values

# Sampled Shapley shares (parks above 15 companies): permutations per period.
SHAPLEY_SAMPLES = 200


@dataclass(frozen=True, slots=True)
class Shock:
    """A company or one of its processes out of action: an outage, a failure or a planned stop."""

    company: int
    kind: str  # "outage", "failure" or "maintenance"
    start: int
    end: int  # first step back
    label: str = ""


@dataclass(frozen=True, slots=True)
class Production:
    """The step's production (the plan-production phase): each company's plan, the factor the
    cascade cut it by (1: not cut), the sales value lost to failures, stops and outages and to
    the cascade, and each process's share of capacity used (None when no process wears)."""

    plans: Sequence[Plan]
    cut: np.ndarray
    lost_failure: np.ndarray
    lost_cascade: np.ndarray
    made: np.ndarray | None


@dataclass(frozen=True, slots=True)
class Delivered:
    """The deliver-contracts phase: every company's truthful orders, the contract trades and
    deliveries, what is left for the spot market, and the penalties owed (payer, payee, EUR)."""

    true_orders: Sequence[Order]
    trades: Sequence[Trade]
    deliveries: list[Delivery]
    spot_orders: Sequence[Order]
    owed: list[tuple[int, int, float]]


@dataclass(frozen=True, slots=True)
class Exchanges:
    """What the step's exchanges came to: the trades (contract deliveries first, then the spot
    market's), the orders the traders posted, the realised gains against the optimum and the
    transfers in them, and the money outside the market (penalties, search, pipe annuities:
    `pay` per company, `gov` the government's share)."""

    trades: Sequence[Trade] = field(default_factory=list)
    spot: Sequence[Trade] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    traders: ParkTraders | None = None
    orders: Sequence[Order] = field(default_factory=list)
    optimum: StepOptimum = StepOptimum(0.0, 0.0)
    realised: float = 0.0
    moved: np.ndarray = field(default_factory=lambda: np.zeros(N_PARTS))  # taxes avoided, subsidies earned
    penalties: float = 0.0
    search: float = 0.0
    capital: float = 0.0
    pay: np.ndarray | None = None
    gov: float = 0.0

    @property
    def contract_trades(self) -> int:
        return len(self.trades) - len(self.spot)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """Everything the collect phase records of one step."""

    account: StepAccount
    production: Production
    exchanges: Exchanges
    signed: int  # contracts signed at the end of a period
    adoptions: int  # ways of trading imitated at the end of a period
    investment: float  # EUR invested in pipes this step
    projects: float  # fixed opex and capital charges of processes and entries


# Python's cyclic garbage collector, as tuned while a model runs (see `lean_gc`).
GC_THRESHOLDS = (200_000, 10, 10)
_FROZEN_AFTER_FULL = 0  # objects frozen right after `lean_gc`'s last full collection


@contextmanager
def lean_gc() -> Iterator[None]:
    """Run a stretch of steps with fewer garbage collections: the objects that exist before it
    (the park, the models, the libraries) are frozen out of the collector's walks (`gc.freeze`)
    and a collection of the youngest generation waits for 200,000 new container objects instead
    of 700. A step makes tens of thousands of short-lived orders, trades and tuples, nearly all
    freed by reference counting; on synthetic:1000 the default collector took about a fifth of
    the time, walking the same long-lived objects again and again. A day of synthetic:10000 holds
    hundreds of thousands of them at once (its orders, trades and deliveries): with a threshold of
    10,000 the collector ran 47 times a day and took 7.3 of 62 s over 59 days (3.7 % of
    synthetic:1000's time), finding nothing to free; at 200,000 it ran 6 times in all (0.4 s).
    Collection still runs, less often, so cyclic garbage is still freed. Results do not depend on
    it. The settings of before are restored on leaving (nested uses leave them to the outermost).

    Frozen objects are never collected, so garbage left from before the stretch (a model a sweep
    worker has finished with: a model and its agents refer to each other, so only the collector
    frees it) must not be frozen with the rest, or every run of a worker would keep its models
    (3.3 MB a Kalundborg year, 1.9 GB after 500 runs of a sweep). A full collection before
    freezing costs about 60 ms, so it is made as CPython makes its own: when what would be frozen
    has grown by a quarter since the last one (`_FROZEN_AFTER_FULL`; the first stretch of a
    process takes what it finds as the start). A worker's memory then levels off: 214-218 MB over
    40 Kalundborg years, against 172 MB after the first and 3.3 MB more with each before."""
    global _FROZEN_AFTER_FULL
    if gc.get_threshold() == GC_THRESHOLDS:  # already inside one
        yield
        return
    before = gc.get_threshold()
    gc.freeze()
    frozen = gc.get_freeze_count()
    if not _FROZEN_AFTER_FULL:  # the process's first stretch: what it holds is its imports and setup
        _FROZEN_AFTER_FULL = frozen
    elif frozen > 1.25 * _FROZEN_AFTER_FULL:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _FROZEN_AFTER_FULL = gc.get_freeze_count()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


class ParkModel(mesa.Model):
    """An eco-industrial park of autonomous companies trading surplus resources.

    The run's one generator is Mesa's `self.rng`, seeded from `seed`. Five child streams are
    spawned from it at start (`_spawn_streams`), each for one kind of chance:

    - `ops_rng`, the companies' daily loads: each company draws from a stream of its own,
      derived from this one and its name (`load_rngs`);
    - `market_rng`, the market and the traders' strategies;
    - a setup stream that draws the companies' strategies and tactics from the market
      settings' shares;
    - `coop_rng`, cooperation: who opens a negotiation, search, imitation, sampled Shapley
      shares and the starting shared-vision weights;
    - `rel_rng`, failures and maintenance (`agents.reliability`).

    A run with exchanges switched off (the baseline) therefore sees the very same loads as the
    run it is compared with.

    Cooperation (`agents.partnerships`, `agents.imitation`): contracts deliver before the spot
    market; every `cooperation.period` steps pairs negotiate contracts and pipes, and companies
    imitate more successful peers. The spot market sees only routes between companies that
    know each other (`policy.information`); the optimum it is measured against knows all.
    """

    expect: Expectations | None  # what companies expect of the market; None when they decide without it

    def __init__(self, scenario: Scenario, policy: Policy | None = None,
                 market: MarketSettings | None = None, seed: int = 0,
                 cooperation: CooperationSettings | None = None, operations: OperationsSettings | None = None,
                 events: tuple[Outage, ...] = (), production: ProductionSettings | None = None,
                 investment: InvestmentSettings | None = None, track_optimum: bool = True):
        super().__init__(rng=seed)
        # Whether each step's optimum (`market.optimum`, the yardstick of the gains) is computed:
        # a run whose records' optimal gains nobody reads (the synchronised yardstick beside a
        # run, `experiments.runner.yardstick_model`) leaves it out and records NaN. The optimum
        # draws no random numbers and changes nothing the run does, so the rest is the same.
        self.track_optimum = track_optimum
        self.park = scenario
        self.policy = policy if policy is not None else scenario.policy
        self.run_policy = self.policy  # as configured; `policy` is this year's (carbon price path)
        self.production = production if production is not None else ProductionSettings()
        self.market = market if market is not None else MarketSettings()
        self.cooperation = cooperation if cooperation is not None else CooperationSettings()
        setup_rng = self._spawn_streams(scenario)
        self.operations = operations if operations is not None else OperationsSettings()
        self.mechanism = self.market.build()
        self.t = 0
        n = len(scenario.companies)
        positions, pipes = self._routes(scenario)
        self.partners = Partnerships(self.cooperation, self.policy, n, scenario.steps_per_year, pipes)
        self.network = Network(positions, dict(scenario.resources), tuple(pipes), self.partners.known)
        self.weights = starting_weights(n, self.policy.shared_vision, self.policy.shared_vision_spread, self.coop_rng)
        self._share_of: np.ndarray | None = None  # the operator's sharing weights, if it shares
        self._period_gain = np.zeros(n)
        self.gains_total = np.zeros(n)  # each company's gains from exchange, as the market split them
        self.transfers_total = np.zeros(n)  # the operator's gain-sharing transfers
        self._period_revenue = np.zeros(n)
        storage = {(i, r): cap for i, c in enumerate(scenario.companies) for r, cap in c.storage.items()}
        self.ledger = Ledger(len(scenario.companies), dict(scenario.resources), self.policy, storage)
        # The yardstick of the gains, each unit counted once; its LPs and the market's share the
        # run's memory of them (`market.transport.Warm`), so the two solve the same problem alike.
        warm = getattr(self.mechanism, "warm", None)
        self.optimum = Optimum(self.ledger, warm if isinstance(warm, Warm) else Warm())
        self.companies: list[Company] = self._make_companies(scenario, setup_rng)
        # The park's positions of the step, for the planner's orders (`_truthful`).
        self._park_positions: tuple[list[Plan], int, list[list], dict[tuple[int, str], float], list[tuple],
                                    Sequence[Order]] | None = None
        self._ways_changed()
        # The company of each process, flat over every process of the park (in company order).
        self.process_owner = np.repeat(np.arange(n), [len(c.processes) for c in scenario.companies]).astype(np.int64)
        self.year: int | None = None
        self._setup_production(scenario)
        # Under synchronised planning the park operator plans production and exchanges.
        self.operator = (Operator(self) if self.market.exchanges and self.policy.coordination is Coordination.SYNCHRONISED
                         else None)
        # Options, entry and exit (`agents.investment`): which processes and companies are in service.
        self.investor = Investor(self, investment if investment is not None else InvestmentSettings())
        self._transfers = np.zeros(n)  # payments due this step outside the market (contract terminations)
        self._setup_operations(scenario, events)
        self._start_totals(n, sorted(scenario.resources))

    def _spawn_streams(self, scenario: Scenario) -> np.random.Generator:
        """The run's random streams, spawned from Mesa's `self.rng` (see the class docstring);
        returns the setup stream, which draws the companies' strategies and tactics."""
        # Spawned children depend only on their index, so adding a stream never shifts another.
        self.ops_rng, self.market_rng, setup_rng = self.rng.spawn(3)
        (self.coop_rng,) = self.rng.spawn(1)
        (self.rel_rng,) = self.rng.spawn(1)
        # Each company's daily loads come from a stream of its own, derived from the loads stream
        # and the company's name: removing a company (a robustness curve) leaves the others'
        # loads as they were.
        seq = self.ops_rng.bit_generator.seed_seq
        self.load_rngs = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            seq.entropy, spawn_key=(*seq.spawn_key, zlib.crc32(c.name.encode("utf-8"))))))
            for c in scenario.companies]
        return setup_rng

    @staticmethod
    def _routes(scenario: Scenario) -> tuple[np.ndarray, list[Pipeline]]:
        """The companies' positions and the scenario's pipelines between them (a pipe with no
        length given is as long as the straight line)."""
        index = scenario.company_index()
        positions = np.array([c.location for c in scenario.companies], dtype=float).reshape(-1, 2)
        pipes = []
        for p in scenario.pipelines:
            a, b = index[p.source], index[p.target]
            length = p.length_km if p.length_km is not None else float(np.hypot(*(positions[a] - positions[b])))
            pipes.append(Pipeline(a, b, p.resource, length))
        return positions, pipes

    def _make_companies(self, scenario: Scenario, setup_rng: np.random.Generator) -> list[Company]:
        """The companies, each with the strategy and tactic the file names or the market
        settings' shares draw."""
        strategies = population(self.market.strategies.shares(), [c.strategy for c in scenario.companies], setup_rng)
        tactics = population(self.market.tactics.shares(), [c.tactic for c in scenario.companies], setup_rng)
        return [Company(self, i, spec, STRATEGIES[s](), TACTICS[t]())
                for i, (spec, s, t) in enumerate(zip(scenario.companies, strategies, tactics))]

    def _setup_operations(self, scenario: Scenario, events: tuple[Outage, ...]) -> None:
        """Failures, maintenance, cascades and outages (`agents.reliability`, `agents.cascade`)."""
        n = len(scenario.companies)
        self.reliability = Reliability(scenario, self.operations, self.rel_rng)
        if self.operations.maintenance is Maintenance.PRESCRIPTIVE:  # the digital twin picks each stop's window
            from agents.twin import prescriptive_chooser
            self.reliability.choose = prescriptive_chooser(self)
        self.cascade = Cascade(scenario)
        self.events: tuple[Outage, ...] = ()
        self._event_company: list[int] = []
        self.shocks: list[Shock] = []
        self.add_outages((*scenario.events, *events))
        self.cuts: dict[int, dict[int, tuple[int, float]]] = {}  # step -> company -> (depth, EUR lost)
        self._failures_from: dict[int, int] = {}  # step -> failures that start then
        self._down_now = 0
        self.lost_failure_by_company = np.zeros(n)
        self.lost_cascade_by_company = np.zeros(n)
        self._first = self.reliability.first_of
        self._loads = ParkLoads(self.companies, self._first)  # the park's loads end to end (`_nominal_and_able`)

    def _start_totals(self, n: int, resources: list[str]) -> None:
        """The run's records and totals, which the collect phase adds each step to. Trades and
        production are logged in spools (`agents.spool`): a long run's memory stays flat."""
        self.records = RecordLog(resources)
        self.trade_log = TradeLog(resources)
        self.last_trades: Sequence[Trade] = []  # the last step's trades (contract deliveries first)
        # Bilateral negotiations by (buyer's tactic, seller's tactic): agreements and the split.
        self.negotiations: dict[tuple[str, str], PairTally] = {}
        self.co2_t = 0.0
        self.taxes_eur = 0.0
        self.subsidies_eur = 0.0
        self.resource_totals: dict[str, dict[str, float]] = {}
        self.output_totals: dict[tuple[int, str], float] = {}
        self.output_eur = np.zeros(n)  # value of what each company made (at its sale prices)
        # Each company's profit in each cooperation period (the side payments of synchronised
        # planning are settled per period).
        self.profit_periods: list[np.ndarray] = []
        # Per step, flat over every process: what it could make, what its company decided,
        # what it made after cascades, its sale price and its outside unit cost (inputs bought
        # and by-products disposed of outside): the production outputs.
        self.production_log = ProductionLog()

    # ------------------------------------------------------------------ prices and decisions
    def _setup_production(self, scenario: Scenario) -> None:
        """Pass-through prices and production decisions for these processes (at the start, and
        again when a history run changes the processes)."""
        pr = self.production
        self.pricing = ProductPrices(scenario.companies, scenario.resources, pr.pass_through)
        self.decisions = ProductionDecisions(
            [[(p.inputs, p.byproducts) for p in c.processes] for c in scenario.companies], pr.decision)
        if self.market.exchanges and pr.decision is Decision.EXPECTED:
            if getattr(self, "expect", None) is None:
                self.expect = Expectations(len(self.companies), sorted(scenario.resources), pr.memory)
        else:
            self.expect = None
        self._apply_year(self.year)

    def _apply_year(self, year: int | None) -> None:
        """This year's outside prices, carbon price and sale prices (price paths and
        pass-through, `market.paths`, `agents.pricing`); then each process's margins."""
        park = self.park
        sched = park.prices
        self.year = year
        resources = sched.resources_in(year, park.resources)
        self.policy = self.run_policy.in_year(year)
        self.ledger.policy = self.policy
        self.ledger.reprice(resources)
        if self.network.resources is not resources:
            self.network = Network(self.network.positions, resources, self.network.pipelines, self.network.known)
        own = park.policy.in_year(year)
        # The reference world: the scenario's base prices under its own policy; a product with a
        # path of its own already carries the input price paths, so only the policy is passed on.
        base = np.array([sched.product_price(p.product, p.sale_price, year)
                         for c in park.companies for p in c.processes], dtype=float)
        ref_base = self.pricing.unit_cost(park.resources, own)
        ref_now = self.pricing.unit_cost(resources, own)
        pathed = np.array([sched.has_product_path(p.product) for c in park.companies for p in c.processes], dtype=bool)
        reference = np.where(pathed, ref_now, ref_base) if len(base) else ref_base
        prices = self.pricing.prices(base, resources, self.policy, reference)
        cut = np.cumsum([len(c.spec.processes) for c in self.companies])[:-1]
        for c, sale in zip(self.companies, np.split(prices, cut)):
            c.sale = sale.copy()
        self.decisions.reclassify([c.sale for c in self.companies],
                                  np.split(self.pricing.unit_cost(resources, self.policy), cut),
                                  np.split(self.pricing.best_cost(resources, self.policy), cut))

    def reprice(self, scenario: Scenario) -> None:
        """Carry on under new prices and processes: the same companies in the same order and
        the same resources, with other numbers (a history run changes them year by year).
        Contracts keep their terms; stores keep their stock."""
        if [c.name for c in scenario.companies] != [c.name for c in self.park.companies] \
                or set(scenario.resources) != set(self.park.resources):
            raise ValueError("reprice: the new scenario must have the same companies (in order) and resources")
        self.park = scenario
        for c, spec in zip(self.companies, scenario.companies):
            c.respec(spec)
        self._setup_production(scenario)
        self.cascade.respec(scenario)

    def _truthful(self, plans, t: int, stock: Stock | None = None) -> Sequence[Order]:
        """The step's truthful orders: each company's needs and surpluses and the bids to fill
        its stores, on the park's stock or on another's (`stock`, the optimum's planner's)."""
        ledger = self.ledger
        park = self._park_positions
        if stock is not None and park is not None and park[0] is plans and park[1] == t:
            # The planner's orders of this step (`market.optimum`): a company's positions depend
            # on the stock only through its stores' levels, and the planner holds what the park
            # holds in most of them; an order the same as the park's at the same index (so with
            # the same number) is the park's.
            _, _, park_blocks, levels, park_raw, park_orders = park
            changed = sorted({c for (c, r), level in levels.items() if stock(c, r) != level})
            blocks = list(park_blocks)
            one = plans.one if isinstance(plans, PlanList) else plans.__getitem__  # (the others not made)
            for c, block in zip(changed, park_positions([self.companies[c] for c in changed], [one(c) for c in changed],
                                                        ledger, stock)):
                blocks[c] = block
            raw = self._raw(blocks, t, stock)
            if len(raw) != len(park_raw):
                return numbered_orders(raw)
            new = [i for i in _may_differ(changed, blocks, park_blocks, len(raw)) if raw[i] != park_raw[i]]
            rows = [raw[i] for i in new]
            return OrderList.replacing(park_orders, new, numbered_orders(rows, new), rows)
        blocks = park_positions(self.companies, plans, ledger, stock)
        raw = self._raw(blocks, t, stock)
        # Each order carries its index, so a re-quote finds its own reservation even when a
        # company has two asks of one resource (what it could keep, what it would dispose of).
        # (Each Order made once, with its index: making them twice cost more than the rest.)
        orders = numbered_orders(raw)
        if stock is None:  # kept for the planner's orders of this step, with the stores' levels
            self._park_positions = (plans, t, blocks, {key: s.level for key, s in ledger.stores.items()}, raw, orders)
        return orders

    def _raw(self, blocks: list[list[tuple[int, str, Side, float, float]]], t: int, stock: Stock | None
             ) -> list[tuple[int, str, Side, float, float]]:
        """The rows of `_truthful`'s orders: each company's positions, then the stocking-up bids."""
        raw = [x for block in blocks for x in block]
        if self.ledger.stores:
            raw += stock_up(self, t, stock)
        return raw

    def _ways_changed(self) -> None:
        self._learners = [c for c in self.companies if c.strategy.traits.get("learns")]
        self._all_truthful = all(isinstance(c.strategy, Truthful) for c in self.companies)

    def step(self) -> None:
        """One day: plan production, deliver contracts, clear the spot market, settle, learn,
        collect."""
        t = self.t
        year = self.park.prices.year_of(t, self.park.steps_per_year)
        if year != self.year:
            self._apply_year(year)
        self.investor.begin(t)
        acc = open_step(self.ledger, t)
        made = self._plan(t)
        investment_before = self.partners.investment_eur
        projects, sunk, extra = self._charges(t)
        ex = self._exchange(t, made.plans, extra) if self.market.exchanges else Exchanges()
        pay = ex.pay if ex.pay is not None else np.zeros(len(self.companies))
        settle(self.ledger, acc, made.plans, ex.trades)
        book(self.ledger, acc, extra, ex.gov)
        # Operating profit (sunk capital charges left out) for the exit rule.
        self.investor.end(t, acc.profit + pay + sunk)
        self._wear(t, ex.trades, made)
        signed, adoptions = self._adapt(t, made.plans, ex)
        self._collect(StepOutcome(acc, made, ex, signed, adoptions, self.partners.investment_eur - investment_before,
                                  float(projects.sum())))
        self.t += 1

    def _charges(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The step's charges outside the market: each company's project charges (fixed opex
        and capital of processes and entries), the sunk part of them, and the money it pays
        (< 0) or receives this step so far: project charges and contract terminations due."""
        n = len(self.companies)
        extra = np.zeros(n)
        projects, sunk = self.investor.charges(t)
        extra -= projects
        extra += self._transfers
        self._transfers = np.zeros(n)
        return projects, sunk, extra

    def _exchange(self, t: int, plans: Sequence[Plan], extra: np.ndarray) -> Exchanges:
        """Contracts deliver, the spot market clears what is left, and the trades are valued
        against the optimum; companies learn what the market left them, pay for search and pipes,
        and the operator re-splits the gains if it shares them. `extra`, each company's money
        outside the market this step, takes the penalties, costs and shares."""
        n = len(self.companies)
        delivered = self._deliver(t, plans)
        penalties = 0.0
        for payer, payee, amount in delivered.owed:
            extra[payer] -= amount
            extra[payee] += amount
            penalties += amount
        traders, orders, spot = self._clear(t, delivered.spot_orders)
        # Read field by field in several passes (`market.orders.TradeList`): columns kept.
        trades = TradeList.joined([delivered.trades, spot])
        spot = tail(trades, len(delivered.trades))
        # The optimum knows every route, and counts each unit once (`market.optimum`).
        full = self.network if self.network.known is None else replace(self.network, known=None)
        true_orders = delivered.true_orders
        if self.track_optimum:
            best = self.optimum.step(t, plans,
                                     lambda stock: true_orders if stock is None else self._truthful(plans, t, stock), full)
        else:
            best = StepOptimum(float("nan"), float("nan"))
        realised, moved, gains = exchange_values(trades, true_orders, n, self.ledger.transfer_of)
        costs = self._after_market(t, delivered.spot_orders, trades, spot)
        extra -= costs
        pay, gov = self.partners.capital(t)
        extra -= pay
        self.gains_total += gains
        if self.policy.gain_sharing is not GainSharing.MARKET:
            if self._share_of is None:
                self._share_of = self._sharing_weights(true_orders)
            # The operator's side payments: apart from `moved` (the taxes and subsidies in
            # the gains), which the step record keeps for the welfare split.
            shared = self._share(gains)
            self.transfers_total += shared
            extra += shared
        self._period_gain += gains + extra
        return Exchanges(trades, spot, delivered.deliveries, traders, orders, best, realised, moved, penalties,
                         float(costs.sum()), float(pay.sum()), pay, gov)

    def _deliver(self, t: int, plans: Sequence[Plan]) -> Delivered:
        """Contracts deliver out of the companies' truthful positions, before the spot market."""
        true_orders = self._truthful(plans, t)
        self.partners.observe(true_orders, self.ledger)
        contract_trades, deliveries, spot_true, owed = self.partners.deliver(t, true_orders)
        return Delivered(true_orders, contract_trades, deliveries, spot_true, owed)

    def _clear(self, t: int, spot_true: Sequence[Order]) -> tuple[ParkTraders, Sequence[Order], Sequence[Trade]]:
        """The spot market: the traders post their orders (the true ones when every company is
        truthful) and the mechanism clears them, or the operator carries out its plan. Returns
        the traders, the orders posted and the spot trades."""
        traders = ParkTraders(self.companies, self.ledger, spot_true, self.market_rng, self.market.units_per_order)
        orders = spot_true if self._all_truthful else traders.post(self.market_rng)
        if self.operator is not None:
            return traders, orders, self.operator.execute(t, spot_true)
        spot = self.mechanism.clear(orders, self.network, t, self.market_rng, traders)
        if traders.deals:
            tally_deals(self.negotiations, traders.deals, self.companies)
        if not getattr(self.mechanism, "reports_events", False) and self._learners:
            self._report(traders, orders, spot)
        return traders, orders, spot

    def _after_market(self, t: int, spot_true: Sequence[Order], trades: Sequence[Trade], spot: Sequence[Trade]) -> np.ndarray:
        """What the market left each company: companies holding expectations learn from it, and
        those with needs unmet or surplus unsold search for partners. Returns each company's
        search costs."""
        rest = self._rest(spot_true, spot)
        if self.expect is not None:
            self._expect(spot_true, trades, spot, rest)
        left = self._left(rest) if self.partners.known is not None else {}
        return self.partners.after_market(t, spot, left, self.coop_rng)

    def _wear(self, t: int, trades: Sequence[Trade], made: Production) -> None:
        """After the day: the cascade remembers who supplied whom, processes wear, and the
        failures and stops that start are shocks."""
        if self.market.exchanges and self.operations.cascades and self.cascade.active:
            self.cascade.record(trades, made.cut, self.ledger, t, foresight(self, t))
        self.reliability.wear(t, made.made)
        for when, p, kind in self.reliability.started:
            c = int(self.reliability.company[p])
            if kind == "failure":  # down from the next step: counted there
                self._failures_from[when] = self._failures_from.get(when, 0) + 1
            self.shocks.append(Shock(c, kind, when, int(self.reliability.until[p]),
                                     self.park.companies[c].processes[p - self._first[c]].name))

    def _adapt(self, t: int, plans: Sequence[Plan], ex: Exchanges) -> tuple[int, int]:
        """Learning traders hear how their orders fared; at the end of a cooperation period,
        pairs negotiate and companies imitate. Returns the contracts signed and the adoptions."""
        if self._learners and ex.traders is not None:
            self._learn(ex.traders, ex.orders, ex.spot)
        if isinstance(plans, PlanList):  # a large park's, on its columns (one plan a company)
            self._period_revenue[plans.columns.company] += plans.columns.revenue
        else:
            for p in plans:
                self._period_revenue[p.company] += p.revenue
        if self.market.exchanges and (t + 1) % self.cooperation.period == 0:
            return self._period(t)
        return 0, 0

    def add_outages(self, outages) -> None:
        """Outages joined to the park's events (each an `agents.operations.Outage`): the one way
        a company is taken down, whether by its scenario, `--set events.outage`, a what-if plan or
        the page's Break now, so that its lost output and cascade are measured alike. Events stay
        in order of their start (the park's own first on a tie)."""
        names = self.park.company_index()
        unknown = [e.company for e in outages if e.company not in names]
        if unknown:
            raise ValueError(f"outage of unknown companies {unknown}; the park has {sorted(names)}")
        pairs = list(zip(self.events, self._event_company)) + [(e, names[e.company]) for e in outages]
        pairs.sort(key=lambda ec: ec[0].at)
        self.events = tuple(e for e, _ in pairs)
        self._event_company = [c for _, c in pairs]
        self.shocks.extend(Shock(names[e.company], "outage", e.at, e.at + e.duration, e.label or "outage")
                           for e in outages)

    def outages(self) -> list[tuple[Outage, int]]:
        """The park's outages in order of their start, each with the index of the company it
        takes down: what forecasts and the digital twin read (`add_outages` is the way in)."""
        return list(zip(self.events, self._event_company))

    def capacity_left(self, t: int) -> np.ndarray:
        """Each company's share of capacity its outages leave at step `t` (1: none)."""
        cap = np.ones(len(self.companies))
        for e, c in self.outages():
            share = e.capacity(t)
            if share is not None:
                cap[c] = min(cap[c], share)
        return cap

    def _plan(self, t: int) -> Production:
        """Each company's production this step: its nominal plan, less what its processes'
        stops and any outage take (lost to failures), less what missing inputs cut (lost to
        the cascade, `agents.cascade`)."""
        rel = self.reliability
        avail = rel.begin_step(t)
        down = self._down_now = rel.down
        # Most days no process is stopped and no company has an outage: the availabilities and
        # the outages' shares (all 1) are then not multiplied in.
        cap = self.capacity_left(t) if self.events else None
        short = cap is not None and bool((cap < 1.0).any())
        nominal, able_all = self._nominal_and_able(t, avail, cap if short else None, self.investor.active, down > 0)
        loads = self._loads
        able = loads.slices(able_all)
        companies = self.companies
        prices = [c.sale for c in companies]
        n = len(able)
        if self.operator is not None:
            up = avail * np.repeat(cap, loads.lens) if cap is not None and n else avail
            qty = self.operator.plan(t, able, up)
        else:
            qty = self._decide(t, able_all, prices)
        flat = (lambda xs: np.concatenate(xs) if n else np.zeros(0))  # noqa: E731
        decided = flat(qty)
        # The decisions as Python floats, each company's list: what the cascade and the plans walk.
        amounts = loads.slices(decided.tolist())
        # The operator's plan already routes what each company needs: no cascade within the step.
        if self.operations.cascades and self.cascade.active and self.operator is None:
            f, depth = self.cascade.cut(t, amounts, self.ledger)
        else:
            f, depth = np.ones(len(companies)), np.zeros(len(companies), dtype=np.int64)
        lost_fail = np.zeros(n)
        if down or short:  # availabilities are 0 or 1
            # What failures, stops and outages took: what the company would have decided to make
            # with all its capacity, less what it decided with what it had.
            could = loads.slices(nominal)
            hit = [i for i in range(n) if (able[i] < could[i]).any()]
            would = self._decide(t, nominal, prices, only=hit)
            for i in hit:
                lost_fail[i] = max(0.0, float((would[i] - qty[i]) @ prices[i]))
            self.lost_failure_by_company += lost_fail
        lost_cascade = np.zeros(n)
        produced = decided
        if (f < 1.0).any():
            lost_cascade = np.array([float(qty[i] @ prices[i]) * (1.0 - f[i]) for i in range(n)])
            produced = flat([q * f[i] for i, q in enumerate(qty)])
            amounts = loads.slices(produced.tolist())
            self.cuts[t] = {int(i): (int(depth[i]), float(lost_cascade[i])) for i in np.flatnonzero(f < 1.0)}
            self.lost_cascade_by_company += lost_cascade
        sale = flat(prices)
        self.production_log.add(t, able_all, decided, produced, sale, self.decisions.expected_all)
        made = None
        if len(rel.worn):
            made = np.divide(produced, loads.caps, out=np.zeros_like(produced), where=loads.caps > 0)
        # A large park's plans as columns, made plan by plan only if read (`ParkLoads.plans`).
        plans: Sequence[Plan] | None = loads.plans(companies, produced, sale) if n >= COLUMNS_FROM else None
        if plans is None:
            plans = [c.plan_of(q, p) for c, q, p in zip(companies, amounts, loads.slices(sale.tolist()))]
        return Production(plans, f, lost_fail, lost_cascade, made)

    def _nominal_and_able(self, t: int, avail: np.ndarray, cap: np.ndarray | None, active: np.ndarray,
                          stopped: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Each process's nominal plan (`Company.nominal`) and what it is able to make after
        stops (`avail`; `stopped` False: all 1), outages (`cap`; None: no company has one) and
        exits (`active`), end to end over the park's companies (`ParkLoads`, kept as `_loads`,
        gives each company's slice). Each company draws its own random numbers (`Company.draw`);
        the arithmetic, element by element the same as company by company, runs once over the
        park on arrays built once. A share of 1 is not multiplied in (x 1.0 changes no bit)."""
        ops, first = self.operations, self._first
        loads = self._loads
        if not loads.fits(self.companies, first):  # the processes changed
            loads = self._loads = ParkLoads(self.companies, first)
        if not loads.aligned or len(avail) != loads.size or len(active) != loads.size:
            spy = self.park.steps_per_year
            draws = [c.draw(g, t, spy, ops.profiles) for c, g in zip(self.companies, self.load_rngs)]
            nominal = [c._caps * np.clip(util * (1.0 + c._cv * noise), 0.0, 1.0)
                       for c, (noise, util) in zip(self.companies, draws)]
            share = cap if cap is not None else np.ones(len(self.companies))
            able = [q * avail[first[i]:first[i] + len(q)] * share[i] * active[first[i]:first[i] + len(q)]
                    for i, q in enumerate(nominal)]
            return (np.concatenate(nominal), np.concatenate(able)) if nominal else (np.zeros(0), np.zeros(0))
        if ops.profiles and loads.profiled:  # this day's utilisations (year, week, campaign)
            draws = [c.draw(g, t, self.park.steps_per_year, True) for c, g in zip(self.companies, self.load_rngs)]
            noise = np.concatenate([d[0] for d in draws])
            util = np.concatenate([d[1] for d in draws])
        else:
            noise, util = loads.noise(self.load_rngs), loads.util
        # (The array's own clip: np.clip's, without np.clip's two layers of dispatch on top.)
        flat = loads.caps * (util * (1.0 + loads.cv * noise)).clip(0.0, 1.0)
        able = flat * avail if stopped else flat
        if cap is not None:
            able = able * cap[loads.owner]
        return flat, able * active

    def on_close(self, i: int, t: int) -> None:
        """Company i has closed for good: its contracts end with their termination payments,
        and the closure is a shock whose cascade is measured like an outage's."""
        for payer, payee, amount in self.partners.terminate(i, t, self.investor.s.termination_steps):
            self._transfers[payer] -= amount
            self._transfers[payee] += amount
        self.shocks.append(Shock(i, "closure", t, 2**31 - 1, "closed"))

    def _decide(self, t: int, able: np.ndarray, prices: list[np.ndarray], only: list[int] | None = None
                ) -> list[np.ndarray]:
        """Each company's production decision this step (`agents.decisions`) from what each
        process can make (`able`, end to end over the companies); `only` limits the work to some
        companies (the others' entries are what they could make)."""
        exchanges = self.market.exchanges
        contracts = self.partners.active_at(t) if exchanges and self.partners.contracts else []
        if only is not None:
            some = np.zeros_like(able)
            for i in only:
                a, b = self._loads.bounds[i]
                some[a:b] = able[a:b]
            able = some
        return self.decisions.decide(able, prices, self.ledger, contracts, self.expect, self.network)

    @staticmethod
    def _rest(spot_true: Sequence[Order], spot: Sequence[Trade]) -> dict[tuple[int, str, Side], float]:
        """What each company still had after the market, per resource and side."""
        rest: dict[tuple[int, str, Side], float] = {}
        get = rest.get
        sell, buy = Side.SELL, Side.BUY
        if isinstance(spot_true, OrderList) and len(spot_true) >= COLUMNS_FROM:  # the same sums, from the columns
            oc = spot_true.columns
            sides = [sell if a else buy for a in oc.is_ask.tolist()]
            for key, q in zip(zip(oc.owner.tolist(), oc.resource, sides), oc.quantity.tolist()):
                rest[key] = get(key, 0.0) + q
        else:
            for o in spot_true:
                key = (o.owner, o.resource, o.side)
                rest[key] = get(key, 0.0) + o.quantity
        if len(spot) < COLUMNS_FROM:
            for tr in spot:
                rest[(tr.seller, tr.resource, sell)] -= tr.shipped
                rest[(tr.buyer, tr.resource, buy)] -= tr.delivered
            return rest
        cols = columns_of(spot)  # the same subtractions in the same order, read from the columns
        for s, b, r, x, d in zip(cols.seller.tolist(), cols.buyer.tolist(), cols.resource, cols.shipped.tolist(),
                                 cols.delivered.tolist()):
            rest[(s, r, sell)] -= x
            rest[(b, r, buy)] -= d
        return rest

    @staticmethod
    def _left(rest: dict[tuple[int, str, Side], float]) -> dict[int, tuple[set[str], set[str]]]:
        """Resources each company had surplus of unsold or needs of unmet after the market (it
        will dispose of them or buy them outside)."""
        out: dict[int, tuple[set[str], set[str]]] = {}
        for (c, r, side), q in rest.items():
            if q > 1e-6:
                surplus, need = out.setdefault(c, (set(), set()))
                (surplus if side is Side.SELL else need).add(r)
        return out

    def _expect(self, spot_true: Sequence[Order], trades: Sequence[Trade], spot: Sequence[Trade],
                rest: dict[tuple[int, str, Side], float]) -> None:
        """Companies learn from the step's spot market: what they received and sold and at
        what price, and what was left unsold or unmet (surplus a company would have kept in its
        own store for later use is not for the taking)."""
        keep: dict[tuple[int, str], float] = {}
        buy = self.ledger.buy_prices  # each resource's outside price, read per order
        sell = Side.SELL
        if isinstance(spot_true, OrderList) and len(spot_true) >= COLUMNS_FROM:  # the same, on the columns
            oc = spot_true.columns
            kept = np.flatnonzero(oc.is_ask & (oc.price >= by_resource_code(buy)[oc.code] - 1e-9)).tolist()
            for key, q in zip(zip(oc.owner[kept].tolist(), map(oc.resource.__getitem__, kept)), oc.quantity[kept].tolist()):
                keep[key] = keep.get(key, 0.0) + q
        else:
            for o in spot_true:
                if o.side is sell and o.price >= buy[o.resource] - 1e-9:
                    key = (o.owner, o.resource)
                    keep[key] = keep.get(key, 0.0) + o.quantity
        unsold, unmet = {}, {}
        for (c, r, side), q in rest.items():
            if side is sell:
                if keep:
                    q -= keep.get((c, r), 0.0)
                if q > 1e-6:
                    unsold[(c, r)] = q
            elif q > 1e-6:
                unmet[(c, r)] = q
        if self.expect is None:
            raise RuntimeError("_expect is called only when the companies hold expectations (self.expect)")
        self.expect.observe(trades, spot, unsold, unmet)

    def _period(self, t: int) -> tuple[int, int]:
        """End of a period: negotiate contracts and pipes, imitate, refresh the operator's
        sharing weights."""
        signed = 0
        if self.cooperation.contracts:
            tactics = [(float(getattr(c.tactic, "beta", 1.0)), float(getattr(c.tactic, "kappa", 0.0))) for c in self.companies]
            new, network = self.partners.negotiate(t, self.network, self.ledger, self.weights, tactics, self.coop_rng,
                                                   self.investor.multiples, self.investor.record_pipe)
            signed = len(new)
            self.network = network
        adoptions = 0
        if self.cooperation.imitation:
            payoff = self._period_gain / np.maximum(np.abs(self._period_revenue), 1.0)
            ways = [(c.strategy.name, c.tactic.name, float(self.weights[c.index])) for c in self.companies]
            for a in imitate(payoff, self.partners.known, self.cooperation.imitation_noise, self.coop_rng):
                strategy, tactic, weight = ways[a.model]
                me = self.companies[a.who]
                if me.strategy.name != strategy:
                    me.strategy = STRATEGIES[strategy]()
                if me.tactic.name != tactic:
                    me.tactic = TACTICS[tactic]()
                if self.policy.shared_vision_imitation:
                    self.weights[a.who] = weight
                adoptions += 1
            self._ways_changed()
        self._period_gain[:] = 0.0
        self._period_revenue[:] = 0.0
        if self.policy.gain_sharing is not GainSharing.MARKET:
            self._share_of = self._sharing_weights(self.partners.average_orders(self.ledger))
        return signed, adoptions

    def _sharing_weights(self, orders: Sequence[Order]) -> np.ndarray | None:
        """The operator's split of the park's gains: each company's Shapley value (or Nash
        share) of the park game on these positions, normalised to sum to 1."""
        n = len(self.companies)
        full = self.network if self.network.known is None else replace(self.network, known=None)
        v = sharing.park_game(orders, full)
        if self.policy.gain_sharing is GainSharing.SHAPLEY:
            x = sharing.shapley(n, v, samples=SHAPLEY_SAMPLES, rng=self.coop_rng)
        else:
            x = sharing.nash(n, v)
        total = float(x.sum())
        return x / total if total > 1e-9 else None

    def _share(self, gains: np.ndarray) -> np.ndarray:
        """Transfers that re-split this step's gains by the operator's weights (they sum to 0)."""
        if self._share_of is None:
            return np.zeros_like(gains)
        return float(gains.sum()) * self._share_of - gains

    def _report(self, traders: ParkTraders, orders: Sequence[Order], trades: Sequence[Trade]) -> None:
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
        # A company's cheaper asks (dearer bids) are the ones a sealed-bid clearing fills first.
        for o in sorted(orders, key=lambda o: o.price if o.side is Side.SELL else -o.price):
            key = (o.owner, o.resource, o.side)
            done = min(o.quantity, filled.get(key, 0.0))
            if key in filled:
                filled[key] -= done
            if done < o.quantity - 1e-9:
                traders.observe(MarketEvent(t, o.resource, o.side, o.price, False))

    def _learn(self, traders: ParkTraders, orders: Sequence[Order], trades: Sequence[Trade]) -> None:
        """End of step: each learning company hears how each of its posted orders fared, judged
        against the reservation of the true order behind it."""
        moved: dict[tuple[int, str, Side], list[float]] = {}
        for tr in trades:
            s = moved.setdefault((tr.seller, tr.resource, Side.SELL), [0.0, 0.0])
            s[0] += tr.shipped
            s[1] += tr.receipt - tr.transport_cost
            b = moved.setdefault((tr.buyer, tr.resource, Side.BUY), [0.0, 0.0])
            b[0] += tr.delivered
            b[1] -= tr.payment
        learners = {c.index for c in self._learners}
        for o in orders:
            if o.owner not in learners:
                continue
            true = traders.true_of(o)
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
            # The strategy learns from the price it chose, not the one shared vision shaded.
            own = company.unshaded(q, o.price)
            if own is not None:
                company.strategy.on_outcome(q, own, o.quantity, traded, surplus, self.market_rng)

    def run(self, steps: int, progress=None) -> None:
        with lean_gc():
            for _ in range(steps):
                self.step()
                if progress is not None:
                    progress.update(1)

    def _collect(self, out: StepOutcome) -> None:
        """The collect phase: add the step to the run's totals and record it."""
        self._add_to_totals(out.account, out.production.plans, out.exchanges.trades)
        self.records.append(self._record(out))

    def _add_to_totals(self, acc: StepAccount, plans: Sequence[Plan], trades: Sequence[Trade]) -> None:
        self.trade_log.extend(trades)
        self.last_trades = trades
        profit = acc.profit.tolist()  # Python floats: the same values as indexing the array company by company
        output_totals = self.output_totals
        for c in self.companies[:len(plans)]:
            c.profit_eur += profit[c.index]
        if isinstance(plans, PlanList):  # a large park's, on its columns (plan k company k's)
            pc = plans.columns
            for key, q in zip(zip(pc.out_plan.tolist(), pc.out_product), pc.out.tolist()):
                output_totals[key] = output_totals.get(key, 0.0) + q
            revenue: np.ndarray | list[float] = pc.revenue
        else:
            for c, p in zip(self.companies, plans):
                for prod, q in p.output.items():
                    key = (c.index, prod)
                    output_totals[key] = output_totals.get(key, 0.0) + q
            revenue = [p.revenue for p in plans]
        # Each company's revenue added to its entry, element by element as company by company.
        self.output_eur[:len(plans)] += revenue
        k = acc.step // self.cooperation.period
        while len(self.profit_periods) <= k:
            self.profit_periods.append(np.zeros(len(self.companies)))
        self.profit_periods[k] += acc.profit
        self.co2_t += acc.co2_t
        self.taxes_eur += acc.taxes
        self.subsidies_eur += acc.subsidies
        totals = self.resource_totals
        for r, ra in acc.resources.items():
            tot = totals.get(r)
            if tot is None:
                tot = totals[r] = dict.fromkeys(("exchanged", "bought_outside", "disposed", "lost", "produced", "consumed"),
                                                0.0)
            tot["exchanged"] += ra.exchanged
            tot["bought_outside"] += ra.bought_outside
            tot["disposed"] += ra.disposed
            tot["lost"] += ra.lost
            tot["produced"] += ra.produced
            tot["consumed"] += ra.consumed

    def _record(self, out: StepOutcome) -> StepRecord:
        """The step's row of the time series. (Counts and means taken without numpy's per-call
        overhead where the result is the same: a count of a boolean array is exact, and a mean
        is its array's sum divided by the count, as `np.mean` takes it.)"""
        acc, ex, made = out.account, out.exchanges, out.production
        trades = ex.trades
        if len(trades) < COLUMNS_FROM:
            links = {(t.seller, t.buyer, t.resource) for t in trades}
            members = {t.seller for t in trades} | {t.buyer for t in trades}
        else:
            cols = columns_of(trades)
            sellers, buyers = cols.seller.tolist(), cols.buyer.tolist()
            links = set(zip(sellers, buyers, cols.resource))
            members = set(sellers) | set(buyers)
        pairs = {(s, b) if s < b else (b, s) for s, b, _ in links}
        n = len(self.companies)
        alive = int(np.count_nonzero(self.investor.alive))
        known = self.partners.known
        bound = self.partners.active if self.market.exchanges else []
        # What each contract's buyer expects of its seller (`TrustBook.trust`, the same values read at once).
        trust = self.partners.trust.trust_of(np.fromiter([c.buyer for c in bound], np.int64, len(bound)),
                                             np.fromiter([c.seller for c in bound], np.int64, len(bound))) \
            if len(bound) >= COLUMNS_FROM else [self.partners.trust.trust(c.buyer, c.seller) for c in bound]
        kept = sum([d.kept for d in ex.deliveries])
        weights = self.weights
        cuts = self.cuts.get(acc.step, {})
        step = acc.step
        return StepRecord(
            step=step,
            gains_from_trade_eur=ex.realised,
            optimal_gains_eur=ex.optimum.gains_eur,
            optimal_exchange_surplus_eur=ex.optimum.surplus_eur,
            budget_eur=acc.budget,
            profit_eur=float(acc.profit.sum()),
            co2_t=acc.co2_t,
            taxes_eur=acc.taxes,
            subsidies_eur=acc.subsidies,
            trades=len(trades),
            active_links=len(links),
            symbiosis_share=len(members) / max(1, alive),
            exchanged={r: ra.exchanged for r, ra in acc.resources.items()},
            density=2.0 * len(pairs) / (alive * (alive - 1)) if alive > 1 else 0.0,
            contract_trades=ex.contract_trades,
            contracts_active=len(bound),
            contracts_signed=out.signed,
            deliveries_kept=kept,
            deliveries_breached=len(ex.deliveries) - kept,
            penalties_eur=ex.penalties,
            investment_eur=out.investment,
            pipes_built=len(self.partners.pipes),
            capital_cost_eur=ex.capital,
            search_cost_eur=ex.search,
            known_share=1.0 if known is None or n < 2 else (float(np.count_nonzero(known)) - n) / (n * (n - 1)),
            mean_trust=float(np.array(trust).sum()) / len(trust) if len(trust) else float("nan"),
            mean_sv_weight=float(weights.sum()) / len(weights) if n else 0.0,
            cooperative_share=int(np.count_nonzero(weights >= 0.5)) / len(weights) if n else 0.0,
            adoptions=out.adoptions,
            lost_failure_eur=float(made.lost_failure.sum()),
            lost_cascade_eur=float(made.lost_cascade.sum()),
            processes_down=self._down_now,
            failures=self._failures_from.pop(step, 0),
            maintenance_stops=sum([1 for when, _, k in self.reliability.started if k == "maintenance" and when == step]),
            cascade_cut=len(cuts),
            cascade_depth=max([d for d, _ in cuts.values()], default=0),
            project_charges_eur=out.projects,
            transfers_eur=tuple(ex.moved.tolist()),
            pipe_subsidy_eur=ex.gov,
        )


def _may_differ(changed: list[int], blocks: Sequence[list], park_blocks: Sequence[list], n: int) -> Sequence[int]:
    """Where the planner's `n` rows may differ from the park's, as many (`ParkModel._truthful`):
    in the blocks of the companies whose positions were made again (`changed`) and in the
    stocking-up bids after every company's, when those blocks have as many rows as the park's
    (the rest are the park's rows at the park's places); else anywhere."""
    if any(len(blocks[c]) != len(park_blocks[c]) for c in changed):
        return range(n)
    starts = list(accumulate(map(len, park_blocks), initial=0))
    out = [i for c in changed for i in range(starts[c], starts[c + 1])]
    out += range(starts[-1], n)
    return out
