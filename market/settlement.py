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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter

import numpy as np

from market.orders import _CODES as _CODE_OF
from market.orders import Order, Side, Trade, _WithColumns, by_resource_code, columns_of, resource_code
from market.policy import Policy
from market.resources import Resource
from market.storage import TOL, Store, carry


@dataclass(frozen=True, slots=True)
class Plan:
    """What a company produces this step and what that yields and needs (units per step)."""

    company: int
    revenue: float
    output: dict[str, float]
    byproducts: dict[str, float]
    inputs: dict[str, float]


# Plan's slots, set directly by `make_plan`: the model makes one a company a day (and its baseline
# one more), and the frozen dataclass's __init__ (object.__setattr__ field by field) costs twice
# as much as setting the slots (0.86 against 0.45 us).
_PLAN_SLOTS = tuple(Plan.__dict__[f].__set__ for f in ("company", "revenue", "output", "byproducts", "inputs"))


def make_plan(company: int, revenue: float, output: dict[str, float], byproducts: dict[str, float],
              inputs: dict[str, float]) -> Plan:
    """`Plan(company, revenue, output, byproducts, inputs)`, the same object, built slot by slot."""
    plan = object.__new__(Plan)
    set_company, set_revenue, set_output, set_byproducts, set_inputs = _PLAN_SLOTS
    set_company(plan, company)
    set_revenue(plan, revenue)
    set_output(plan, output)
    set_byproducts(plan, byproducts)
    set_inputs(plan, inputs)
    return plan


