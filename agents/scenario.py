"""A park as frozen values: resources, companies with their processes, pipelines, calibration.

Files are read and validated in `experiments.scenario_io`; the synthetic generator builds the
same values in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.operations import Outage
from market.paths import PriceSchedule
from market.policy import Policy
from market.resources import Resource


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One process of a company. Quantities per step; inputs and by-products per unit of product.

    The daily load is capacity x utilisation x profile, varied by a normal factor with
    coefficient of variation `variability` and clipped to [0, capacity]. The profile over the
    year: 1 + seasonal x cos(2 pi (day - peak_day) / 365) (district heat peaks in winter),
    times `weekend` on the last two days of each week, and, with campaign_on > 0, the process
    runs campaign_on steps then stops campaign_off steps, in turn.

    Reliability: with mtbf > 0 the process wears with use and fails on average every mtbf steps
    at full load, and is repaired in about mttr steps; maintenance_every > 0 plans a stop of
    maintenance_days steps that often (the maintenance policy decides when,
    `agents.reliability`).
    """

    name: str
    product: str
    unit: str
    capacity: float
    sale_price: float
    inputs: dict[str, float] = field(default_factory=dict)
    byproducts: dict[str, float] = field(default_factory=dict)
    utilisation: float = 1.0
    variability: float = 0.0
    seasonal: float = 0.0
    peak_day: int = 0
    weekend: float = 1.0
    campaign_on: int = 0
    campaign_off: int = 0
    mtbf: float = 0.0
    mttr: float = 0.0
    maintenance_every: int = 0
    maintenance_days: int = 0
    pass_through: float | None = None  # share of a unit-cost change passed on to the price; None: the sector's (`agents.pricing`)
    fixed_opex: float = 0.0  # EUR a year while the process is in service, running or idle (avoidable only by closing it)
    option: str = ""  # the technology option that builds this process ("" : in service from the start)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """A technology option a company may invest in (`agents.investment`): a new process
    (`kind = "process"`) or a switch that replaces one of its processes by another (`kind =
    "switch"`, e.g. coal to biomass, or a flue-gas desulphurisation unit: the same product with
    other inputs and by-products). Its process is among the company's processes with `option`
    set to this option's name; it enters service `lead_time_years` after the decision. capex is
    charged as an annuity over `lifetime_years` from then, and `fixed_opex` a year while it is in
    service. `earliest_year`: not on offer before (the technology or the site permit);
    `mandatory_from`: a regulation requires it in service from that year, whatever it earns
    (the company decides `lead_time_years` ahead); both need the scenario's `[prices] start_year`.
    `pipelines`: pipes the project builds with it (resource and partner), included in capex."""

    name: str
    kind: str
    process: str
    capex: float
    fixed_opex: float = 0.0
    lifetime_years: float = 25.0
    lead_time_years: float = 1.0
    replaces: str = ""
    earliest_year: int | None = None
    mandatory_from: int | None = None
    pipelines: tuple["PipelineSpec", ...] = ()


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """How a candidate company enters the park (`[[entrants]]`): what building its plant costs
    (capex, as an annuity over `lifetime_years`), its fixed opex a year, the years from the
    decision to the first day of production, the first year it may decide to come, and the pipes
    its project builds to its partners (included in capex)."""

    capex: float
    fixed_opex: float = 0.0
    lifetime_years: float = 25.0
    lead_time_years: float = 1.0
    earliest_year: int | None = None
    pipelines: tuple["PipelineSpec", ...] = ()


@dataclass(frozen=True, slots=True)
class CompanySpec:
    name: str
    sector: str
    location: tuple[float, float]
    processes: tuple[ProcessSpec, ...]
    storage: dict[str, float] = field(default_factory=dict)
    strategy: str = ""  # bidding strategy; "" takes one from the run's population mix
    tactic: str = ""  # negotiation tactic; "" takes one from the run's population mix
    options: tuple[OptionSpec, ...] = ()  # technology options it may invest in
    entry: EntrySpec | None = None  # a candidate that has not entered the park yet (None: in the park from the start)


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    source: str
    target: str
    resource: str
    length_km: float | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """A published annual figure the scenario should reproduce, with its citation.

    metric: "flow" (annual quantity of `resource` shipped from `from_company` to `to_company`),
    "exchanged" (annual quantity of `resources` delivered between park companies),
    "co2_avoided" (t a year against the no-symbiosis baseline), or "output" (annual output of
    `product` by `company`).
    """

    metric: str
    value: float
    unit: str
    citation: str
    year: str
    tolerance: float = 0.2
    from_company: str = ""
    to_company: str = ""
    resource: str = ""
    resources: tuple[str, ...] = ()
    company: str = ""
    product: str = ""
    label: str = ""
    role: str = "check"  # "check": an outcome the model was not fitted to; "calibration": an input set from it


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    resources: dict[str, Resource]
    companies: tuple[CompanySpec, ...]
    pipelines: tuple[PipelineSpec, ...] = ()
    policy: Policy = Policy()
    steps_per_year: int = 365
    targets: tuple[Target, ...] = ()
    origin: str = ""
    events: tuple[Outage, ...] = ()
    prices: PriceSchedule = PriceSchedule()

    def company_index(self) -> dict[str, int]:
        return {c.name: i for i, c in enumerate(self.companies)}
