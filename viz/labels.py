"""Names and units of what the pages show: every KPI and every run parameter, in one table.

KPIs take their unit from the report's table (`experiments.report.KPI_LABELS`, which names
every KPI a run writes) and a short name here for panel titles; parameters (dotted paths of
the run config) take a label and unit here. Anything not listed is named from its last dotted
part with spaces for underscores, so no raw snake_case name reaches the page.
"""

from __future__ import annotations

import math
from typing import Any

from experiments.report import KPI_LABELS as REPORT_KPIS

# Short KPI names for titles and table heads (the report's are sentences).
KPI_SHORT = {
    "gains_from_trade_eur": "Gains from trade, private",
    "exchange_surplus_eur": "Social surplus of the exchanges",
    "social_surplus_eur": "Social surplus",
    "transfers_eur": "Transfers in the gains",
    "link_costs_eur": "Cost of the links",
    "co2_value_eur": "CO2 avoided, valued at the social cost of carbon",
    "traders_gains_eur": "Gains the traders keep",
    "savings_vs_baseline_eur": "Savings vs no symbiosis",
    "co2_avoided_t": "CO2 avoided",
    "market_efficiency": "Market efficiency",
    "market_efficiency_private": "Market efficiency, private basis",
    "optimal_exchange_surplus_eur": "Optimal exchange surplus",
    "symbiosis_share": "Companies in an exchange",
    "active_links": "Active links",
    "optimal_gains_eur": "Optimal gains",
    "mechanism_budget_eur": "Mechanism budget",
    "government_net_cost_eur": "Government net cost",
    "subsidies_eur": "Subsidies paid",
    "taxes_eur": "Taxes paid",
}
# The report's unit words as the page writes them.
UNIT_TEXT = {"share": "%", "count": "", "realised / optimal gains": "% of optimum",
             "realised / optimal exchange surplus": "% of optimum", "weight": "", "Gini": ""}
PERCENT_UNITS = ("share", "realised / optimal gains", "realised / optimal exchange surplus")

# Parameters: (label, unit). The policy levers are the live page's sliders too.
PARAMS: dict[str, tuple[str, str]] = {
    "policy.carbon_tax": ("Carbon tax", "EUR/t CO2"),
    "policy.landfill_tax": ("Landfill tax", "EUR/unit landfilled"),
    "policy.virgin_tax": ("Virgin-material tax", "EUR/unit bought"),
    "policy.exchange_subsidy": ("Exchange subsidy", "EUR/unit exchanged"),
    "policy.investment_subsidy": ("Pipe investment subsidy", "share of a new pipe"),
    "policy.information": ("Information sharing", "0 partners only, 1 platform"),
    "policy.shared_vision": ("Shared vision, mean weight", "on the park's gains"),
    "policy.shared_vision_spread": ("Shared vision, spread", ""),
    "policy.shared_vision_co2_value": ("Shared vision, CO2 value", "EUR/t CO2 avoided"),
    "policy.shared_vision_imitation": ("Shared vision spreads by imitation", ""),
    "policy.gain_sharing": ("Gain sharing (park operator)", ""),
    "policy.coordination": ("Coordination", ""),
    "policy.social_cost_of_carbon": ("Social cost of carbon", "EUR/t CO2"),
    "market.mechanism": ("Mechanism", ""),
    "market.k": ("Price split k", ""),
    "operations.mtbf": ("Mean time between failures", "days"),
    "operations.mttr": ("Mean time to repair", "days"),
    "operations.maintenance": ("Maintenance policy", ""),
    "operations.maintenance_every": ("Maintenance every", "days"),
    "operations.maintenance_days": ("Maintenance days", "days"),
    "cooperation.pipe_per_km_eur": ("Pipe cost per km", "EUR"),
    "cooperation.discount_rate": ("Discount rate", "a year"),
    "investment.hurdle_rate": ("Hurdle rate", "a year"),
    "steps": ("Days", ""),
    "scenario": ("Scenario", ""),
    "scheme": ("Scheme", ""),
}


def humanise(name: str) -> str:
    """'policy.shared_vision_spread' -> 'Shared vision spread'."""
    last = str(name).removeprefix("kpis.").rsplit(".", 1)[-1].replace("_", " ").strip()
    return last[:1].upper() + last[1:]


def kpi_unit(kpi: str) -> str:
    return REPORT_KPIS.get(kpi, ("", ""))[1]


def is_share(kpi: str) -> bool:
    """A KPI between 0 and 1 that the page shows in %."""
    return kpi_unit(kpi) in PERCENT_UNITS


def kpi_name(kpi: str) -> str:
    return KPI_SHORT.get(kpi) or (REPORT_KPIS[kpi][0] if kpi in REPORT_KPIS else humanise(kpi))


def kpi_label(kpi: str, prefix: str = "") -> str:
    """'Social surplus (EUR)', or with `prefix` 'M ' 'Social surplus (M EUR)'."""
    unit = kpi_unit(kpi)
    text = UNIT_TEXT.get(unit, unit)
    return f"{kpi_name(kpi)} ({prefix}{text})" if text else kpi_name(kpi)


def param_label(param: str) -> str:
    """'Carbon tax (EUR/t CO2)'."""
    label, unit = PARAMS.get(param, (humanise(param), ""))
    return f"{label} ({unit})" if unit else label


def value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:g}"
    return str(v)


def setting_text(param: str, v: Any) -> str:
    """'Carbon tax 20 EUR/t CO2', 'Mechanism cda'."""
    label, unit = PARAMS.get(param, (humanise(param), ""))
    text = value_text(v)
    return f"{label} {text} {unit}".rstrip() if unit and isinstance(v, (int, float)) and not isinstance(v, bool) \
        else f"{label}: {text}"
