"""Validation against history: start a park with no links and the prices of past years, let it
form links by itself, and compare them with the links that formed in reality.

A history file (`scenarios/history/NAME.toml`, format in its comments) names the scenario, the
years, an information-sharing level, the prices of past years, by-products that only exist from
some year, and the historical links. Its `[prices]` section is a scenario's (docs/
scenario-format.md, read by `experiments.scenario_io.parse_prices`): paths and indices by
calendar year, which the model applies at the start of each simulated year (`market.paths`),
as it does for any scenario. The run removes every pipeline of the scenario, adds each
by-product in the year its plant came, and records when each link first formed
(`agents.partnerships.LinkEvent`: a contract, a new pipe, or spot trade on at least half the
steps of a period).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.cooperation import CooperationSettings
from agents.model import ParkModel
from agents.scenario import CompanySpec, EntrySpec, Scenario
from experiments import scenario_io
from experiments import named_toml
from experiments.problems import Problems
from market.paths import PriceSchedule
from market.policy import Policy
from market.settings import MarketSettings

HISTORY_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "history"


@dataclass(frozen=True, slots=True)
class HistoricalLink:
    year: int
    source: str
    target: str
    resource: str


@dataclass(frozen=True, slots=True)
class Available:
    company: str
    byproduct: str
    year: int


@dataclass(frozen=True, slots=True)
class Sourced:
    """A plant the history file says came later: a company's entry (`option` "") or one of its
    options, with where its year and cost come from."""

    company: str
    option: str
    source: str


@dataclass(frozen=True)
class History:
    name: str
    scenario: Scenario  # as its file has it, with the history's entrants and options; `scenario_in`: a year's
    start_year: int
    end_year: int
    information: float
    prices: PriceSchedule  # step 0 is start_year
    available: tuple[Available, ...]
    links: tuple[HistoricalLink, ...]
    sources: tuple[Sourced, ...] = ()  # the file's [[entrants]], then its [[options]], each in the file's order
    new_relations_per_year: int = 0  # cooperation.new_relations_per_year for the run (0: no limit)
    # "none": the run starts with no links (the park forms them itself); "scenario": with the
    # scenario's pipelines (a later period, starting from the park as it then stood)
    pipelines: str = "none"
    flows: tuple[str, ...] = ()  # resources whose yearly exchanged quantity the result reports

    def cooperation(self, settings: CooperationSettings) -> CooperationSettings:
        """`settings` with this history's limit on new relations a year."""
        return dataclasses.replace(settings, new_relations_per_year=self.new_relations_per_year)

    def scenario_in(self, year: int) -> Scenario:
        """The scenario as it ran in `year`: the history's price schedule in place of the
        scenario's, no pipelines (unless the history starts from the scenario's), and only the
        by-products whose plants existed. Its resources keep their base prices: the model applies
        each year's from the schedule."""
        later = {(a.company, a.byproduct) for a in self.available if year < a.year}
        companies = tuple(_without(c, {b for name, b in later if name == c.name}) for c in self.scenario.companies)
        pipelines = self.scenario.pipelines if self.pipelines == "scenario" else ()
        return dataclasses.replace(self.scenario, companies=companies, pipelines=pipelines, prices=self.prices)


def _without(c: CompanySpec, byproducts: set[str]) -> CompanySpec:
    if not byproducts:
        return c
    procs = tuple(dataclasses.replace(p, byproducts={r: q for r, q in p.byproducts.items() if r not in byproducts})
                  for p in c.processes)
    return dataclasses.replace(c, processes=procs)


def builtin_names() -> list[str]:
    return named_toml.builtin_names(HISTORY_DIR)


