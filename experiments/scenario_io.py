"""Reading scenario files (TOML) into `agents.scenario.Scenario`, with validation that reports
every problem at once, each naming the file, the key path, what is wrong and a fix.

The `[prices]` section (price paths by calendar year, `market.paths`) is read by
`parse_prices`, which the history files (`experiments.history`) use too, so both kinds of file
write prices one way."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agents.scenario import CompanySpec, EntrySpec, OptionSpec, PipelineSpec, ProcessSpec, Scenario, Target
from experiments.problems import InputError, Problems
from market.paths import PriceIndex, PriceSchedule, YearPath
from market.policy import Policy
from agents.operations import Outage
from market.resources import Mode, Resource

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class Field:
    kind: str  # str | number | int | bool | location | amounts | names | list | mode | path | paths
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None  # returns a problem or None


def _at_least(lo: float, strict: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        bad = v <= lo if strict else v < lo
        return f"must be {'>' if strict else '>='} {lo:g}, got {v!r}" if bad else None
    return check


def _between(lo: float, hi: float, hi_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        bad = v < lo or (v >= hi if hi_open else v > hi)
        return f"must be between {lo:g} and {hi:g}{' (exclusive)' if hi_open else ''}, got {v!r}" if bad else None
    return check


SCENARIO_KEYS = {
    "name": Field("str", required=True),
    "description": Field("str", default=""),
    "steps_per_year": Field("int", default=365, check=_at_least(1)),
}
RESOURCE_KEYS = {
    "unit": Field("str", required=True),
    "virgin_price": Field("number", required=True, check=_at_least(0)),
    "disposal_cost": Field("number", required=True),
    "co2_virgin": Field("number", default=0.0, check=_at_least(0)),
    "co2_disposal": Field("number", default=0.0, check=_at_least(0)),
    "transport": Field("mode", default=Mode.TRUCK),
    "transport_cost": Field("number", default=0.0, check=_at_least(0)),
    "loss_per_km": Field("number", default=0.0, check=_between(0, 1, hi_open=True)),
    "shelf_life": Field("int", default=0, check=_at_least(0)),
    "landfill": Field("bool", default=False),
    "virgin_material": Field("bool", default=False),
    "pipe_fixed": Field("number", default=None, check=_at_least(0)),
    "pipe_per_km": Field("number", default=None, check=_at_least(0)),
    "substitute": Field("bool", default=True),
    "lead_time": Field("int", default=0, check=_at_least(0)),
    "holding_cost": Field("number", default=0.0, check=_at_least(0)),
    "decay": Field("number", default=0.0, check=_between(0, 1, hi_open=True)),
}
COMPANY_KEYS = {
    "name": Field("str", required=True),
    "sector": Field("str", required=True),
    "location": Field("location", required=True),
    "storage": Field("amounts", default={}),
    "processes": Field("list", required=True),
    "strategy": Field("str", default=""),
    "tactic": Field("str", default=""),
    "options": Field("list", default=[]),
}
PROCESS_KEYS = {
    "name": Field("str", required=True),
    "product": Field("str", required=True),
    "unit": Field("str", required=True),
    "capacity": Field("number", required=True, check=_at_least(0, strict=True)),
    "sale_price": Field("number", required=True),
    "utilisation": Field("number", default=1.0, check=_between(0, 1)),
    "variability": Field("number", default=0.0, check=_at_least(0)),
    "inputs": Field("amounts", default={}),
    "byproducts": Field("amounts", default={}),
    "seasonal": Field("number", default=0.0, check=_between(0, 1)),
    "peak_day": Field("int", default=0, check=_between(0, 365)),
    "weekend": Field("number", default=1.0, check=_between(0, 1)),
    "campaign_on": Field("int", default=0, check=_at_least(0)),
    "campaign_off": Field("int", default=0, check=_at_least(0)),
    "mtbf": Field("number", default=0.0, check=_at_least(0)),
    "mttr": Field("number", default=0.0, check=_at_least(0)),
    "maintenance_every": Field("int", default=0, check=_at_least(0)),
    "maintenance_days": Field("int", default=0, check=_at_least(0)),
    "pass_through": Field("number", default=None, check=_between(0, 2)),
    "fixed_opex": Field("number", default=0.0, check=_at_least(0)),
}
PIPELINE_KEYS = {
    "from": Field("str", required=True),
    "to": Field("str", required=True),
    "resource": Field("str", required=True),
    "length_km": Field("number", default=None, check=_at_least(0, strict=True)),
}
POLICY_KEYS = {
    "carbon_tax": Field("number", default=0.0, check=_at_least(0)),
    "landfill_tax": Field("number", default=0.0, check=_at_least(0)),
    "virgin_tax": Field("number", default=0.0, check=_at_least(0)),
    "exchange_subsidy": Field("number", default=0.0, check=_at_least(0)),
    "investment_subsidy": Field("number", default=0.0, check=_between(0, 1)),
    "information": Field("number", default=1.0, check=_between(0, 1)),
    "shared_vision": Field("number", default=0.0, check=_between(0, 1)),
    "shared_vision_spread": Field("number", default=0.0, check=_between(0, 1)),
    "shared_vision_imitation": Field("bool", default=False),
    "shared_vision_co2_value": Field("number", default=0.0, check=_at_least(0)),
    "social_cost_of_carbon": Field("number", default=100.0, check=_at_least(0)),
    "carbon_tax_path": Field("path", default=None),
    "landfill_tax_path": Field("path", default=None),
}
METRICS = ("flow", "exchanged", "co2_avoided", "output")
TARGET_KEYS = {
    "metric": Field("str", required=True),
    "value": Field("number", required=True),
    "unit": Field("str", required=True),
    "source": Field("str", required=True),
    "year": Field("str", required=True),
    "tolerance": Field("number", default=0.2, check=_at_least(0, strict=True)),
    "label": Field("str", default=""),
    "from": Field("str", default=""),
    "to": Field("str", default=""),
    "resource": Field("str", default=""),
    "resources": Field("names", default=[]),
    "company": Field("str", default=""),
    "product": Field("str", default=""),
    "role": Field("str", default="check", check=lambda v: None if v in ("check", "calibration") else
                  f"must be \"check\" (an outcome the model was not fitted to) or \"calibration\" (an input "
                  f"set from this figure, reproduced by construction), got {v!r}"),
}
TOP_KEYS = ("scenario", "resources", "companies", "entrants", "pipelines", "policy", "prices", "targets", "events")
EVENT_KEYS = {
    "company": Field("str", required=True),
    "at": Field("int", required=True, check=_at_least(0)),
    "duration": Field("int", default=None, check=_at_least(1)),
    "capacity": Field("number", default=0.0, check=_between(0, 1)),
    "stages": Field("list", default=None),
    "label": Field("str", default=""),
    "announced": Field("bool", default=False),
}
# Price paths (`market.paths`). Years are calendar years; a path outside this range is surely a
# typo (a step number, a two-digit year), not history or a forecast.
FIRST_YEAR, LAST_YEAR = 1800, 2200


def _a_year(v: Any) -> str | None:
    ok = FIRST_YEAR <= v <= LAST_YEAR
    return None if ok else f"must be a calendar year between {FIRST_YEAR} and {LAST_YEAR}, got {v!r}"


PRICES_KEYS = {
    "start_year": Field("int", default=None, check=_a_year),
    "resources": Field("paths", default={}),
    "products": Field("paths", default={}),
    "indices": Field("list", default=[]),
}
# Investment (`agents.investment`): a company's technology options and a candidate's entry.
OPTION_KINDS = ("process", "switch")
DIRECTIONS = ("in", "out")


def _one_of(valid: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in valid else f"must be one of {', '.join(valid)}, got {v!r}"
    return check


# A pipe a project builds: `in` carries the resource from the partner to the company, `out` the other way.
PROJECT_PIPE_KEYS = {
    "partner": Field("str", required=True),
    "resource": Field("str", required=True),
    "direction": Field("str", default="in", check=_one_of(DIRECTIONS)),
    "length_km": Field("number", default=None, check=_at_least(0, strict=True)),
}
# What a project costs and when it may come: an option's and an entrant's alike.
PROJECT_KEYS = {
    "capex": Field("number", required=True, check=_at_least(0)),
    "fixed_opex": Field("number", default=0.0, check=_at_least(0)),
    "lifetime_years": Field("number", default=25.0, check=_at_least(0, strict=True)),
    "lead_time_years": Field("number", default=1.0, check=_at_least(0)),
    "earliest_year": Field("int", default=None, check=_a_year),
    "pipelines": Field("list", default=[]),
}
OPTION_KEYS = {
    "name": Field("str", required=True),
    "kind": Field("str", required=True),
    "process": Field("table", default=None),  # required: reported with the table to write
    **PROJECT_KEYS,
    "replaces": Field("str", default=""),
    "mandatory_from": Field("int", default=None, check=_a_year),
}
ENTRY_KEYS = PROJECT_KEYS
ENTRANT_KEYS = {**COMPANY_KEYS, **ENTRY_KEYS}
INDEX_KEYS = {
    "name": Field("str", required=True),
    "base_year": Field("int", required=True, check=_a_year),
    "series": Field("path", required=True),
    "deflator": Field("path", default=None),
    "resources": Field("names", default=()),
    "products": Field("names", default=()),
}


def _typename(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(v), type(v).__name__)


MAX_NUMBER = 1e15  # beyond it sums of quantities times prices lose every digit that matters


def name_problem(name: Any) -> str | None:
    """Why a name (of a company, process, resource or option) cannot be used, or None: names
    are what users and outputs refer to things by, so they are non-empty, printable, and have no
    spaces at their ends ("Gyproc " beside "Gyproc" would be two companies)."""
    if not isinstance(name, str):
        return None  # its type is reported by its field
    if not name.strip():
        return "must not be empty"
    if name != name.strip():
        return f"has spaces at its ends ({name!r}): write {name.strip()!r}"
    if not name.isprintable():
        return f"holds a control character ({name!r}): use printable characters only"
    return None


def _coerce(kind: str, v: Any) -> tuple[Any, str | None]:
    """The value as `kind`, or a problem."""
    number = isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "str":
        return (v, None) if isinstance(v, str) else (None, f"must be a string, got {_typename(v)}")
    if kind == "number":
        if not number:
            return None, f"must be a number, got {_typename(v)}"
        if not math.isfinite(v):
            return None, f"must be a finite number, got {v!r}"
        if abs(v) > MAX_NUMBER:
            return None, f"must be at most {MAX_NUMBER:g} in size, got {v!r}: no park quantity or price is that large"
        return float(v), None
    if kind == "int":
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return (v, None) if isinstance(v, int) and not isinstance(v, bool) else (None, f"must be an integer, got {_typename(v)}")
    if kind == "bool":
        return (v, None) if isinstance(v, bool) else (None, f"must be true or false, got {_typename(v)}")
    if kind == "location":
        ok = isinstance(v, list) and len(v) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
        return ((float(v[0]), float(v[1])), None) if ok else (None, "must be [x, y] in km, two numbers")
    if kind == "names":
        ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
        return (tuple(v), None) if ok else (None, "must be a list of names")
    if kind == "list":
        return (v, None) if isinstance(v, list) else (None, f"must be a list of tables ([[...]]), got {_typename(v)}")
    if kind == "table":
        if not isinstance(v, dict):
            return None, f"must be a table ([...] once, not [[...]]), got {_typename(v)}"
        return v, None
    if kind == "amounts":
        if not isinstance(v, dict):
            return None, f"must be a table {{resource = quantity}}, got {_typename(v)}"
        return v, None
    if kind == "path":
        if not isinstance(v, dict):
            return None, f"must be a table {{YEAR = VALUE}}, e.g. {{ 1995 = 30.0, 2005 = 42.0 }}, got {_typename(v)}"
        return v, None
    if kind == "paths":
        if not isinstance(v, dict):
            return None, (f"must hold one table of YEAR = VALUE per name, e.g. [prices.resources.coal] "
                          f"with 1995 = 50.0, got {_typename(v)}")
        return v, None
    if kind == "mode":
        valid = [m.value for m in Mode]
        return (Mode(v), None) if v in valid else (None, f"must be one of {', '.join(valid)}, got {v!r}")
    raise AssertionError(kind)


def _table(p: Problems, path: str, raw: Any, schema: dict[str, Field]) -> dict[str, Any] | None:
    """Checked values of one table with defaults filled in; None if it is not a table."""
    if not isinstance(raw, dict):
        p.add(path, f"must be a table, got {_typename(raw)}")
        return None
    out: dict[str, Any] = {}
    for key in raw:
        if key not in schema:
            p.add(f"{path}.{key}" if path else key, "unknown key", valid=schema, got=key)
    for key, f in schema.items():
        where = f"{path}.{key}" if path else key
        if key not in raw:
            if f.required:
                p.add(where, "missing (required)")
            out[key] = f.default
            continue
        value, problem = _coerce(f.kind, raw[key])
        if problem is None and f.check is not None and value is not None:
            problem = f.check(value)
        if problem:
            p.add(where, problem)
            out[key] = f.default
        else:
            out[key] = value
    return out


def _amounts(p: Problems, path: str, table: dict, resources: dict, strict_positive: bool = True) -> dict[str, float]:
    out = {}
    for r, q in table.items():
        if r not in resources:
            p.add(f"{path}", f"unknown resource '{r}'", valid=resources, got=r)
            continue
        value, problem = _coerce("number", q)
        if problem is None and value is not None and (value <= 0 if strict_positive else value < 0):
            problem = f"must be > 0, got {q!r}"
        if problem:
            p.add(f"{path}.{r}", problem)
            continue
        out[r] = value
    return out


@dataclass
class Plant:
    """A company's processes and options while they are read: a scenario's, then those a
    history file adds (`experiments.history`)."""

    name: str | None
    processes: list[ProcessSpec]
    options: list[OptionSpec]
    switches: list[tuple[str, str]] = field(default_factory=list)  # (key path, process replaced), checked at the end

    @classmethod
    def of(cls, c: CompanySpec) -> "Plant":
        return cls(c.name, list(c.processes), list(c.options))

    @property
    def pnames(self) -> set[str]:
        return {pr.name for pr in self.processes}

    def check_switches(self, p: Problems) -> None:
        """Each switch replaces a process in service from the start, once every option is read
        (a switch may name a process an option further down builds: that is refused with the reason)."""
        own = [pr.name for pr in self.processes if not pr.option]
        for where, replaces in self.switches:
            if replaces in own:
                continue
            later = next((pr.option for pr in self.processes if pr.name == replaces), None)
            if later is not None:
                p.add(where, f"process '{replaces}' is built by option '{later}': a switch replaces a process in "
                      f"service from the start ({', '.join(own) or 'none'})")
            else:
                p.add(where, f"unknown process '{replaces}' of this company", valid=own, got=replaces)
        self.switches.clear()


def _company(p: Problems, path: str, raw: Any, section: str, resources: dict[str, Resource], given: list[str],
             seen: set[str], years: list[str]) -> CompanySpec | None:
    """One `[[companies]]` or `[[entrants]]` table (`section`) with its processes and options;
    an entrant carries its `EntrySpec`. `given`: every company name a project's pipe may lead
    to; `seen`: the names so far (incumbents and entrants share them); key paths that give a
    calendar year are added to `years`."""
    entrant = section == "entrants"
    t = _table(p, path, raw, ENTRANT_KEYS if entrant else COMPANY_KEYS)
    if t is None:
        return None
    if (problem := name_problem(t["name"])) is not None:
        p.add(f"{path}.name", problem)
    if t["name"] in seen:
        p.add(f"{path}.name", f"duplicate company name '{t['name']}'" + (" (companies and entrants share names)"
                                                                          if entrant else ""))
    seen.add(t["name"] or "")
    storage = _amounts(p, f"{path}.storage", t["storage"] or {}, resources)
    for r in storage:
        if r in resources and resources[r].shelf_life == 0:
            p.add(f"{path}.storage.{r}", f"resource '{r}' has shelf_life 0 and cannot be stored: "
                  f"give it a shelf_life or remove it from storage")
    plant = Plant(t["name"], [], [])
    raw_procs = t["processes"] or []
    if not raw_procs and "processes" in raw:
        p.add(f"{path}.processes", f"needs at least one [[{section}.processes]] table")
    pnames: set[str] = set()
    for pi, rawp in enumerate(raw_procs):
        proc = _process(p, f"{path}.processes[{pi}]", rawp, resources, pnames)
        if proc is not None:
            plant.processes.append(proc)
    for oi, rawo in enumerate(t["options"] or []):
        opath = f"{path}.options[{oi}]"
        to = _table(p, opath, rawo, OPTION_KEYS)
        if to is not None:
            _option(p, opath, rawo, to, f"{section}.options", resources, given, plant, years, pnames)
    plant.check_switches(p)
    from agents.strategies import STRATEGIES
    from agents.tactics import TACTICS
    for key, registry in (("strategy", STRATEGIES), ("tactic", TACTICS)):
        if t[key] and t[key] not in registry:
            p.add(f"{path}.{key}", f"unknown {key} '{t[key]}'", valid=registry, got=t[key])
            t[key] = ""
    entry = _entry(p, path, t, resources, given, t["name"], years) if entrant else None
    if None in (t["name"], t["sector"], t["location"]) or (entrant and entry is None):
        return None
    return CompanySpec(t["name"], t["sector"], t["location"], tuple(plant.processes), storage, t["strategy"] or "",
                       t["tactic"] or "", tuple(plant.options), entry)


def _process(p: Problems, path: str, raw: Any, resources: dict[str, Resource], pnames: set[str],
             option: str = "") -> ProcessSpec | None:
    """One process table (`[[companies.processes]]`, or an option's `process`); `pnames`: the
    company's process names so far, this one added."""
    tp = _table(p, path, raw, PROCESS_KEYS)
    if tp is None:
        return None
    if (problem := name_problem(tp["name"])) is not None:
        p.add(f"{path}.name", problem)
    if tp["name"] in pnames:
        p.add(f"{path}.name", f"duplicate process name '{tp['name']}' in this company"
              + (" (its processes and its options' processes share names)" if option else ""))
    pnames.add(tp["name"] or "")
    inputs = _amounts(p, f"{path}.inputs", tp["inputs"] or {}, resources)
    byproducts = _amounts(p, f"{path}.byproducts", tp["byproducts"] or {}, resources)
    if None in (tp["name"], tp["product"], tp["unit"], tp["capacity"], tp["sale_price"]):
        return None
    if tp["mtbf"] and not tp["mttr"]:
        p.add(f"{path}.mttr", "a process that fails (mtbf > 0) needs a repair time: set mttr > 0 (steps)")
    if bool(tp["maintenance_every"]) != bool(tp["maintenance_days"]):
        p.add(f"{path}.maintenance_days", "planned maintenance needs both maintenance_every and "
              "maintenance_days > 0 (steps), or neither")
    return ProcessSpec(tp["name"], tp["product"], tp["unit"], tp["capacity"], tp["sale_price"],
                       inputs, byproducts, tp["utilisation"], tp["variability"],
                       **{k: tp[k] for k in ("seasonal", "peak_day", "weekend", "campaign_on",
                                             "campaign_off", "mtbf", "mttr", "maintenance_every",
                                             "maintenance_days", "pass_through", "fixed_opex")},
                       option=option)


def _option(p: Problems, path: str, raw: dict, t: dict[str, Any], header: str, resources: dict[str, Resource],
            given: Any, plant: Plant, years: list[str], pnames: set[str] | None = None) -> None:
    """An option of `plant` from its table `raw` and the checked values `t` (`OPTION_KEYS`, which
    a history file's `[[options]]` extends): added to the plant with the process it builds, or
    its problems reported. `header`: the option's table in the file (`companies.options`), for
    the fix of a missing process; `given`: the companies a pipe may lead to; `pnames`: the
    plant's process names read so far, duplicates included (default: those it holds); key
    paths that give a year are added to `years`. Whether a switch's process exists is checked
    by `Plant.check_switches` once every option is read."""
    onames = {o.name for o in plant.options}
    if t["name"] is not None and t["name"] in onames:
        p.add(f"{path}.name", f"duplicate option name '{t['name']}' in this company")
    kind = t["kind"]
    if kind is not None and kind not in OPTION_KINDS:
        p.add(f"{path}.kind", f"unknown kind '{kind}': an option builds a new \"process\" or is a \"switch\" that "
              f"replaces one", valid=OPTION_KINDS, got=kind)
        kind = None
    if kind == "process" and t["replaces"]:
        p.add(f"{path}.replaces", "an option of kind \"process\" adds a process and replaces none: remove replaces, "
              "or make it kind = \"switch\"")
    elif kind == "switch" and not t["replaces"]:
        own = [pr.name for pr in plant.processes if not pr.option]
        p.add(f"{path}.replaces", f"missing: a switch names the process it replaces, one of the company's own "
              f"({', '.join(own) or 'none'})")
    elif kind == "switch":
        plant.switches.append((f"{path}.replaces", t["replaces"]))
    for key in ("earliest_year", "mandatory_from"):
        if t[key] is not None:
            years.append(f"{path}.{key}")
    if t["earliest_year"] is not None and t["mandatory_from"] is not None and t["mandatory_from"] < t["earliest_year"]:
        p.add(f"{path}.mandatory_from", f"{t['mandatory_from']} is before earliest_year {t['earliest_year']}: a "
              f"regulation cannot require what is not yet on offer; make mandatory_from >= earliest_year")
    pipes = _project_pipes(p, f"{path}.pipelines", t["pipelines"] or [], resources, given, plant.name)
    proc = None
    if "process" not in raw:
        p.add(f"{path}.process", f"missing (required): add a [{header}.process] table after the option, with "
              f"the keys of a process (name, product, unit, capacity, sale_price, ...)")
    elif t["process"] is not None:  # (a process that is not a table is reported by _table)
        names = plant.pnames if pnames is None else pnames
        proc = _process(p, f"{path}.process", t["process"], resources, names, option=t["name"] or "")
    if None in (t["name"], kind, t["capex"]) or proc is None or pipes is None or t["name"] in onames:
        return
    plant.processes.append(proc)
    plant.options.append(OptionSpec(t["name"], kind, proc.name, t["capex"], t["fixed_opex"], t["lifetime_years"],
                                    t["lead_time_years"], t["replaces"] if kind == "switch" else "",
                                    t["earliest_year"], t["mandatory_from"], pipes))


def _entry(p: Problems, path: str, t: dict[str, Any], resources: dict[str, Resource], given: Any,
           owner: str | None, years: list[str]) -> EntrySpec | None:
    """An entrant's entry from its checked table `t` (`ENTRY_KEYS` among others), or None after
    reporting its problems."""
    if t["earliest_year"] is not None:
        years.append(f"{path}.earliest_year")
    pipes = _project_pipes(p, f"{path}.pipelines", t["pipelines"] or [], resources, given, owner)
    if t["capex"] is None or pipes is None:
        return None
    return EntrySpec(t["capex"], t["fixed_opex"], t["lifetime_years"], t["lead_time_years"], t["earliest_year"], pipes)


def _project_pipes(p: Problems, path: str, raw: list, resources: dict[str, Resource], given: Any,
                   owner: str | None) -> tuple[PipelineSpec, ...] | None:
    """The pipes a project builds, `[{ partner, resource, direction, length_km }, ...]`, as
    pipelines from source to target; None after reporting a problem."""
    out: list[PipelineSpec] = []
    ok = True
    for k, item in enumerate(raw):
        where = f"{path}[{k}]"
        t = _table(p, where, item, PROJECT_PIPE_KEYS)
        if t is None:
            ok = False
            continue
        partner, r = t["partner"], t["resource"]
        if partner is not None and partner not in given:
            p.add(f"{where}.partner", f"unknown company '{partner}'", valid=given, got=partner)
            partner = None
        elif partner is not None and partner == owner:
            p.add(f"{where}.partner", f"'{partner}' is the company itself: a pipe leads to a partner, another "
                  f"company of the scenario")
            partner = None
        if r is not None and r not in resources:
            p.add(f"{where}.resource", f"unknown resource '{r}'", valid=resources, got=r)
            r = None
        elif r is not None and resources[r].transport is not Mode.PIPELINE:
            p.add(f"{where}.resource", f"resource '{r}' travels by {resources[r].transport.value}, not pipeline: "
                  f"set its transport = \"pipeline\" or remove this pipe")
            r = None
        if None in (partner, r, owner) or t["direction"] not in DIRECTIONS:
            ok = False
            continue
        ends = (partner, owner) if t["direction"] == "in" else (owner, partner)
        out.append(PipelineSpec(*ends, r, t["length_km"]))
    return tuple(out) if ok else None


def _list(p: Problems, data: dict, key: str, table: str) -> list:
    """data[key] when it is a list, else [] with the problem reported."""
    raw = data.get(key, [])
    if not isinstance(raw, list):
        p.add(key, f"must be a list of [[{table}]] tables")
        return []
    return raw


def _resources(p: Problems, data: dict) -> dict[str, Resource]:
    resources: dict[str, Resource] = {}
    raw_res = data.get("resources", {})
    if not isinstance(raw_res, dict) or not raw_res:
        p.add("resources", "must hold at least one [resources.NAME] table")
        raw_res = {}
    for name, raw in raw_res.items():
        if (problem := name_problem(name)) is not None:
            p.add(f"resources.{name!r}", f"the resource's name {problem}")
        t = _table(p, f"resources.{name}", raw, RESOURCE_KEYS)
        if t is not None and None not in (t["unit"], t["virgin_price"], t["disposal_cost"]):
            resources[name] = Resource(name=name, **t)
    return resources


def _companies(p: Problems, data: dict, resources: dict[str, Resource]) -> tuple[list[CompanySpec], list[str]]:
    """The incumbents then the entrants, and the key paths that give a calendar year (they need
    [prices] start_year)."""
    raw_comp = data.get("companies", [])
    if not isinstance(raw_comp, list) or not raw_comp:
        p.add("companies", "must hold at least one [[companies]] table")
        raw_comp = []
    raw_ent = _list(p, data, "entrants", "entrants")
    # Every name a project's pipe may lead to, incumbents and entrants, as the file gives them.
    given = [raw["name"] for raw in raw_comp + raw_ent if isinstance(raw, dict) and isinstance(raw.get("name"), str)]
    years: list[str] = []
    companies: list[CompanySpec] = []
    seen: set[str] = set()
    for section, raws in (("companies", raw_comp), ("entrants", raw_ent)):
        for ci, raw in enumerate(raws):
            company = _company(p, f"{section}[{ci}]", raw, section, resources, given, seen, years)
            if company is not None:
                companies.append(company)
    return companies, years


def _pipelines(p: Problems, data: dict, names: list[str], resources: dict[str, Resource]) -> list[PipelineSpec]:
    pipelines: list[PipelineSpec] = []
    for k, raw in enumerate(_list(p, data, "pipelines", "pipelines")):
        path = f"pipelines[{k}]"
        t = _table(p, path, raw, PIPELINE_KEYS)
        if t is None:
            continue
        ok = True
        for end in ("from", "to"):
            if t[end] is not None and t[end] not in names:
                p.add(f"{path}.{end}", f"unknown company '{t[end]}'", valid=names, got=t[end])
                ok = False
        if t["resource"] is not None and t["resource"] not in resources:
            p.add(f"{path}.resource", f"unknown resource '{t['resource']}'", valid=resources, got=t["resource"])
            ok = False
        elif t["resource"] is not None and resources[t["resource"]].transport is not Mode.PIPELINE:
            p.add(f"{path}.resource", f"resource '{t['resource']}' travels by "
                  f"{resources[t['resource']].transport.value}, not pipeline: set its transport = \"pipeline\" "
                  f"or remove this pipeline")
            ok = False
        if t["from"] is not None and t["from"] == t["to"]:
            p.add(path, "a pipeline needs two different companies")
            ok = False
        if ok and None not in (t["from"], t["to"], t["resource"]):
            if any(q.resource == t["resource"] and {q.source, q.target} == {t["from"], t["to"]} for q in pipelines):
                p.add(path, f"duplicate pipeline: an earlier [[pipelines]] table already joins '{t['from']}' and "
                      f"'{t['to']}' for {t['resource']} (a pipe carries either way): remove one")
            else:
                pipelines.append(PipelineSpec(t["from"], t["to"], t["resource"], t["length_km"]))
    return pipelines


def _policy(p: Problems, data: dict, prices: PriceSchedule) -> Policy:
    """The scenario's [policy]; a tax given by year (a path) needs [prices] start_year, and sets
    the constant to its first year's value."""
    if "policy" not in data:
        return Policy()
    tp = _table(p, "policy", data["policy"], POLICY_KEYS)
    if tp is None:
        return Policy()
    paths: dict[str, YearPath | None] = {}
    values = {k: (v if v is not None else POLICY_KEYS[k].default) for k, v in tp.items()
              if k not in TAX_PATHS}
    # (once: a missing or bad start_year with price paths is reported by parse_prices)
    raw_prices = data.get("prices")
    said = isinstance(raw_prices, dict) and (
        "start_year" in raw_prices or any(raw_prices.get(k) for k in ("resources", "products", "indices")))
    for key, constant in TAX_PATHS.items():
        raw_path = tp[key]
        tax_path = None if raw_path is None else _year_path(p, f"policy.{key}", raw_path, at_least=0.0)
        paths[key] = tax_path
        if raw_path is None:
            continue
        if isinstance(data["policy"], dict) and constant in data["policy"]:
            p.add(f"policy.{constant}", f"give either {constant} (a constant) or {key} (by year), "
                  "not both: remove one")
        if prices.start_year is None and not said:
            p.add("prices.start_year", f"missing: policy.{key} needs the calendar year of step 0, "
                  "e.g. [prices] start_year = 2005")
            said = True  # once, for the first path that needs it
        if tax_path is not None and prices.start_year is not None:
            # The constant holds the first year's value, for whatever reads the policy
            # before the model has applied a year; the model takes each year's from the path.
            values[constant] = tax_path.at(prices.start_year)
    return Policy(**values, **paths)


def _check_start_year(p: Problems, data: dict, years: list[str], prices: PriceSchedule) -> None:
    """Report a missing [prices] start_year that a company's calendar year needs, unless it was
    given or already reported."""
    raw_prices = data.get("prices")
    said = (isinstance(raw_prices, dict) and "start_year" in raw_prices) or any(
        ": prices.start_year: " in m for m in p.items)  # (once: a missing start_year may be reported above)
    if years and prices.start_year is None and not said:
        n = len(years) - 1
        more = f" ({n} more key{'s give' if n > 1 else ' gives'} a year too)" if n else ""
        p.add("prices.start_year", f"missing: {years[0]} needs the calendar year of step 0, e.g. [prices] "
              f"start_year = 2005{more}")


def _target(p: Problems, path: str, raw: Any, names: list[str], resources: dict[str, Resource]) -> Target | None:
    t = _table(p, path, raw, TARGET_KEYS)
    if t is None:
        return None
    if t["metric"] is not None and t["metric"] not in METRICS:
        p.add(f"{path}.metric", f"unknown metric '{t['metric']}'", valid=METRICS, got=t["metric"])
        return None
    needs = {"flow": ("from", "to", "resource"), "exchanged": ("resources",),
             "output": ("company", "product"), "co2_avoided": ()}.get(t["metric"] or "", ())
    for key in needs:
        if not t[key]:
            p.add(f"{path}.{key}", f"missing: metric '{t['metric']}' needs {', '.join(needs)}")
    for key in ("from", "to", "company"):
        if t[key] and t[key] not in names:
            p.add(f"{path}.{key}", f"unknown company '{t[key]}'", valid=names, got=t[key])
    for r in ([t["resource"]] if t["resource"] else []) + list(t["resources"] or ()):
        if r not in resources:
            p.add(f"{path}.resources" if t["resources"] else f"{path}.resource",
                  f"unknown resource '{r}'", valid=resources, got=r)
    if None in (t["metric"], t["value"], t["unit"], t["source"], t["year"]):
        return None
    return Target(
        metric=t["metric"], value=t["value"], unit=t["unit"], citation=t["source"], year=t["year"],
        tolerance=t["tolerance"], from_company=t["from"], to_company=t["to"], resource=t["resource"],
        resources=tuple(t["resources"] or ()), company=t["company"], product=t["product"], label=t["label"],
        role=t["role"] or "check")


def _targets(p: Problems, data: dict, companies: list[CompanySpec], resources: dict[str, Resource]) -> list[Target]:
    names = [c.name for c in companies]
    targets = [t for k, raw in enumerate(_list(p, data, "targets", "targets"))
               if (t := _target(p, f"targets[{k}]", raw, names, resources)) is not None]
    for target in targets:
        if target.metric == "output" and target.company in names:
            comp = companies[names.index(target.company)]
            products = {pr.product for pr in comp.processes}
            if target.product not in products:
                p.add("targets", f"company '{target.company}' makes no product '{target.product}'",
                      valid=products, got=target.product)
    return targets


def parse(data: dict, label: str) -> Scenario:
    """Build a Scenario from parsed TOML, or raise InputError listing every problem."""
    p = Problems(f"scenario {label}")
    for key in data:
        if key not in TOP_KEYS:
            p.add(key, "unknown section", valid=TOP_KEYS, got=key)
    head = _table(p, "scenario", data.get("scenario", {}), SCENARIO_KEYS) or {}
    if "scenario" not in data:
        p.items.pop()  # the missing name is reported below with a clearer fix
        p.add("scenario", "missing section: add [scenario] with name = \"...\"")
    resources = _resources(p, data)
    companies, years = _companies(p, data, resources)
    names = [c.name for c in companies]
    pipelines = _pipelines(p, data, names, resources)
    prices = parse_prices(p, data.get("prices"), resources, {pr.product for c in companies for pr in c.processes})
    policy = _policy(p, data, prices)
    _check_start_year(p, data, years, prices)
    targets = _targets(p, data, companies, resources)
    events = _events(p, data.get("events", []), names)
    p.raise_if_any()
    return Scenario(
        name=head["name"], description=head["description"] or "", resources=resources,
        companies=tuple(companies), pipelines=tuple(pipelines), policy=policy,
        steps_per_year=head["steps_per_year"], targets=tuple(targets), origin=label, events=tuple(events),
        prices=prices)


def parse_prices(p: Problems, raw: Any, resources: dict[str, Resource] | Any, products: set[str] | Any,
                 start_year: int | None = None, path: str = "prices") -> PriceSchedule:
    """The `[prices]` section of a scenario or history file as a `PriceSchedule`, reporting every
    problem to `p` (the schedule holds what was valid). `resources` and `products` are the names
    paths and indices may refer to; `start_year` is the default calendar year of step 0 (a
    history file's own start year); a file with paths and no start year is a problem, since a
    path by calendar year means nothing until step 0 has a year."""
    if raw is None:
        return PriceSchedule(start_year=start_year)
    t = _table(p, path, raw, PRICES_KEYS)
    if t is None:
        return PriceSchedule(start_year=start_year)
    if t["start_year"] is not None:
        start_year = t["start_year"]
    paths: dict[str, dict[str, YearPath]] = {}
    for group, valid, floor, what in (("resources", resources, 0.0, "resource"),
                                      ("products", products, None, "product")):
        paths[group] = {}
        for name, table in (t[group] or {}).items():
            where = f"{path}.{group}.{name}"
            if name not in valid:
                hint = "" if what == "resource" else " (a product some process makes)"
                p.add(where, f"unknown {what} '{name}'{hint}", valid=valid, got=name)
                continue
            value, problem = _coerce("path", table)
            if problem:
                p.add(where, problem)
                continue
            year_path = _year_path(p, where, value, at_least=floor)
            if year_path is not None:
                paths[group][name] = year_path
    indices = _indices(p, f"{path}.indices", t["indices"] or [], resources, products)
    if start_year is None and "start_year" not in raw and (t["resources"] or t["products"] or t["indices"]):
        p.add(f"{path}.start_year", "missing: price paths need the calendar year of step 0, e.g. start_year = 1995")
    return PriceSchedule(start_year, paths["resources"], paths["products"], tuple(indices))


def _indices(p: Problems, path: str, raw: list, resources: Any, products: Any) -> list[PriceIndex]:
    """[[prices.indices]]: published series that scale some base prices (`market.paths.PriceIndex`)."""
    out: list[PriceIndex] = []
    names: set[str] = set()
    indexed: dict[tuple[str, str], str] = {}  # (group, name) -> the index that already scales it
    for k, raw_index in enumerate(raw):
        where = f"{path}[{k}]"
        t = _table(p, where, raw_index, INDEX_KEYS)
        if t is None:
            continue
        if t["name"] is not None:
            if t["name"] in names:
                p.add(f"{where}.name", f"duplicate index name '{t['name']}'")
            names.add(t["name"])
        series = None if t["series"] is None else _year_path(p, f"{where}.series", t["series"], positive=True)
        deflator = None if t["deflator"] is None else _year_path(p, f"{where}.deflator", t["deflator"], positive=True)
        ok = series is not None and (t["deflator"] is None or deflator is not None)
        base = t["base_year"]
        for key, year_path in (("series", series), ("deflator", deflator)):
            if base is not None and year_path is not None and not year_path.first_year <= base <= year_path.last_year:
                p.add(f"{where}.base_year", f"{base} is outside the years of the {key}, {year_path.first_year}-"
                      f"{year_path.last_year}: give the {key} a value for {base} or choose a base_year within them")
                ok = False
        for group, valid, what in (("resources", resources, "resource"), ("products", products, "product")):
            for name in t[group] or ():
                if name not in valid:
                    p.add(f"{where}.{group}", f"unknown {what} '{name}'", valid=valid, got=name)
                    ok = False
                elif (group, name) in indexed:
                    p.add(f"{where}.{group}", f"{what} '{name}' is already scaled by index '{indexed[group, name]}': "
                          f"a price follows one index, remove it from one of them")
                    ok = False
                else:
                    indexed[group, name] = t["name"] or where
        lists = all(isinstance(raw_index.get(key, []), list) for key in ("resources", "products"))
        if lists and not (t["resources"] or t["products"]):  # (a list that is not one is reported above)
            p.add(where, "scales nothing: list the prices it scales, resources = [...] and/or products = [...]")
            ok = False
        if ok and t["name"] is not None and base is not None:
            out.append(PriceIndex(t["name"], base, series, deflator, tuple(t["resources"]), tuple(t["products"])))
    return out


_YEAR_KEY = re.compile(r"[0-9]+")


TAX_PATHS = {"carbon_tax_path": "carbon_tax", "landfill_tax_path": "landfill_tax"}  # path -> the constant it replaces


def _year_path(p: Problems, path: str, raw: dict, at_least: float | None = None,
               positive: bool = False) -> YearPath | None:
    """A table {YEAR = VALUE} as a `YearPath` (years sorted), or None after reporting its problems:
    keys that are not calendar years, values that are not finite numbers or below the floor."""
    if not raw:
        p.add(path, "needs at least one YEAR = VALUE, e.g. { 1995 = 30.0 }")
        return None
    points: dict[int, float] = {}
    ok = True
    for key, v in raw.items():
        where = f"{path}.{key}"
        text = str(key)
        year = int(text) if _YEAR_KEY.fullmatch(text) else None
        if year is None or _a_year(year) is not None:
            p.add(where, f"must be a year: write calendar years from {FIRST_YEAR} to {LAST_YEAR} as bare keys, "
                  f"e.g. 1995 = 30.0, got '{text}'")
            ok = False
            continue
        value, problem = _coerce("number", v)
        if problem is None and positive and value <= 0:
            problem = f"must be > 0, got {v!r}"
        elif problem is None and at_least is not None and value < at_least:
            problem = f"must be >= {at_least:g}, got {v!r}"
        if problem is None and year in points:
            problem = f"year {year} is given twice: keep one"
        if problem:
            p.add(where, problem)
            ok = False
            continue
        points[year] = value
    return YearPath(tuple(sorted(points.items()))) if ok else None


def _events(p: Problems, raw: Any, names: list[str]) -> list[Outage]:
    """[[events]]: outages of a company from step `at`, for `duration` steps at `capacity`, or
    in `stages` = [[steps, capacity], ...] (a staged restart)."""
    if not isinstance(raw, list):
        p.add("events", "must be a list of [[events]] tables")
        return []
    out = []
    for n, e in enumerate(raw):
        path = f"events[{n}]"
        t = _table(p, path, e, EVENT_KEYS)
        if t is None:
            continue
        known = t["company"] is not None and t["company"] in names
        if t["company"] is not None and not known:
            p.add(f"{path}.company", f"unknown company '{t['company']}'", valid=names, got=t["company"])
        stages: list[tuple[int, float]] = []
        if t["stages"] is not None:
            for k, st in enumerate(t["stages"]):
                ok = (isinstance(st, list) and len(st) == 2 and isinstance(st[0], int) and st[0] >= 1
                      and isinstance(st[1], (int, float)) and 0 <= st[1] <= 1)
                if not ok:
                    p.add(f"{path}.stages[{k}]", f"must be [steps >= 1, capacity 0-1], got {st!r}")
                else:
                    stages.append((int(st[0]), float(st[1])))
            if t["duration"] is not None:
                p.add(f"{path}.duration", "give either duration (with capacity) or stages, not both")
        elif t["duration"] is None:
            p.add(f"{path}.duration", "missing: how many steps the outage lasts (or give stages = [[steps, capacity], ...])")
        else:
            stages = [(int(t["duration"]), float(t["capacity"]))]
        if stages and known and t["at"] is not None:
            out.append(Outage(t["company"], int(t["at"]), tuple(stages), t["label"] or "", bool(t["announced"])))
    return out


def read_file(path: Path) -> Scenario:
    label = path.name
    try:
        return loads(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise InputError([f"scenario {path}: file not found"]) from None
    except UnicodeDecodeError as e:
        raise InputError([f"scenario {label}: not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    except IsADirectoryError:
        raise InputError([f"scenario {path}: is a folder, not a scenario file: give a .toml file"]) from None
    except OSError as e:
        raise InputError([f"scenario {path}: cannot be read ({e.strerror})"]) from None


def loads(text: str, path: str) -> Scenario:
    """A scenario from the text of the file at `path` (named in the errors)."""
    label = Path(path).name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError([f"scenario {label}: not valid TOML: {e}"]) from None
    return parse(data, label)


def file_text(name_or_path: str) -> str:
    """The text of the scenario file `name_or_path` names, or "" for a built-in or synthetic
    scenario (every process has those) or a path that cannot be read (loading it reports why)."""
    if name_or_path.startswith(SYNTHETIC + ":") or name_or_path == SYNTHETIC or name_or_path in builtin_names():
        return ""
    try:
        return Path(name_or_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def builtin_names() -> list[str]:
    return sorted(f.stem for f in SCENARIO_DIR.glob("*.toml"))


def load(name_or_path: str) -> Scenario:
    """A built-in name (`kalundborg`), `synthetic:SIZE[:SEED]`, or a path to a TOML file."""
    if not name_or_path.strip():
        raise InputError([f"scenario: the name is empty: give a built-in scenario ({', '.join(builtin_names())}), "
                          f"synthetic:SIZE or a .toml path"])
    if name_or_path.startswith(SYNTHETIC + ":") or name_or_path == SYNTHETIC:
        return _synthetic(name_or_path)
    if name_or_path in builtin_names():
        return read_file(SCENARIO_DIR / f"{name_or_path}.toml")
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return read_file(path)
    from experiments.problems import nearest
    guess = nearest(name_or_path, builtin_names() + ["synthetic:SIZE"])
    hint = f" (did you mean '{guess}'?)" if guess else ""
    raise InputError([f"scenario '{name_or_path}': no built-in scenario or file of that name{hint}; "
                      f"run `python run.py scenarios` for the list, or give a path to a .toml file"])


def _synthetic(spec: str) -> Scenario:
    parts = spec.split(":")
    usage = "write synthetic:SIZE or synthetic:SIZE:SEED, e.g. synthetic:1000"
    if len(parts) not in (2, 3) or not all(x.isascii() and x.isdigit() for x in parts[1:]):
        raise InputError([f"scenario '{spec}': {usage}"])
    size = int(parts[1])
    seed = int(parts[2]) if len(parts) == 3 else 0
    if size < 2:
        raise InputError([f"scenario '{spec}': a park needs at least 2 companies; {usage}"])
    from experiments import limits
    limits.check_synthetic(size, spec)
    from experiments.synthetic import generate
    return generate(size, seed)
