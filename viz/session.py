"""What one browser tab of the live page holds: its settings, the run being stepped, the run
before it (drawn in grey) and the canvases the map and charts are redrawn on.

Kept apart from the Solara components so that the rules (how settings become a run config,
what Reset and a settings change do) are plain Python that tests can call.
"""

from __future__ import annotations

import dataclasses
import threading
from html import escape
from dataclasses import dataclass
from enum import Enum
from typing import Any

from agents.operations import Maintenance, OperationsSettings
from experiments.config import DEFAULT_SCENARIO, keys
from market.policy import Policy
from market.settings import MechanismName, StrategyMix
from experiments.problems import InputError
from matplotlib.colors import to_hex

from viz import charts, palette
from viz.fields import parse_size
from viz.labels import PARAMS
from viz.live_run import LiveRun, load_park
from viz.pool import RemoteRun, RunPool
from viz.park_map import MAX_LABELS, ParkMap
from viz.sector_map import SectorMap

STRATEGIES = tuple(f.name for f in dataclasses.fields(StrategyMix))
MECHANISMS = tuple(m.value for m in MechanismName)
SYNTHETIC = "synthetic"

# Slider range and unit of the policy levers known today; a lever added to `Policy` later gets a
# slider too, from 0 to 100 (or four times its value), named after its field.
LEVER_RANGES = {"carbon_tax": (200.0, 5.0), "landfill_tax": (200.0, 5.0), "virgin_tax": (100.0, 1.0),
                "exchange_subsidy": (50.0, 0.5), "investment_subsidy": (1.0, 0.05), "information": (1.0, 0.05),
                "shared_vision": (1.0, 0.05), "shared_vision_spread": (1.0, 0.05),
                "shared_vision_co2_value": (200.0, 5.0)}
# Labels and units from the pages' one table (`viz.labels`), by policy field name.
LEVER_LABELS = {k.split(".", 1)[1]: label for k, (label, _) in PARAMS.items() if k.startswith("policy.")}
LEVER_UNITS = {k.split(".", 1)[1]: unit for k, (_, unit) in PARAMS.items() if k.startswith("policy.") and unit}
# How a lever's value reads beside its name, where "value unit" would not say enough.
LEVER_TEXT = {
    "investment_subsidy": lambda v: f"{100 * v:.0f} % of a new pipe",
    "information": lambda v: f"{v:g} (0 partners only, 1 platform)",
    "shared_vision": lambda v: f"{v:g} on the park's gains",
    "shared_vision_spread": lambda v: f"\u00b1 {v:g}",
}
# Levers of the sections "Taxes and subsidies"; every other policy field is a cooperation lever,
# except the accounting values: valuations the page reports by, which no company responds to
# (the social cost of carbon values the CO2 avoided). They sit apart, under "Accounting".
TAX_LEVERS = ("carbon_tax", "landfill_tax", "virgin_tax", "exchange_subsidy")
ACCOUNTING = ("social_cost_of_carbon",)

# The "Operations" controls: fields of `OperationsSettings` (keys `operations.*`) the page sets.
# Prescriptive maintenance is left out of the select: its digital twin simulates every due stop
# ahead, too slow for a live frame; it runs from `run.py`.
MAINTENANCE_CHOICES = tuple(m.value for m in Maintenance if m is not Maintenance.PRESCRIPTIVE)
OPERATIONS_FIELDS = ("maintenance", "failures", "mtbf", "mttr", "maintenance_every", "maintenance_days")
OPERATIONS_RANGES = {"mtbf": (365.0, 5.0), "mttr": (30.0, 1.0), "maintenance_every": (365.0, 5.0),
                     "maintenance_days": (20.0, 1.0)}
OPERATIONS_LABELS = {"maintenance": "Maintenance policy", "failures": "Failures",
                     "mtbf": "Mean time between failures", "mttr": "Mean time to repair",
                     "maintenance_every": "Maintenance every", "maintenance_days": "Maintenance days"}


def _own_or(unit: str):
    return lambda v: "0 (the scenario's own)" if v == 0 else f"{v:g} {unit}"


OPERATIONS_TEXT = {"mtbf": _own_or("days"), "mttr": _own_or("days"), "maintenance_every": _own_or("days"),
                   "maintenance_days": _own_or("days")}


def policy_fields() -> dict[str, type]:
    """Every field of the run config's policy that the page can set, by name, with its type:
    numbers (sliders), booleans (check boxes) and choices (`Enum`, a select)."""
    out = {}
    for k, t in keys().items():
        if k.startswith("policy.") and (t in (float, int, bool) or (isinstance(t, type) and issubclass(t, Enum))):
            out[k.split(".", 1)[1]] = t
    return out


def policy_levers() -> tuple[str, ...]:
    """Every number of the run config's policy, by field name: the page's policy sliders."""
    return tuple(k for k, t in policy_fields().items() if t in (float, int))


def lever_label(name: str) -> str:
    return LEVER_LABELS.get(name, name.replace("_", " ").capitalize())


