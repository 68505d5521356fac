"""A company of the park as a Mesa agent: it plans production, then bids for what it lacks and
offers what it has left. It never touches the ledger: the market settles everything."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import mesa
import numpy as np

from agents.scenario import CompanySpec
from agents.strategies import Quote, Strategy
from market.orders import COLUMNS_FROM, Order, Side, resource_code
from market.settlement import Ledger, Plan, PlanColumns, PlanList, make_plan
from market.storage import Store

if TYPE_CHECKING:
    from agents.model import ParkModel
    from agents.tactics import Tactic

Flat = TypeVar("Flat", np.ndarray, list[float])


class Company(mesa.Agent):
    """An autonomous company with processes, storage and outside options.

    Each step it decides how much of each process to run (`agents.decisions`), up to its
    capacity times a random daily load, and posts one order per resource for its net surplus or
    need after using its own by-products and stock.
    """

    def __init__(self, model: "ParkModel", index: int, spec: CompanySpec, strategy: Strategy, tactic: Tactic):
        super().__init__(model)
        self.index = index
        self.strategy = strategy
        self.tactic = tactic
        self.profit_eur = 0.0
        self.respec(spec)

    def respec(self, spec: CompanySpec) -> None:
        """Carry on with these processes (same company; a history run changes them by year)."""
        self.spec = spec
        self._processes = spec.processes
        # Each process's product, by-products and inputs per unit, as tuples for `plan_of`'s walk.
        self._recipes = [(p.product, tuple(p.byproducts.items()), tuple(p.inputs.items())) for p in spec.processes]
        self._caps = np.array([p.capacity for p in spec.processes], dtype=float)
        self._util = np.array([p.utilisation for p in spec.processes], dtype=float)
        self._cv = np.array([p.variability for p in spec.processes], dtype=float)
        self._uses = frozenset(r for p in spec.processes for r in p.inputs)
        self._profiled = any(p.seasonal or p.weekend != 1.0 or p.campaign_on for p in spec.processes)
        # Sale prices of the processes now: the file's until the model passes costs on (`agents.pricing`).
        self.sale = np.array([p.sale_price for p in spec.processes], dtype=float)

    @property
    def uses(self) -> frozenset[str]:
        """Resources some process of the company takes as input."""
        return self._uses

    @property
    def name(self) -> str:
        return self.spec.name

    def nominal(self, rng: np.random.Generator, t: int = 0, steps_per_year: int = 365,
                profiles: bool = False) -> np.ndarray:
        """What each process could make this step if nothing failed: capacity x a random daily
        load (x the profile of the year, week and campaign). Draws one load factor per process,
        always, so the random stream does not depend on what the company decides (common random
        numbers); outages are applied by the model (`ParkModel.capacity_left`). How much of it the
        company chooses to make is its production decision (`agents.decisions`)."""
        noise, util = self.draw(rng, t, steps_per_year, profiles)
        load = np.clip(util * (1.0 + self._cv * noise), 0.0, 1.0)
        return self._caps * load

    def draw(self, rng: np.random.Generator, t: int = 0, steps_per_year: int = 365,
             profiles: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The step's random part of `nominal`: one standard normal draw per process and the
        utilisation it applies to (the model does the rest of `nominal` for the whole park at once)."""
        noise = rng.standard_normal(len(self._caps))
        util = self._util * self._profile(t, steps_per_year) if profiles and self._profiled else self._util
        return noise, util

    def _profile(self, t: int, steps_per_year: int) -> np.ndarray:
        out = np.ones(len(self._processes))
        day = (t % steps_per_year) * 365.0 / steps_per_year
        for k, p in enumerate(self._processes):
            f = 1.0
            if p.seasonal:
                f *= 1.0 + p.seasonal * np.cos(2.0 * np.pi * (day - p.peak_day) / 365.0)
            if p.weekend != 1.0 and steps_per_year == 365 and t % 7 >= 5:
                f *= p.weekend
            if p.campaign_on > 0 and t % (p.campaign_on + p.campaign_off) >= p.campaign_on:
                f = 0.0
            out[k] = f
        return out

    def plan_of(self, qty: list[float], prices: list[float]) -> Plan:
        """The plan of making `qty` of each process sold at `prices`: output, revenue, by-products,
        inputs; on Python floats (the model makes every company's plan from one list of the
        park's, `ParkModel._plan`)."""
        recipes = self._recipes
        if len(recipes) == 1:  # one process (most companies): the loop's one round, its sums onto 0.0 written out
            q = qty[0]
            if q <= 0:
                return make_plan(self.index, 0.0, {}, {}, {})
            product, made, used = recipes[0]
            return make_plan(self.index, 0.0 + q * prices[0], {product: 0.0 + q}, {r: 0.0 + a * q for r, a in made},
                             {r: 0.0 + a * q for r, a in used})
        output: dict[str, float] = {}
        byproducts: dict[str, float] = {}
        inputs: dict[str, float] = {}
        revenue = 0.0
        for (product, made, used), q, price in zip(recipes, qty, prices):
            if q <= 0:
                continue
            output[product] = output.get(product, 0.0) + q
            revenue += q * price
            for r, a in made:
                byproducts[r] = byproducts.get(r, 0.0) + a * q
            for r, a in used:
                inputs[r] = inputs.get(r, 0.0) + a * q
        return make_plan(self.index, revenue, output, byproducts, inputs)

    def prices(self) -> np.ndarray:
        return self.sale

    def positions(self, plan: Plan, ledger: Ledger, stock: Callable[[int, str], float] | None = None) -> list[Order]:
        """The company's true needs and surpluses after self-use, each priced at its
        reservation: the truthful orders. The market is measured against these.

        Surplus has two reservation prices. What the company could keep in its own store and
        use later as an input is worth what it would otherwise pay outside for that input;
        the rest is worth minus its disposal cost. The two parts are two asks, so a company
        never sells today what it would have to buy back tomorrow at a loss.

        `stock` gives the stock to count instead of the company's own (the optimum's planner
        builds the same orders on its own stores, `market.optimum`); it is asked only where the
        park has a store, the rest holds nothing.
        """
        return [Order(c, r, side, q, price) for c, r, side, q, price in self._positions(plan, ledger, stock)]

    def _positions(self, plan: Plan, ledger: Ledger, stock: Callable[[int, str], float] | None = None
                   ) -> list[tuple[int, str, Side, float, float]]:
        """`positions` as (company, resource, side, quantity, price) rows: `park_positions` of this company."""
        return park_positions([self], [plan], ledger, stock)[0]

    def quote(self, true_order: Order, ledger: Ledger, unit: int = 0) -> Quote:
        """What the strategy sees when it prices `unit` of `true_order` (the numbering is
        `agents.traders.ParkTraders`')."""
        r = true_order.resource
        return Quote(true_order.side, r, true_order.price, -ledger.dispose_price(r), ledger.park_buy_value(r), self.model.t,
                     unit)

    def shade(self, quote: Quote, rng: np.random.Generator) -> float:
        """The price the company names for `quote`: its strategy's, pulled towards its true
        reservation by its shared-vision weight w (w = 1 bids truthfully: a company that values
        the park's gains as its own does not shade its bids to take a partner's share at the
        risk of losing the trade). The model's assumption; the strategy draws its random
        numbers either way."""
        p = self.strategy.price(quote, rng)
        w = float(self.model.weights[self.index])
        return p if w <= 0.0 else w * quote.reservation + (1.0 - w) * p

    def unshaded(self, quote: Quote, posted: float) -> float | None:
        """The price the company's strategy chose, from the price it posted (`shade` undone):
        what a learning strategy must learn from. None at weight 1, where the strategy's price
        had no part in the posted one."""
        w = float(self.model.weights[self.index])
        if w <= 0.0:
            return posted
        if w >= 1.0:
            return None
        return (posted - w * quote.reservation) / (1.0 - w)

    def price(self, true_order: Order, ledger: Ledger, rng: np.random.Generator) -> Order:
        """The order the company posts: its true order re-priced by its strategy."""
        o = true_order
        return Order(o.owner, o.resource, o.side, o.quantity, self.shade(self.quote(o, ledger), rng), o.ref)


