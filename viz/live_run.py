"""A park stepped live for the browser page, beside its no-symbiosis baseline.

`LiveRun` owns two `ParkModel`s built as `experiments.runner.simulate` builds them (same
scenario, policy and seed; the baseline with exchanges off), steps both one day at a time and
keeps the per-step KPIs the charts draw. It knows nothing of Solara, so tests drive it directly.

Breaking a company adds an outage (`ParkModel.add_outages`) to the run *and* to the baseline,
for the same steps: CO2 avoided and savings then measure what the failure did to the
symbiosis, not the output the failed plant stopped making.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.model import ParkModel
from agents.operations import Outage
from experiments import runner
from agents.partnerships import Pipe
from agents.scenario import Scenario
from experiments import scenario_io
from experiments.config import RunConfig, apply
from experiments.runner import efficiency, step_figures
from market.contracts import Contract
from market.policy import Coordination
from market.settlement import closing_stock_value

# The per-step series the page charts, in the order of the runner's timeseries.parquet.
SERIES = ("gains_from_trade_eur", "optimal_gains_eur", "market_efficiency", "co2_avoided_t",
          "savings_vs_baseline_eur", "active_links", "symbiosis_share", "trades",
          "exchange_surplus_eur", "optimal_exchange_surplus_eur")
# The welfare split of each step, as `experiments.runner.welfare_kpis` makes it for a run: the
# transfers in the gains (taxes avoided, subsidies earned) and the social surplus (the gains
# less those transfers and less what the links cost to build and find).
WELFARE_SERIES = ("transfers_eur", "social_surplus_eur")
# The park's output a day at the scenario's sale prices, with exchanges and in the baseline.
PRODUCTION_SERIES = ("output_value_eur", "baseline_output_value_eur")
# The synchronised plan's profit less the companies' own decisions', on the same loads (empty
# when the park is too large for the plan beside it).
SYNC_SERIES = ("value_of_synchronisation_eur",)
# The cooperation series (`agents.model.StepRecord` fields of the same names), for the
# cooperation chart. pipes_built counts the pipes built so far in the run.
COOP_SERIES = ("contracts_active", "contracts_signed", "pipes_built", "deliveries_kept", "deliveries_breached",
               "density", "cooperative_share", "mean_sv_weight", "mean_trust", "known_share")


# The page keeps only what it draws: the last RECENT days at full resolution (more than any
# zoom window shows) and the days before halved, pairs of days averaged, each time the series
# pass MAX_POINTS. A session's memory stays bounded however long it plays; the KPI cards'
# totals are kept as running sums, so halving never changes them.
MAX_POINTS = max(4, int(os.environ.get("ECOPARK_VIZ_POINTS", "2400")))
RECENT = MAX_POINTS // 2
# The series the KPI cards add up over the run.
SUMMED = ("gains_from_trade_eur", "optimal_exchange_surplus_eur", "co2_avoided_t", "exchange_surplus_eur",
          "savings_vs_baseline_eur", "social_surplus_eur", "transfers_eur", "value_of_synchronisation_eur")


def _halve(values: list[float], first: bool) -> list[float]:
    """Pairs of days as one point: the first day's value for the step itself (`first`), else the
    pair's mean, leaving out a NaN (a day with no price)."""
    if first:
        return values[0::2]
    out = []
    for a, b in zip(values[0::2], values[1::2]):
        out.append(b if a != a else a if b != b else (a + b) / 2.0)
    return out


def _worth(model: ParkModel) -> float:
    """A model's companies' profit so far and the value of what they hold in store."""
    return float(sum(c.profit_eur for c in model.companies) + closing_stock_value(model.ledger).sum())


@functools.lru_cache(maxsize=16)
def load_park(name: str) -> Scenario:
    """A scenario by name, cached: a `Scenario` is frozen, so every run may share it."""
    return scenario_io.load(name)


def build_config(scenario: str, assignments: dict[str, Any]) -> tuple[RunConfig, Scenario]:
    """The run config the page's controls stand for, as `experiments.config.resolve` builds it
    for the command line: the scenario's own [policy] first, then the dotted-path assignments,
    validated by `apply` (an unknown key or bad value raises `InputError`)."""
    park = load_park(scenario)
    base = dataclasses.replace(RunConfig(), scenario=scenario, policy=park.policy)
    return apply(base, assignments), park


@dataclass(frozen=True, slots=True)
class Flow:
    """An exchange of this step, summed over the trades of one seller, buyer and resource."""

    seller: int
    buyer: int
    resource: str
    delivered: float


