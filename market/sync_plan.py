"""The park operator's synchronised plan: one multi-period LP over production, exchanges and stock.

The companies of the park decide on their own: each plans its processes against outside prices,
then trades what is left in the market. This module computes what a single operator who knew
every process, route and store would do instead. Over a horizon of H periods (days) it chooses
jointly every process's output, every shipment over the transport network, every outside
purchase and disposal and every store level, to maximise the park's total profit, each unit
being counted once. The plan serves as a yardstick for the decentralised outcome and as a policy
(companies follow the operator). Used on a rolling horizon, as the model layer does, the plan
is solved each day for the next H days, only its first period is carried out and the next day
is planned again with the stocks that resulted (Sethi & Sorger 1991, "A theory of rolling
horizon decision making", Annals of Operations Research 29). The LP is the multi-period
network model of supply-chain master planning (Stadtler & Kilger, "Supply Chain Management and
Advanced Planning", the master-planning chapter), with the by-products of one plant as inputs of
another. It is solved by HiGHS (Huangfu & Hall 2018, Mathematical Programming Computation 10)
through `highspy`, on the instance `market.transport` keeps per process.

Nodes. A node is a pair (company c, resource r) that appears anywhere: a process of c uses or
yields r, an edge for r starts or ends at c, or c has a store of r. Each node has, in each period
h, one balance row (what comes in equals what goes out):

    sum_p byproducts[p, r] x[p, h] + sum_{e into the node} share_e f[e, h] + buy[n, h]
        + sum_s (1 - decay_s) y[s, h - 1]                       (store_level_s when h = 0)
    = sum_p inputs[p, r] x[p, h] + sum_{e out of the node} f[e, h] + dispose[n, h]
        + sum_s y[s, h]

with p over the processes of c, s over the stores of c holding r, y[s, h] the stock at the end
of period h. An outside purchase exists only at a node whose company consumes r in some process
and where r can be bought outside (`can_buy`); a disposal only at a node whose company yields r
as a by-product or stores r. Every variable is non-negative; x[p, h] <= capacity[p, h] and
y[s, h] <= store_capacity[s].

One more row, which the companies' market imposes too: what arrives at a node is used there.
At every node that can send r away (an edge out, or disposal) and can receive it (an edge in,
or an outside purchase):

    sum_{e into the node} share_e f[e, h] + buy[n, h] <= sum_p inputs[p, r] x[p, h] + sum_s y[s, h]

i.e. deliveries and purchases are consumed or stored, never passed on or dumped in the same
period. By the balance this is the same as: what leaves the node (shipments and disposal) is at
most what the node yields plus the stock it carries in. Without it the LP can be unbounded:
with an exchange subsidy above the transport cost a unit shipped round A -> B -> A earns the
subsidy on every lap, and with a by-product sold outside (a negative disposal price) a unit
bought at one company could be shipped to another to be "disposed of" at a profit. With it,
every quantity is bounded, and x = f = buy = y = 0 with the opening stock disposed of is
always feasible, so the plan always exists.

Objective (maximised), with d = discount:

    sum_h d**h ( sum_p price[p, h] x[p, h] - sum_n buy_price[r(n), h] buy[n, h]
                 - sum_n dispose_price[r(n), h] dispose[n, h]
                 - sum_e (edge_cost[e] - subsidy * share_e) f[e, h] - sum_s store_hold[s] y[s, h] )

Stock left at the end of the horizon is worth nothing. So in the last periods a store may keep
a waste whose holding costs less than its disposal rather than dispose of it; on a rolling
horizon that stock is planned again the next day, but a plan that must value closing stock
(as `market.settlement.closing_stock_value` does at the end of a run) would add a terminal value.

Dual values. `PlanResult.value[n]` is the dual of node n's balance row in period 0: the increase
of the (discounted) objective per extra unit of r available at company c in period 0, counted
like the company's own output or stock (it may be used, stored, shipped or disposed of). It is
positive when a unit there is worth money: at a node that buys r outside with need to spare it
is the buy price, at a node that disposes of r it is minus the disposal price. At a degenerate
optimum it is one of the supergradients of the objective in that supply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy import sparse

from market.transport import _copy_basis, _highs_solver, serial


def _empty_int() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _empty_float() -> np.ndarray:
    return np.zeros(0)


_INT_FIELDS = ("proc_company", "edge_from", "edge_to", "edge_resource", "store_company", "store_resource",
               "closed_nodes")
_FLOAT_FIELDS = ("capacity", "price", "inputs", "byproducts", "buy_price", "dispose_price", "edge_share",
                 "edge_cost", "store_capacity", "store_level", "store_hold", "store_decay")
_NON_NEGATIVE = ("capacity", "inputs", "byproducts", "edge_cost", "store_capacity", "store_level")
_COMPANIES = ("proc_company", "edge_from", "edge_to", "store_company")
_RESOURCES = ("edge_resource", "store_resource")


@dataclass(frozen=True, eq=False)
class PlanProblem:
    """One planning problem. Quantities are in each resource's own unit (t, MWh, m3: whatever the
    park uses for it), a process's output in units of its product, money in EUR, a period is a day.

    horizon        H >= 1 periods; period 0 is the one to carry out.
    proc_company   (P,) int: the company running each process.
    capacity       (P, H): most units of product each process can make in each period (>= 0).
    price          (P, H): EUR per unit of product sold (any sign).
    inputs         (P, R): units of resource r consumed per unit of product (>= 0).
    byproducts     (P, R): units of resource r yielded per unit of product (>= 0).
    buy_price      (R, H): EUR per unit of r bought outside, taxes included.
    can_buy        (R,) bool: False when r has no outside substitute.
    dispose_price  (R, H): EUR per unit of r disposed of; negative when it is sold outside.
    edge_from, edge_to, edge_resource  (E,) int: a route from one company to another for one
                   resource (only routes that exist are listed).
    edge_share     (E,): part of a shipped unit that arrives, in (0, 1].
    edge_cost      (E,): EUR per unit shipped (>= 0).
    subsidy        EUR paid to the receiver per unit delivered over an edge.
    store_company, store_resource  (S,) int: who stores what.
    store_capacity (S,): most units held at the end of a period (>= 0).
    store_level    (S,): units held at the start of period 0 (>= 0; may exceed the capacity,
                   the excess is then used, shipped or disposed of in period 0).
    store_hold     (S,): EUR per unit held at the end of a period.
    store_decay    (S,): share of the opening stock of a period lost during it, in [0, 1).
    discount       period h's profit is weighted by discount**h (> 0).
    closed_nodes   (K, 3) int rows (company, resource, side): no outside purchase (side 0) or no
                   disposal (side 1) at that node, whatever else would allow it. The park model
                   uses it where a company both makes and uses a resource and uses its own first.
    """

    horizon: int
    proc_company: np.ndarray
    capacity: np.ndarray
    price: np.ndarray
    inputs: np.ndarray
    byproducts: np.ndarray
    buy_price: np.ndarray
    can_buy: np.ndarray
    dispose_price: np.ndarray
    edge_from: np.ndarray = field(default_factory=_empty_int)
    edge_to: np.ndarray = field(default_factory=_empty_int)
    edge_resource: np.ndarray = field(default_factory=_empty_int)
    edge_share: np.ndarray = field(default_factory=_empty_float)
    edge_cost: np.ndarray = field(default_factory=_empty_float)
    subsidy: float = 0.0
    store_company: np.ndarray = field(default_factory=_empty_int)
    store_resource: np.ndarray = field(default_factory=_empty_int)
    store_capacity: np.ndarray = field(default_factory=_empty_float)
    store_level: np.ndarray = field(default_factory=_empty_float)
    store_hold: np.ndarray = field(default_factory=_empty_float)
    store_decay: np.ndarray = field(default_factory=_empty_float)
    discount: float = 1.0
    closed_nodes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))

    def __post_init__(self) -> None:
        # Own read-only copies: the caller's arrays are neither aliased nor frozen.
        for name in _INT_FIELDS:
            a = np.array(getattr(self, name), dtype=np.int64, copy=True)
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        for name in _FLOAT_FIELDS:
            a = np.array(getattr(self, name), dtype=float, copy=True)
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        cb = np.array(self.can_buy, dtype=bool, copy=True)
        cb.setflags(write=False)
        object.__setattr__(self, "can_buy", cb)
        object.__setattr__(self, "horizon", int(self.horizon))
        object.__setattr__(self, "subsidy", float(self.subsidy))
        object.__setattr__(self, "discount", float(self.discount))
        self._check()

    def _check(self) -> None:
        h = self.horizon
        if h < 1:
            raise ValueError(f"horizon must be >= 1, got {h}")
        if not (np.isfinite(self.discount) and self.discount > 0):
            raise ValueError(f"discount must be > 0, got {self.discount}")
        if not np.isfinite(self.subsidy):
            raise ValueError("subsidy must be finite")
        if self.buy_price.ndim != 2 or self.buy_price.shape[1] != h:
            raise ValueError(f"buy_price must be (R, {h}), got {self.buy_price.shape}")
        r = self.buy_price.shape[0]
        p = len(self.proc_company)
        e = len(self.edge_from)
        s = len(self.store_company)
        shapes = {"proc_company": (p,), "capacity": (p, h), "price": (p, h), "inputs": (p, r),
                  "byproducts": (p, r), "can_buy": (r,), "dispose_price": (r, h),
                  "edge_from": (e,), "edge_to": (e,), "edge_resource": (e,), "edge_share": (e,),
                  "edge_cost": (e,), "store_company": (s,), "store_resource": (s,),
                  "store_capacity": (s,), "store_level": (s,), "store_hold": (s,), "store_decay": (s,),
                  "closed_nodes": (len(self.closed_nodes), 3)}
        for name, shape in shapes.items():
            got = getattr(self, name).shape
            if got != shape:
                raise ValueError(f"{name} must have shape {shape}, got {got}")
        if self._values_hold(r):
            return
        # Something is wrong: find the first field at fault, in this order, to name it.
        for name in _FLOAT_FIELDS:
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be finite")
        for name in _NON_NEGATIVE:
            if np.any(getattr(self, name) < 0):
                raise ValueError(f"{name} must be >= 0")
        for name in _COMPANIES:
            if np.any(getattr(self, name) < 0):
                raise ValueError(f"{name} must hold company indices >= 0")
        for name in _RESOURCES:
            a = getattr(self, name)
            if np.any((a < 0) | (a >= r)):
                raise ValueError(f"{name} must hold resource indices in [0, {r})")
        if np.any((self.edge_share <= 0) | (self.edge_share > 1)):
            raise ValueError("edge_share must be in (0, 1]")
        if np.any((self.store_decay < 0) | (self.store_decay >= 1)):
            raise ValueError("store_decay must be in [0, 1)")

    def _values_hold(self, r: int) -> bool:
        """Every value check of `_check` at once, a few array operations over all the fields of
        a kind instead of about thirty over each field (a rolling plan checks a problem a day)."""
        floats = np.concatenate([getattr(self, name).ravel() for name in _FLOAT_FIELDS])
        if not np.isfinite(floats).all():
            return False
        low = [getattr(self, name).ravel() for name in _NON_NEGATIVE + _COMPANIES + _RESOURCES]
        if np.concatenate(low).min(initial=0) < 0:
            return False
        res = np.concatenate([getattr(self, name) for name in _RESOURCES])
        share, decay = self.edge_share, self.store_decay
        return bool(res.max(initial=-1) < r and share.min(initial=1) > 0 and share.max(initial=1) <= 1
                    and decay.max(initial=0) < 1)


@dataclass(frozen=True, eq=False)
class PlanResult:
    """The optimal plan. Per-period arrays have H columns, period 0 first.

    production (P, H)  units of product per process.
    flow       (E, H)  units shipped per edge (share_e of them arrive).
    buy        (N, H)  units bought outside per node (rows in the order of `nodes`; 0 where
                       buying is not allowed).
    dispose    (N, H)  units disposed of per node (0 where disposal is not allowed).
    store      (S, H)  stock of each store at the end of each period.
    objective          maximised profit over the horizon, discounted (EUR).
    profit_first       profit of period 0 alone, undiscounted (EUR).
    value      (N,)    dual value of each node's balance in period 0: EUR gained per extra unit
                       of the resource available at that company in period 0 (positive when a
                       unit there is worth money; e.g. the buy price where the company buys
                       outside, minus the disposal price where it disposes).
    nodes              (company, resource) of each node, sorted.
    basis              the optimal basis, to start a plan of the same structure from (`solve`).
    """

    production: np.ndarray
    flow: np.ndarray
    buy: np.ndarray
    dispose: np.ndarray
    store: np.ndarray
    objective: float
    profit_first: float
    value: np.ndarray
    nodes: list[tuple[int, int]]
    basis: Basis | None = None
    _index: dict[tuple[int, int], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.nodes)})

    def value_at(self, company: int, resource: int) -> float | None:
        """The period-0 value of a unit of `resource` at `company`, None if that node is not in
        the plan (the company neither uses, yields, ships, receives nor stores it)."""
        i = self._index.get((int(company), int(resource)))
        return None if i is None else float(self.value[i])


@dataclass(frozen=True, eq=False)
class _Nodes:
    """The LP's nodes and which variables touch each: every (company, resource) pair that
    appears, keyed c * R + r and sorted, with the index of the node of each process use, edge
    end and store, and the nodes that may buy (`nb`) or dispose (`nd`). `arr[n]` is node n's
    arrivals row (counted from 0 after the N balance rows) or -1 where it has none."""

    key: np.ndarray        # (N,) c * R + r
    res: np.ndarray        # (N,) resource of each node
    pu: np.ndarray         # process of each (process, resource) use
    nu: np.ndarray         # node of each use
    inp_u: np.ndarray      # units consumed per unit of product, per use
    byp_u: np.ndarray      # units yielded per unit of product, per use
    n_from: np.ndarray     # (E,) node each edge leaves
    n_to: np.ndarray       # (E,) node each edge enters
    n_s: np.ndarray        # (S,) node of each store
    nb: np.ndarray         # nodes with an outside purchase
    nd: np.ndarray         # nodes with a disposal
    arr: np.ndarray        # (N,) arrivals row or -1
    n_arr: int             # A, the number of arrivals rows
    labels: tuple[tuple[int, int], ...]  # (N,) (company, resource) of each node

    @property
    def n(self) -> int:
        return len(self.key)


def _nodes(pb: PlanProblem) -> _Nodes:
    """Index the nodes, decide where buying and disposal exist and which nodes need an
    arrivals row."""
    R = pb.inputs.shape[1]
    pu, ru = np.nonzero((pb.inputs > 0) | (pb.byproducts > 0))
    key_u = pb.proc_company[pu] * R + ru
    key_from = pb.edge_from * R + pb.edge_resource
    key_to = pb.edge_to * R + pb.edge_resource
    key_s = pb.store_company * R + pb.store_resource
    node_key = np.unique(np.concatenate([key_u, key_from, key_to, key_s]))
    N = len(node_key)
    nu = np.searchsorted(node_key, key_u)
    n_from = np.searchsorted(node_key, key_from)
    n_to = np.searchsorted(node_key, key_to)
    n_s = np.searchsorted(node_key, key_s)
    node_res = node_key % R if R else node_key
    inp_u = pb.inputs[pu, ru]
    byp_u = pb.byproducts[pu, ru]

    consumes = np.zeros(N, dtype=bool)
    consumes[nu[inp_u > 0]] = True
    may_dispose = np.zeros(N, dtype=bool)
    may_dispose[nu[byp_u > 0]] = True
    may_dispose[n_s] = True
    may_buy = consumes & pb.can_buy[node_res]
    if len(pb.closed_nodes):
        # Nodes where the caller rules out outside trade on one side (see `closed_nodes`).
        key_c = pb.closed_nodes[:, 0] * R + pb.closed_nodes[:, 1]
        at = np.searchsorted(node_key, key_c)
        found = (at < N) & (node_key[np.minimum(at, N - 1)] == key_c)
        buy_shut = found & (pb.closed_nodes[:, 2] == 0)
        dispose_shut = found & (pb.closed_nodes[:, 2] == 1)
        may_buy[at[buy_shut]] = False
        may_dispose[at[dispose_shut]] = False
    sends = np.zeros(N, dtype=bool)
    sends[n_from] = True
    receives = np.zeros(N, dtype=bool)
    receives[n_to] = True
    # The arrivals row is only needed where it binds anything: elsewhere the balance implies it.
    has_arr = (sends | may_dispose) & (receives | may_buy)
    arr = np.full(N, -1, dtype=np.int64)
    arr[has_arr] = np.arange(int(has_arr.sum()))
    labels = tuple((int(c), int(r)) for c, r in zip(node_key // R, node_res)) if R else ()
    return _Nodes(node_key, node_res, pu, nu, inp_u, byp_u, n_from, n_to, n_s,
                  np.flatnonzero(may_buy), np.flatnonzero(may_dispose), arr, int(has_arr.sum()), labels)


@dataclass(frozen=True)
class _Columns:
    """Where each block of variables starts: x, f, buy, dispose, y, each block item-major
    (item * H + h)."""

    f: int
    b: int
    d: int
    y: int
    n: int

    @staticmethod
    def of(pb: PlanProblem, nodes: _Nodes) -> _Columns:
        H = pb.horizon
        o_f = len(pb.proc_company) * H
        o_b = o_f + len(pb.edge_from) * H
        o_d = o_b + len(nodes.nb) * H
        o_y = o_d + len(nodes.nd) * H
        return _Columns(o_f, o_b, o_d, o_y, o_y + len(pb.store_company) * H)


def _matrix(pb: PlanProblem, nodes: _Nodes, col: _Columns) -> sparse.csc_array:
    """The constraint matrix: N * H balance rows, then A * H arrivals rows."""
    H = pb.horizon
    hh = np.arange(H)
    N = nodes.n
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def add(row: np.ndarray, col: np.ndarray, val: np.ndarray | float) -> None:
        # row, col: (k, H) or broadcastable; val broadcast to the same shape.
        row, col = np.broadcast_arrays(row, col)
        rows.append(row.ravel())
        cols.append(col.ravel())
        vals.append(np.broadcast_to(val, row.shape).ravel())

    def arr_row(n: np.ndarray) -> np.ndarray:
        return (N + nodes.arr[n])[:, None] * H + hh

    # Production: net yield into its node's balance, gross consumption into the arrivals row.
    x_col = nodes.pu[:, None] * H + hh
    add(nodes.nu[:, None] * H + hh, x_col, (nodes.byp_u - nodes.inp_u)[:, None])
    k = (nodes.inp_u > 0) & (nodes.arr[nodes.nu] >= 0)
    add(arr_row(nodes.nu[k]), x_col[k], -nodes.inp_u[k][:, None])
    # Shipments: out of the sender's balance, share_e into the receiver's (and its arrivals).
    f_col = col.f + np.arange(len(pb.edge_from))[:, None] * H + hh
    add(nodes.n_from[:, None] * H + hh, f_col, -1.0)
    add(nodes.n_to[:, None] * H + hh, f_col, pb.edge_share[:, None])
    k = nodes.arr[nodes.n_to] >= 0
    add(arr_row(nodes.n_to[k]), f_col[k], pb.edge_share[k][:, None])
    # Outside purchases and disposals.
    b_col = col.b + np.arange(len(nodes.nb))[:, None] * H + hh
    add(nodes.nb[:, None] * H + hh, b_col, 1.0)
    k = nodes.arr[nodes.nb] >= 0
    add(arr_row(nodes.nb[k]), b_col[k], 1.0)
    d_col = col.d + np.arange(len(nodes.nd))[:, None] * H + hh
    add(nodes.nd[:, None] * H + hh, d_col, -1.0)
    # Stores: the closing stock leaves period h and (less decay) enters period h + 1.
    y_col = col.y + np.arange(len(pb.store_company))[:, None] * H + hh
    add(nodes.n_s[:, None] * H + hh, y_col, -1.0)
    if H > 1:
        add(nodes.n_s[:, None] * H + hh[1:], y_col[:, :-1], (1.0 - pb.store_decay)[:, None])
    k = nodes.arr[nodes.n_s] >= 0
    add(arr_row(nodes.n_s[k]), y_col[k], -1.0)

    a = sparse.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=((N + nodes.n_arr) * H, col.n))
    a.sum_duplicates()
    a.eliminate_zeros()
    return a


def _profit(pb: PlanProblem, nodes: _Nodes) -> np.ndarray:
    """Each column's discounted profit per unit (the objective's coefficients)."""
    disc = pb.discount ** np.arange(pb.horizon)
    return np.concatenate([
        (pb.price * disc).ravel(),
        ((pb.subsidy * pb.edge_share - pb.edge_cost)[:, None] * disc).ravel(),
        -(pb.buy_price[nodes.res[nodes.nb]] * disc).ravel(),
        -(pb.dispose_price[nodes.res[nodes.nd]] * disc).ravel(),
        -(pb.store_hold[:, None] * disc).ravel(),
    ])


def _bounds(pb: PlanProblem, nodes: _Nodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column upper bounds, row lower and row upper bounds: balances are equalities with the
    opening stock on the right, arrivals rows are <= 0."""
    H = pb.horizon
    upper = np.concatenate([pb.capacity.ravel(),
                            np.full((len(pb.edge_from) + len(nodes.nb) + len(nodes.nd)) * H, highspy.kHighsInf),
                            np.repeat(pb.store_capacity, H)])
    rhs = np.zeros(nodes.n * H)
    np.add.at(rhs, nodes.n_s * H, -(1.0 - pb.store_decay) * pb.store_level)
    row_lower = np.concatenate([rhs, np.full(nodes.n_arr * H, -highspy.kHighsInf)])
    row_upper = np.concatenate([rhs, np.zeros(nodes.n_arr * H)])
    return upper, row_lower, row_upper


