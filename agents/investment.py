"""Investment, entry and exit: the park's structure as the companies' decisions.

Once a year by default (`investment.interval`), every company values each technology option
it has not taken (a new process, or a switch of one of its processes to another technology)
and every candidate company (`[[entrants]]`) values coming to the park: the net present value
at the company's hurdle rate of what the option adds to its expected profit (its production
decision's value at the prices and park terms it expects, `agents.decisions`), less the
capital it costs. It invests only when the NPV clears a threshold that grows with the
uncertainty of that value and with how much of the capital is sunk: the value of waiting of an
irreversible investment (McDonald & Siegel 1986, QJE 101(4); Dixit & Pindyck 1994, Investment
under Uncertainty, ch. 5). With a project value V following a geometric Brownian motion of
volatility sigma and no drift, discounted at r, investing is optimal when V >= b / (b - 1) I,
b = 1/2 + sqrt(1/4 + 2 r / sigma^2): NPV = V - I must clear (b / (b - 1) - 1) I. The volatility
a company uses is that of the prices its option depends on, as it has seen them move year by
year, shrunk towards a prior (`investment.volatility`) while it has seen few years.

A relation-specific asset is exposed to hold-up: once it is built, the partner it serves can
renegotiate (Klein, Crawford & Alchian 1978, Journal of Law and Economics 21(2); Williamson
1985, The Economic Institutions of Capitalism). So the part of an option's value that comes
from partners' surplus or needs counts only from partners it is secured with: joined by a pipe,
bound by a contract, or trusted at least `investment.holdup_trust` (trust as in
`market.trust`); pipes themselves are only built with a contract (`agents.partnerships`), and
their NPV must clear the same threshold. An entrant counts what its project's own pipelines
bring (the project is negotiated with that partner).

An incumbent whose operating profit (sunk capital charges left out) stays negative for
`investment.exit_years` closes: its processes stop for good, its contracts end with a
termination payment of `investment.termination_steps` steps of penalties to each partner, and
its closure is a shock whose cascade is measured like an outage's (`experiments.shocks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from market.network import Network, Pipeline

if TYPE_CHECKING:
    from agents.model import ParkModel

PRIOR_WEIGHT = 2.0  # the prior volatility counts as this many observed yearly changes


@dataclass(frozen=True, slots=True)
class InvestmentSettings:
    """enabled: whether companies invest in options, candidates enter and incumbents close.
    interval: steps between investment rounds (0: once a year). hurdle_rate: a year, the
    discount rate of investment decisions. volatility: the prior volatility of a project's value
    a year, before a company has seen prices move. volatility_years: how many past years of
    prices a company looks at. real_options: false invests at NPV > 0 (no value of waiting).
    holdup_trust: trust in a partner above which the company counts on it without a pipe or a
    contract. exit_years: years of negative operating profit after which a company closes.
    termination_steps: steps of contract penalties a closing company pays each partner."""

    enabled: bool = True
    interval: int = 0
    hurdle_rate: float = 0.10
    volatility: float = 0.2
    volatility_years: int = 10
    real_options: bool = True
    holdup_trust: float = 0.85
    exit_years: float = 2.0
    termination_steps: int = 30


CHECKS = {
    "investment.interval": lambda v: None if v >= 0 else "must be >= 0 (steps; 0: once a year)",
    "investment.hurdle_rate": lambda v: None if 0 < v < 1 else "must be in (0, 1) (a year)",
    "investment.volatility": lambda v: None if 0 <= v <= 2 else "must be between 0 and 2 (a year)",
    "investment.volatility_years": lambda v: None if v >= 2 else "must be at least 2",
    "investment.holdup_trust": lambda v: None if 0 <= v <= 1 else "must be between 0 and 1",
    "investment.exit_years": lambda v: None if v > 0 else "must be > 0",
    "investment.termination_steps": lambda v: None if v >= 0 else "must be >= 0",
}


@dataclass(frozen=True, slots=True)
class InvestmentDecision:
    """One decision: `kind` is invest (a new process), switch (a process replaced by another),
    enter (a candidate comes to the park), exit (a company closes), pipe (a pipe built with a
    contract). npv_eur and threshold_eur are what the decision was judged on (NPV must exceed
    the threshold; a decision required by regulation is taken whatever its NPV)."""

    step: int
    year: int | None
    company: str
    kind: str
    option: str
    npv_eur: float
    threshold_eur: float
    capex_eur: float
    note: str = ""


def waiting_multiple(sigma: float, rate: float) -> float:
    """b / (b - 1) of Dixit & Pindyck (1994, ch. 5) with no drift: the project value, as a
    multiple of the investment, at which investing beats waiting. 1 with no uncertainty."""
    if sigma <= 1e-9:
        return 1.0
    b = 0.5 + math.sqrt(0.25 + 2.0 * rate / sigma**2)
    return b / (b - 1.0)


def annuity_factor(years: float, rate: float) -> float:
    """Present value of 1 EUR a year for `years` years."""
    if years <= 0:
        return 0.0
    return (1.0 - (1.0 + rate) ** -years) / rate if rate > 0 else years


def npv(annual: float, capex: float, life_years: float, lead_years: float, rate: float) -> float:
    """Net present value at the decision of `annual` EUR a year for `life_years`, starting
    `lead_years` later, less `capex` (spent at the decision)."""
    return annual * annuity_factor(life_years, rate) / (1.0 + rate) ** lead_years - capex


def threshold(capex: float, sigma: float, rate: float, real_options: bool = True) -> float:
    """What an NPV must exceed: the value of waiting of an irreversible investment of `capex`."""
    return (waiting_multiple(sigma, rate) - 1.0) * capex if real_options else 0.0


def volatility(series: np.ndarray, prior: float, per_year: float = 1.0) -> float:
    """The volatility a year of a price series (`per_year` values a year, oldest first): the
    standard deviation of its log changes scaled to a year, shrunk towards `prior` (worth
    PRIOR_WEIGHT observations)."""
    x = np.abs(np.asarray(series, dtype=float))
    x = x[x > 1e-9]
    k = len(x) - 1
    if k < 1:
        return prior
    d = np.diff(np.log(x))
    obs = float(np.mean(d**2)) * per_year  # no drift assumed, as in the threshold
    return math.sqrt((k * obs + PRIOR_WEIGHT * prior**2) / (k + PRIOR_WEIGHT))


@dataclass
class _Project:
    """An option of a company or the entry of a candidate, and where it stands."""

    company: int
    name: str
    kind: str  # invest | switch | enter
    capex: float
    fixed_opex: float
    life_years: float
    lead_years: float
    earliest_year: int | None
    mandatory_from: int | None
    procs: list[int]  # flat indices of the processes it puts in service
    retires: list[int]  # flat indices it takes out of service
    pipelines: tuple = ()
    status: str = "open"  # open | building | done
    ready: int = -1
    charge: float = 0.0  # capital charge a step from `ready`
    until: int = -1
    judged: tuple[int | None, float, float] | None = None  # the last round's (year, NPV, threshold)


class Investor:
    """The investment, entry and exit decisions of a park's companies (one per model)."""

    def __init__(self, model: "ParkModel", settings: InvestmentSettings):
        self.m = model
        self.s = settings
        park = model.park
        self.spy = park.steps_per_year
        self.interval = settings.interval or self.spy
        self._per_year = self.spy / self.interval  # rounds (price observations) a year
        first = [0]
        for c in park.companies:
            first.append(first[-1] + len(c.processes))
        self.first = first
        n_proc = first[-1]
        self.active = np.zeros(n_proc, dtype=bool)
        self.alive = np.array([c.entry is None for c in park.companies], dtype=bool)
        self.opex = np.zeros(n_proc)  # EUR a step while in service
        self.projects: list[_Project] = []
        for i, c in enumerate(park.companies):
            by_name = {p.name: first[i] + k for k, p in enumerate(c.processes)}
            for k, p in enumerate(c.processes):
                self.opex[first[i] + k] = p.fixed_opex / self.spy
                self.active[first[i] + k] = c.entry is None and not p.option
            for o in c.options:
                self.projects.append(_Project(
                    i, o.name, "switch" if o.kind == "switch" else "invest", o.capex, o.fixed_opex,
                    o.lifetime_years, o.lead_time_years, o.earliest_year, o.mandatory_from,
                    [by_name[o.process]], [by_name[o.replaces]] if o.replaces else [], o.pipelines))
            if c.entry is not None:
                e = c.entry
                self.projects.append(_Project(
                    i, c.name, "enter", e.capex, e.fixed_opex, e.lifetime_years, e.lead_time_years, e.earliest_year,
                    None, [first[i] + k for k, p in enumerate(c.processes) if not p.option], [], e.pipelines))
        self.decisions: list[InvestmentDecision] = []
        self.closed_at: dict[int, int] = {}
        self.entered_at: dict[int, int] = {}
        self._seen: list[tuple[np.ndarray, np.ndarray]] = []  # per round: resource buy prices, sale prices
        self._operating = np.zeros(len(park.companies))
        self._negative = np.zeros(len(park.companies))
        self.capex_eur = 0.0
        # Per resource: the waiting multiple a new pipe's value must clear; before any round, at
        # the prior volatility (a company that has seen no prices move is not certain of them).
        m0 = waiting_multiple(settings.volatility, settings.hurdle_rate) if settings.real_options else 1.0
        self.multiples: dict[str, float] = ({r: m0 for r in model.pricing.resources} if settings.enabled else {})

    # ------------------------------------------------------------------ each step
    def company_active(self, i: int) -> np.ndarray:
        return self.active[self.first[i]:self.first[i + 1]]

    def charges(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Each company's fixed opex and capital charges this step, and the capital charges
        alone (sunk: left out of operating profit)."""
        n = len(self.m.companies)
        out = np.zeros(n)
        sunk = np.zeros(n)
        np.add.at(out, self.m.process_owner, self.opex * self.active)
        for p in self.projects:
            if p.status == "done" and p.ready <= t < p.until:
                out[p.company] += p.charge + p.fixed_opex / self.spy
                sunk[p.company] += p.charge
        return out, sunk

    def begin(self, t: int) -> None:
        """Projects that come into service this step; then, on a round step, the decisions."""
        for p in self.projects:
            if p.status == "building" and p.ready == t:
                self._complete(p, t)
        if self.s.enabled and t > 0 and t % self.interval == 0:
            self._round(t)

    def end(self, t: int, operating: np.ndarray) -> None:
        """Add up this step's operating profit of each company (for the exit rule)."""
        self._operating += operating

    # ------------------------------------------------------------------ the rounds
    def _round(self, t: int) -> None:
        m = self.m
        year = m.year
        self._observe()
        self._exits(t, year)
        secured = self._secured()
        for p in self.projects:
            if p.status != "open" or not self.alive[p.company] and p.kind != "enter":
                continue
            if p.kind == "enter" and (self.alive[p.company] or p.company in self.closed_at):
                continue
            if p.earliest_year is not None and (year is None or year < p.earliest_year):
                continue
            self._judge(p, t, year, secured)
        self.multiples = {r: waiting_multiple(self._sigma_resource(r), self.s.hurdle_rate)
                          if self.s.real_options else 1.0 for r in m.pricing.resources}

    def _observe(self) -> None:
        m = self.m
        buy = np.array([m.ledger.buy_price(r) for r in m.pricing.resources])
        sale = np.concatenate([c.sale for c in m.companies]) if m.companies else np.zeros(0)
        self._seen.append((buy, sale))
        self._seen = self._seen[-(int(round(self.s.volatility_years * self._per_year)) + 1):]

    def _sigma_resource(self, r: str) -> float:
        k = self.m.pricing.resources.index(r)
        return volatility(np.array([b[k] for b, _ in self._seen]), self.s.volatility, self._per_year)

    def _sigma(self, procs: list[int]) -> float:
        """The volatility of the prices a project depends on, weighted by its exposure to each."""
        pr = self.m.pricing
        if not self._seen:
            return self.s.volatility
        buy, sale = self._seen[-1]
        weights, sigmas = [], []
        for k in procs:
            weights.append(abs(sale[k]))
            sigmas.append(volatility(np.array([s[k] for _, s in self._seen]), self.s.volatility, self._per_year))
            for col in np.flatnonzero((pr.inputs[k] > 0) | (pr.byproducts[k] > 0)):
                w = abs((pr.inputs[k, col] + pr.byproducts[k, col]) * buy[col])
                weights.append(w)
                sigmas.append(volatility(np.array([b[col] for b, _ in self._seen]), self.s.volatility,
                                         self._per_year))
        w = np.array(weights)
        return float(np.dot(w, sigmas) / w.sum()) if w.sum() > 0 else self.s.volatility

    def _secured(self) -> np.ndarray:
        """Who each company can count on for an investment: partners joined by a pipe, bound by
        a contract in force, or trusted at least `holdup_trust` (itself always)."""
        m = self.m
        n = len(m.companies)
        ok = np.eye(n, dtype=bool)
        for pl in m.network.pipelines:
            ok[pl.a, pl.b] = ok[pl.b, pl.a] = True
        for c in m.partners.contracts:
            if c.active(m.t):
                ok[c.seller, c.buyer] = ok[c.buyer, c.seller] = True
        m.partners.trust.mark_at_least(self.s.holdup_trust, ok)
        if m.partners.known is not None:
            ok &= m.partners.known | np.eye(n, dtype=bool)
        return ok

    def _caps(self, i: int, active: np.ndarray) -> np.ndarray:
        c = self.m.companies[i]
        return c._caps * c._util * active

    def _value(self, i: int, active: np.ndarray, network: Network | None, park_terms: bool = True) -> float:
        """Company i's expected profit a year with these processes in service."""
        m = self.m
        expect = m.expect if park_terms else None
        contracts = m.partners.active_at(m.t) if park_terms else []
        v, _ = m.decisions.value(i, self._caps(i, active), m.companies[i].sale, m.ledger, contracts, expect,
                                 network)
        opex = float(self.opex[self.first[i]:self.first[i + 1]] @ active) * self.spy
        return v * self.spy - opex

    def _judge(self, p: _Project, t: int, year: int | None, secured: np.ndarray) -> None:
        m = self.m
        i = p.company
        now = self.company_active(i).copy()
        after = now.copy()
        for k in p.procs:
            after[k - self.first[i]] = True
        for k in p.retires:
            after[k - self.first[i]] = False
        if p.kind == "enter":
            now[:] = False
        net = m.network
        extra = [Pipeline(*self._ends(pl), pl.resource, self._length(pl)) for pl in p.pipelines]
        known = secured.copy()
        for pl in extra:
            known[pl.a, pl.b] = known[pl.b, pl.a] = True
        view = Network(net.positions, net.resources, net.pipelines + tuple(extra), known)
        exchanges = m.market.exchanges
        gain = (self._value(i, after, view, exchanges) - (self._value(i, now, view, exchanges) if now.any() else 0.0)
                - p.fixed_opex)
        sigma = self._sigma(p.procs)
        value = npv(gain, p.capex, p.life_years, p.lead_years, self.s.hurdle_rate)
        bar = threshold(p.capex, sigma, self.s.hurdle_rate, self.s.real_options)
        lead = int(round(p.lead_years * self.spy))
        required = p.mandatory_from is not None and year is not None and year + p.lead_years >= p.mandatory_from
        p.judged = (year, value, bar)
        if not (value > bar and value > 0) and not required:
            return
        p.status = "building"
        p.ready = t + max(1, lead)
        life = int(round(p.life_years * self.spy))
        rate = (1.0 + self.s.hurdle_rate) ** (1.0 / self.spy) - 1.0
        p.charge = p.capex * rate / (1.0 - (1.0 + rate) ** -life) if life > 0 and rate > 0 else p.capex / max(1, life)
        p.until = p.ready + life
        self.capex_eur += p.capex
        note = f"required from {p.mandatory_from}" if required and not value > bar else ""
        note += ("; " if note else "") + f"volatility {sigma:.2f}, in service at step {p.ready}"
        self.decisions.append(InvestmentDecision(t, year, m.companies[i].name, p.kind, p.name, value, bar, p.capex,
                                                 note))

    def not_taken(self) -> list[dict]:
        """The options and entries still open at the end, each with its last valuation: what a
        reader needs to see why something did not happen."""
        names = [c.name for c in self.m.companies]
        return [{"company": names[p.company], "kind": p.kind, "option": p.name, "year": p.judged[0],
                 "npv_eur": p.judged[1], "threshold_eur": p.judged[2]}
                for p in self.projects if p.status == "open" and p.judged is not None]

    def _ends(self, pl) -> tuple[int, int]:
        idx = self.m.park.company_index()
        return idx[pl.source], idx[pl.target]

    def _length(self, pl) -> float:
        if pl.length_km is not None:
            return pl.length_km
        a, b = self._ends(pl)
        return self.m.network.distance(a, b)

    def _complete(self, p: _Project, t: int) -> None:
        m = self.m
        i = p.company
        for k in p.procs:
            self.active[k] = True
        for k in p.retires:
            self.active[k] = False
        # A later switch of the process just replaced now replaces its successor (coal, then
        # coal with desulphurisation, then biomass: each switch takes what is in service).
        if p.kind == "switch":
            for q in self.projects:
                if q is not p and q.kind == "switch" and q.status in ("open", "building") and q.retires == p.retires:
                    q.retires = list(p.procs)
        if p.kind == "enter":
            self.alive[i] = True
            self.entered_at[i] = t
        if p.pipelines:
            new = tuple(Pipeline(*self._ends(pl), pl.resource, self._length(pl)) for pl in p.pipelines)
            if m.partners.known is not None:
                for pl in new:
                    m.partners.known[pl.a, pl.b] = m.partners.known[pl.b, pl.a] = True
            m.network = Network(m.network.positions, m.network.resources, m.network.pipelines + new, m.network.known)
        p.status = "done"

    def _exits(self, t: int, year: int | None) -> None:
        """Companies whose operating profit over the last round was negative for
        `exit_years` in a row close."""
        rounds = max(1, int(math.ceil(self.s.exit_years * self.spy / self.interval)))
        for i in range(len(self.m.companies)):
            if not self.alive[i] or any(p.company == i and p.status == "building" for p in self.projects):
                self._operating[i] = 0.0
                continue
            self._negative[i] = self._negative[i] + 1 if self._operating[i] < -1e-6 else 0
            if self._negative[i] >= rounds:
                self.close(i, t, year, self._operating[i])
        self._operating[:] = 0.0

    def close(self, i: int, t: int, year: int | None, operating: float = 0.0) -> None:
        """Company i leaves the park for good."""
        m = self.m
        self.alive[i] = False
        self.active[self.first[i]:self.first[i + 1]] = False
        self.closed_at[i] = t
        for p in self.projects:
            if p.company == i and p.status in ("open", "building"):
                p.status = "dropped"
        m.on_close(i, t)
        self.decisions.append(InvestmentDecision(
            t, year, m.companies[i].name, "exit", "", operating, 0.0, 0.0,
            f"operating profit negative for {self.s.exit_years:g} years (EUR {operating:,.0f} in the last)"))

    def record_pipe(self, t: int, seller: int, buyer: int, resource: str, value: float, bar: float,
                    invest: float) -> None:
        companies = self.m.companies
        self.decisions.append(InvestmentDecision(t, self.m.year, companies[buyer].name, "pipe",
                                                 f"{resource} from {companies[seller].name}", value, bar, invest))