@dataclass
class Snapshot:
    """What the map draws for the last step."""

    step: int
    flows: list[Flow]
    output_value: np.ndarray  # EUR of output this step per company (sale price x quantity)
    down: np.ndarray  # bool per company
    cut_off: np.ndarray  # bool: lost an exchange partner since the latest break
    contracts: list[Contract] = field(default_factory=list)  # the contracts in force this step
    pipes: list[Pipe] = field(default_factory=list)  # the pipes built so far in the run


@dataclass
class LiveRun:
    cfg: RunConfig
    park: Scenario
    model: ParkModel = field(init=False)
    baseline: ParkModel = field(init=False)
    series: dict[str, list[float]] = field(init=False)
    breaks: dict[int, int] = field(init=False, default_factory=dict)  # company -> steps left down
    break_spans: list[tuple[int, int, int]] = field(init=False, default_factory=list)  # (company, first, last step)
    snapshot: Snapshot | None = field(init=False, default=None)
    flow_max: dict[str, float] = field(init=False, default_factory=dict)  # largest flow seen per resource
    _links_at_break: set[tuple[int, int, str]] | None = field(init=False, default=None)
    _last_links: set[tuple[int, int, str]] = field(init=False, default_factory=set)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        cfg, park = self.cfg, self.park
        self.model, self.baseline = runner.models(cfg, park)
        # The other way of coordinating on the same loads (the synchronised plan beside the
        # companies' own decisions, or the reverse), as `simulate` runs it: about 5 ms a step on
        # Kalundborg; None above `production.yardstick_max_companies`.
        self.other = runner.yardstick_model(cfg, park)
        self._sync_lead = 0.0
        self.series = {k: [] for k in ("step", *SERIES, *WELFARE_SERIES, *PRODUCTION_SERIES, *SYNC_SERIES, *COOP_SERIES)}
        self.sums = {k: 0.0 for k in SUMMED}  # the run's totals of the summed series
        self.compactions = 0  # times the older days were halved (the page's mirror then reloads)
        # Each resource's price a day: what buyers paid per unit delivered, over its exchanges
        # of the day (NaN on a day without one), for the price panel.
        self.prices: dict[str, list[float]] = {}
        self._price = [{p.product: p.sale_price for p in reversed(c.processes)} for c in park.companies]
        # The value a company makes on a normal day at full load: the map's size reference.
        self.nominal_value = np.array([sum(p.capacity * p.utilisation * p.sale_price for p in c.processes)
                                       for c in park.companies], dtype=float)

    @classmethod
    def from_settings(cls, scenario: str, assignments: dict[str, Any]) -> "LiveRun":
        cfg, park = build_config(scenario, assignments)
        return cls(cfg, park)

    @property
    def t(self) -> int:
        """Steps done."""
        return self.model.t

    def break_company(self, index: int, steps: int) -> None:
        """Take company `index` down for the next `steps` steps, in the run and the baseline: an
        outage joined to the park's events (`ParkModel.add_outages`), the same path as a
        scenario's or `--set events.outage`, so its lost output and cascade are counted alike."""
        if not 0 <= index < len(self.model.companies):
            raise IndexError(f"no company {index} in {self.park.name}")
        steps = max(1, int(steps))
        with self._lock:
            if not self.breaks:
                self._links_at_break = set(self._last_links)
            self.breaks[index] = max(self.breaks.get(index, 0), steps)
            outage = Outage(self.park.companies[index].name, self.t, ((steps, 0.0),), label="Break now")
            self.model.add_outages((outage,))
            self.baseline.add_outages((outage,))
            if self.other is not None:
                self.other.add_outages((outage,))
            self.break_spans.append((index, self.t, self.t + steps - 1))

    def down(self, t: int | None = None) -> np.ndarray:
        """Which companies an outage stops completely at step `t` (default: the next step)."""
        return self.model.capacity_left(self.t if t is None else t) <= 0.0

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            with self._lock:
                self._step()

    def _step(self) -> None:
        m, b = self.model, self.baseline
        before = dict(m.output_totals)
        base_before = dict(b.output_totals)
        down = self.down()
        m.step()
        trades = list(m.last_trades)  # the step's own trades, contract deliveries first
        b.step()
        rec, brec = m.records[-1], b.records[-1]
        if self.other is not None:
            self.other.step()
            # As `simulate` values it: profit so far plus the stock in store at its value, each
            # day the change in the synchronised plan's lead.
            lead = _worth(self.other) - _worth(m)
            if self.cfg.policy.coordination is Coordination.SYNCHRONISED:
                lead = -lead
            self.series["value_of_synchronisation_eur"].append(lead - self._sync_lead)
            self._sync_lead = lead
        s = self.series
        s["step"].append(rec.step)
        s["gains_from_trade_eur"].append(rec.gains_from_trade_eur)
        s["optimal_gains_eur"].append(rec.optimal_gains_eur)
        f = step_figures(rec, brec)  # the time series' own derivation (experiments.runner)
        for key in ("exchange_surplus_eur", "market_efficiency", "co2_avoided_t", "savings_vs_baseline_eur",
                    "transfers_eur", "social_surplus_eur"):
            s[key].append(f[key])
        s["optimal_exchange_surplus_eur"].append(rec.optimal_exchange_surplus_eur)
        s["active_links"].append(rec.active_links)
        s["symbiosis_share"].append(rec.symbiosis_share)
        s["trades"].append(rec.trades)
        for key in COOP_SERIES:
            s[key].append(float(getattr(rec, key)))

        value = self._output_value(m, before)
        s["output_value_eur"].append(float(value.sum()))
        s["baseline_output_value_eur"].append(float(self._output_value(b, base_before).sum()))
        paid: dict[str, list[float]] = {}  # resource -> [payments, units delivered] today
        for tr in trades:
            if tr.delivered > 0:
                p = paid.setdefault(tr.resource, [0.0, 0.0])
                p[0] += tr.payment
                p[1] += tr.delivered
        for r in paid:
            self.prices.setdefault(r, [float("nan")] * (len(s["step"]) - 1))
        for r, values in self.prices.items():
            values.append(paid[r][0] / paid[r][1] if r in paid else float("nan"))
        sums: dict[tuple[int, int, str], float] = {}
        for tr in trades:
            key = (tr.seller, tr.buyer, tr.resource)
            sums[key] = sums.get(key, 0.0) + tr.delivered
        flows = [Flow(s_, b_, r, q) for (s_, b_, r), q in sums.items() if q > 0]
        for f in flows:
            self.flow_max[f.resource] = max(self.flow_max.get(f.resource, 0.0), f.delivered)
        links = {(f.seller, f.buyer, f.resource) for f in flows}
        cut = np.zeros(len(m.companies), dtype=bool)
        if self._links_at_break is not None:
            for s_, b_, _ in self._links_at_break - links:
                cut[s_] = cut[b_] = True
            cut &= ~down
        self._last_links = links
        contracts = [c for c in m.partners.contracts if c.active(rec.step)]
        self.snapshot = Snapshot(rec.step, flows, value, down, cut, contracts, list(m.partners.pipes))
        for key in SUMMED:
            if s[key]:
                self.sums[key] += s[key][-1]
        self._compact()

        for i in list(self.breaks):
            self.breaks[i] -= 1
            if self.breaks[i] <= 0:
                del self.breaks[i]
        if not self.breaks and self._links_at_break is not None and not cut.any():
            self._links_at_break = None  # recovered: every link lost to the failure is back

    def _compact(self) -> None:
        """Halve the days before the last RECENT once the series pass MAX_POINTS."""
        n = len(self.series["step"])
        if n <= MAX_POINTS:
            return
        old = (n - RECENT) // 2 * 2  # pairs of days before the last RECENT
        for key, values in self.series.items():
            values[:old] = _halve(values[:old], key == "step")
        for values in self.prices.values():
            values[:old] = _halve(values[:old], False)
        self.compactions += 1

    def _output_value(self, model: ParkModel, before: dict) -> np.ndarray:
        """EUR of output each company made this step, at its processes' sale prices."""
        value = np.zeros(len(model.companies))
        for (c, product), total in model.output_totals.items():
            q = total - before.get((c, product), 0.0)
            if q > 0:
                value[c] += q * self._price[c].get(product, 0.0)
        return value

    # ---- what the page shows -------------------------------------------------------------

    def totals(self) -> dict[str, float]:
        """Run totals so far: the KPI cards."""
        s, sums = self.series, self.sums
        return {
            "steps": self.t,
            "gains_from_trade_eur": sums["gains_from_trade_eur"],
            "co2_avoided_t": sums["co2_avoided_t"],
            "market_efficiency": efficiency(sums["exchange_surplus_eur"], sums["optimal_exchange_surplus_eur"]),
            "active_links": float(s["active_links"][-1]) if s["active_links"] else 0.0,
            "symbiosis_share": float(s["symbiosis_share"][-1]) if s["symbiosis_share"] else 0.0,
            "savings_vs_baseline_eur": sums["savings_vs_baseline_eur"],
            "social_surplus_eur": sums["social_surplus_eur"],
            "transfers_eur": sums["transfers_eur"],
            # None when no synchronised plan runs beside (a park above the yardstick's size)
            "value_of_synchronisation_eur": sums["value_of_synchronisation_eur"] if self.other is not None else None,
            "contracts_active": float(s["contracts_active"][-1]) if s["contracts_active"] else 0.0,
            "pipes_built": float(s["pipes_built"][-1]) if s["pipes_built"] else 0.0,
            # Output lost this run to failures (and planned stops) and to cascades (inputs cut).
            "lost_failure_eur": float(self.model.records.total("lost_failure_eur")),
            "lost_cascade_eur": float(self.model.records.total("lost_cascade_eur")),
        }

    def decisions(self) -> list[tuple[int, str, str, str]]:
        """The investment decisions taken so far (step, company, kind, option): investments,
        switches, entries, exits and pipes, as decisions.parquet lists them."""
        return [(d.step, d.company, d.kind, d.option) for d in self.model.investor.decisions]

    def company_view(self, index: int) -> dict[str, Any]:
        """Everything the company panel shows about company `index`."""
        m = self.model
        c = m.companies[index]
        spec = c.spec
        names = [x.name for x in self.park.companies]
        partners: dict[tuple[str, str, str], float] = {}
        others: set[int] = set()  # whoever it has traded with or is bound to this run
        for (seller, buyer, resource), q in m.trade_log.flows.items():  # units delivered so far
            if seller == index:
                key = ("sells to", names[buyer], resource)
                others.add(buyer)
            elif buyer == index:
                key = ("buys from", names[seller], resource)
                others.add(seller)
            else:
                continue
            partners[key] = partners.get(key, 0.0) + q
        units = {r: res.unit for r, res in self.park.resources.items()}
        resources = sorted({r for p in spec.processes for r in (*p.inputs, *p.byproducts)} | set(spec.storage))
        stock = [(r, m.ledger.stock(index, r), m.ledger.store_capacity(index, r), units.get(r, ""))
                 for r in resources if m.ledger.store_capacity(index, r) > 0]
        snap = self.snapshot
        trust = m.partners.trust
        contracts = []
        for k in snap.contracts if snap is not None else ():
            if index not in (k.seller, k.buyer):
                continue
            seller = k.seller == index
            other = k.buyer if seller else k.seller
            others.add(other)
            contracts.append({
                "role": "sells to" if seller else "buys from", "partner": names[other], "resource": k.resource,
                "unit": units.get(k.resource, ""), "price": k.terms.price, "quantity": k.terms.quantity,
                "penalty": k.terms.penalty, "seller_share": k.terms.seller_share, "investment": k.investment,
                "start": k.start, "end": k.end})
        return {
            "name": spec.name,
            "sector": spec.sector,
            "strategy": c.strategy.__class__.__name__,
            "down": bool(self.down()[index]),
            "down_steps_left": self.breaks.get(index, 0),
            "cut_off": bool(snap.cut_off[index]) if snap is not None else False,
            "processes": [
                {"name": p.name, "product": p.product, "unit": p.unit, "capacity": p.capacity,
                 "utilisation": p.utilisation, "sale_price": p.sale_price,
                 "inputs": {r: (q, units.get(r, "")) for r, q in p.inputs.items()},
                 "byproducts": {r: (q, units.get(r, "")) for r, q in p.byproducts.items()}}
                for p in spec.processes
            ],
            "stock": stock,
            "partners": sorted(((d, who, r, q, units.get(r, "")) for (d, who, r), q in partners.items()),
                               key=lambda x: (x[0], -x[3])),
            "profit_eur": c.profit_eur,
            "baseline_profit_eur": self.baseline.companies[index].profit_eur,
            "output_value_eur": float(snap.output_value[index]) if snap is not None else 0.0,
            "sv_weight": float(m.weights[index]),
            "contracts": sorted(contracts, key=lambda c: (c["role"], c["partner"], c["resource"])),
            # (partner, its trust in the partner, the partner's trust in it), by name
            "trust": sorted((names[j], trust.trust(index, j), trust.trust(j, index)) for j in others if j != index),
        }
