"""Incentive schemes as data: TOML files in `policies/` (or any path) that set policy levers on
top of the scenario's own policy.

    [scheme]
    name = "carbon-tax"
    description = "..."
    [policy]
    carbon_tax = 30.0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments import config
from experiments import named_toml
from experiments.problems import InputError, Problems

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


@dataclass(frozen=True)
class Scheme:
    name: str
    description: str
    sets: tuple[tuple[str, Any], ...]  # dotted keys, e.g. ("policy.carbon_tax", 30.0)


def builtin_names() -> list[str]:
    return named_toml.builtin_names(POLICY_DIR)


def load(name_or_path: str) -> Scheme:
    path, data = named_toml.read("scheme", POLICY_DIR, name_or_path)
    p = Problems(f"scheme {path.name}")
    for key in data:
        if key not in ("scheme", "policy"):
            p.add(key, "unknown section", valid=("scheme", "policy"), got=key)
    head = data.get("scheme", {})
    levers = data.get("policy", {})
    for name, table, form in (("scheme", head, '[scheme] name = "..." description = "..."'),
                              ("policy", levers, "[policy] carbon_tax = 80.0")):
        if not isinstance(table, dict):
            p.add(name, f"must be a table, e.g. {form}, got {table!r}")
    if not isinstance(head, dict):
        head = {}
    sets = {f"policy.{k}": v for k, v in levers.items()} if isinstance(levers, dict) else {}
    try:
        config.apply(config.RunConfig(), sets)
    except InputError as e:
        for line in e.problems:
            p.add("policy", line.removeprefix("--set policy."))
    p.raise_if_any()
    return Scheme(str(head.get("name", path.stem)), str(head.get("description", "")), tuple(sorted(sets.items())))


def load_list(names: list[str], what: str = "--schemes") -> list[Scheme]:
    """Schemes by built-in name or path, in order; every problem reported at once (a name that
    is no scheme, one named twice, none at all)."""
    problems: list[str] = []
    found = []
    for name in [str(x).strip() for x in names if str(x).strip()]:
        try:
            found.append(load(name))
        except InputError as e:
            problems += e.problems
    if len({s.name for s in found}) != len(found):
        problems.append(f"{what}: a scheme is named twice")
    if not found and not problems:
        problems.append(f"{what}: names no scheme: give scheme names or files, e.g. baseline,carbon-tax "
                        f"(policies/ holds the built-in ones)")
    if problems:
        raise InputError(problems)
    return found