@dataclass(frozen=True, eq=False)
class Basis:
    """An optimal basis of a plan (which variables and rows were basic, which at a bound), to
    start the next plan of the same structure from: a rolling plan changes only prices,
    capacities and stock from one day to the next, so yesterday's optimal basis is a few
    simplex iterations from today's (Kalundborg: about 0.25 ms a plan instead of 1 ms).

    The plan then depends only on the problem and the basis it starts from, not on what the
    process solved before: `solve` loads the basis into HiGHS afresh (refactorising it), so the
    solver's own leftovers from earlier solves (factors, pricing weights) play no part. A copy
    (`copy.deepcopy`, as a digital twin copies the park) starts its next plan from the same
    basis, and so plans as the original would."""

    matrix: sparse.csc_array  # the constraint matrix it belongs to (the object `_structure` keeps)
    highs: highspy.HighsBasis

    def __deepcopy__(self, memo: dict) -> Basis:
        return Basis(self.matrix, _copy_basis(self.highs))  # the matrix is read-only and shared, as `_structure` shares it


class _Model:
    """A HiGHS instance holding one constraint matrix, and the costs and bounds loaded into it
    (to send HiGHS only those that changed since the last solve: a rolling plan's prices and
    most bounds stay the same from one day to the next)."""

    def __init__(self, a: sparse.csc_array):
        self.matrix = a
        _highs_solver()  # HiGHS prints a banner on its first construction only: that one hides it
        h = self.highs = highspy.Highs()
        h.setOptionValue("output_flag", False)
        serial(h)
        # These LPs are small and sparse: HiGHS's presolve costs more than it saves (measured on
        # Kalundborg's 7-day plans: about half the solve time).
        h.setOptionValue("presolve", "off")
        n_row, n_col = a.shape
        self.cost, self.upper = np.zeros(n_col), np.zeros(n_col)
        self.row_lower, self.row_upper = np.zeros(n_row), np.zeros(n_row)
        lp = highspy.HighsLp()
        lp.num_col_ = n_col
        lp.num_row_ = n_row
        lp.col_cost_ = self.cost
        lp.col_lower_ = np.zeros(n_col)
        lp.col_upper_ = self.upper
        lp.row_lower_ = self.row_lower
        lp.row_upper_ = self.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data
        h.passModel(lp)

    def load(self, cost: np.ndarray, upper: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray) -> None:
        """Make the model's costs and bounds these (column lower bounds stay 0)."""
        h = self.highs
        ok = highspy.HighsStatus.kOk
        j = np.flatnonzero(cost != self.cost).astype(np.int32)
        if len(j) and h.changeColsCost(len(j), j, cost[j]) != ok:
            raise RuntimeError("HiGHS refused the plan's costs")
        self.cost = cost.copy()
        j = np.flatnonzero(upper != self.upper).astype(np.int32)
        if len(j) and h.changeColsBounds(len(j), j, np.zeros(len(j)), upper[j]) != ok:
            raise RuntimeError("HiGHS refused the plan's bounds")
        self.upper = upper.copy()
        i = np.flatnonzero((row_lower != self.row_lower) | (row_upper != self.row_upper)).astype(np.int32)
        # (highspy 1.16's type stubs lack changeRowsBounds; the extension has it.)
        if len(i) and h.changeRowsBounds(len(i), i, row_lower[i], row_upper[i]) != ok:  # type: ignore[attr-defined]
            raise RuntimeError("HiGHS refused the plan's row bounds")
        self.row_lower, self.row_upper = row_lower.copy(), row_upper.copy()