HISTORY_KEYS = {
    "scenario": scenario_io.Field("str", required=True),
    "start_year": scenario_io.Field("int", required=True, check=scenario_io._a_year),
    "end_year": scenario_io.Field("int", required=True, check=scenario_io._a_year),
    "information": scenario_io.Field("number", default=0.0, check=scenario_io._between(0, 1)),
    # cooperation.new_relations_per_year (agents.cooperation) for the run; --set overrides it
    "new_relations_per_year": scenario_io.Field("int", default=0, check=scenario_io._between(0, 1000)),
    # the links at the start: none (the park forms them) or the scenario's pipelines
    "pipelines": scenario_io.Field("str", default="none", check=scenario_io._one_of(("none", "scenario"))),
    # resources whose yearly exchanged quantity the result reports
    "flows": scenario_io.Field("names", default=()),
}
SOURCE = scenario_io.Field("str", required=True)  # where the year and the cost come from; may say "assumption: ..."
ENTRANT_KEYS = {"company": scenario_io.Field("str", required=True), **scenario_io.ENTRY_KEYS, "source": SOURCE}
OPTION_KEYS = {"company": scenario_io.Field("str", required=True), **scenario_io.OPTION_KEYS, "source": SOURCE}
SECTIONS = ("history", "prices", "policy", "available", "entrants", "options", "links")
# A history's own policy: taxes by calendar year, in place of the scenario's constants.
POLICY_KEYS = {key: scenario_io.Field("path", default=None) for key in scenario_io.TAX_PATHS}


def load(name_or_path: str) -> History:
    path, data = named_toml.read("history", HISTORY_DIR, name_or_path)
    p = Problems(f"history {path.name}")
    for key in data:
        if key not in SECTIONS:
            p.add(key, "unknown section", valid=SECTIONS, got=key)
    raw_head = data.get("history", {})
    if isinstance(raw_head, dict) and "base_year" in raw_head:  # the old format's, with its oil and cpi tables
        raw_head = {k: v for k, v in raw_head.items() if k != "base_year"}
        p.add("history.base_year", "a price index has its own base year now: move it to [[prices.indices]] "
              "base_year (docs/scenario-format.md, [prices])")
    head = scenario_io._table(p, "history", raw_head, HISTORY_KEYS) or {}
    if None in (head.get("scenario"), head.get("start_year"), head.get("end_year")):
        p.raise_if_any()
    park = scenario_io.load(str(head["scenario"]))
    start, end, info = head["start_year"], head["end_year"], head["information"]
    if not start <= end:
        p.add("history.end_year", f"must not be before start_year {start}")
    park, sources = _plants(p, data, park)
    park = dataclasses.replace(park, policy=_policy(p, data.get("policy"), park.policy, start))
    # The history's prices, in the scenario format; step 0 is the history's first year.
    raw_prices = data.get("prices")
    products = {pr.product for c in park.companies for pr in c.processes}
    prices = scenario_io.parse_prices(p, raw_prices, park.resources, products, start_year=start)
    given = raw_prices.get("start_year") if isinstance(raw_prices, dict) else None
    if isinstance(given, int) and given != start:
        p.add("prices.start_year", f"must be the history's start_year {start}, got {given!r}: "
              f"step 0 is the first year of the history; remove it or make them equal")
    names = {c.name for c in park.companies}
    available = []
    for n, a in enumerate(data.get("available", [])):
        if a.get("company") not in names:
            p.add(f"available[{n}].company", f"unknown company '{a.get('company')}'", valid=names, got=str(a.get("company")))
        elif a.get("byproduct") not in park.resources:
            p.add(f"available[{n}].byproduct", f"unknown resource '{a.get('byproduct')}'", valid=park.resources,
                  got=str(a.get("byproduct")))
        else:
            available.append(Available(a["company"], a["byproduct"], int(a["from"])))
    for r in head["flows"]:
        if r not in park.resources:
            p.add("history.flows", f"unknown resource '{r}'", valid=park.resources, got=r)
    links = []
    for n, link in enumerate(data.get("links", [])):
        ok = True
        for key in ("from", "to"):
            if link.get(key) not in names:
                p.add(f"links[{n}].{key}", f"unknown company '{link.get(key)}'", valid=names, got=str(link.get(key)))
                ok = False
        if link.get("resource") not in park.resources:
            p.add(f"links[{n}].resource", f"unknown resource '{link.get('resource')}'", valid=park.resources,
                  got=str(link.get("resource")))
            ok = False
        if ok:
            links.append(HistoricalLink(int(link["year"]), link["from"], link["to"], link["resource"]))
    p.raise_if_any()
    return History(path.stem, park, start, end, info, dataclasses.replace(prices, start_year=start),
                   tuple(available), tuple(links), sources, head["new_relations_per_year"], head["pipelines"],
                   tuple(head["flows"]))


