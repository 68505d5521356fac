"""Prices over the years: paths of outside prices, product prices and the carbon price.

A scenario may say what a resource cost outside the park, what a product sold for, or what the
carbon price was, year by year (`[prices]` and `[policy] carbon_tax_path` in its file), and
index a group of prices to a published series (the real price of crude oil, say). The model
applies them at the start of each simulated year: a year's value holds for all its steps.
Between the years given a path is linear; before the first and after the last it holds the
nearest value. The history runs use the same mechanism (`experiments.history`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from market.resources import Resource


@dataclass(frozen=True, slots=True)
class YearPath:
    """A value by calendar year: `points` are (year, value) pairs in increasing year order."""

    points: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a price path needs at least one (year, value) point")
        years = [y for y, _ in self.points]
        if years != sorted(set(years)):
            raise ValueError(f"a price path's years must increase and not repeat, got {years}")

    def at(self, year: int) -> float:
        years = np.array([y for y, _ in self.points], dtype=float)
        values = np.array([v for _, v in self.points], dtype=float)
        return float(np.interp(float(year), years, values))

    @property
    def first_year(self) -> int:
        return self.points[0][0]

    @property
    def last_year(self) -> int:
        return self.points[-1][0]


@dataclass(frozen=True, slots=True)
class PriceIndex:
    """A published series that scales some base prices: in year y each listed resource's outside
    price (and each listed product's sale price) is its base price x real(y) / real(base_year),
    where real = series / deflator (deflator 1 when there is none). E.g. the real price of
    crude oil, the money-of-the-day oil price deflated by a consumer price index."""

    name: str
    base_year: int
    series: YearPath
    deflator: YearPath | None = None
    resources: tuple[str, ...] = ()
    products: tuple[str, ...] = ()

    def factor(self, year: int) -> float:
        return self._real(year) / self._real(self.base_year)

    def _real(self, year: int) -> float:
        d = self.deflator.at(year) if self.deflator is not None else 1.0
        return self.series.at(year) / d


@dataclass(frozen=True, slots=True)
class PriceSchedule:
    """The price paths of a scenario. `start_year` is the calendar year of step 0 (a run's year
    is start_year + step // steps_per_year). `resources` gives outside (virgin) prices by year,
    `products` sale prices by year for every process making that product, `indices` scale base
    prices by a series. A resource or product both on a path and in an index follows its path."""

    start_year: int | None = None
    resources: dict[str, YearPath] = field(default_factory=dict)
    products: dict[str, YearPath] = field(default_factory=dict)
    indices: tuple[PriceIndex, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.resources or self.products or self.indices)

    def year_of(self, step: int, steps_per_year: int) -> int | None:
        return None if self.start_year is None else self.start_year + step // steps_per_year

    def resources_in(self, year: int | None, base: Mapping[str, Resource]) -> dict[str, Resource]:
        """The resources with this year's outside prices (the base ones when `year` is None)."""
        if year is None or not (self.resources or any(i.resources for i in self.indices)):
            return dict(base)
        out = dict(base)
        for index in self.indices:
            f = index.factor(year)
            for r in index.resources:
                if r not in self.resources:
                    out[r] = replace(out[r], virgin_price=base[r].virgin_price * f)
        for r, path in self.resources.items():
            out[r] = replace(out[r], virgin_price=path.at(year))
        return out

    def has_product_path(self, product: str) -> bool:
        return product in self.products or any(product in i.products for i in self.indices)

    def product_price(self, product: str, base_price: float, year: int | None) -> float:
        """A product's sale price in `year` before any pass-through: its path, its index, or its
        base price."""
        if year is None:
            return base_price
        if product in self.products:
            return self.products[product].at(year)
        for index in self.indices:
            if product in index.products:
                return base_price * index.factor(year)
        return base_price