def lever_text(name: str, value: float) -> str:
    """A slider's value as its label shows it."""
    if name in LEVER_TEXT:
        return LEVER_TEXT[name](value)
    return f"{value:g} {LEVER_UNITS.get(name, '')}".strip()


def _plain(v: Any) -> Any:
    """A policy value as the page keeps it: a number, a bool or an `Enum`'s value."""
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, bool):
        return v
    return float(v)


def _cli_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def operations_fields() -> dict[str, type]:
    """The page's operations controls, by field name, with their types (as `policy_fields`)."""
    all_keys = keys()
    return {name: all_keys[f"operations.{name}"] for name in OPERATIONS_FIELDS}


def operations_defaults() -> tuple[tuple[str, Any], ...]:
    """(field, value) of the page's operations controls as `RunConfig` has them by default."""
    base = OperationsSettings()
    return tuple((k, _plain_typed(getattr(base, k))) for k in OPERATIONS_FIELDS)


def operation_label(name: str) -> str:
    return OPERATIONS_LABELS.get(name, name.replace("_", " ").capitalize())


def operation_text(name: str, value: float) -> str:
    return OPERATIONS_TEXT[name](value) if name in OPERATIONS_TEXT else f"{value:g}"


def operation_range(name: str) -> tuple[float, float]:
    """(slider maximum, step) of operations field `name`."""
    return OPERATIONS_RANGES.get(name, (100.0, 1.0))