class ParkLoads:
    """Every process's capacity, variability and utilisation end to end over the park (in
    company order), each company's slice of them and the company of each process: what
    `ParkModel._nominal_and_able` computes a day's loads on, built once instead of joined
    from the companies' arrays every day. `fits` tells when it must be built again: a company
    that takes other processes (`Company.respec`) has another spec, or the reliability model's
    processes (`first`, the first process of each company) are laid out otherwise."""

    def __init__(self, companies: Sequence[Company], first: np.ndarray):
        self.specs = [c.spec for c in companies]
        self.first = first
        self.lens = [len(c._caps) for c in companies]
        ends = np.cumsum(self.lens, dtype=np.int64).tolist()
        self.bounds = list(zip([0, *ends[:-1]], ends))
        self.size = ends[-1] if ends else 0
        # Whether the reliability model numbers the processes as the companies list them (it
        # keeps the layout it was built with when a history run changes the processes).
        self.aligned = bool(companies) and np.array_equal(np.asarray(first[:len(ends)]), [a for a, _ in self.bounds])
        self.caps = np.concatenate([c._caps for c in companies]) if companies else np.zeros(0)
        self.cv = np.concatenate([c._cv for c in companies]) if companies else np.zeros(0)
        self.util = np.concatenate([c._util for c in companies]) if companies else np.zeros(0)
        self.owner = np.repeat(np.arange(len(companies)), self.lens)
        self.profiled = any(c._profiled for c in companies)
        self._table_made = False  # `_table`, made when first asked for
        self._recipe_table: tuple | None = None

    def fits(self, companies: Sequence[Company], first: np.ndarray) -> bool:
        """Whether these arrays are still those of `companies` (their processes unchanged)."""
        return first is self.first and len(companies) == len(self.specs) \
            and all(map(operator.is_, [c.spec for c in companies], self.specs))

    def noise(self, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """The day's standard normal draws of every process (`park_noise`)."""
        return park_noise(rngs, self.lens)

    def slices(self, flat: Flat) -> list[Flat]:
        """Each company's part of a park-wide array or list (an array's as views, as np.split
        gives, without its per-piece overhead)."""
        return [flat[a:b] for a, b in self.bounds]

    def plans(self, companies: Sequence[Company], made: np.ndarray, sale: np.ndarray) -> PlanList | None:
        """Every company's `Company.plan_of` on its part of `made` and `sale` (each process's
        amount and price, end to end), as columns worked out on the arrays at once: the same
        numbers as plan by plan (`0.0 + a * q` elementwise), in the same order. The plans are
        made only if read (`market.settlement.PlanList`). None unless every company has one
        process (then a company's process is its plan's only one, and no entry sums two)."""
        table = self._table(companies)
        if table is None:
            return None
        product, made_plan, made_resource, made_code, made_coef, used_plan, used_resource, used_code, used_coef = table
        q, price = made, sale
        on = ~(q <= 0)  # `plan_of` makes an empty plan where q <= 0
        revenue = np.where(on, 0.0 + q * price, 0.0)
        out_plan = np.flatnonzero(on)
        keep_made, keep_used = np.flatnonzero(on[made_plan]), np.flatnonzero(on[used_plan])
        made_at, used_at = made_plan[keep_made], used_plan[keep_used]
        columns = PlanColumns(
            np.arange(len(q)), revenue, out_plan, [product[k] for k in out_plan.tolist()], 0.0 + q[out_plan],
            made_at, [made_resource[k] for k in keep_made.tolist()], made_code[keep_made],
            0.0 + made_coef[keep_made] * q[made_at], used_at, [used_resource[k] for k in keep_used.tolist()],
            used_code[keep_used], 0.0 + used_coef[keep_used] * q[used_at])

        def all_plans() -> list[Plan]:
            return [c.plan_of(x, p) for c, x, p in zip(companies, self.slices(q.tolist()), self.slices(price.tolist()))]

        def one(k: int) -> Plan:
            return companies[k].plan_of([float(q[k])], [float(price[k])])
        return PlanList.made(columns, all_plans, one)

    def _table(self, companies: Sequence[Company]) -> tuple | None:
        """Each company's product and its one process's by-products and inputs per unit, as
        entries end to end (the company, the resource, its code, the amount per unit)."""
        if not self._table_made:
            self._table_made = True
            if all(len(c._recipes) == 1 and c.index == k for k, c in enumerate(companies)):
                product = [c._recipes[0][0] for c in companies]
                sides: list = []
                for per_unit in ([c._recipes[0][1] for c in companies], [c._recipes[0][2] for c in companies]):
                    rows = [(k, r, a) for k, entries in enumerate(per_unit) for r, a in entries]
                    sides += [np.array([k for k, _, _ in rows], dtype=np.intp), [r for _, r, _ in rows],
                              np.array([resource_code(r) for _, r, _ in rows], dtype=np.intp),
                              np.array([a for _, _, a in rows], dtype=float)]
                self._recipe_table = (product, *sides)
        return self._recipe_table


def park_noise(rngs: Sequence[np.random.Generator], lens: Sequence[int]) -> np.ndarray:
    """Standard normal draws end to end, `lens[i]` from `rngs[i]`: the same numbers as each
    company's `standard_normal(k)` in `Company.draw`. A company with one process draws a
    scalar, which numpy takes from the stream as it fills an array of one
    (tests/test_plan_phase.py checks it), at half the cost; the draws are joined as Python floats."""
    out: list[float] = []
    for g, k in zip(rngs, lens):
        if k == 1:
            out.append(g.standard_normal())
        else:
            out.extend(g.standard_normal(k).tolist())
    return np.array(out, dtype=float)


Row = tuple[int, str, Side, float, float]


def park_positions(companies: Sequence[Company], plans: Sequence[Plan], ledger: Ledger,
                   stock: Callable[[int, str], float] | None = None) -> list[list[Row]]:
    """Each company's `Company.positions` on its plan (`plans[k]` is `companies[k]`'s) as
    (company, resource, side, quantity, price) rows, one list a company: the model numbers the
    park's orders as it builds them (`ParkModel._truthful`), each Order made once. One loop over
    the park, the prices and stores looked up by resource: a thousand companies' positions a step."""
    if stock is None and isinstance(plans, PlanList) and len(plans) >= COLUMNS_FROM and \
            all(c.index == k for k, c in enumerate(companies)):
        return _park_positions_columns(companies, plans, ledger)
    buy, dispose = ledger.buy_prices, ledger.dispose_prices
    subsidy = ledger.policy.exchange_subsidy  # a bid's value: `Ledger.park_buy_value`
    stores_at = ledger.stores_at
    nothing: dict[str, Store] = {}
    blocks = []
    for company, plan in zip(companies, plans):
        idx, uses = company.index, company._uses
        # Only a company's stored resources have stock (the planner's stores are the park's, by key):
        # the rest is counted as 0.0 without asking.
        at = stores_at.get(idx, nothing)
        out: list[Row] = []
        byproducts, inputs = plan.byproducts, plan.inputs
        for r in sorted(byproducts.keys() | inputs.keys()):
            store = at.get(r)
            level = 0.0 if store is None else store.level if stock is None else stock(idx, r)
            net = byproducts.get(r, 0.0) + level - inputs.get(r, 0.0)
            if net > 1e-9:
                _asks(out, idx, r, net, store if r in uses else None, buy[r], dispose[r])
            elif net < -1e-9:
                out.append((idx, r, Side.BUY, -net, buy[r] + subsidy))
        # Stock of a resource the company neither makes nor needs this step is still for sale.
        for r, store in at.items():
            if r not in byproducts and r not in inputs:
                level = store.level if stock is None else stock(idx, r)
                if level > 1e-9:
                    _asks(out, idx, r, level, store if r in uses else None, buy[r], dispose[r])
        blocks.append(out)
    return blocks


_SIDES = (Side.SELL, Side.BUY)


def _park_positions_columns(companies: Sequence[Company], plans: PlanList, ledger: Ledger) -> list[list[Row]]:
    """`park_positions` of the whole park (company k's plan `plans[k]`, the park's own stock) on
    the plans' columns: the same rows, made at once. A company's rows: its resources by name
    (the ledger's rows are in name order), each an ask of what it could keep and one of the rest,
    or a bid; then its stock of what it neither makes nor needs, in its stores' order."""
    pc = plans.columns
    names = ledger._names
    nr = len(names)
    made_at, used_at = pc.cells(names)
    # The pairs of a company and a resource its plan makes or uses: cells of a grid of companies
    # by resources, ascending (by company, then resource name).
    grid = np.zeros(len(companies) * nr, dtype=bool)
    grid[made_at] = True
    grid[used_at] = True
    pairs = np.flatnonzero(grid)
    amount = np.zeros(len(grid))
    amount[made_at] = pc.made
    made = amount[pairs]
    amount[:] = 0.0
    amount[used_at] = pc.used
    used = amount[pairs]
    level = np.zeros(len(pairs))
    # The stores: each one's cell, level, capacity, whether its company uses the resource, and
    # its place among its company's stores; those at no pair are stock the company only holds.
    keys, levels, caps, uses, order = [], [], [], [], []
    for c, at in ledger.stores_at.items():
        input_of = companies[c]._uses
        for k, (r, store) in enumerate(at.items()):
            keys.append(c * nr + ledger._rid[r])
            levels.append(store.level)
            caps.append(store.capacity)
            uses.append(r in input_of)
            order.append(k)
    cell = np.array(keys, dtype=np.intp)
    where = np.searchsorted(pairs, cell)
    at_pair = where < len(pairs)
    at_pair[at_pair] = pairs[where[at_pair]] == cell[at_pair]
    store_level, store_cap, store_uses = (np.array(levels, dtype=float), np.array(caps, dtype=float),
                                          np.array(uses, dtype=bool))
    level[where[at_pair]] = store_level[at_pair]
    keeps_in = np.full(len(pairs), -1)  # the store a surplus may go to (an input's), -1: none
    keeps_in[where[at_pair & store_uses]] = np.flatnonzero(at_pair & store_uses)
    net = made + level - used
    # Every candidate row: pairs, then stores alone, with where it goes among its company's rows.
    alone = np.flatnonzero(~at_pair & (store_level > 1e-9))
    cell_of = np.concatenate((pairs, cell[alone]))
    surplus = np.concatenate((np.where(net > 1e-9, net, 0.0), store_level[alone]))
    store_of = np.concatenate((keeps_in, np.where(store_uses[alone], alone, -1)))
    has = store_of >= 0
    cap = np.zeros(len(store_of))
    cap[has] = store_cap[store_of[has]]
    keep = np.where(has, np.where(cap < surplus, cap, surplus), 0.0)  # min(surplus, cap)
    rest = surplus - keep
    bid = np.concatenate((np.where(net < -1e-9, -net, 0.0), np.zeros(len(alone))))
    # (sort key: company, then pairs before stores alone, then place, then keep / rest / bid)
    place = np.concatenate((cell_of[:len(pairs)] % nr, nr + np.asarray(order, dtype=np.intp)[alone]))
    rank = (cell_of // nr) * (2 * nr + len(order) + 1) + place
    kinds = (np.flatnonzero(keep > 1e-9), np.flatnonzero(rest > 1e-9), np.flatnonzero(bid > 0))
    take = np.concatenate(kinds)
    kind = np.repeat(np.arange(3), [len(x) for x in kinds])
    sort = np.lexsort((kind, rank[take]))
    take, kind = take[sort], kind[sort]
    row = cell_of[take] % nr
    owner = cell_of[take] // nr
    buy = np.array([ledger.buy_prices[r] for r in names], dtype=float)
    dispose = np.array([ledger.dispose_prices[r] for r in names], dtype=float)
    subsidy = ledger.policy.exchange_subsidy
    quantity = np.choose(kind, (keep[take], rest[take], bid[take]))
    price = np.choose(kind, (buy[row], -dispose[row], buy[row] + subsidy))
    rows = list(zip(owner.tolist(), map(names.__getitem__, row.tolist()), map(_SIDES.__getitem__, (kind == 2).tolist()),
                    quantity.tolist(), price.tolist()))
    ends = np.cumsum(np.bincount(owner, minlength=len(companies))).tolist()
    return [rows[a:b] for a, b in zip([0, *ends[:-1]], ends)]


def _asks(out: list[Row], idx: int, r: str, surplus: float, keeps_in: Store | None, buy: float, dispose: float) -> None:
    """The asks of company `idx` for a `surplus` of `r`: what it can keep in its store of an
    input (`keeps_in`; None: none, or not an input) at the outside purchase price it saves
    (`buy`), the rest at minus its disposal price (`dispose`)."""
    if keeps_in is not None:
        cap = keeps_in.capacity
        keep = cap if cap < surplus else surplus  # min(surplus, cap)
    else:
        keep = 0.0
    if keep > 1e-9:
        out.append((idx, r, Side.SELL, keep, buy))
    if surplus - keep > 1e-9:
        out.append((idx, r, Side.SELL, surplus - keep, -dispose))
