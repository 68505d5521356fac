"""The run config: one frozen value that the command line, the browser page and sweeps share.

Every setting has a dotted path (`steps`, `policy.carbon_tax`, `market.mechanism`); the schema
is the dataclasses themselves, so adding a field adds a key everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, get_type_hints

from agents.cooperation import CHECKS as COOPERATION_CHECKS, CooperationSettings
from agents.operations import CHECKS as OPERATIONS_CHECKS, OperationsSettings, Outage, parse_outage
from agents.investment import CHECKS as INVESTMENT_CHECKS, InvestmentSettings
from agents.production import CHECKS as PRODUCTION_CHECKS, ProductionSettings
from agents.scenario import Scenario
from experiments import scenario_io
from experiments.problems import InputError, nearest
from market.paths import YearPath
from market.policy import Policy
from market.settings import MarketSettings

DEFAULT_SCENARIO = "kalundborg"


@dataclass(frozen=True, slots=True)
class RunConfig:
    scenario: str = DEFAULT_SCENARIO
    steps: int = 365
    seed: int = 0
    policy: Policy = field(default_factory=Policy)
    market: MarketSettings = field(default_factory=MarketSettings)
    cooperation: CooperationSettings = field(default_factory=CooperationSettings)
    operations: OperationsSettings = field(default_factory=OperationsSettings)
    production: ProductionSettings = field(default_factory=ProductionSettings)
    investment: InvestmentSettings = field(default_factory=InvestmentSettings)
    events: tuple[Outage, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            if isinstance(v, Enum):
                return v.value
            if isinstance(v, YearPath):  # a carbon price path: {year = value}
                return {str(y): x for y, x in v.points}
            if dataclasses.is_dataclass(v):  # unset optional fields (None) are left out: TOML has no null
                return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v) if getattr(v, f.name) is not None}
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            return v
        return plain(self)


_CHECKS = {
    "steps": lambda v: None if v >= 1 else "must be at least 1",
    "seed": lambda v: None if v >= 0 else "must be >= 0",
    "market.k": lambda v: None if 0 <= v <= 1 else "must be between 0 and 1",
    "market.rounds": lambda v: None if v >= 1 else "must be at least 1",
    "market.units_per_order": lambda v: None if 1 <= v <= 16 else "must be between 1 and 16",
    "market.deadline": lambda v: None if v >= 1 else "must be at least 1",
    "policy.carbon_tax": lambda v: None if v >= 0 else "must be >= 0",
    "policy.landfill_tax": lambda v: None if v >= 0 else "must be >= 0",
    "policy.virgin_tax": lambda v: None if v >= 0 else "must be >= 0",
    "policy.exchange_subsidy": lambda v: None if v >= 0 else "must be >= 0",
    "policy.investment_subsidy": lambda v: None if 0 <= v <= 1 else "must be between 0 and 1 (a share)",
    "policy.information": lambda v: None if 0 <= v <= 1 else "must be between 0 (partners only) and 1 (platform)",
    "policy.shared_vision": lambda v: None if 0 <= v <= 1 else "must be between 0 and 1 (a weight)",
    "policy.shared_vision_spread": lambda v: None if 0 <= v <= 1 else "must be between 0 and 1",
    "policy.shared_vision_co2_value": lambda v: None if v >= 0 else "must be >= 0",
    "policy.social_cost_of_carbon": lambda v: None if v >= 0 else "must be >= 0 (EUR per t CO2)",
    **COOPERATION_CHECKS,
    **OPERATIONS_CHECKS,
    **PRODUCTION_CHECKS,
    **INVESTMENT_CHECKS,
}
# Repeatable keys: each --set events.outage=NAME@STEP:DURATION adds one outage (a surprise),
# each events.announced_outage one that partners can see coming.
OUTAGE_KEY = "events.outage"
ANNOUNCED_KEY = "events.announced_outage"
EVENT_KEYS = (OUTAGE_KEY, ANNOUNCED_KEY)


def keys() -> dict[str, type]:
    """Every settable dotted path and its type."""
    out: dict[str, type] = {}

    def walk(cls: type, prefix: str) -> None:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            t = hints[f.name]
            if dataclasses.is_dataclass(t):
                walk(t, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = t
    walk(RunConfig, "")
    out.pop("events", None)
    out.pop("policy.carbon_tax_path", None)  # a scenario's; a constant policy.carbon_tax replaces it
    out.pop("policy.landfill_tax_path", None)  # likewise for policy.landfill_tax
    out[OUTAGE_KEY] = str
    out[ANNOUNCED_KEY] = str
    return out


def _parse_value(text: str) -> Any:
    """A --set value read as a TOML value (numbers, true/false, quoted strings); else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _too_large(raw: Any) -> str:
    return f"must be at most {scenario_io.MAX_NUMBER:g} in size, got {raw!r}"


def _convert(key: str, t: type, raw: Any) -> tuple[Any, str | None]:
    if isinstance(t, type) and issubclass(t, Enum):
        valid = [m.value for m in t]
        if raw in valid:
            return t(raw), None
        guess = nearest(str(raw), valid)
        hint = f" (did you mean '{guess}'?)" if guess else f" (valid: {', '.join(valid)})"
        return None, f"unknown value '{raw}'{hint}"
    if t is bool:
        return (raw, None) if isinstance(raw, bool) else (None, f"must be true or false, got {raw!r}")
    if t is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return (None, _too_large(raw)) if abs(raw) > scenario_io.MAX_NUMBER else (raw, None)
        return None, f"must be an integer, got {raw!r}"
    if t is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            try:
                value = float(raw)
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                return None, f"must be a finite number, got {raw!r}"
            return (None, _too_large(raw)) if abs(value) > scenario_io.MAX_NUMBER else (value, None)
        return None, f"must be a number, got {raw!r}"
    if t is str:
        return str(raw), None
    return None, f"cannot be set from the command line (type {t})"


