"""Running one configured simulation beside its no-symbiosis baseline and summarising it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from agents.model import EMERGENCE, ParkModel, StepRecord, lean_gc
from experiments import shocks as shock_analysis
from market import sharing
from agents.scenario import Scenario, Target
from agents.spool import ProductionLog, TradeLog
from market.policy import TRANSFER_PARTS, Coordination
from market.settlement import closing_stock_value
from agents.synchronised import side_payments
from experiments.config import RunConfig, resolve  # noqa: F401  (resolve is part of this module's API)



@dataclass
class RunResult:
    """A run's outputs. The trades and the production record stay in the run's spools
    (`agents.spool`) and become frames on demand: `trades` and `production` whole (for short
    runs and the API), `trade_chunks()` and `production_chunks()` a chunk at a time (what the
    writer streams to Parquet, so a long run's outputs never sit in memory whole)."""

    config: RunConfig
    scenario: Scenario
    summary: dict[str, Any]
    timeseries: pd.DataFrame
    trade_log: TradeLog
    production_log: ProductionLog | None = None
    decisions: pd.DataFrame | None = None
    processes: list[tuple[str, Any]] = dataclasses.field(default_factory=list)  # (company, process) in log order

    def trade_chunks(self) -> Iterator[pd.DataFrame]:
        yield from trade_chunks(self.trade_log, self.scenario)

    @property
    def trades(self) -> pd.DataFrame:
        return _concat(list(self.trade_chunks()), TRADE_COLUMNS)

    def production_chunks(self) -> Iterator[pd.DataFrame]:
        if self.production_log is not None:
            yield from production_chunks(self.production_log, self.processes)

    @property
    def production(self) -> pd.DataFrame | None:
        if self.production_log is None:
            return None
        return _concat(list(self.production_chunks()), PRODUCTION_COLUMNS)


def simulate(cfg: RunConfig, park: Scenario, progress: Any = None, yardstick: bool = True) -> RunResult:
    """Run the park and its baseline (same seed, exchanges off) and build the outputs. With
    `yardstick` (and a park no larger than `production.yardstick_max_companies`), also run the
    other way of coordinating on the same loads: the synchronised plan beside the companies'
    own decisions, or the reverse under `policy.coordination = "synchronised"`."""
    # One stretch of lean garbage collection for the runs and their summary (`agents.model.lean_gc`):
    # freezing what exists walks every object the process holds (about 9 ms), once instead of a
    # run at a time, and the models made inside it stay out of what is frozen.
    with lean_gc():
        model, base = models(cfg, park)
        other = yardstick_model(cfg, park) if yardstick else None
        model.run(cfg.steps, progress)
        base.run(cfg.steps, progress)
        if other is not None:
            other.run(cfg.steps, progress)
        return RunResult(cfg, park, _summary(cfg, park, model, base, other), _timeseries(model, base, other),
                         model.trade_log, model.production_log, decisions_frame(model), _process_list(model))


DECISION_COLUMNS = ["step", "year", "company", "kind", "option", "npv_eur", "threshold_eur", "capex_eur", "note"]


def _decision_rows(model: ParkModel) -> list[dict[str, Any]]:
    return [{k: getattr(d, k) for k in DECISION_COLUMNS} for d in model.investor.decisions]


def decisions_frame(model: ParkModel) -> pd.DataFrame:
    """One row per investment decision of the run: options taken, entries, exits, pipes."""
    df = pd.DataFrame(_decision_rows(model), columns=DECISION_COLUMNS)
    df["year"] = df["year"].astype("Int64")
    return df


def runs_yardstick(cfg: RunConfig, park: Scenario) -> bool:
    return cfg.market.exchanges and 0 < len(park.companies) <= cfg.production.yardstick_max_companies


def steps_to_run(cfg: RunConfig, park: Scenario) -> int:
    """Steps `simulate` runs in all (for a progress bar)."""
    return cfg.steps * (3 if runs_yardstick(cfg, park) else 2)


def yardstick_model(cfg: RunConfig, park: Scenario) -> ParkModel | None:
    """The run's other coordination on the same park, seed and loads, or None when the park is
    above `production.yardstick_max_companies` (or exchanges are off). Only its profits are
    read, so it does not track its own optimum (`ParkModel.track_optimum`)."""
    if not runs_yardstick(cfg, park):
        return None
    flip = (Coordination.DECENTRALISED if cfg.policy.coordination is Coordination.SYNCHRONISED
            else Coordination.SYNCHRONISED)
    other = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, coordination=flip))
    return ParkModel(park, other.policy, other.market, other.seed, other.cooperation, other.operations, other.events,
                     other.production, other.investment, track_optimum=False)


