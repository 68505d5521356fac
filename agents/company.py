"""A company of the park as a Mesa agent: it plans production, then bids for what it lacks and
offers what it has left. It never touches the ledger: the market settles everything."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.scenario import CompanySpec
from agents.strategies import Quote, Strategy
from market.orders import Order, Side
from market.settlement import Ledger, Plan

if TYPE_CHECKING:
    from agents.model import ParkModel


class Company(mesa.Agent):
    """An autonomous company with processes, storage and outside options.

    Each step it runs every process that is profitable at outside prices, at its capacity times
    a random daily load, and posts one order per resource for its net surplus or need after
    using its own by-products and stock.
    """

    def __init__(self, model: "ParkModel", index: int, spec: CompanySpec, strategy: Strategy):
        super().__init__(model)
        self.index = index
        self.spec = spec
        self.strategy = strategy
        self.down = False
        self.profit_eur = 0.0
        self._processes = spec.processes
        self._caps = np.array([p.capacity for p in spec.processes], dtype=float)
        self._util = np.array([p.utilisation for p in spec.processes], dtype=float)
        self._cv = np.array([p.variability for p in spec.processes], dtype=float)
        self._uses = frozenset(r for p in spec.processes for r in p.inputs)

    @property
    def name(self) -> str:
        return self.spec.name

    def margins(self, ledger: Ledger) -> np.ndarray:
        """Per-unit margin of each process when every input is bought and every by-product
        disposed of outside the park: the company's worst case."""
        out = []
        for p in self._processes:
            m = p.sale_price
            m -= sum(q * ledger.buy_price(r) for r, q in p.inputs.items())
            m -= sum(q * ledger.dispose_price(r) for r, q in p.byproducts.items())
            out.append(m)
        return np.array(out)

    def plan(self, ledger: Ledger, rng: np.random.Generator, margins: np.ndarray) -> Plan:
        """Production for this step. Draws one load factor per process, always, so the random
        stream does not depend on what the company decides (common random numbers)."""
        noise = rng.standard_normal(len(self._caps))
        load = np.clip(self._util * (1.0 + self._cv * noise), 0.0, 1.0)
        qty = self._caps * load
        if self.down:
            qty[:] = 0.0
        qty[margins <= 0] = 0.0
        output: dict[str, float] = {}
        byproducts: dict[str, float] = {}
        inputs: dict[str, float] = {}
        revenue = 0.0
        for p, q in zip(self._processes, qty):
            if q <= 0:
                continue
            q = float(q)
            output[p.product] = output.get(p.product, 0.0) + q
            revenue += q * p.sale_price
            for r, a in p.byproducts.items():
                byproducts[r] = byproducts.get(r, 0.0) + a * q
            for r, a in p.inputs.items():
                inputs[r] = inputs.get(r, 0.0) + a * q
        return Plan(self.index, revenue, output, byproducts, inputs)

    def orders(self, plan: Plan, ledger: Ledger, rng: np.random.Generator) -> list[Order]:
        """Net positions after self-use, priced by the company's strategy.

        Surplus has two reservation prices. What the company could keep in its own store and
        use later as an input is worth what it would otherwise pay outside for that input;
        the rest is worth minus its disposal cost. The two parts are posted as two asks, so a
        company never sells today what it would have to buy back tomorrow at a loss.
        """
        out: list[Order] = []
        for r in sorted(set(plan.byproducts) | set(plan.inputs)):
            net = plan.byproducts.get(r, 0.0) + ledger.stock(self.index, r) - plan.inputs.get(r, 0.0)
            if net > 1e-9:
                out.extend(self._asks(r, net, ledger, rng))
            elif net < -1e-9:
                price = self.strategy.price(self._quote(Side.BUY, r, ledger.buy_price(r), ledger), rng)
                out.append(Order(self.index, r, Side.BUY, -net, price))
        # Stock of a resource the company neither makes nor needs this step is still for sale.
        for r in ledger.stores_of.get(self.index, ()):
            level = ledger.stock(self.index, r)
            if r not in plan.byproducts and r not in plan.inputs and level > 1e-9:
                out.extend(self._asks(r, level, ledger, rng))
        return out

    def _quote(self, side: Side, r: str, reservation: float, ledger: Ledger) -> Quote:
        return Quote(side, r, reservation, -ledger.dispose_price(r), ledger.buy_price(r), self.model.t)

    def _asks(self, r: str, surplus: float, ledger: Ledger, rng: np.random.Generator) -> list[Order]:
        keep = min(surplus, ledger.store_capacity(self.index, r)) if r in self._uses else 0.0
        out = []
        if keep > 1e-9:
            out.append(Order(self.index, r, Side.SELL, keep, self.strategy.price(self._quote(Side.SELL, r, ledger.buy_price(r), ledger), rng)))
        if surplus - keep > 1e-9:
            price = self.strategy.price(self._quote(Side.SELL, r, -ledger.dispose_price(r), ledger), rng)
            out.append(Order(self.index, r, Side.SELL, surplus - keep, price))
        return out