def apply(base: RunConfig, assignments: dict[str, Any], source: str = "--set") -> RunConfig:
    """`base` with dotted-path assignments applied; every problem is reported at once."""
    valid = keys()
    problems: list[str] = []
    values: dict[str, Any] = {}
    outages: list[Outage] = []
    for key, raw in assignments.items():
        if key in EVENT_KEYS:
            for text in (raw if isinstance(raw, list) else [raw]):
                try:
                    outages.append(parse_outage(str(text), announced=key == ANNOUNCED_KEY))
                except ValueError as e:
                    problems.append(f"{source} {key}: {e}")
            continue
        if key not in valid:
            guess = nearest(key, valid)
            hint = f" (did you mean '{guess}'?)" if guess else f" (valid: {', '.join(sorted(valid))})"
            problems.append(f"--set {key}: unknown key{hint}")
            continue
        value, problem = _convert(key, valid[key], raw)
        if problem is None and key in _CHECKS:
            problem = _CHECKS[key](value)
        if problem:
            problems.append(f"{source} {key}: {problem}" if source == "--set" else f"--{key}: {problem}")
        else:
            values[key] = value
    if problems:
        raise InputError(problems)
    cfg = base
    for group in ("strategies", "tactics"):
        # Naming some shares of a mix names the whole mix: the shares not named are 0, so
        # `--set market.strategies.zic=0.5 --set market.strategies.zip=0.5` means just that.
        if any(k.startswith(f"market.{group}.") for k in values):
            mix = getattr(cfg.market, group)
            zero = dataclasses.replace(mix, **{f.name: 0.0 for f in dataclasses.fields(mix)})
            cfg = _replace_path(cfg, ["market", group], zero)
    for key, value in values.items():
        cfg = _replace_path(cfg, key.split("."), value)
        if key in ("policy.carbon_tax", "policy.landfill_tax"):
            # A constant tax for the run replaces a scenario's path of that tax.
            cfg = _replace_path(cfg, ["policy", f"{key.split('.')[1]}_path"], None)
    if outages:
        cfg = dataclasses.replace(cfg, events=cfg.events + tuple(outages))
    for group in ("strategies", "tactics"):
        if any(k.startswith(f"market.{group}.") for k in values):
            shares = getattr(cfg.market, group).shares()
            if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-9:
                listed = ", ".join(f"{k}={v:g}" for k, v in shares.items() if v)
                raise InputError([f"{source} market.{group}: shares must be >= 0 and sum to 1 (shares not named are 0), "
                                  f"got {listed or 'none'}: "
                                  f"name every share you want, e.g. --set market.{group}.{next(iter(shares))}=1"])
    return cfg


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings from the command line into a dict, reporting malformed ones."""
    out: dict[str, Any] = {}
    problems = []
    for item in items:
        if "=" not in item:
            problems.append(f"--set {item}: expected KEY=VALUE, e.g. --set policy.carbon_tax=80")
            continue
        k, v = item.split("=", 1)
        k = k.strip()
        if k in EVENT_KEYS:
            out.setdefault(k, []).append(str(_parse_value(v.strip())))
        else:
            out[k] = _parse_value(v.strip())
    if problems:
        raise InputError(problems)
    return out


def _replace_path(obj: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return dataclasses.replace(obj, **{path[0]: value})
    return dataclasses.replace(obj, **{path[0]: _replace_path(getattr(obj, path[0]), path[1:], value)})


def resolve(scenario: str | None, steps: int | None, seed: int | None, sets: dict[str, Any],
            text: str | None = None) -> tuple[RunConfig, Scenario]:
    """The run config and its scenario. The scenario's own [policy] is the starting point;
    --set keys override it, then explicit options override --set. `text`, when given, is the
    scenario file's content (read elsewhere, e.g. where a sweep was started), used instead of
    reading `scenario` as a path."""
    sets = dict(sets)
    name = str(scenario if scenario is not None else sets.pop("scenario", RunConfig().scenario))
    sets.pop("scenario", None)
    explicit = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
    problems: list[str] = []
    for source, assignments in (("--set", sets), ("option", explicit)):
        try:
            apply(RunConfig(), assignments, source=source)
        except InputError as e:
            problems += e.problems
    try:
        park = scenario_io.load(name) if text is None else scenario_io.loads(text, name)
    except InputError as e:
        problems += e.problems
    if problems:
        raise InputError(problems)
    base = dataclasses.replace(RunConfig(), scenario=name, policy=park.policy)
    cfg = apply(apply(base, sets), explicit)
    names = park.company_index()
    bad = [e for e in cfg.events if e.company not in names]
    if bad:
        raise InputError([f"--set {ANNOUNCED_KEY if e.announced else OUTAGE_KEY}: unknown company '{e.company}'"
                          + (f" (did you mean '{g}'?)" if (g := nearest(e.company, names)) else
                             f" (companies: {', '.join(names)})") for e in bad])
    if steps is not None:  # a run of known length: an outage that starts after it would never happen
        late = [e for e in cfg.events if e.at >= cfg.steps]
        if late:
            raise InputError([f"--set {ANNOUNCED_KEY if e.announced else OUTAGE_KEY}: {e.company}@{e.at} starts at "
                              f"step {e.at}, after the run's last step {cfg.steps - 1}: it would never happen; give "
                              f"a step before {cfg.steps}, or more steps" for e in late])
    return cfg, park