# One HiGHS instance per constraint matrix (the matrices `_structure` keeps), its model passed
# once: a solve changes only costs and bounds, which costs less than passing the model.
_MODELS: dict[int, _Model] = {}
_MODELS_MAX = 4


def _model(a: sparse.csc_array) -> _Model:
    """The HiGHS model of matrix `a` (this object, not an equal one), made if none."""
    found = _MODELS.get(id(a))
    if found is not None and found.matrix is a:
        return found
    if len(_MODELS) >= _MODELS_MAX:
        del _MODELS[next(iter(_MODELS))]  # the oldest
    found = _MODELS[id(a)] = _Model(a)
    return found


def _optimise(a: sparse.csc_array, profit: np.ndarray, upper: np.ndarray, row_lower: np.ndarray,
              row_upper: np.ndarray, start: Basis | None = None) -> tuple[np.ndarray, np.ndarray, Basis]:
    """Maximise profit @ v subject to row_lower <= a v <= row_upper, 0 <= v <= upper with HiGHS,
    from the basis `start` if it belongs to `a` (else from HiGHS's own starting basis): the
    primal values (clipped into their bounds), the row duals and the optimal basis."""
    model = _model(a)
    h = model.highs
    try:
        model.load(-profit, upper, row_lower, row_upper)  # HiGHS minimises
    except RuntimeError:
        _MODELS.pop(id(a), None)  # what it holds is no longer known
        raise
    if start is not None and start.matrix is a:
        h.setBasis(start.highs)
    else:
        h.clearSolver()  # no basis or solution left from an earlier solve
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS found no optimal plan: {h.modelStatusToString(status)}")
    sol = h.getSolution()
    v = np.maximum(np.asarray(sol.col_value, dtype=float), 0.0)
    v = np.minimum(v, upper)
    # With the balance written supply - demand = rhs, an extra unit of supply lowers the rhs by
    # one, so d(min -profit)/d(unit) = -dual and the value (profit per unit) is the dual itself.
    return v, np.asarray(sol.row_dual, dtype=float), Basis(a, h.getBasis())