def models(cfg: RunConfig, park: Scenario) -> tuple[ParkModel, ParkModel]:
    """The run's model and its baseline (the same park, seed, failures and outages, with no
    exchanges between companies)."""
    def build(market):
        return ParkModel(park, cfg.policy, market, cfg.seed, cfg.cooperation, cfg.operations, cfg.events,
                         cfg.production, cfg.investment)
    return build(cfg.market), build(dataclasses.replace(cfg.market, exchanges=False))


def efficiency(realised: float, optimum: float) -> float:
    """Realised / optimal; NaN when nothing could be gained (no market to judge). The market's
    efficiency is the exchange surplus (gains less transfers) over the largest a planner could
    reach; on the private basis, the gains over the optimal gains (`market.optimum`: each unit
    counted once, so a day's figure may pass 1 when stock unsold earlier sells)."""
    return realised / optimum if optimum > 1e-9 else float("nan")


def step_figures(rec: StepRecord, base: StepRecord) -> dict[str, float]:
    """A step's derived figures against its baseline step: the welfare split (the transfers in
    the gains, the exchanges' surplus, what the links cost, the social surplus), efficiency on
    both bases, savings and CO2 avoided. The time series and the live page both take them from
    here; the run's totals (`welfare_kpis`) add the same parts up."""
    moved = float(sum(rec.transfers_eur))
    links = rec.capital_cost_eur + rec.pipe_subsidy_eur + rec.search_cost_eur
    return {
        "transfers_eur": moved,
        "exchange_surplus_eur": rec.gains_from_trade_eur - moved,
        "link_costs_eur": links,
        "social_surplus_eur": rec.gains_from_trade_eur - moved - links,
        "market_efficiency": efficiency(rec.gains_from_trade_eur - moved, rec.optimal_exchange_surplus_eur),
        "market_efficiency_private": efficiency(rec.gains_from_trade_eur, rec.optimal_gains_eur),
        "savings_vs_baseline_eur": rec.profit_eur - base.profit_eur,
        "co2_avoided_t": base.co2_t - rec.co2_t,
    }


def _timeseries(model: ParkModel, base: ParkModel, other: ParkModel | None = None) -> pd.DataFrame:
    rows = []
    sync = model.operator is not None
    others = iter(other.records) if other is not None else None
    for rec, b in zip(model.records, base.records):
        f = step_figures(rec, b)
        row = {
            "step": rec.step,
            "gains_from_trade_eur": rec.gains_from_trade_eur,
            "optimal_gains_eur": rec.optimal_gains_eur,
            "market_efficiency": f["market_efficiency"],
            "market_efficiency_private": f["market_efficiency_private"],
            "mechanism_budget_eur": rec.budget_eur,
            "transfers_eur": f["transfers_eur"],
            "exchange_surplus_eur": f["exchange_surplus_eur"],
            "link_costs_eur": f["link_costs_eur"],
            "social_surplus_eur": f["social_surplus_eur"],
            "optimal_exchange_surplus_eur": rec.optimal_exchange_surplus_eur,
            "profit_eur": rec.profit_eur,
            "baseline_profit_eur": b.profit_eur,
            "savings_vs_baseline_eur": f["savings_vs_baseline_eur"],
            "co2_t": rec.co2_t,
            "baseline_co2_t": b.co2_t,
            "co2_avoided_t": f["co2_avoided_t"],
            "taxes_eur": rec.taxes_eur,
            "subsidies_eur": rec.subsidies_eur,
            "trades": rec.trades,
            "active_links": rec.active_links,
            "symbiosis_share": rec.symbiosis_share,
            **{k: getattr(rec, k) for k in EMERGENCE},
        }
        if other is not None:
            o = next(others).profit_eur if others is not None else 0.0
            row["decentralised_profit_eur"] = o if sync else rec.profit_eur
            row["synchronised_profit_eur"] = rec.profit_eur if sync else o
        for r in sorted(model.park.resources):
            row[f"exchanged_{r}"] = rec.exchanged.get(r, 0.0)
        rows.append(row)
    return pd.DataFrame(rows)