def _plain_typed(v: Any) -> Any:
    """As `_plain`, but an int stays an int (`operations.maintenance_every` must be one)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return _plain(v)


def lever_range(name: str, value: float) -> tuple[float, float]:
    """(slider maximum, step) for lever `name` currently at `value`."""
    top, step = LEVER_RANGES.get(name, (100.0, 1.0))
    return max(top, 4 * value if value > top else top), step


@dataclass(frozen=True, slots=True)
class Settings:
    """The page's controls. `scenario` is a built-in name or "synthetic" (then `size` counts
    its companies); `strategy` is the bidding strategy of the whole population."""

    scenario: str = DEFAULT_SCENARIO
    size: int = 50
    mechanism: str = MechanismName.CALL.value
    strategy: str = "truthful"
    policy: tuple[tuple[str, Any], ...] = ()  # (field, value) for every field of `policy_fields()`
    seed: int = 0
    # (field, value) for every field of `operations_fields()`
    operations: tuple[tuple[str, Any], ...] = dataclasses.field(default_factory=operations_defaults)

    def lever(self, name: str) -> Any:
        return dict(self.policy).get(name, 0.0)

    def with_lever(self, name: str, value: Any) -> "Settings":
        return dataclasses.replace(self, policy=tuple((k, value if k == name else v) for k, v in self.policy))

    def operation(self, name: str) -> Any:
        return dict(self.operations)[name]

    def with_operation(self, name: str, value: Any) -> "Settings":
        """These settings with operations field `name` at `value` (an int field gets an int)."""
        if operations_fields()[name] is int:
            value = int(round(value))
        return dataclasses.replace(self, operations=tuple((k, value if k == name else v) for k, v in self.operations))

    @property
    def scenario_name(self) -> str:
        return f"{SYNTHETIC}:{self.size}" if self.scenario == SYNTHETIC else self.scenario

    def assignments(self) -> dict[str, Any]:
        """The dotted-path keys of `experiments.config` these settings stand for."""
        return {
            "seed": self.seed,
            "market.mechanism": self.mechanism,
            f"market.strategies.{self.strategy}": 1.0,
            **{f"policy.{k}": v for k, v in self.policy},
            **{f"operations.{k}": v for k, v in self.operations},
        }

    def command_line(self) -> str:
        """The same run from the command line. Operations settings at `RunConfig`'s default are
        left out (the scenario does not set them, so the command means the same run)."""
        default = {f"operations.{k}": v for k, v in operations_defaults()}
        sets = " ".join(f"--set {k}={_cli_value(v)}" for k, v in self.assignments().items()
                        if k != "seed" and not (k in default and default[k] == v))
        return f"uv run run.py simulate --scenario {self.scenario_name} --seed {self.seed} {sets}"


def settings_for(scenario: str, size: int = 50, **keep: Any) -> Settings:
    """Settings for a newly picked scenario: its own policy on the sliders, other choices kept."""
    s = Settings(scenario=scenario, size=size, **keep)
    policy: Policy = load_park(s.scenario_name).policy
    return dataclasses.replace(s, policy=tuple((k, _plain(getattr(policy, k))) for k in policy_fields()))


class LiveSession:
    """One tab's live run. `configure` replaces the run (the old one becomes `previous`),
    `reset` restarts the same settings, `step` advances, `images` draws.

    With a `pool` (`viz.pool.RunPool`, as the server has) the run steps and its map is drawn in
    a worker process, and `run` is its `RemoteRun` mirror; without one (tests, tools) `run` is a
    `LiveRun` in this process, drawn here."""

    def __init__(self, settings: Settings | None = None, pool: RunPool | None = None):
        self.lock = threading.RLock()
        self.pool = pool
        self.settings = settings or settings_for(DEFAULT_SCENARIO)
        self.previous: dict[str, list[float]] | None = None
        self.run: LiveRun | RemoteRun = self._new_run(self.settings)
        self.map: ParkMap | None = None
        if isinstance(self.run, LiveRun):
            self.map = ParkMap(self.run.park, self.run.model.network.positions)
        self.sector_map: SectorMap | None = None  # drawn on first use: a large park's default view
        self._park_colours()
        self.generation = 0  # bumps with every new run, so the page knows to redraw
        self.frame_drawn = threading.Event()  # set when the page has drawn the latest step

    def _new_run(self, settings: Settings) -> LiveRun | RemoteRun:
        if self.pool is None:
            return LiveRun.from_settings(settings.scenario_name, settings.assignments())
        # The map the page opens with, drawn with the run's first frame.
        view = "sectors" if len(load_park(settings.scenario_name).companies) > MAX_LABELS else "companies"
        return self.pool.open(settings.scenario_name, settings.assignments(), (0, view, None), 0)

    def configure(self, settings: Settings) -> None:
        """Start a run with new settings; raises `InputError` (and keeps the old run) if they
        are invalid."""
        if settings.scenario == SYNTHETIC:
            size, problem = parse_size(str(settings.size))
            if problem:
                raise InputError([f"synthetic park size: {problem}"])
        run = self._new_run(settings)
        with self.lock:
            old = self.run
            if run.park is not old.park:
                if isinstance(run, LiveRun):
                    self.map = ParkMap(run.park, run.model.network.positions)
                self.sector_map = None
                self._park_colours(run)
                self.previous = None  # another park: its series would mislead
            elif old.t:
                self.previous = {k: list(v) for k, v in old.series.items()}
            self.settings = settings
            self.run = run
            self.generation += 1
        if isinstance(old, RemoteRun):
            old.close()

    def close(self) -> None:
        """The page is gone: free its run's worker memory (a run in this process is left to
        the garbage collector)."""
        if isinstance(self.run, RemoteRun):
            self.run.close()

    def _park_colours(self, run: LiveRun | RemoteRun | None = None) -> None:
        """Units and map colours of the park's resources, for the price panel."""
        park = (run or self.run).park
        self.units = {r: res.unit for r, res in park.resources.items()}
        self.colours = {r: to_hex(c) for r, c in palette.resource_colours(list(park.resources)).items()}

    def reset(self) -> None:
        """Start the same settings again from day 0, keeping the stepped run as `previous`."""
        self.configure(self.settings)

    def step(self, n: int = 1) -> None:
        with self.lock:
            run = self.run
        run.step(n)

    def map_svg(self, selected: int | None) -> bytes:
        return self.map_layers(selected)[0]

    def default_view(self) -> str:
        """The map a park opens with: its companies, or its sectors when labels would not fit."""
        return "sectors" if len(self.run.park.companies) > MAX_LABELS else "companies"

    def map_layers(self, selected: int | None, view: str = "companies", focus: str | None = None) -> tuple[bytes, str]:
        """The map as SVG bytes, and the tooltip layer to lay over it (`ParkMap.hover_svg`):
        the companies (zoomed to sector `focus` if given) or, with `view="sectors"`, the sectors."""
        with self.lock:
            run, canvas = self.run, self.map
        if isinstance(run, RemoteRun):
            return run.map_layers(selected, view, focus)
        with self.lock:
            if view == "sectors" and self.sector_map is None:
                self.sector_map = SectorMap(run.park, run.model.network.positions)
            if view == "sectors":
                canvas = self.sector_map
        with canvas.lock:
            image = canvas.update(run) if view == "sectors" else canvas.update(run, selected, focus)
            return image, canvas.hover_svg()

    def charts_html(self, days: int = 0, hidden: frozenset[str] = frozenset()) -> str:
        """The KPI, welfare, production and cooperation panels (inline SVG with hover read-outs)
        over the last `days` days (0: the whole run), without the lines in `hidden` (their
        legend ids), and the note saying what their grey, red and dotted marks mean."""
        with self.lock:
            run, previous = self.run, self.previous
        merged = {**run.series, **{f"price:{r}": list(v) for r, v in run.prices.items()}}
        series, previous, spans, decisions = charts.window(merged, previous, days, list(run.break_spans),
                                                           run.decisions())
        return ('<div class="ts-grid kpi-charts">' + charts.kpi_panels(series, previous, spans, hidden)
                + charts.welfare_panel(series, previous, spans, decisions, hidden)
                + charts.production_panel(series, previous, spans, hidden)
                + charts.price_panel(series, self.units, self.colours, spans, hidden) + "</div>"
                + '<div class="ts-grid coop-charts">' + charts.coop_panels(series, previous, spans, hidden) + "</div>"
                + f'<p class="chart-notes">{escape(charts.notes(bool(previous), bool(spans), bool(decisions)))}</p>')
