"""Resources that companies exchange, and how they travel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Mode(str, Enum):
    """How a resource travels. Pipeline resources move only where a pipeline exists."""

    PIPELINE = "pipeline"
    TRUCK = "truck"
    SHIP = "ship"


@dataclass(frozen=True, slots=True)
class Resource:
    """A surplus or input that can be exchanged inside the park.

    Prices are EUR per unit; CO2 is tonnes per unit. `virgin_price` is what one unit costs from
    outside the park (or its outside substitute: heat from an oil boiler for district heat);
    `disposal_cost` is what getting rid of one unit costs. `shelf_life` is in steps; 0 means the
    resource cannot be stored (steam, heat). `loss_per_km` is the share lost per km travelled
    (heat in a pipe), applied linearly and capped at 1. `pipe_fixed` and `pipe_per_km` (EUR)
    are what a new pipe for a pipeline resource costs to build; None takes the run's default
    (`agents.cooperation.CooperationSettings`).

    `substitute`: whether a user can buy the resource outside the park at all; without one, a
    need the park does not meet cuts the user's output. `lead_time`: steps an outside
    substitute takes to arrive when a user needs more of it than it had on order (a park supply
    failed). `holding_cost`: EUR per unit and step in storage; `decay`: share of the stock lost
    each step in storage.
    """

    name: str
    unit: str
    virgin_price: float
    disposal_cost: float
    co2_virgin: float = 0.0
    co2_disposal: float = 0.0
    transport: Mode = Mode.TRUCK
    transport_cost: float = 0.0
    loss_per_km: float = 0.0
    shelf_life: int = 0
    landfill: bool = False
    virgin_material: bool = False
    pipe_fixed: float | None = None
    pipe_per_km: float | None = None
    substitute: bool = True
    lead_time: int = 0
    holding_cost: float = 0.0
    decay: float = 0.0

    def delivered_share(self, distance_km: float) -> float:
        """Share of a shipment that arrives after `distance_km` (0 when all is lost)."""
        return max(0.0, 1.0 - self.loss_per_km * distance_km)