TRADE_COLUMNS = {"step": np.int64, "seller": object, "buyer": object, "resource": object, "unit": object,
                 "shipped": float, "delivered": float, "price_eur": float, "payment_eur": float,
                 "seller_price_eur": float, "receipt_eur": float, "transport_cost_eur": float, "distance_km": float}
PRODUCTION_COLUMNS = {"step": np.int64, "company": "category", "process": "category", "product": "category",
                      "unit": "category", "available": float, "decided": float, "produced": float, "price_eur": float,
                      "outside_unit_cost_eur": float}


def _concat(parts: list[pd.DataFrame], columns: dict[str, Any]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({k: pd.Series(dtype=t) for k, t in columns.items()})
    if len(parts) == 1:
        return parts[0]
    cats = [k for k, t in columns.items() if t == "category"]
    out = pd.concat([p.astype({k: object for k in cats}) for p in parts], ignore_index=True)
    return out.astype({k: "category" for k in cats})


def trade_chunks(log: TradeLog, park: Scenario) -> Iterator[pd.DataFrame]:
    """trades.parquet's rows, a spool chunk at a time: names for indices, the payment and the
    seller's receipt worked out (what the seller gets per unit delivered and in all is below the
    buyer's price only where the mechanism keeps a budget, as McAfee's does: the budget can be
    audited trade by trade)."""
    names = np.array([c.name for c in park.companies], dtype=object)
    resources = np.array(log.resources, dtype=object)
    units = np.array([park.resources[r].unit if r in park.resources else "" for r in log.resources], dtype=object)
    for a in log.chunks():
        yield pd.DataFrame({
            "step": a["step"].astype(np.int64),
            "seller": names[a["seller"]], "buyer": names[a["buyer"]],
            "resource": resources[a["resource"]], "unit": units[a["resource"]],
            "shipped": a["shipped"], "delivered": a["delivered"], "price_eur": a["price"],
            "payment_eur": a["price"] * a["delivered"],
            "seller_price_eur": a["seller_price"], "receipt_eur": a["seller_price"] * a["delivered"],
            "transport_cost_eur": a["transport_cost"], "distance_km": a["distance_km"],
        })


def _process_list(model: ParkModel) -> list[tuple[str, Any]]:
    return [(c.name, p) for c in model.park.companies for p in c.processes]


def production_chunks(log: ProductionLog, procs: list[tuple[str, Any]]) -> Iterator[pd.DataFrame]:
    """production.parquet's rows, a spool chunk at a time: one row per process and step."""
    cat = {key: pd.Categorical(np.array([f(c, p) for c, p in procs], dtype=object)) for key, f in (
        ("company", lambda c, p: c), ("process", lambda c, p: p.name), ("product", lambda c, p: p.product),
        ("unit", lambda c, p: p.unit))}
    for a in log.chunks():
        k = a["process"]
        yield pd.DataFrame({
            "step": a["step"].astype(np.int64),
            **{key: pd.Categorical.from_codes(v.codes[k], categories=v.categories) for key, v in cat.items()},
            "available": a["available"], "decided": a["decided"], "produced": a["produced"],
            "price_eur": a["price"], "outside_unit_cost_eur": a["outside_unit_cost"],
        })


def production_frame(model: ParkModel) -> pd.DataFrame:
    """One row per process and step: what it could make (capacity x the day's load, less
    failures and outages), what its company decided to make, what it made (after cascades),
    its sale price and its outside unit cost (every input bought and by-product disposed of
    outside, taxes included): a process stops when price - cost (and what the park offers)
    no longer pays."""
    return _concat(list(production_chunks(model.production_log, _process_list(model))), PRODUCTION_COLUMNS)


def _products(model: ParkModel, base: ParkModel) -> list[dict[str, Any]]:
    """Each process over the run: output, mean sale price (weighted by output, else plain),
    its base price, the share of steps it ran, and the same output in the baseline."""
    procs = _process_list(model)
    if not len(model.production_log):
        return []
    s = model.production_log.totals
    bmade = base.production_log.totals.get("made", np.zeros(len(procs)))
    out = []
    for k, (company, p) in enumerate(procs):
        total, steps = float(s["made"][k]), max(1.0, float(s["steps"][k]))
        mean_price = float(s["value"][k] / total) if total > 0 else float(s["price"][k] / steps)
        out.append({"company": company, "process": p.name, "product": p.product, "unit": p.unit,
                    "output": total, "baseline_output": float(bmade[k]),
                    "base_price_eur": p.sale_price, "mean_price_eur": mean_price,
                    "mean_outside_unit_cost_eur": float(s["cost"][k] / steps),
                    "share_of_steps_run": float(s["ran"][k] / steps)})
    return out


def _synchronisation(cfg: RunConfig, model: ParkModel, other: ParkModel | None, profit: np.ndarray
                     ) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None]:
    """The value of synchronisation (the synchronised plan's profit less the companies' own
    decisions', on the same loads) and, under synchronised planning, the operator's side
    payments and each company's profit under its own plans."""
    keys = {"value_of_synchronisation_eur": None, "synchronised_profit_eur": None, "decentralised_profit_eur": None,
            "side_payments_eur": None, "operator_guarantee_eur": None}
    if other is None:
        return keys, None, None
    other_profit = _profit(other)
    sync = model.operator is not None
    s_profit, d_profit = (profit, other_profit) if sync else (other_profit, profit)
    keys.update(value_of_synchronisation_eur=float(s_profit.sum() - d_profit.sum()),
                synchronised_profit_eur=float(s_profit.sum()), decentralised_profit_eur=float(d_profit.sum()))
    if not sync:
        return keys, None, None
    # Per period and company; the stock left at the end is counted in the last period, as in profit.
    s_periods = np.array(model.profit_periods)
    d_periods = np.array(other.profit_periods)
    s_periods[-1] += closing_stock_value(model.ledger)
    d_periods[-1] += closing_stock_value(other.ledger)
    pay, guarantee = side_payments(s_periods, d_periods, 1)
    keys.update(side_payments_eur=float(np.abs(pay).sum() / 2.0), operator_guarantee_eur=guarantee)
    return keys, pay, d_profit


