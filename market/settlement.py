"""Settlement: the one place where goods and money move.

After the mechanism has matched orders, `settle` books, for every company and resource:
self-use of its own by-products and stock, the trades (the buyer pays the price per unit
delivered, the seller pays the journey), purchases outside the park for needs still open,
and storage or disposal of surplus still unsold. Taxes go to the government account; CO2 of
virgin supply and of disposal is counted where it arises. Agents read the ledger; they never
write to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from market.orders import Order, Side, Trade
from market.policy import Policy
from market.resources import Resource
from market.storage import Store, carry


@dataclass(frozen=True, slots=True)
class Plan:
    """What a company produces this step and what that yields and needs (units per step)."""

    company: int
    revenue: float
    output: dict[str, float]
    byproducts: dict[str, float]
    inputs: dict[str, float]


@dataclass
class ResourceAccount:
    """Quantities of one resource in one step, park-wide."""

    produced: float = 0.0
    consumed: float = 0.0
    self_used: float = 0.0
    shipped: float = 0.0
    exchanged: float = 0.0  # delivered to a park partner
    lost: float = 0.0
    bought_outside: float = 0.0
    disposed: float = 0.0
    stock_before: float = 0.0
    stock_after: float = 0.0

    def imbalance(self) -> float:
        """Produced + bought + old stock - consumed - disposed - lost - new stock: zero."""
        return (self.produced + self.bought_outside + self.stock_before
                - self.consumed - self.disposed - self.lost - self.stock_after)


@dataclass
class StepAccount:
    step: int
    profit: np.ndarray
    resources: dict[str, ResourceAccount]
    co2_t: float = 0.0
    taxes: float = 0.0
    budget: float = 0.0  # kept by the market operator (buyers paid more than sellers received)
    subsidies: float = 0.0  # paid by the government: per unit exchanged, share of pipe investment


class Ledger:
    """Cash and stores of every company; changed only by the functions of this module."""

    def __init__(self, n: int, resources: dict[str, Resource], policy: Policy,
                 storage: dict[tuple[int, str], float]):
        self.n = n
        self.resources = resources
        self.policy = policy
        self.cash = np.zeros(n)
        self.government = 0.0
        self.operator = 0.0
        self.stores: dict[tuple[int, str], Store] = {
            key: Store(cap) for key, cap in storage.items()
            if cap > 0 and resources[key[1]].shelf_life > 0
        }
        self.stores_of: dict[int, list[str]] = defaultdict(list)
        for c, r in self.stores:
            self.stores_of[c].append(r)
        self.reprice(resources)

    def reprice(self, resources: dict[str, Resource]) -> None:
        """New outside prices for the same resources (a history run changes them by year)."""
        policy = self.policy
        self.resources = resources
        self._buy = {r: policy.buy_price(res) for r, res in resources.items()}
        self._buy_tax = {r: policy.buy_tax(res) for r, res in resources.items()}
        self._dispose = {r: policy.dispose_price(res) for r, res in resources.items()}
        self._dispose_tax = {r: policy.dispose_tax(res) for r, res in resources.items()}
        self._transfer = {r: tuple(np.array(v) for v in policy.transfer_parts(res)) for r, res in resources.items()}

    @property
    def buy_prices(self) -> Mapping[str, float]:
        """Each resource's outside purchase price, for callers that read one per order
        (`buy_prices[r]` is `buy_price(r)` without a call each time); not to be changed."""
        return self._buy

    @property
    def transfers(self) -> Mapping[str, tuple[np.ndarray, ...]]:
        """Each resource's transfers per unit (`transfer_of`'s three cases: a bid, a unit kept,
        a unit disposed of); not to be changed."""
        return self._transfer

    def transfer_of(self, order: Order) -> np.ndarray:
        """The transfers (taxes and subsidies, `market.policy.TRANSFER_PARTS`) in the
        reservation price of a truthful order, per unit: a bid's, or an ask's for what its
        owner would keep (priced at the outside purchase it saves) or dispose of."""
        bid, keep, dispose = self._transfer[order.resource]
        if order.side is Side.BUY:
            return bid
        buy = self._buy[order.resource]
        return keep if abs(order.price - buy) <= 1e-9 * max(1.0, abs(buy)) else dispose

    def stock(self, company: int, resource: str) -> float:
        store = self.stores.get((company, resource))
        return store.level if store else 0.0

    def store_capacity(self, company: int, resource: str) -> float:
        store = self.stores.get((company, resource))
        return store.capacity if store else 0.0

    def buy_price(self, resource: str) -> float:
        return self._buy[resource]

    def park_buy_value(self, resource: str) -> float:
        """A buyer's value of a unit from a park partner (outside cost + exchange subsidy)."""
        return self._buy[resource] + self.policy.exchange_subsidy

    def dispose_price(self, resource: str) -> float:
        return self._dispose[resource]


def open_step(ledger: Ledger, step: int) -> StepAccount:
    """Start a step's account: stock past its shelf life is disposed of before companies plan,
    so nobody offers what is about to spoil; a share `decay` of what is left is lost, and
    each company pays `holding_cost` per unit it keeps in store."""
    acc = StepAccount(step=step, profit=np.zeros(ledger.n), resources=defaultdict(ResourceAccount))
    for (c, r), store in ledger.stores.items():
        acc.resources[r].stock_before += store.level
        gone = store.expire(step)
        if gone > 0:
            _dispose(ledger, acc, acc.profit, c, r, gone)
        res = ledger.resources[r]
        if res.decay > 0:
            acc.resources[r].lost += store.shrink(res.decay)
        if res.holding_cost > 0:
            acc.profit[c] -= res.holding_cost * store.level
    return acc


