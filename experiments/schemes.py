"""Incentive schemes as data: TOML files in `policies/` (or any path) that set policy levers on
top of the scenario's own policy.

    [scheme]
    name = "carbon-tax"
    description = "..."
    [policy]
    carbon_tax = 30.0
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments import config
from experiments.problems import InputError, Problems, nearest

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


@dataclass(frozen=True)
class Scheme:
    name: str
    description: str
    sets: tuple[tuple[str, Any], ...]  # dotted keys, e.g. ("policy.carbon_tax", 30.0)


def builtin_names() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.toml"))


def load(name_or_path: str) -> Scheme:
    path = POLICY_DIR / f"{name_or_path}.toml"
    if not path.exists():
        path = Path(name_or_path)
    if not path.exists():
        guess = nearest(name_or_path, builtin_names())
        hint = f" (did you mean '{guess}'?)" if guess else f" (built-in: {', '.join(builtin_names())})"
        raise InputError([f"scheme '{name_or_path}': no built-in scheme or file of that name{hint}"])
    p = Problems(f"scheme {path.name}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError([f"scheme {path.name}: not valid TOML: {e}"]) from None
    for key in data:
        if key not in ("scheme", "policy"):
            p.add(key, "unknown section", valid=("scheme", "policy"), got=key)
    head = data.get("scheme", {})
    levers = data.get("policy", {})
    sets = {f"policy.{k}": v for k, v in levers.items()} if isinstance(levers, dict) else {}
    try:
        config.apply(config.RunConfig(), sets)
    except InputError as e:
        for line in e.problems:
            p.add("policy", line.removeprefix("--set policy."))
    p.raise_if_any()
    return Scheme(str(head.get("name", path.stem)), str(head.get("description", "")), tuple(sorted(sets.items())))