def _in_park(model: ParkModel) -> list[int]:
    """Companies that were in the park at some time during the run."""
    inv = model.investor
    return [i for i in range(len(model.companies)) if inv.alive[i] or i in inv.closed_at or i in inv.entered_at]


def _status(model: ParkModel, i: int) -> str:
    inv = model.investor
    if i in inv.closed_at:
        return f"closed at step {inv.closed_at[i]}"
    if i in inv.entered_at:
        return f"entered at step {inv.entered_at[i]}"
    if model.park.companies[i].entry is not None:
        return "candidate, did not enter"
    return "in the park"


def welfare_kpis(model: ParkModel, realised: float, co2_avoided_t: float, social_cost_of_carbon: float) -> dict[str, float]:
    """Private gains, transfers and social welfare kept apart. The realised gains from trade
    (`gains_from_trade_eur`, at the companies' reservation prices) are the exchanges' social
    surplus (`exchange_surplus_eur`: outside purchases and disposals avoided at their real cost,
    less transport and losses) plus the transfers in those prices (`transfers_eur`: taxes avoided
    and exchange subsidies earned, each part apart). The park's social surplus
    (`social_surplus_eur`) is the exchanges' less what the links cost to build and find (pipe
    annuities whoever pays them, search). The CO2 avoided is valued apart, at the social cost
    of carbon (`co2_value_eur`). What the mechanism keeps (`mechanism_budget_eur`) is part of
    the realised gains that the traders do not get (`traders_gains_eur`)."""
    recs = model.records
    parts = recs.column("transfers_eur").sum(axis=0) if len(recs) else np.zeros(len(TRANSFER_PARTS))
    transfers = float(parts.sum())
    links = float(sum((recs.column("capital_cost_eur") + recs.column("pipe_subsidy_eur")
                       + recs.column("search_cost_eur")).tolist()))
    budget = float(recs.total("budget_eur"))
    return {
        "exchange_surplus_eur": realised - transfers,
        "transfers_eur": transfers,
        **{f"transfers_{name}_eur": float(v) for name, v in zip(TRANSFER_PARTS, parts)},
        "link_costs_eur": links,
        "social_surplus_eur": realised - transfers - links,
        "co2_value_eur": co2_avoided_t * social_cost_of_carbon,
        "traders_gains_eur": realised - budget,
        "traders_share": (realised - budget) / realised if realised > 1e-9 else None,
    }