# The fields the nodes and the constraint matrix are built from (with the horizon): a rolling
# plan poses the same structure day after day with other capacities, prices and stock.
_STRUCTURE_FIELDS = ("proc_company", "inputs", "byproducts", "can_buy", "edge_from", "edge_to", "edge_resource",
                     "edge_share", "store_company", "store_resource", "store_decay", "closed_nodes")
_STRUCTURES: dict[bytes, tuple[_Nodes, _Columns, sparse.csc_array]] = {}
_STRUCTURES_MAX = 8


def _structure(pb: PlanProblem) -> tuple[_Nodes, _Columns, sparse.csc_array]:
    """`_nodes`, `_Columns.of` and `_matrix` of the problem, kept by the exact arrays they read:
    the same inputs give the same (read-only) results, so a kept one is the one built anew."""
    parts = [b"%d" % pb.horizon]
    for name in _STRUCTURE_FIELDS:
        a = getattr(pb, name)
        parts.append(b"%s:%s:" % (a.dtype.str.encode(), str(a.shape).encode()) + a.tobytes())
    key = b"|".join(parts)
    found = _STRUCTURES.get(key)
    if found is None:
        nodes = _nodes(pb)
        col = _Columns.of(pb, nodes)
        matrix = _matrix(pb, nodes, col)
        for arr in (matrix.data, matrix.indices, matrix.indptr):
            arr.flags.writeable = False
        if len(_STRUCTURES) >= _STRUCTURES_MAX:
            del _STRUCTURES[next(iter(_STRUCTURES))]  # the oldest
        found = _STRUCTURES[key] = (nodes, col, matrix)
    return found