def _policy(p: Problems, raw: Any, policy: Policy, start: int) -> Policy:
    """The scenario's policy with the history's `[policy]` tax paths (`carbon_tax_path`,
    `landfill_tax_path`: {YEAR = EUR per t}) in place of its constant taxes."""
    if raw is None:
        return policy
    head = scenario_io._table(p, "policy", raw, POLICY_KEYS) or {}
    for key, constant in scenario_io.TAX_PATHS.items():
        if head.get(key) is None:
            continue
        path = scenario_io._year_path(p, f"policy.{key}", head[key], at_least=0.0)
        if path is not None:
            policy = dataclasses.replace(policy, **{key: path, constant: path.at(start)})
    return policy


def _plants(p: Problems, data: dict[str, Any], park: Scenario) -> tuple[Scenario, tuple[Sourced, ...]]:
    """The plants that came later (docs/scenario-format.md): the scenario with the history's
    `[[options]]` added to their companies (a technology a company may invest in) and its
    `[[entrants]]` made entrants (companies that enter the park), moved after every other
    company in the history file's order; and the source of each, where its year and cost come
    from. Years need no `[prices] start_year` here: step 0 is the history's start_year."""
    names = [c.name for c in park.companies]
    plants = {c.name: scenario_io.Plant.of(c) for c in park.companies}
    entries: dict[str, EntrySpec] = {}
    first: dict[str, int] = {}  # company -> the [[entrants]] table that made it one
    sources: list[Sourced] = []
    for section in ("entrants", "options"):
        raw = data.get(section, [])
        if not isinstance(raw, list):
            p.add(section, f"must be a list of [[{section}]] tables")
            continue
        for n, item in enumerate(raw):
            path = f"{section}[{n}]"
            t = scenario_io._table(p, path, item, OPTION_KEYS if section == "options" else ENTRANT_KEYS)
            if t is None:
                continue
            company = t["company"]
            if company is not None and company not in names:
                p.add(f"{path}.company", f"unknown company '{company}' of scenario {park.name}", valid=names,
                      got=company)
                company = None
            if t["source"] is not None and not t["source"].strip():
                p.add(f"{path}.source", "must say where the year and the cost come from: a publication, or "
                      "\"assumption: ...\" with the reasoning")
            years: list[str] = []  # (a history's years always have a start year)
            if section == "options":
                plant = plants[company] if company is not None else scenario_io.Plant(None, [], [])
                before = len(plant.options)
                scenario_io._option(p, path, item, t, "options", park.resources, names, plant, years)
                if company is not None and len(plant.options) > before:
                    sources.append(Sourced(company, plant.options[-1].name, t["source"] or ""))
                continue
            if company in first:
                p.add(f"{path}.company", f"'{company}' is already an entrant by entrants[{first[company]}]: a company "
                      f"enters once; remove one of them")
                company = None
            elif company is not None and park.companies[names.index(company)].entry is not None:
                p.add(f"{path}.company", f"'{company}' is already an entrant in scenario {park.name} ([[entrants]] "
                      f"there): remove this one or that one")
                company = None
            if company is not None:
                first[company] = n
            entry = scenario_io._entry(p, path, t, park.resources, names, company, years)
            if entry is not None and company is not None:
                entries[company] = entry
                sources.append(Sourced(company, "", t["source"] or ""))
    for plant in plants.values():
        plant.check_switches(p)
    changed = [dataclasses.replace(c, processes=tuple(plants[c.name].processes),
                                   options=tuple(plants[c.name].options), entry=entries.get(c.name, c.entry))
               for c in park.companies]
    later = [n for n in first if n in entries]  # in the file's order
    companies = [c for c in changed if c.name not in entries] + [changed[names.index(n)] for n in later]
    return dataclasses.replace(park, companies=tuple(companies)), tuple(sources)