def _flows(model: ParkModel) -> dict[tuple[int, int, str], float]:
    """Units delivered over the run per (seller, buyer, resource), as the trade log totalled them."""
    return dict(model.trade_log.flows)


def _profit(model: ParkModel) -> np.ndarray:
    """Each company's profit with the stock left at the end valued at its disposal cost (the
    same in the run and its baseline)."""
    return np.array([c.profit_eur for c in model.companies]) + closing_stock_value(model.ledger)


def _kpis(cfg: RunConfig, model: ParkModel, base: ParkModel, flows: dict[tuple[int, int, str], float],
          profit: np.ndarray, base_profit: np.ndarray) -> dict[str, Any]:
    """The run's key figures against its baseline (synchronisation and shocks are added apart)."""
    members = {k[0] for k in flows} | {k[1] for k in flows}
    realised = float(model.records.total("gains_from_trade_eur"))
    optimum = float(model.records.total("optimal_gains_eur"))
    best = float(model.records.total("optimal_exchange_surplus_eur"))
    co2_avoided = float(base.co2_t - model.co2_t)
    welfare = welfare_kpis(model, realised, co2_avoided, cfg.policy.social_cost_of_carbon)
    return {
        "gains_from_trade_eur": realised,
        **welfare,
        "savings_vs_baseline_eur": float(profit.sum() - base_profit.sum()),
        "co2_avoided_t": co2_avoided,
        "active_links": len(flows),
        # Over the companies that were in the park at some time (candidates that never came are not).
        "symbiosis_share": len(members) / max(1, len(_in_park(model))),
        "trades": len(model.trade_log),
        "profit_eur": float(profit.sum()),
        "baseline_profit_eur": float(base_profit.sum()),
        "co2_t": float(model.co2_t),
        "baseline_co2_t": float(base.co2_t),
        "taxes_eur": float(model.taxes_eur),
        "subsidies_eur": float(model.subsidies_eur),
        # What the scheme costs the government: subsidies paid less taxes raised.
        "government_net_cost_eur": float(model.subsidies_eur - model.taxes_eur),
        "baseline_taxes_eur": float(base.taxes_eur),
        "optimal_gains_eur": optimum,
        "optimal_exchange_surplus_eur": best,
        # null, not NaN, when nothing could be gained: JSON has no NaN, and None == None.
        # Social basis: the exchanges' real costs avoided over the largest a planner could reach.
        "market_efficiency": None if best <= 1e-9 else efficiency(welfare["exchange_surplus_eur"], best),
        "market_efficiency_private": None if optimum <= 1e-9 else efficiency(realised, optimum),
        "mechanism_budget_eur": float(model.records.total("budget_eur")),
        "output_eur": float(model.output_eur.sum()),
        "options_taken": sum(1 for d in model.investor.decisions if d.kind in ("invest", "switch")),
        "entries": sum(1 for d in model.investor.decisions if d.kind == "enter"),
        "exits": sum(1 for d in model.investor.decisions if d.kind == "exit"),
        "capex_eur": float(model.investor.capex_eur),
        "project_charges_eur": float(model.records.total("project_charges_eur")),
        "baseline_output_eur": float(base.output_eur.sum()),
        **_cooperation_kpis(model, flows, profit - base_profit),
    }


def _company_rows(park: Scenario, model: ParkModel, base: ParkModel, profit: np.ndarray, base_profit: np.ndarray,
                  pay: np.ndarray | None, own: np.ndarray | None) -> list[dict[str, Any]]:
    """One row per company; with side payments (a synchronised run) what each received."""
    def row(i: int, name: str) -> dict[str, Any]:
        extra = {} if pay is None or own is None else {
            "side_payment_eur": float(pay[i]), "profit_after_side_payments_eur": float(profit[i] + pay[i]),
            "own_plans_profit_eur": float(own[i])}
        return {"name": name, "sector": park.companies[i].sector, "profit_eur": float(profit[i]),
                "savings_eur": float(profit[i] - base_profit[i]), "status": _status(model, i),
                "output_eur": float(model.output_eur[i]), "baseline_output_eur": float(base.output_eur[i]), **extra}
    return [row(c.index, c.name) for c in model.companies]