def settle(ledger: Ledger, acc: StepAccount, plans: Sequence[Plan], trades: Iterable[Trade]) -> StepAccount:
    """Move goods and money for one step and complete the park's account of it."""
    step = acc.step
    res = ledger.resources
    # Each company's money as Python floats while the step is booked (the same operations in
    # the same order, so the same sums as on the array, without indexing numpy per entry); so
    # are the step's and the government's totals, written back at the end.
    money = acc.profit.tolist()
    subsidy = ledger.policy.exchange_subsidy
    budget, subsidies = acc.budget, acc.subsidies

    sold: dict[tuple[int, str], float] = defaultdict(float)
    got: dict[tuple[int, str], float] = defaultdict(float)
    accounts = acc.resources
    for t in trades:
        seller, buyer, r, shipped, delivered = t.seller, t.buyer, t.resource, t.shipped, t.delivered
        sold[(seller, r)] += shipped
        got[(buyer, r)] += delivered
        # t.payment and t.receipt, written out.
        payment = t.price * delivered
        receipt = (t.price if t.seller_price is None else t.seller_price) * delivered
        money[buyer] -= payment
        money[seller] += receipt - t.transport_cost
        budget += payment - receipt
        if subsidy:
            money[buyer] += subsidy * delivered
            subsidies += subsidy * delivered
        ra = accounts[r]
        ra.shipped += shipped
        ra.exchanged += delivered
        ra.lost += shipped - delivered
    acc.budget, acc.subsidies = budget, subsidies

    touched: dict[int, set[str]] = defaultdict(set)
    for c, r in list(sold) + list(got):
        touched[c].add(r)
    stores = ledger.stores
    expires = {r: step + x.shelf_life + 1 for r, x in res.items()}
    # Per resource: outside price, its tax, CO2 per unit; disposal price, its tax, CO2 per unit.
    costs = {r: (ledger._buy[r], ledger._buy_tax[r], x.co2_virgin, ledger._dispose[r], ledger._dispose_tax[r],
                 x.co2_disposal) for r, x in res.items()}
    government, taxes, co2 = ledger.government, acc.taxes, acc.co2_t
    nothing: set[str] = set()
    sold_get, got_get, stores_get = sold.get, got.get, stores.get
    for p in plans:
        c = p.company
        money[c] += p.revenue
        byproducts, inputs = p.byproducts, p.inputs
        for r in sorted(byproducts.keys() | inputs.keys() | touched.get(c, nothing)):
            ra = accounts[r]
            made = byproducts.get(r, 0.0)
            need = inputs.get(r, 0.0)
            ra.produced += made
            ra.consumed += need
            key = (c, r)
            store = stores_get(key)
            out, received = sold_get(key, 0.0), got_get(key, 0.0)
            try:
                own, bought, surplus, overflow = carry(store, made, need, out, received, expires[r])
            except ValueError as e:
                raise ValueError(f"company {c}, {r}: {e}") from None
            ra.self_used += own
            if bought or surplus > 1e-12 or overflow > 1e-12:
                buy, buy_tax, co2_buy, dispose, dispose_tax, co2_dispose = costs[r]
                if bought:  # bought outside: its price, its tax and CO2 of virgin supply
                    money[c] -= bought * buy
                    tax = bought * buy_tax
                    government += tax
                    taxes += tax
                    co2 += bought * co2_buy
                    ra.bought_outside += bought
                # Received more than it uses (stocking up ahead of a supplier's stop): into the
                # store, and what does not fit is disposed of; so is this step's output left
                # over (`_dispose`, written out).
                for q in (surplus, overflow):
                    if q > 1e-12:
                        money[c] -= q * dispose
                        tax = q * dispose_tax
                        government += tax
                        taxes += tax
                        co2 += q * co2_dispose
                        ra.disposed += q
    ledger.government, acc.taxes, acc.co2_t = government, taxes, co2

    for (_c, r), store in ledger.stores.items():
        acc.resources[r].stock_after += store.level

    acc.profit[:] = money
    money = acc.profit
    ledger.cash += money
    ledger.operator += acc.budget
    ledger.government -= acc.subsidies
    acc.resources = dict(acc.resources)
    return acc


def book(ledger: Ledger, acc: StepAccount, amounts: np.ndarray, government_pays: float = 0.0) -> None:
    """Money outside the market's trades, after `settle`: `amounts` per company (positive:
    the company receives; penalties and gain-sharing transfers between companies, pipe
    annuities and search paid to outsiders) and what the government pays (its share of pipe
    investment, counted as a subsidy)."""
    acc.profit += amounts
    ledger.cash += amounts
    ledger.government -= government_pays
    acc.subsidies += government_pays


def closing_stock_value(ledger: Ledger) -> np.ndarray:
    """What each company's remaining stock is worth when a run ends: minus what disposing of
    it would cost. Without it a run that keeps its stores full (the baseline) would look
    cheaper by the disposal it has only put off. Reads the ledger, changes nothing."""
    value = np.zeros(ledger.n)
    for (c, r), store in ledger.stores.items():
        value[c] -= store.level * ledger.dispose_price(r)
    return value


def _dispose(ledger: Ledger, acc: StepAccount, money: np.ndarray | list[float], c: int, r: str, q: float) -> None:
    res = ledger.resources[r]
    money[c] -= q * ledger.dispose_price(r)
    tax = q * ledger._dispose_tax[r]
    ledger.government += tax
    acc.taxes += tax
    acc.co2_t += q * res.co2_disposal
    acc.resources[r].disposed += q