@dataclass
class HistoryResult:
    history: History
    seed: int
    formed: list[dict[str, Any]]  # every link the model formed, in order
    table: list[dict[str, Any]]  # each historical link: formed in the model? when?
    share_formed: float
    degree: dict[str, int]
    hub: str
    rank_correlation: float | None  # Spearman, historical year vs model year, links that formed
    # Links whose year an input fixes (a by-product's plant or an entrant arriving that year) are
    # no test of the model: the figures below are also given for the others, the emergent links.
    rank_correlation_emergent: float | None = None
    median_abs_error_years: float | None = None
    median_abs_error_emergent: float | None = None
    early_links: int = 0  # historical links the model formed in its first EARLY_YEARS years
    cumulative: list[dict[str, int]] | None = None  # links by year: history's and the model's
    decisions: list[dict[str, Any]] | None = None  # the model's investment, entry and exit decisions
    new_relations_per_year: int = 0  # the run's cooperation.new_relations_per_year (0: no limit)
    flows: list[dict[str, Any]] | None = None  # per year: the quantity of each of the history's flows exchanged
    not_taken: list[dict[str, Any]] | None = None  # options and entries never taken, with their last valuation

    def summary(self) -> dict[str, Any]:
        return {"history": self.history.name, "seed": self.seed, "years": [self.history.start_year, self.history.end_year],
                "share_formed": self.share_formed, "hub": self.hub, "degree": self.degree,
                "rank_correlation": self.rank_correlation, "rank_correlation_emergent": self.rank_correlation_emergent,
                "median_abs_error_years": self.median_abs_error_years,
                "median_abs_error_emergent": self.median_abs_error_emergent, "early_links": self.early_links,
                "new_relations_per_year": self.new_relations_per_year,
                "cumulative": self.cumulative, "decisions": self.decisions, "flows": self.flows,
                "not_taken": self.not_taken,
                "historical_links": self.table, "model_links": self.formed}


EARLY_YEARS = 3  # "at most 3 of the 14 links in the first 3 model years" (issue 12's bar)


def _input_dated(history: History, link: HistoricalLink) -> str:
    """Why an input fixes this link's year, or "" when nothing does."""
    for a in history.available:
        if a.company == link.source and a.byproduct == link.resource and a.year == link.year:
            return f"{a.byproduct} of {a.company} available from {a.year}"
    for c in history.scenario.companies:
        if c.entry is not None and c.name in (link.source, link.target) and c.entry.earliest_year is not None \
                and abs(c.entry.earliest_year - link.year) <= 1:
            return f"{c.name} may enter from {c.entry.earliest_year}"
    return ""