def _resource_rows(park: Scenario, model: ParkModel) -> dict[str, dict[str, Any]]:
    """Per resource, its unit and the units exchanged, bought outside and disposed of."""
    rows: dict[str, dict[str, Any]] = {
        r: {"unit": park.resources[r].unit, **{k: float(v) for k, v in model.resource_totals.get(r, {}).items()}}
        for r in sorted(park.resources)
    }
    for row in rows.values():
        for k in ("exchanged", "bought_outside", "disposed"):
            row.setdefault(k, 0.0)
    return rows


def _co2_of_output_change(park: Scenario, model: ParkModel, processes: list[dict[str, Any]]) -> float:
    """CO2 of making more or less than the baseline: output that differs changes the park's CO2
    through its inputs and by-products, not through exchange. At the same output, the CO2
    avoided is what exchange alone saves (the product made or not made elsewhere is outside
    the park's scope, as in the published park figures)."""
    pr = model.pricing
    intensity = (pr.inputs @ np.array([park.resources[r].co2_virgin for r in pr.resources])
                 + pr.byproducts @ np.array([park.resources[r].co2_disposal for r in pr.resources]))
    more = np.array([row["output"] - row["baseline_output"] for row in processes])
    return float(more @ intensity) if len(more) else 0.0


def _links_formed(model: ParkModel, names: list[str]) -> list[dict[str, Any]]:
    return [{"step": e.step, "from": names[e.seller], "to": names[e.buyer], "resource": e.resource, "how": e.how}
            for e in model.partners.links]


def _contracts(model: ParkModel, names: list[str]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "from": names[c.seller], "to": names[c.buyer], "resource": c.resource, "start": c.start,
         "end": c.end, "price_eur": c.terms.price, "quantity_per_step": c.terms.quantity,
         "duration_steps": c.terms.duration, "seller_pipe_share": c.terms.seller_share,
         "penalty_eur_per_unit": c.terms.penalty, "investment_eur": c.investment, "distance_km": c.distance_km}
        for c in model.partners.contracts
    ]


def _lost_output(model: ParkModel, names: list[str]) -> list[dict[str, Any]]:
    return [
        {"company": names[i], "to_failures": float(model.lost_failure_by_company[i]),
         "to_cascades": float(model.lost_cascade_by_company[i])}
        for i in range(len(names)) if model.lost_failure_by_company[i] or model.lost_cascade_by_company[i]
    ]