@dataclass(frozen=True, slots=True)
class PlanColumns:
    """Plans' fields as columns (arrays never changed once made): per plan its company and
    revenue; per entry of the plans' `output`, `byproducts` and `inputs` the plan it belongs to
    (its index), the product or resource, its `resource_code` and the amount, plan by plan and
    each plan's entries in its dict's order."""

    company: np.ndarray  # intp
    revenue: np.ndarray
    out_plan: np.ndarray  # intp
    out_product: list[str]
    out: np.ndarray
    made_plan: np.ndarray  # intp
    made_resource: list[str]
    made_code: np.ndarray  # intp
    made: np.ndarray
    used_plan: np.ndarray  # intp
    used_resource: list[str]
    used_code: np.ndarray  # intp
    used: np.ndarray

    def __len__(self) -> int:
        return len(self.company)

    @staticmethod
    def of(plans: Sequence[Plan]) -> PlanColumns:
        """Read from the plans, field by field."""
        k = len(plans)

        def entries(field: str) -> tuple[np.ndarray, list[str], np.ndarray]:
            books = list(map(attrgetter(field), plans))
            counts = np.fromiter(map(len, books), np.intp, k)
            m = int(counts.sum())
            return (np.repeat(np.arange(k), counts), list(chain.from_iterable(books)),
                    np.fromiter(chain.from_iterable(map(dict.values, books)), float, m))

        out_plan, out_product, out = entries("output")
        made_plan, made_resource, made = entries("byproducts")
        used_plan, used_resource, used = entries("inputs")
        return PlanColumns(np.fromiter(map(attrgetter("company"), plans), np.intp, k),
                           np.fromiter(map(attrgetter("revenue"), plans), float, k), out_plan, out_product, out,
                           made_plan, made_resource, _codes(made_resource), made, used_plan, used_resource,
                           _codes(used_resource), used)

    def cells(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each by-product's and each input's cell in a grid of plans by resources: plan *
        len(names) + its resource's place among `names` (a ledger's `_names`). A resource not
        among them is a `KeyError`, as looking it up by name would be."""
        nr = len(names)
        row_of = by_resource_code(dict(zip(names, range(nr))))
        out = []
        for plan_at, code, resources in ((self.made_plan, self.made_code, self.made_resource),
                                         (self.used_plan, self.used_code, self.used_resource)):
            row = row_of[code]
            unknown = np.flatnonzero(np.isnan(row))
            if len(unknown):
                raise KeyError(resources[int(unknown[0])])
            out.append(plan_at * nr + row.astype(np.intp))
        return out[0], out[1]

    def amounts_at(self, keys: Sequence[tuple[int, str]]) -> tuple[list[float], list[float]]:
        """Each (plan, resource)'s by-product and input amount: `plans[k].byproducts.get(r, 0.0)`
        and `.inputs.get(r, 0.0)`, as Python floats."""
        m = len(keys)
        if not m:
            return [], []
        codes = [resource_code(r) for _, r in keys]
        width = len(_CODE_OF)  # more than any code
        cell = np.fromiter((k * width + code for (k, _), code in zip(keys, codes)), np.intp, m)
        out = []
        for plan_at, code, values in ((self.made_plan, self.made_code, self.made), (self.used_plan, self.used_code, self.used)):
            cells = plan_at * width + code
            order = np.argsort(cells)
            where = np.searchsorted(cells, cell, sorter=order).clip(max=max(len(cells) - 1, 0))
            got = np.zeros(m)
            if len(cells):
                hit = cells[order[where]] == cell
                got[hit] = values[order[where[hit]]]
            out.append(got.tolist())
        return out[0], out[1]


def _codes(resources: list[str]) -> np.ndarray:
    return np.fromiter(map(resource_code, resources), np.intp, len(resources))


class PlanList(_WithColumns[Plan, PlanColumns]):
    """A step's plans with their columns (`market.orders._WithColumns`): a large park's model
    makes them as columns (`agents.company.ParkLoads.plans`) and reads those; a plan is made
    only when asked for, the whole list (`plans[k]`, iterating) or one (`one`)."""

    __slots__ = ("_one",)

    def __init__(self, plans: Iterable[Plan] = ()):
        super().__init__(plans)
        self._one: Callable[[int], Plan] | None = None

    def _read(self) -> PlanColumns:
        return PlanColumns.of(self._list())

    @staticmethod
    def made(columns: PlanColumns, plans_of: Callable[[], list[Plan]], one: Callable[[int], Plan]) -> PlanList:
        """Plans of these columns, made by `plans_of()` when first read, or one by `one(k)`."""
        out = PlanList._lazy(len(columns), plans_of)
        out._columns = columns
        out._one = one
        return out

    def one(self, k: int) -> Plan:
        """Plan `k`, without making the others (the same plan as `self[k]`)."""
        if self._items is not None or self._one is None:
            return self._list()[k]
        return self._one(k)


@dataclass(slots=True)
class ResourceAccount:
    """Quantities of one resource in one step, park-wide. (Slots: `settle` opens a dozen a step
    and adds to their fields for every company's every resource.)"""

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
        self.stores_at: dict[int, dict[str, Store]] = {}  # each company's stores by resource
        for (c, r), store in self.stores.items():
            self.stores_of[c].append(r)
            self.stores_at.setdefault(c, {})[r] = store
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
        # The resources by name, and each one's place among them: `_settle_arrays` keeps a
        # resource's sums on its row, and books a company's resources in this order.
        self._names = sorted(resources)
        self._rid = {r: i for i, r in enumerate(self._names)}
        self._cells: tuple[tuple[tuple[int, str], ...], np.ndarray, np.ndarray] | None = None
        self._transfer_table: tuple[np.ndarray, np.ndarray] | None = None  # `transfer_rows`'
        # Per resource, what `_settle_loop` books a unit with: outside price, its tax, CO2 per unit;
        # disposal price, its tax, CO2 per unit; and the steps a unit stored now keeps (shelf life + 1).
        self._costs = {r: (self._buy[r], self._buy_tax[r], res.co2_virgin, self._dispose[r], self._dispose_tax[r],
                           res.co2_disposal) for r, res in resources.items()}
        self._keeps = {r: res.shelf_life + 1 for r, res in resources.items()}

    @property
    def buy_prices(self) -> Mapping[str, float]:
        """Each resource's outside purchase price, for callers that read one per order
        (`buy_prices[r]` is `buy_price(r)` without a call each time); not to be changed."""
        return self._buy

    @property
    def dispose_prices(self) -> Mapping[str, float]:
        """Each resource's disposal price, as `buy_prices` (`dispose_price(r)` without a call each
        time); not to be changed."""
        return self._dispose

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

    def transfer_rows(self, resources: Sequence[str], is_ask: np.ndarray, price: np.ndarray) -> np.ndarray:
        """`transfer_of` of many truthful orders at once: row k is what it gives an order of
        `resources[k]`, an ask if `is_ask[k]`, at `price[k]` (the same values)."""
        table = self._transfer_table
        if table is None:
            table = self._transfer_table = (np.array([self._transfer[r] for r in self._names], dtype=float),
                                            np.array([self._buy[r] for r in self._names], dtype=float))
        per_unit, buy_of = table
        row = np.fromiter(map(self._rid.__getitem__, resources), np.intp, len(resources))
        buy = buy_of[row]
        keep = np.abs(price - buy) <= 1e-9 * np.maximum(1.0, np.abs(buy))
        return per_unit[row, np.where(is_ask, np.where(keep, 1, 2), 0)]

    def _store_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Each store's resource row (`_rid`), and the number of the store (in `stores`) of each
        company and resource (cell company * len(_names) + row; -1 for none): kept while the stores
        and the resources are the same."""
        keys = tuple(self.stores)
        if self._cells is None or self._cells[0] != keys:
            nr = len(self._names)
            rows = np.fromiter(map(self._rid.__getitem__, map(itemgetter(1), keys)), np.intp, len(keys))
            of = np.full(self.n * nr, -1, dtype=np.intp)
            of[np.fromiter(map(itemgetter(0), keys), np.intp, len(keys)) * nr + rows] = np.arange(len(keys))
            self._cells = (keys, rows, of)
        return self._cells[1], self._cells[2]

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


# From this many plans a step on, `settle` books on arrays (`_settle_arrays`): their fixed
# cost, some 80 numpy calls, is more than the loop's for a handful of companies.
ARRAYS_FROM = 32


def settle(ledger: Ledger, acc: StepAccount, plans: Sequence[Plan], trades: Iterable[Trade]) -> StepAccount:
    """Move goods and money for one step and complete the park's account of it.

    A small park is booked by `_settle_loop`, a large one by `_settle_arrays`: the same books,
    bit for bit. (`_settle_arrays` takes one plan per company, as the model makes them.)"""
    if isinstance(plans, PlanList) and len(plans) >= ARRAYS_FROM:
        company = plans.columns.company
        one_each = not len(company) or int(np.bincount(company).max()) == 1
    else:
        one_each = len(set(map(attrgetter("company"), plans))) == len(plans)
    if len(plans) >= ARRAYS_FROM and one_each:
        _settle_arrays(ledger, acc, plans, trades if isinstance(trades, Sequence) else list(trades))
    else:
        _settle_loop(ledger, acc, plans, trades)
    money = acc.profit
    ledger.cash += money
    ledger.operator += acc.budget
    ledger.government -= acc.subsidies
    acc.resources = dict(acc.resources)
    return acc


def _settle_loop(ledger: Ledger, acc: StepAccount, plans: Sequence[Plan], trades: Iterable[Trade]) -> None:
    """`settle`'s bookings, trade by trade, then plan by plan and each plan's resources by name."""
    step = acc.step
    # Each company's money as Python floats while the step is booked (the same operations in
    # the same order, so the same sums as on the array, without indexing numpy per entry); so
    # are the step's and the government's totals, written back at the end.
    money = acc.profit.tolist()
    subsidy = ledger.policy.exchange_subsidy
    budget, subsidies = acc.budget, acc.subsidies

    # What each company shipped and received of each resource it traded: moved[c][r] = [shipped, received].
    moved: dict[int, dict[str, list[float]]] = defaultdict(dict)
    accounts = acc.resources
    for t in trades:
        seller, buyer, r, shipped, delivered = t.seller, t.buyer, t.resource, t.shipped, t.delivered
        tally = moved[seller].get(r)
        if tally is None:
            tally = moved[seller][r] = [0.0, 0.0]
        tally[0] += shipped
        tally = moved[buyer].get(r)
        if tally is None:
            tally = moved[buyer][r] = [0.0, 0.0]
        tally[1] += delivered
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

    stores_at = ledger.stores_at
    costs, keeps = ledger._costs, ledger._keeps
    government, taxes, co2 = ledger.government, acc.taxes, acc.co2_t
    nothing: dict = {}
    for p in plans:
        c = p.company
        cash = money[c] + p.revenue  # the company's money while its plan is booked
        byproducts, inputs = p.byproducts, p.inputs
        # Its trades and stores (most companies have none).
        traded, stores = moved.get(c, nothing), stores_at.get(c, nothing)
        # (The resources it makes, uses or trades, as the keys of one dict: quicker than a set.)
        for r in sorted({**byproducts, **inputs, **traded}):
            ra = accounts[r]
            made = byproducts.get(r, 0.0)
            need = inputs.get(r, 0.0)
            ra.produced += made
            ra.consumed += need
            out, received = traded.get(r, (0.0, 0.0)) if traded else (0.0, 0.0)
            store = stores.get(r) if stores else None
            try:
                own, bought, surplus, overflow = carry(store, made, need, out, received, step + keeps[r])
            except ValueError as e:
                raise ValueError(f"company {c}, {r}: {e}") from None
            ra.self_used += own
            if bought or surplus > 1e-12 or overflow > 1e-12:
                buy, buy_tax, co2_buy, dispose, dispose_tax, co2_dispose = costs[r]
                if bought:  # bought outside: its price, its tax and CO2 of virgin supply
                    cash -= bought * buy
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
                        cash -= q * dispose
                        tax = q * dispose_tax
                        government += tax
                        taxes += tax
                        co2 += q * co2_dispose
                        ra.disposed += q
        money[c] = cash
    ledger.government, acc.taxes, acc.co2_t = government, taxes, co2

    for (_c, r), store in ledger.stores.items():
        acc.resources[r].stock_after += store.level

    acc.profit[:] = money


# A resource's account's fields that `settle` adds to, in `_settle_arrays`'s table of them.
_FIELDS = ("shipped", "exchanged", "lost", "produced", "consumed", "self_used", "bought_outside", "disposed",
           "stock_after")


def _settle_arrays(ledger: Ledger, acc: StepAccount, plans: Sequence[Plan], trades: Sequence[Trade]) -> None:
    """`_settle_loop` on arrays, for a large park (one plan per company): the same books, bit for bit.

    The pairs of a company and a resource are booked all at once, in the loop's order (plan by
    plan, each plan's resources by name): a pair without a store (most of them) by `carry`'s
    arithmetic written on arrays, a pair with one by `carry` itself. Money, the resources'
    accounts, taxes and CO2 are running sums: each gets its terms in the order the loop adds
    them, one after another. `np.add.at` and `np.add.accumulate` add in index order; `np.sum`
    adds pairwise and would give other bits. A term the loop skips (nothing bought, a disposal
    of 1e-12 or less) is left out here too."""
    accounts = acc.resources
    rid, names = ledger._rid, ledger._names
    nr = len(names)
    res = ledger.resources
    nf = len(_FIELDS)

    # The trades: each one's money (the buyer pays, the seller receives less the journey, the
    # buyer gets the subsidy), the market operator's budget and the government's subsidies.
    m = len(trades)
    cols = columns_of(trades)
    t_row = np.fromiter(map(rid.__getitem__, cols.resource), np.intp, m)
    seller, buyer, shipped, delivered, price = cols.seller, cols.buyer, cols.shipped, cols.delivered, cols.price
    payment = price * delivered
    receipt = payment if cols.seller_unit_price is price else cols.seller_unit_price * delivered
    gets = receipt - cols.transport_cost
    subsidy = ledger.policy.exchange_subsidy
    if subsidy:
        paid = subsidy * delivered
        money = [np.stack((-payment, gets, paid), axis=1).ravel()]
        payer = [np.stack((buyer, seller, buyer), axis=1).ravel()]
        acc.subsidies = _running(acc.subsidies, paid)
    else:
        money = [np.stack((-payment, gets), axis=1).ravel()]
        payer = [np.stack((buyer, seller), axis=1).ravel()]
    acc.budget = _running(acc.budget, payment - receipt)
    # What each company shipped and received of each resource (cell company * nr + row), and
    # which cells traded at all (a company's traded resources are booked even if it made none).
    cells = ledger.n * nr
    sold, got, traded = np.zeros(cells), np.zeros(cells), np.zeros(cells, dtype=bool)
    np.add.at(sold, seller * nr + t_row, shipped)
    np.add.at(got, buyer * nr + t_row, delivered)
    traded[seller * nr + t_row] = True
    traded[buyer * nr + t_row] = True

    # The pairs: the cells of a grid of plans by resources (plan * nr + row) that the plan
    # makes, uses or trades; in ascending order they are the loop's order.
    k = len(plans)
    # The plans' columns: a `PlanList`'s own (a large park's model makes them so), else read.
    pc = plans.columns if isinstance(plans, PlanList) else PlanColumns.of(plans)
    company = pc.company
    grid = traded.reshape(ledger.n, nr)[company].ravel()
    amounts = []
    for at, values in zip(pc.cells(names), (pc.made, pc.used)):
        grid[at] = True
        amount = np.zeros(k * nr)
        amount[at] = values
        amounts.append(amount)
    pair = np.flatnonzero(grid)
    n = len(pair)
    plan_of, row = np.divmod(pair, nr)
    owner = company[plan_of]
    cell = owner * nr + row
    made, need = amounts[0][pair], amounts[1][pair]
    out, received = sold[cell], got[cell]

    # `carry` without a store, on arrays: the same operations in the same order.
    available = made + 0.0
    own = np.where(available < need, available, need)
    room = available - own
    over = out > room + TOL * np.where(available > 1.0, available, 1.0)
    fresh = made - (own + np.where(room < out, room, out))
    open_need = need - own - received
    buy = open_need > TOL * np.where(need > 1.0, need, 1.0)
    bought = np.where(buy, open_need, 0.0)
    surplus = np.where(~buy & (open_need < -1e-12), -open_need, 0.0)
    overflow = np.where(fresh > 1e-12, fresh, 0.0)
    # A pair with a store goes through `carry` itself, unless the store has no batches and
    # gets nothing put in it (no surplus, no output left over): then `carry` takes nothing from
    # it, leaves it as it is and comes to the arithmetic above. The pairs that do, in the loop's
    # order up to the first other pair that ships more than it had: the first to fail is named.
    stores = list(ledger.stores.values())
    ns = len(stores)
    store_row, store_of = ledger._store_cells()
    store_at = store_of[cell]
    stored = np.flatnonzero(store_at >= 0)
    has_batches = np.fromiter(map(bool, map(attrgetter("amounts"), stores)), bool, ns)
    stored = stored[has_batches[store_at[stored]] | (surplus[stored] != 0) | (overflow[stored] != 0)]
    over[stored] = False
    first_over = int(over.argmax()) if over.any() else n
    carried = []
    step = acc.step
    for i, s, r, mk, nd, sh, rc in zip(stored.tolist(), store_at[stored].tolist(), row[stored].tolist(),
                                       *(a[stored].tolist() for a in (made, need, out, received))):
        if i > first_over:
            break
        try:
            carried.append(carry(stores[s], mk, nd, sh, rc, step + res[names[r]].shelf_life + 1))
        except ValueError as e:
            raise ValueError(f"company {int(owner[i])}, {names[r]}: {e}") from None
    if first_over < n:
        i = first_over
        raise ValueError(f"company {int(owner[i])}, {names[row[i]]}: shipped {float(out[i]):g} but had {float(room[i]):g}")
    if carried:
        own[stored], bought[stored], surplus[stored], overflow[stored] = np.fromiter(
            chain.from_iterable(carried), float, 4 * len(carried)).reshape(-1, 4).T

    # Each pair's bookings, in the loop's order, those it makes: bought outside (at the outside
    # price, its tax and CO2 of virgin supply), surplus received and output left over, disposed
    # of (at the disposal price, its tax and CO2). `cost`: per resource these six.
    cost = np.array([(ledger._buy[r], ledger._buy_tax[r], res[r].co2_virgin, ledger._dispose[r],
                      ledger._dispose_tax[r], res[r].co2_disposal) for r in names], dtype=float).ravel()
    booked = np.stack((bought != 0, surplus > 1e-12, overflow > 1e-12), axis=1).ravel()
    q = np.stack((bought, surplus, overflow), axis=1).ravel().compress(booked)
    disposal = np.tile(np.array([0, 3, 3], dtype=np.intp), n).compress(booked)  # 3 for a disposal
    b_row = np.repeat(row, 3).compress(booked)
    b_plan = np.repeat(plan_of, 3).compress(booked)
    at = b_row * 6 + disposal
    tax = q * cost.take(at + 1)
    ledger.government = _running(ledger.government, tax)
    acc.taxes = _running(acc.taxes, tax)
    acc.co2_t = _running(acc.co2_t, q * cost.take(at + 2))
    # Money: the trades' first, then each plan's revenue and its bookings: booking b of plan p
    # goes to place b + p + 1 in that sequence, the revenue of p right before its first booking.
    per_plan = np.bincount(b_plan, minlength=k)
    at_revenue = np.cumsum(per_plan) - per_plan + np.arange(k)
    at_booking = np.arange(len(q)) + b_plan + 1
    terms = np.empty(len(q) + k)
    who = np.empty(len(q) + k, dtype=np.intp)
    terms[at_revenue] = pc.revenue
    who[at_revenue] = company
    terms[at_booking] = -q * cost.take(at)
    who[at_booking] = company.take(b_plan)
    np.add.at(acc.profit, np.concatenate(payer + [who]), np.concatenate(money + [terms]))

    # The park's account of each resource. The loop opens them as it goes: the trades', the
    # pairs' (in the order of a resource's first pair) and the stores'.
    for r in dict.fromkeys(cols.resource):
        accounts[r]
    first = np.full(nr, n)
    np.minimum.at(first, row, np.arange(n))
    opened = np.flatnonzero(first < n)
    for r in opened[np.argsort(first[opened])].tolist():
        accounts[names[r]]
    for name in dict.fromkeys(map(itemgetter(1), ledger.stores)):
        accounts[name]
    # Their fields in one table (resource row * nf + field): each entry gets its terms in order.
    d = disposal != 0
    to = np.concatenate((
        (t_row * nf)[:, None] + np.arange(3), (row * nf)[:, None] + np.arange(3, 6),
        b_row * nf + np.where(d, 7, 6), store_row * nf + 8), axis=None)
    levels = np.fromiter(map(attrgetter("level"), stores), float, ns)
    terms = np.concatenate((np.stack((shipped, delivered, shipped - delivered), axis=1),
                            np.stack((made, need, own), axis=1), q, levels), axis=None)
    rows = np.flatnonzero(np.bincount(to // nf, minlength=nr)).tolist()
    if not rows:
        return
    table = np.zeros((nr, nf))
    table[rows] = [[getattr(accounts[names[r]], f) for f in _FIELDS] for r in rows]
    np.add.at(table.ravel(), to, terms)
    for r, values in zip(rows, table[rows].tolist()):
        ra = accounts[names[r]]
        for f, v in zip(_FIELDS, values):
            setattr(ra, f, v)


def _running(start: float, terms: np.ndarray) -> float:
    """`start` + terms[0] + terms[1] + ..., added one after another as a loop would."""
    if not len(terms):
        return start
    return float(np.add.accumulate(np.concatenate(([start], terms)))[-1])


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