def solve(problem: PlanProblem, start: Basis | None = None) -> PlanResult:
    """The park's profit-maximising plan over the problem's horizon (see the module docstring).
    `start`: the basis of an earlier plan (`PlanResult.basis`) to start the simplex from; used
    only if that plan had the same structure (nodes, routes, stores, horizon); the plan is then
    an optimum of the same problem, found in fewer iterations (at a degenerate optimum possibly
    another optimal vertex than from scratch, with the same objective). Raises RuntimeError if
    HiGHS does not report an optimum, which the formulation rules out short of numerical trouble."""
    pb = problem
    H = pb.horizon
    P = pb.inputs.shape[0]
    nodes, col, matrix = _structure(pb)
    if col.n == 0:
        z = np.zeros((0, H))
        return PlanResult(z, z, z, z, z, 0.0, 0.0, np.zeros(0), [])
    profit = _profit(pb, nodes)
    upper, row_lower, row_upper = _bounds(pb, nodes)
    v, dual, basis = _optimise(matrix, profit, upper, row_lower, row_upper, start)

    N = nodes.n
    buy = np.zeros((N, H))
    buy[nodes.nb] = v[col.b:col.d].reshape(len(nodes.nb), H)
    dispose = np.zeros((N, H))
    dispose[nodes.nd] = v[col.d:col.y].reshape(len(nodes.nd), H)
    first = np.arange(0, col.n, H)  # every block starts at a multiple of H
    return PlanResult(
        production=v[:col.f].reshape(P, H),
        flow=v[col.f:col.b].reshape(len(pb.edge_from), H),
        buy=buy,
        dispose=dispose,
        store=v[col.y:].reshape(len(pb.store_company), H),
        objective=float(profit @ v),
        profit_first=float(profit[first] @ v[first]),
        value=dual[: N * H : H].copy() if N else np.zeros(0),
        nodes=list(nodes.labels),
        basis=basis,
        )