def _summary(cfg: RunConfig, park: Scenario, model: ParkModel, base: ParkModel,
             other: ParkModel | None = None) -> dict[str, Any]:
    names = [c.name for c in park.companies]
    flows = _flows(model)
    profit, base_profit = _profit(model), _profit(base)
    kpis = _kpis(cfg, model, base, flows, profit, base_profit)
    sync_kpis, pay, own = _synchronisation(cfg, model, other, profit)
    kpis.update(sync_kpis)
    shocks = shock_analysis.analyse(model)
    kpis.update(shock_analysis.summary(model, shocks))
    processes = _products(model, base)
    change = _co2_of_output_change(park, model, processes)
    kpis["co2_from_output_change_t"] = change
    kpis["co2_avoided_same_output_t"] = float(kpis["co2_avoided_t"] + change)
    return {
        "scenario": park.name,
        "scenario_source": cfg.scenario,
        "description": park.description,
        "steps": cfg.steps,
        "seed": cfg.seed,
        "mechanism": cfg.market.mechanism.value,
        "coordination": cfg.policy.coordination.value,
        "social_cost_of_carbon": cfg.policy.social_cost_of_carbon,
        "steps_per_year": park.steps_per_year,
        "companies_count": len(names),
        "kpis": kpis,
        "flows": [
            {"from": names[s], "to": names[b], "resource": r, "quantity": q, "unit": park.resources[r].unit}
            for (s, b, r), q in sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "companies": _company_rows(park, model, base, profit, base_profit, pay, own),
        "resources": _resource_rows(park, model),
        "processes": processes,
        "decisions": _decision_rows(model),
        "baseline_decisions": len(base.investor.decisions),
        "targets": [_check_target(t, park, model, base, cfg.steps, flows) for t in park.targets],
        "links_formed": _links_formed(model, names),
        "contracts": _contracts(model, names),
        "sharing": _sharing(model, names, profit - base_profit),
        "shocks": shocks,
        "lost_output_eur": _lost_output(model, names),
    }


# Exact Shapley values and the core check enumerate every coalition: done for parks up to this
# size in every run's summary (a 15-company park has 32,768 coalitions).
SHARING_MAX = 15


def _cooperation_kpis(model: ParkModel, flows: dict, benefits: np.ndarray) -> dict[str, Any]:
    n = len(model.companies)
    pairs = {(min(a, b), max(a, b)) for a, b, _ in flows}
    recs = model.records
    return {
        "density": 2.0 * len(pairs) / (k * (k - 1)) if (k := len(_in_park(model))) > 1 else 0.0,
        "contracts_signed": len(model.partners.contracts),
        "deliveries_kept": int(recs.total("deliveries_kept")),
        "deliveries_breached": int(recs.total("deliveries_breached")),
        "penalties_eur": float(recs.total("penalties_eur")),
        "pipes_built": len(model.partners.pipes),
        "investment_eur": float(model.partners.investment_eur),
        "capital_cost_eur": float(recs.total("capital_cost_eur")),
        "search_cost_eur": float(recs.total("search_cost_eur")),
        "mean_sv_weight": float(model.weights.mean()) if n else 0.0,
        "cooperative_share": float((model.weights >= 0.5).mean()) if n else 0.0,
        # Gini of each company's savings against the baseline (null when they sum to <= 0).
        "gini_benefits": _none_if_nan(sharing.gini(benefits[_in_park(model)])),
    }


def _none_if_nan(x: float) -> float | None:
    return None if x != x else float(x)


def _sharing(model: ParkModel, names: list[str], benefits: np.ndarray) -> dict[str, Any] | None:
    """How the park's gains could be shared, on the coalition game of the run's average
    positions (`market.sharing.park_game`), scaled to the run: each company's gains from
    exchange as the market split them, its Shapley value and its Nash share; the Gini of
    each split and whether it is in the core. Parks above SHARING_MAX companies: None."""
    n = len(names)
    if n > SHARING_MAX or not model.market.exchanges or n == 0:
        return None
    steps = len(model.records)
    full = model.network if model.network.known is None else dataclasses.replace(model.network, known=None)
    game = sharing.park_game(model.partners.average_orders(model.ledger, whole_run=True), full)
    v = sharing.cached(lambda mask: steps * game(mask))
    splits = {"market": model.gains_total + model.transfers_total, "shapley": sharing.shapley(n, v),
              "nash": sharing.nash(n, v)}
    return {
        "grand_coalition_eur": v((1 << n) - 1),
        "companies": [{"name": names[i], **{k: float(x[i]) for k, x in splits.items()},
                       "savings_eur": float(benefits[i])} for i in range(n)],
        "gini": {k: _none_if_nan(sharing.gini(x)) for k, x in splits.items()},
        "in_core": {k: sharing.core_check(n, v, x, tol=1e-3).in_core for k, x in splits.items()},
    }


def _check_target(t: Target, park: Scenario, model: ParkModel, base: ParkModel, steps: int,
                  flows: dict[tuple[int, int, str], float]) -> dict[str, Any]:
    idx = park.company_index()
    per_year = park.steps_per_year / steps
    if t.metric == "flow":
        total = flows.get((idx[t.from_company], idx[t.to_company], t.resource), 0.0)
        what = f"{t.resource} {t.from_company} -> {t.to_company}"
    elif t.metric == "exchanged":
        total = sum(model.resource_totals.get(r, {}).get("exchanged", 0.0) for r in t.resources)
        what = "exchanged " + " + ".join(t.resources)
    elif t.metric == "co2_avoided":
        total = base.co2_t - model.co2_t
        what = "CO2 avoided"
    else:
        total = model.output_totals.get((idx[t.company], t.product), 0.0)
        what = f"{t.product} output of {t.company}"
    modelled = total * per_year
    deviation = (modelled - t.value) / t.value if t.value else float("nan")
    return {
        "label": t.label or what, "metric": t.metric, "published": t.value, "modelled": modelled,
        "unit": t.unit, "year": t.year, "source": t.citation, "deviation": deviation,
        "tolerance": t.tolerance, "within_tolerance": bool(abs(deviation) <= t.tolerance), "role": t.role,
    }
