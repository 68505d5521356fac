"""What one browser tab of the live page holds: its settings, the run being stepped, the run
before it (drawn in grey) and the canvases the map and charts are redrawn on.

Kept apart from the Solara components so that the rules (how settings become a run config,
what Reset and a settings change do) are plain Python that tests can call.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from experiments.config import DEFAULT_SCENARIO, keys
from market.policy import Policy
from market.settings import MechanismName, StrategyMix
from viz.charts import Charts
from viz.live_run import LiveRun, load_park
from viz.park_map import ParkMap
from viz.render import svg

STRATEGIES = tuple(f.name for f in dataclasses.fields(StrategyMix))
MECHANISMS = tuple(m.value for m in MechanismName)
SYNTHETIC = "synthetic"

# Slider range and unit of the policy levers known today; a lever added to `Policy` later gets a
# slider too, from 0 to 100 (or four times its value), named after its field.
LEVER_RANGES = {"carbon_tax": (200.0, 5.0), "landfill_tax": (200.0, 5.0), "virgin_tax": (100.0, 1.0),
                "exchange_subsidy": (50.0, 0.5)}
LEVER_LABELS = {"virgin_tax": "Virgin-material tax"}
LEVER_UNITS = {"carbon_tax": "EUR/t CO2", "landfill_tax": "EUR/unit landfilled", "virgin_tax": "EUR/unit bought",
               "exchange_subsidy": "EUR/unit exchanged"}


def policy_levers() -> tuple[str, ...]:
    """Every number of the run config's policy, by field name: the page's policy sliders."""
    return tuple(k.split(".", 1)[1] for k, t in keys().items() if k.startswith("policy.") and t in (float, int))


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
    policy: tuple[tuple[str, float], ...] = ()  # (lever, value) for every lever of `policy_levers()`
    seed: int = 0

    def lever(self, name: str) -> float:
        return dict(self.policy).get(name, 0.0)

    def with_lever(self, name: str, value: float) -> "Settings":
        return dataclasses.replace(self, policy=tuple((k, value if k == name else v) for k, v in self.policy))

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
        }

    def command_line(self) -> str:
        """The same run from the command line."""
        sets = " ".join(f"--set {k}={v:g}" if isinstance(v, float) else f"--set {k}={v}"
                        for k, v in self.assignments().items() if k != "seed")
        return f"uv run run.py simulate --scenario {self.scenario_name} --seed {self.seed} {sets}"


def settings_for(scenario: str, size: int = 50, **keep: Any) -> Settings:
    """Settings for a newly picked scenario: its own policy on the sliders, other choices kept."""
    s = Settings(scenario=scenario, size=size, **keep)
    policy: Policy = load_park(s.scenario_name).policy
    return dataclasses.replace(s, policy=tuple((k, float(getattr(policy, k))) for k in policy_levers()))


class LiveSession:
    """One tab's live run. `configure` replaces the run (the old one becomes `previous`),
    `reset` restarts the same settings, `step` advances, `images` draws."""

    def __init__(self, settings: Settings | None = None):
        self.lock = threading.RLock()
        self.settings = settings or settings_for(DEFAULT_SCENARIO)
        self.previous: dict[str, list[float]] | None = None
        self.charts = Charts()
        self.run = LiveRun.from_settings(self.settings.scenario_name, self.settings.assignments())
        self.map = ParkMap(self.run.park, self.run.model.network.positions)
        self.generation = 0  # bumps with every new run, so the page knows to redraw
        self.frame_drawn = threading.Event()  # set when the page has drawn the latest step

    def configure(self, settings: Settings) -> None:
        """Start a run with new settings; raises `InputError` (and keeps the old run) if they
        are invalid."""
        run = LiveRun.from_settings(settings.scenario_name, settings.assignments())
        with self.lock:
            if run.park is not self.run.park:
                self.map = ParkMap(run.park, run.model.network.positions)
                self.previous = None  # another park: its series would mislead
            elif self.run.t:
                self.previous = {k: list(v) for k, v in self.run.series.items()}
            self.settings = settings
            self.run = run
            self.generation += 1

    def reset(self) -> None:
        """Start the same settings again from day 0, keeping the stepped run as `previous`."""
        self.configure(self.settings)

    def step(self, n: int = 1) -> None:
        with self.lock:
            run = self.run
        run.step(n)

    def map_svg(self, selected: int | None) -> bytes:
        with self.lock:
            run, canvas = self.run, self.map
        with canvas.lock:
            return svg(canvas.update(run, selected))

    def charts_svg(self) -> bytes:
        with self.lock:
            run, previous = self.run, self.previous
        with self.charts.lock:
            return svg(self.charts.update(run.series, previous, run.break_spans))
