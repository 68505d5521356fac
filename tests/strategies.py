"""Hypothesis generators shared by the test suites: small parks and small order books.

Numbers are drawn on coarse grids (tenths, whole units) rather than as arbitrary floats: a
shrunk counterexample then reads like a hand-written park, and the properties under test are
about the mechanism, not about rounding at the 15th digit.

- `parks(...)` builds an `agents.scenario.Scenario` of 2-6 companies and 1-4 resources, with
  every resource made by one company and needed by another, so most examples trade.
- `order_books(...)` builds a `Book` (network + orders) of up to five traders of one resource,
  with whole-unit quantities, for checking clearing against exhaustive enumeration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from agents.scenario import CompanySpec, PipelineSpec, ProcessSpec, Scenario
from market.network import Network, Pipeline
from market.orders import Order, Side
from market.policy import Policy
from market.resources import Mode, Resource

RESOURCE_NAMES = ("ash", "heat", "water", "gypsum")


def tenths(lo: float, hi: float) -> st.SearchStrategy[float]:
    """A float on the grid of tenths between `lo` and `hi`."""
    return st.integers(round(lo * 10), round(hi * 10)).map(lambda v: v / 10)


def wholes(lo: int, hi: int) -> st.SearchStrategy[float]:
    return st.integers(lo, hi).map(float)


@st.composite
def resources(draw, n: int, storable: bool = True, modes: tuple[Mode, ...] = tuple(Mode)) -> dict[str, Resource]:
    """`n` resources. `storable=False` gives every one shelf_life 0 (use it or lose it)."""
    out = {}
    for name in RESOURCE_NAMES[:n]:
        out[name] = Resource(
            name=name,
            unit="t",
            virgin_price=draw(wholes(0, 100)),
            disposal_cost=draw(wholes(-10, 50)),
            co2_virgin=draw(tenths(0, 2)),
            co2_disposal=draw(tenths(0, 1)),
            transport=draw(st.sampled_from(modes)),
            transport_cost=draw(tenths(0, 3)),
            loss_per_km=draw(st.sampled_from([0.0, 0.01, 0.03])),
            shelf_life=draw(st.integers(0, 3)) if storable else 0,
            landfill=draw(st.booleans()),
            virgin_material=draw(st.booleans()),
        )
    return out


def policies() -> st.SearchStrategy[Policy]:
    return st.builds(Policy, carbon_tax=wholes(0, 100), landfill_tax=wholes(0, 30), virgin_tax=wholes(0, 30))


def _outside_cost(inputs: dict[str, float], byproducts: dict[str, float], res: dict[str, Resource],
                  policy: Policy) -> float:
    """Cost per unit of product when every input is bought and every by-product disposed of."""
    return (sum(a * policy.buy_price(res[r]) for r, a in inputs.items())
            + sum(a * policy.dispose_price(res[r]) for r, a in byproducts.items()))


@st.composite
def parks(
    draw,
    min_companies: int = 2,
    max_companies: int = 6,
    max_resources: int = 4,
    storable: bool = True,
    max_variability: float = 0.5,
    max_utilisation: float = 1.0,
) -> Scenario:
    """A small synthetic park.

    Every resource is a by-product of one company and an input of another, so a market has
    something to match; further inputs and by-products are added at random. Sale prices are set
    as the outside cost of a process plus a margin drawn from [-10, 100], so most processes run
    and a few stand idle (the model skips processes that lose money at outside prices).
    """
    n = draw(st.integers(min_companies, max_companies))
    nr = draw(st.integers(1, max_resources))
    res = draw(resources(nr, storable=storable))
    policy = draw(policies())
    names = list(res)

    n_proc = [draw(st.integers(1, 2)) for _ in range(n)]
    inputs: list[list[dict[str, float]]] = [[{} for _ in range(k)] for k in n_proc]
    byproducts: list[list[dict[str, float]]] = [[{} for _ in range(k)] for k in n_proc]
    amount = tenths(0.1, 2.0)
    for r in names:
        maker = draw(st.integers(0, n - 1))
        user = draw(st.integers(0, n - 2))
        user = user if user < maker else user + 1
        byproducts[maker][0][r] = draw(amount)
        inputs[user][0][r] = draw(amount)
    for c in range(n):
        for k in range(n_proc[c]):
            for r in names:
                what = draw(st.sampled_from(["none", "none", "input", "byproduct"]))
                if what == "input" and r not in byproducts[c][k]:
                    inputs[c][k].setdefault(r, draw(amount))
                elif what == "byproduct" and r not in inputs[c][k]:
                    byproducts[c][k].setdefault(r, draw(amount))

    companies = []
    for c in range(n):
        procs = []
        for k in range(n_proc[c]):
            cost = _outside_cost(inputs[c][k], byproducts[c][k], res, policy)
            procs.append(ProcessSpec(
                name=f"p{k}",
                product=f"product{c}_{k}",
                unit="t",
                capacity=draw(wholes(1, 100)),
                sale_price=round(cost + draw(wholes(-10, 100)), 6),
                inputs=inputs[c][k],
                byproducts=byproducts[c][k],
                utilisation=draw(tenths(0.3, max_utilisation)),
                variability=draw(tenths(0, max_variability)),
            ))
        storage = {}
        for r in names:
            if res[r].shelf_life > 0 and draw(st.booleans()):
                storage[r] = draw(wholes(1, 80))
        companies.append(CompanySpec(
            name=f"c{c}", sector="test",
            location=(draw(tenths(0, 20)), draw(tenths(0, 20))),
            processes=tuple(procs), storage=storage,
        ))

    pipelines = []
    pairs = [(a, b) for a in range(n) for b in range(n) if a < b]
    for r in names:
        if res[r].transport is Mode.PIPELINE:
            chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
            for a, b in chosen:
                a, b = (a, b) if draw(st.booleans()) else (b, a)  # a pipe carries both ways
                length = draw(st.one_of(st.none(), tenths(0.1, 15)))
                pipelines.append(PipelineSpec(f"c{a}", f"c{b}", r, length))

    return Scenario(
        name="generated", description="a park drawn by tests/strategies.py",
        resources=res, companies=tuple(companies), pipelines=tuple(pipelines), policy=policy,
    )


@dataclass(frozen=True)
class Book:
    """Orders of one resource and the network they clear over."""

    network: Network
    orders: tuple[Order, ...]
    resource: str

    def order_of(self, owner: int, side: Side) -> Order:
        """The one order of `owner` on `side` (books from `order_books` have at most one)."""
        found = [o for o in self.orders if o.owner == owner and o.side is side]
        assert len(found) == 1, found
        return found[0]


@st.composite
def order_books(
    draw,
    max_traders: int = 5,
    mode: Mode = Mode.TRUCK,
    loss_per_km: float | None = 0.0,
    both_sides: bool = False,
    ask_prices: st.SearchStrategy[float] = wholes(-30, 30),  # noqa: B008 (a strategy is immutable)
    bid_prices: st.SearchStrategy[float] = wholes(-10, 40),  # noqa: B008
) -> Book:
    """Up to `max_traders` companies each posting one order of resource "r" for 1-3 whole units.

    `loss_per_km=None` draws a loss; 0 keeps every route lossless, so whole-unit supplies and
    demands have a whole-unit optimum (the transportation problem is totally unimodular) and
    exhaustive enumeration over whole units is an exact oracle. `both_sides=True` lets a company
    also post an order on the other side, to check it is never matched with itself.
    For `mode=PIPELINE` some pairs of companies are joined by pipes of random length.
    """
    n = draw(st.integers(2, max_traders))
    positions = np.array([[draw(wholes(0, 10)), draw(wholes(0, 10))] for _ in range(n)])
    loss = draw(st.sampled_from([0.0, 0.01, 0.04])) if loss_per_km is None else loss_per_km
    r = Resource("r", "t", virgin_price=0.0, disposal_cost=0.0, transport=mode,
                 transport_cost=draw(tenths(0, 2)), loss_per_km=loss)
    orders = []
    for c in range(n):
        sides = [draw(st.sampled_from(list(Side)))]
        if both_sides and draw(st.booleans()):
            sides.append(Side.BUY if sides[0] is Side.SELL else Side.SELL)
        for side in sides:
            price = draw(ask_prices if side is Side.SELL else bid_prices)
            orders.append(Order(c, "r", side, draw(wholes(1, 3)), price))
    pipes: list[Pipeline] = []
    if mode is Mode.PIPELINE:
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        for a, b in draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))):
            pipes.append(Pipeline(a, b, "r", draw(tenths(0.5, 12))))
    return Book(Network(positions, {"r": r}, tuple(pipes)), tuple(orders), "r")


def mutate(tree: dict, mutations) -> dict:
    """A parsed TOML tree with each (key path, value) of `mutations` applied: the value set at
    the path, or the key deleted when the value is "__delete__"; a path that no longer exists
    after an earlier mutation is skipped. For fuzzing file readers with hostile input."""
    import copy

    tree = copy.deepcopy(tree)
    for path, value in mutations:
        node = tree
        try:
            for k in path[:-1]:
                node = node[k]
            if value == "__delete__":
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    return tree
