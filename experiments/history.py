"""Validation against history: start a park with no links and the prices of past years, let it
form links by itself, and compare them with the links that formed in reality.

A history file (`scenarios/history/NAME.toml`, format in its comments) names the scenario, the
years, an information-sharing level, a price index for some resources by year, by-products
that only exist from some year, and the historical links. The run removes every pipeline of
the scenario, sets the prices and by-products of each year before running its steps, and
records when each link first formed (`agents.partnerships.LinkEvent`: a contract, a new
pipe, or spot trade on at least half the steps of a period).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.cooperation import CooperationSettings
from agents.model import ParkModel
from agents.scenario import CompanySpec, Scenario
from experiments import scenario_io
from experiments import named_toml
from experiments.problems import Problems
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


@dataclass(frozen=True)
class History:
    name: str
    scenario: Scenario
    start_year: int
    end_year: int
    base_year: int
    information: float
    indexed: tuple[str, ...]
    index: dict[int, float]  # price factor by year, 1 in base_year
    available: tuple[Available, ...]
    links: tuple[HistoricalLink, ...]

    def scenario_in(self, year: int) -> Scenario:
        """The scenario with this year's prices and by-products, and no pipelines."""
        f = self.index[year]
        resources = {r: (dataclasses.replace(res, virgin_price=res.virgin_price * f) if r in self.indexed else res)
                     for r, res in self.scenario.resources.items()}
        later = {(a.company, a.byproduct) for a in self.available if year < a.year}
        companies = tuple(_without(c, {b for name, b in later if name == c.name}) for c in self.scenario.companies)
        return dataclasses.replace(self.scenario, resources=resources, companies=companies, pipelines=())


def _without(c: CompanySpec, byproducts: set[str]) -> CompanySpec:
    if not byproducts:
        return c
    procs = tuple(dataclasses.replace(p, byproducts={r: q for r, q in p.byproducts.items() if r not in byproducts})
                  for p in c.processes)
    return dataclasses.replace(c, processes=procs)


def builtin_names() -> list[str]:
    return named_toml.builtin_names(HISTORY_DIR)


def load(name_or_path: str) -> History:
    path, data = named_toml.read("history", HISTORY_DIR, name_or_path)
    p = Problems(f"history {path.name}")
    for key in data:
        if key not in ("history", "prices", "available", "links"):
            p.add(key, "unknown section", valid=("history", "prices", "available", "links"), got=key)
    head = data.get("history", {})
    for key in ("scenario", "start_year", "end_year", "base_year"):
        if key not in head:
            p.add(f"history.{key}", "missing (required)")
    p.raise_if_any()
    park = scenario_io.load(str(head["scenario"]))
    start, end, base = int(head["start_year"]), int(head["end_year"]), int(head["base_year"])
    if not start <= end:
        p.add("history.end_year", f"must not be before start_year {start}")
    info = float(head.get("information", 0.0))
    if not 0.0 <= info <= 1.0:
        p.add("history.information", f"must be between 0 and 1, got {info}")
    prices = data.get("prices", {})
    indexed = tuple(prices.get("resources", ()))
    for r in indexed:
        if r not in park.resources:
            p.add("prices.resources", f"unknown resource '{r}'", valid=park.resources, got=r)
    oil = {int(y): float(v) for y, v in prices.get("oil", {}).items()}
    cpi = {int(y): float(v) for y, v in prices.get("cpi", {}).items()}
    index: dict[int, float] = {}
    if indexed:
        for y in sorted({*range(start, end + 1), base}):
            if y not in oil or y not in cpi:
                p.add("prices", f"year {y}: needs both prices.oil.{y} and prices.cpi.{y}")
        if not p.items:
            real = {y: oil[y] / cpi[y] for y in oil if y in cpi}
            index = {y: real[y] / real[base] for y in range(start, end + 1)}
    else:
        index = {y: 1.0 for y in range(start, end + 1)}
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
    return History(path.stem, park, start, end, base, info, indexed, index, tuple(available), tuple(links))


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

    def summary(self) -> dict[str, Any]:
        return {"history": self.history.name, "seed": self.seed, "years": [self.history.start_year, self.history.end_year],
                "share_formed": self.share_formed, "hub": self.hub, "degree": self.degree,
                "rank_correlation": self.rank_correlation, "historical_links": self.table, "model_links": self.formed}


def run(history: History, seed: int = 0, cooperation: CooperationSettings | None = None,
        market: MarketSettings | None = None, progress: Any = None) -> HistoryResult:
    """Run the park year by year from no links and compare with the historical links."""
    first = history.scenario_in(history.start_year)
    policy = dataclasses.replace(history.scenario.policy, information=history.information)
    model = ParkModel(first, policy, market, seed, cooperation)
    spy = first.steps_per_year
    for year in range(history.start_year, history.end_year + 1):
        if year != history.start_year:
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
    return HistoryResult(history, seed, formed, table, len(hit) / max(1, len(table)), degree, hub,
                         _spearman([t["historical_year"] for t in hit], [t["model_year"] for t in hit]))


def _spearman(a: list[int], b: list[int]) -> float | None:
    if len(a) < 3:
        return None
    from scipy.stats import spearmanr
    r = spearmanr(a, b).statistic
    return None if r != r else float(r)


def render(res: HistoryResult) -> str:
    h = res.history
    lines = [f"History: {h.scenario.name} from {h.start_year} to {h.end_year}, no links at the start, "
             f"information sharing {h.information:g}, seed {res.seed}", ""]
    lines.append("Historical links (shared/data/kalundborg.md) and when the model formed them")
    rows = [[str(t["historical_year"]), t["from"], t["to"], t["resource"],
             str(t["model_year"]) if t["model_year"] is not None else "-", t["how"] or ""] for t in res.table]
    widths = [max(len(x) for x in col) for col in zip(["year", "from", "to", "resource", "model", "how"], *rows)]
    fmt = lambda r: "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    lines += [fmt(["year", "from", "to", "resource", "model", "how"]), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in rows]
    n_hit = sum(1 for t in res.table if t["model_year"] is not None)
    lines += ["", f"Formed: {n_hit} of {len(res.table)} historical links ({res.share_formed:.0%})"]
    if res.rank_correlation is not None:
        lines.append(f"Order: Spearman rank correlation of historical and model years {res.rank_correlation:+.2f}")
    ranked = sorted(res.degree.items(), key=lambda kv: -kv[1])
    lines.append("Degree (partners) at the end: " + ", ".join(f"{n} {d}" for n, d in ranked))
    lines.append(f"Hub: {res.hub}")
    extra = [f for f in res.formed if (f["from"], f["to"], f["resource"]) not in
             {(t["from"], t["to"], t["resource"]) for t in res.table}]
    if extra:
        lines.append("Links the model formed that history does not list: " + "; ".join(
            f"{f['from']} -> {f['to']} {f['resource']} ({f['year']})" for f in extra))
    return "\n".join(lines)