def run(history: History, seed: int = 0, cooperation: CooperationSettings | None = None,
        market: MarketSettings | None = None, progress: Any = None) -> HistoryResult:
    """Run the park year by year from no links and compare with the historical links. The model
    applies each year's prices from the history's schedule itself; the park changes only when a
    by-product's plant comes into service."""
    first = history.scenario_in(history.start_year)
    policy = dataclasses.replace(history.scenario.policy, information=history.information)
    if cooperation is None:  # the defaults, with the history file's limit on new relations
        cooperation = history.cooperation(CooperationSettings())
    model = ParkModel(first, policy, market, seed, cooperation)
    spy = first.steps_per_year
    arrive = {a.year for a in history.available}
    for year in range(history.start_year, history.end_year + 1):
        if year != history.start_year and year in arrive:
            model.reprice(history.scenario_in(year))
        model.run(spy, progress)
    names = [c.name for c in first.companies]
    formed = [{"year": history.start_year + e.step // spy, "step": e.step, "from": names[e.seller],
               "to": names[e.buyer], "resource": e.resource, "how": e.how} for e in model.partners.links]
    when = {(f["from"], f["to"], f["resource"]): f for f in formed}
    table = []
    for link in history.links:
        f = when.get((link.source, link.target, link.resource))
        table.append({"historical_year": link.year, "from": link.source, "to": link.target,
                      "resource": link.resource, "model_year": f["year"] if f else None,
                      "how": f["how"] if f else None})
    hit = [t for t in table if t["model_year"] is not None]
    degree = {n: 0 for n in names}
    pairs = {frozenset((f["from"], f["to"])) for f in formed}
    for pair in pairs:
        for n in pair:
            degree[n] += 1
    hub = max(names, key=lambda n: (degree[n], -names.index(n)))
    for t, link in zip(table, history.links):
        t["input_dated"] = _input_dated(history, link)
    emergent = [t for t in hit if not t["input_dated"]]
    years = range(history.start_year, history.end_year + 1)
    cumulative = [{"year": y, "history": sum(1 for t in table if t["historical_year"] <= y),
                   "model": sum(1 for t in hit if t["model_year"] <= y)} for y in years]
    decisions = [{k: getattr(d, k) for k in ("year", "company", "kind", "option", "npv_eur", "threshold_eur",
                                             "capex_eur", "note")} for d in model.investor.decisions]
    flows = [{"year": y, **{r: 0.0 for r in history.flows}} for y in years] if history.flows else None
    for rec in model.records if flows else ():
        row = flows[rec.step // spy]
        for r in history.flows:
            row[r] += rec.exchanged.get(r, 0.0)
    return HistoryResult(history, seed, formed, table, len(hit) / max(1, len(table)), degree, hub,
                         _spearman([t["historical_year"] for t in hit], [t["model_year"] for t in hit]),
                         _spearman([t["historical_year"] for t in emergent], [t["model_year"] for t in emergent]),
                         _median_error(hit), _median_error(emergent),
                         sum(1 for t in hit if t["model_year"] < history.start_year + EARLY_YEARS), cumulative, decisions,
                         cooperation.new_relations_per_year, flows, model.investor.not_taken())


def _median_error(rows: list[dict[str, Any]]) -> float | None:
    if not rows:
        return None
    import numpy as np
    return float(np.median([abs(t["model_year"] - t["historical_year"]) for t in rows]))


def _spearman(a: list[int], b: list[int]) -> float | None:
    if len(a) < 3:
        return None
    from scipy.stats import spearmanr
    r = spearmanr(a, b).statistic
    return None if r != r else float(r)


def render(res: HistoryResult) -> str:
    h = res.history
    start = "no links at the start" if h.pipelines == "none" else "the scenario's pipelines at the start"
    lines = [f"History: {h.scenario.name} from {h.start_year} to {h.end_year}, {start}, "
             f"information sharing {h.information:g}, "
             f"new relations a company takes on a year {res.new_relations_per_year or 'unlimited'}, seed {res.seed}", ""]
    if res.table:
        lines += _render_links(res)
    if res.decisions:
        lines.append("Investment, entry and exit: " + "; ".join(
            f"{d['year']} {d['company']} {d['kind']}{(' ' + d['option']) if d['option'] else ''}" for d in res.decisions
            if d["kind"] != "pipe"))
    else:
        lines.append("Investment, entry and exit: none")
    for o in res.not_taken or ():
        lines.append(f"Not taken: {o['company']} {o['option']} ({o['kind']}): NPV in {o['year']} "
                     f"EUR {o['npv_eur'] / 1e6:,.1f} M against a threshold of EUR {o['threshold_eur'] / 1e6:,.1f} M")
    if res.flows:
        lines += ["", "Exchanged a year (the history's flows)"] + _table(
            ["year", *h.flows], [[str(f["year"]), *(f"{f[r]:,.0f}" for r in h.flows)] for f in res.flows], right=True)
    ranked = sorted(res.degree.items(), key=lambda kv: -kv[1])
    lines.append("Degree (partners) at the end: " + ", ".join(f"{n} {d}" for n, d in ranked))
    lines.append(f"Hub: {res.hub}")
    listed = {(t["from"], t["to"], t["resource"]) for t in res.table}
    extra = [f for f in res.formed if (f["from"], f["to"], f["resource"]) not in listed]
    if h.pipelines == "scenario":  # the park as it stood: its links resume in the first year
        extra = [f for f in extra if f["year"] > h.start_year]
    if extra:
        lines.append("Links the model formed that history does not list: " + "; ".join(
            f"{f['from']} -> {f['to']} {f['resource']} ({f['year']})" for f in extra))
    return "\n".join(lines)


def _table(head: list[str], rows: list[list[str]], right: bool = False) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    pad = (lambda c, w: c.rjust(w)) if right else (lambda c, w: c.ljust(w))
    fmt = lambda r: "  " + "  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def _render_links(res: HistoryResult) -> list[str]:
    h = res.history
    lines = ["Historical links (docs/published-data.md) and when the model formed them"]
    rows = [[str(t["historical_year"]), t["from"], t["to"], t["resource"],
             str(t["model_year"]) if t["model_year"] is not None else "-", t["how"] or "",
             t.get("input_dated") or ""] for t in res.table]
    lines += _table(["year", "from", "to", "resource", "model", "how", "year fixed by an input"], rows)
    n_hit = sum(1 for t in res.table if t["model_year"] is not None)
    lines += ["", f"Formed: {n_hit} of {len(res.table)} historical links ({res.share_formed:.0%})"]
    corr = lambda x: "n/a" if x is None else f"{x:+.2f}"  # noqa: E731
    err = lambda x: "n/a" if x is None else f"{x:g} years"  # noqa: E731
    n_emergent = sum(1 for t in res.table if t["model_year"] is not None and not t.get("input_dated"))
    lines.append(f"Order: Spearman rank correlation of historical and model years {corr(res.rank_correlation)} "
                 f"(the {n_emergent} links no input dates: {corr(res.rank_correlation_emergent)}); bar >= 0.6")
    lines.append(f"Timing: median absolute error {err(res.median_abs_error_years)} (emergent links: "
                 f"{err(res.median_abs_error_emergent)}); bar <= 4 years")
    lines.append(f"Emergence: {res.early_links} of {len(res.table)} links formed in the first {EARLY_YEARS} model years; "
                 f"bar <= 3")
    if res.cumulative:
        marks = [c for c in res.cumulative if (c["year"] - h.start_year) % 5 == 0 or c["year"] == h.end_year]
        lines.append("Links formed by year, history / model: " + ", ".join(
            f"{c['year']} {c['history']}/{c['model']}" for c in marks))
    return lines


SEED_COLUMNS = ("seed", "rank_correlation", "rank_correlation_emergent", "median_abs_error_years",
                "median_abs_error_emergent", "early_links", "share_formed", "hub")


def seed_rows(results: list[HistoryResult]) -> list[dict[str, Any]]:
    """One row of the validation figures per seed (`run.py history --seeds N`, seeds.csv)."""
    return [{k: (r.seed if k == "seed" else r.summary()[k]) for k in SEED_COLUMNS} for r in results]


def render_seeds(results: list[HistoryResult]) -> str:
    """The validation figures of several seeds side by side, with their mean and range: one
    seed's figures are one draw of the searches, negotiations and failures."""
    rows = seed_rows(results)
    f = lambda x, fmt: "n/a" if x is None else fmt.format(x)  # noqa: E731
    lines = [f"Over {len(rows)} seeds (bars: Spearman >= 0.6, median error <= 4 years, at most 3 links in the "
             f"first {EARLY_YEARS} years)",
             "  seed  Spearman  emergent  median error  emergent  early  hub"]
    for r in rows:
        lines.append(f"  {r['seed']:>4}  {f(r['rank_correlation'], '{:+.2f}'):>8}  "
                     f"{f(r['rank_correlation_emergent'], '{:+.2f}'):>8}  {f(r['median_abs_error_years'], '{:g} y'):>12}  "
                     f"{f(r['median_abs_error_emergent'], '{:g} y'):>8}  {r['early_links']:>5}  {r['hub']}")

    def stats(key: str, fmt: str) -> str:
        xs = [r[key] for r in rows if r[key] is not None]
        if not xs:
            return "n/a"
        return f"mean {fmt.format(sum(xs) / len(xs))}, {fmt.format(min(xs))} to {fmt.format(max(xs))}"

    lines += [f"  Spearman: {stats('rank_correlation', '{:+.2f}')}; over the emergent links: "
              f"{stats('rank_correlation_emergent', '{:+.2f}')}",
              f"  median error: {stats('median_abs_error_years', '{:.1f}')} years; links in the first "
              f"{EARLY_YEARS} years: {stats('early_links', '{:.1f}')}",
              f"  bars met: Spearman in {sum(1 for r in rows if (r['rank_correlation'] or -1) >= 0.6)}, median error "
              f"in {sum(1 for r in rows if r['median_abs_error_years'] is not None and r['median_abs_error_years'] <= 4)}, "
              f"early links in {sum(1 for r in rows if r['early_links'] <= 3)} of {len(rows)} seeds"]
    return "\n".join(lines)
