"""The readable text summary `run.py` prints after a run."""

from __future__ import annotations

from typing import Any


def _num(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:,.2f} M"
    if a >= 1e4:
        return f"{v / 1e3:,.1f} k"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:,.2f}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.1%}"


def _gini(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def _key_figures(summary: dict[str, Any], k: dict[str, Any]) -> list[str]:
    """The headline: the run, then the gains, surplus, efficiency and CO2 against the baseline."""
    years = summary["steps"] / summary["steps_per_year"]
    return [
        f"Ecopark: {summary['scenario']} for {summary['steps']} steps ({years:.2g} years), seed {summary['seed']}, "
        f"{summary['companies_count']} companies",
        "",
        "Key figures (against the same park with no exchanges)",
        f"  gains from trade        EUR {_num(k['gains_from_trade_eur'])} at the companies' reservation prices (private)",
        *([f"    of which              EUR {_num(k['exchange_surplus_eur'])} real costs avoided, EUR "
           f"{_num(k['transfers_eur'])} taxes avoided and subsidies earned (transfers)",
           f"  social surplus          EUR {_num(k['social_surplus_eur'])}: the exchanges' less EUR "
           f"{_num(k['link_costs_eur'])} of pipes and search",
           f"  CO2 avoided, valued     EUR {_num(k['co2_value_eur'])} at the social cost of carbon, EUR "
           f"{summary.get('social_cost_of_carbon', 100):g}/t",
           f"  government net cost     EUR {_num(k['government_net_cost_eur'])} (subsidies paid less taxes raised)"]
          if "social_surplus_eur" in k else []),
        (f"  market efficiency       {_pct(k.get('market_efficiency'))} of the optimal exchange surplus (EUR "
         f"{_num(k['optimal_exchange_surplus_eur'])}, each unit counted once), "
         if "optimal_exchange_surplus_eur" in k else
         f"  market efficiency       {_pct(k.get('market_efficiency'))} of the optimum "
         f"(EUR {_num(k.get('optimal_gains_eur', 0.0))}), ")
        + f"mechanism '{summary.get('mechanism', 'call')}', budget EUR {_num(k.get('mechanism_budget_eur', 0.0))}"
        + (f" (the traders keep {k['traders_share']:.0%} of the gains)"
           if (k.get("mechanism_budget_eur") or 0.0) > 0.005 and k.get("traders_share") is not None else ""),
        *([f"    private basis         {_pct(k.get('market_efficiency_private'))} of the optimal gains "
           f"(EUR {_num(k.get('optimal_gains_eur', 0.0))})"] if "market_efficiency_private" in k else []),
        f"  savings vs baseline     EUR {_num(k['savings_vs_baseline_eur'])}",
        f"  CO2 avoided             {_num(k['co2_avoided_t'])} t"
        + (f" ({_num(k['co2_avoided_same_output_t'])} t by exchange at the same output; "
           f"{_num(k['co2_from_output_change_t'])} t more from making more in the park)"
           if abs(k.get("co2_from_output_change_t") or 0.0) > 0.5 else ""),
        f"  active links            {k['active_links']}",
        f"  symbiosis share         {k['symbiosis_share']:.0%} of companies in at least one exchange",
        f"  trades                  {k['trades']:,}",
        "",
    ]


def _synchronisation(summary: dict[str, Any], k: dict[str, Any]) -> list[str]:
    """The synchronised plan against the companies' own decisions, when the run had both."""
    if k.get("value_of_synchronisation_eur") is None:
        return []
    sync = summary.get("coordination") == "synchronised"
    lines = [
        "Synchronised planning (the operator's rolling plan of production, storage and exchanges, same loads)",
        f"  profit, own decisions   EUR {_num(k['decentralised_profit_eur'])}",
        f"  profit, synchronised    EUR {_num(k['synchronised_profit_eur'])}",
        f"  value of synchronising  EUR {_num(k['value_of_synchronisation_eur'])}"
        + (" (this run follows the plan)" if sync else " (this run: each company's own decisions)"),
    ]
    if sync:
        lines.append(f"  side payments           EUR {_num(k['side_payments_eur'])} moved between companies so none is "
                     f"below its own plans; operator's guarantee EUR {_num(k['operator_guarantee_eur'])}")
    lines.append("")
    return lines


def _cooperation(k: dict[str, Any]) -> list[str]:
    """Contracts, pipes, network and shared vision."""
    if "contracts_signed" not in k:
        return []
    kept, broken = k["deliveries_kept"], k["deliveries_breached"]
    lines = [
        "Cooperation",
        f"  contracts signed        {k['contracts_signed']:,}; deliveries kept {kept:,}, breached {broken:,}"
        f" (penalties EUR {_num(k['penalties_eur'])})",
        f"  pipes built             {k['pipes_built']:,}, investment EUR {_num(k['investment_eur'])}"
        f" (annuities charged in the run EUR {_num(k['capital_cost_eur'])})",
        f"  network density         {k['density']:.0%} of company pairs exchange",
        f"  shared vision           mean weight {k['mean_sv_weight']:.2f}, {k['cooperative_share']:.0%} of companies"
        f" at 0.5 or more",
        f"  fairness                Gini of companies' savings {_gini(k.get('gini_benefits'))}",
        "",
    ]
    return lines


def _operations(summary: dict[str, Any], k: dict[str, Any]) -> list[str]:
    """Output lost to failures and cascades, and the largest cascades."""
    if not (k.get("shocks") or k.get("lost_to_failures_eur") or k.get("lost_to_cascades_eur")):
        return []
    rec = k.get("mean_recovery_steps")
    lines = [
        "Operations and resilience",
        f"  output lost             EUR {_num(k['lost_to_failures_eur'])} to failures, stops and outages; "
        f"EUR {_num(k['lost_to_cascades_eur'])} to cascades (sales value)",
        f"  shocks                  {k['shocks']:,} ({k['failures']:,} failures, {k['maintenance_stops']:,} planned stops); "
        f"largest cascade {k['max_cascade_size']} companies, deepest {k['max_cascade_depth']} rounds",
        f"  recovery                {'n/a' if rec is None else f'{rec:.1f} steps'} on average to 95 % of the "
        f"gains before a shock",
        "",
    ]
    big = sorted(summary.get("shocks", []), key=lambda x: -x["cascade_lost_eur"])[:5]
    big = [x for x in big if x["cascade_size"] > 0]
    if big:
        lines.append("Largest cascades")
        rows = [[x["company"], x["kind"], x["what"], str(x["start"]), str(x["duration"]), str(x["cascade_size"]),
                 str(x["cascade_depth"]), _num(x["cascade_lost_eur"]),
                 "-" if x["recovery_steps"] is None else str(x["recovery_steps"])] for x in big]
        lines += ["  " + r for r in _table(["company", "kind", "what", "start", "steps", "size", "depth",
                                            "lost EUR", "recovery"], rows, {3, 4, 5, 6, 7, 8})]
        lines.append("")
    return lines


def _decisions(summary: dict[str, Any], top: int) -> list[str]:
    """Investment, entry and exit decisions."""
    decisions = summary.get("decisions") or []
    if not decisions:
        return []
    lines = [f"Investment, entry and exit ({len(decisions)} decisions; every one in decisions.parquet)"]
    rows = [[str(d["year"]) if d.get("year") is not None else str(d["step"]), d["company"], d["kind"], d["option"],
             _num(d["npv_eur"]), _num(d["threshold_eur"]), _num(d["capex_eur"])] for d in decisions[:top]]
    lines += ["  " + x for x in _table(["when", "company", "kind", "what", "NPV EUR", "threshold EUR",
                                        "capex EUR"], rows, {4, 5, 6})]
    if len(decisions) > top:
        lines.append(f"  ... and {len(decisions) - top} more in summary.json")
    lines.append("  (a company invests when the NPV at its hurdle rate clears the threshold: the value of waiting,"
                 " which grows with the uncertainty it has seen)")
    lines.append("")
    return lines


def _production(summary: dict[str, Any], top: int) -> list[str]:
    """Processes whose output or price moved against the file."""
    procs = summary.get("processes") or []
    moved = [p for p in procs if p["share_of_steps_run"] < 0.999 or abs(p["output"] - p["baseline_output"])
             > 0.005 * max(1.0, p["baseline_output"]) or abs(p["mean_price_eur"] - p["base_price_eur"])
             > 0.005 * max(1e-9, abs(p["base_price_eur"]))]
    if not moved:
        return []
    lines = [f"Production (processes whose output or price moved, {len(moved)} of {len(procs)}; "
             f"every step in production.parquet)"]
    rows = [[p["company"], p["process"], f"{p['share_of_steps_run']:.0%}", _num(p["output"]),
             _num(p["baseline_output"]), p["unit"], f"{_num(p['base_price_eur'])} -> {_num(p['mean_price_eur'])}",
             _num(p["mean_outside_unit_cost_eur"])] for p in moved[:top]]
    lines += ["  " + x for x in _table(["company", "process", "ran", "output", "baseline", "unit",
                                        "price EUR (file -> run)", "outside cost EUR"], rows, {2, 3, 4, 7})]
    if len(moved) > top:
        lines.append(f"  ... and {len(moved) - top} more in summary.json")
    lines.append("  (outside cost: a unit's inputs bought and by-products disposed of outside, taxes included;"
                 " a process runs while price beats what it expects to pay, the park's offers included)")
    lines.append("")
    return lines


def _sharing(summary: dict[str, Any]) -> list[str]:
    """The park's gains shared by the market, Shapley and Nash."""
    share = summary.get("sharing")
    if not share:
        return []
    lines = [f"Sharing the park's gains (coalition game of the run's average positions, "
             f"grand coalition EUR {_num(share['grand_coalition_eur'])})"]
    rows = [[c["name"], _num(c["market"]), _num(c["shapley"]), _num(c["nash"])] for c in share["companies"]]
    rows.append(["Gini", *(_gini(share["gini"][k]) for k in ("market", "shapley", "nash"))])
    rows.append(["in the core", *("yes" if share["in_core"][k] else "no" for k in ("market", "shapley", "nash"))])
    lines += ["  " + x for x in _table(["company", "market", "Shapley", "Nash"], rows, {1, 2, 3})]
    lines.append("")
    return lines


def _flows(summary: dict[str, Any], top: int) -> list[str]:
    flows = summary["flows"][:top]
    if not flows:
        return []
    lines = [f"Top flows (of {len(summary['flows'])})"]
    rows = [[f["from"], f["to"], f["resource"], _num(f["quantity"]), f["unit"]] for f in flows]
    lines += ["  " + s for s in _table(["from", "to", "resource", "quantity", "unit"], rows, {3})]
    lines.append("")
    return lines


def _savings(summary: dict[str, Any], top: int) -> list[str]:
    comps = sorted(summary["companies"], key=lambda c: -c["savings_eur"])
    shown = [c for c in comps if abs(c["savings_eur"]) > 0.5][:top]
    if not shown:
        return []
    lines = ["Savings per company (EUR, against the baseline)"]
    rows = [[c["name"], c["sector"], _num(c["savings_eur"]), _num(c["profit_eur"])] for c in shown]
    lines += ["  " + s for s in _table(["company", "sector", "savings", "profit"], rows, {2, 3})]
    rest = len(comps) - len(shown)
    if rest > 0:
        lines.append(f"  ... and {rest} more in summary.json")
    lines.append("")
    return lines


def _targets(summary: dict[str, Any]) -> list[str]:
    """Published figures against the model."""
    targets = summary.get("targets") or []
    if not targets:
        return []
    lines = ["Published figures (a year) against the model"]
    rows = [[t["label"], _num(t["published"]), _num(t["modelled"]), t["unit"], f"{t['deviation']:+.1%}",
             ("ok" if t["within_tolerance"] else f"OFF (>{t['tolerance']:.0%})")
             if t.get("role", "check") == "check" else "input", f"{t['source']}, {t['year']}"]
            for t in targets]
    lines += ["  " + s for s in _table(["figure", "published", "model", "unit", "diff", "", "source"], rows, {1, 2, 4})]
    if any(t.get("role") == "calibration" for t in targets):
        lines.append("  (input: the model's coefficients were set from this figure, so it is reproduced by"
                     " construction; ok / OFF: an outcome checked against the figure)")
    lines.append("")
    return lines


def render(summary: dict[str, Any], top: int = 12) -> str:
    """The text `run.py` prints: one section per part of the summary the run has."""
    k = summary["kpis"]
    return "\n".join([
        *_key_figures(summary, k), *_synchronisation(summary, k), *_cooperation(k), *_operations(summary, k),
        *_decisions(summary, top), *_production(summary, top), *_sharing(summary), *_flows(summary, top),
        *_savings(summary, top), *_targets(summary),
    ])
