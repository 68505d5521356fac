"""The yardstick: the social optimum of a step and the gains a mechanism actually realised.

Both are measured on the companies' true reservation prices (their outside options), whatever
they declared. The optimum is what a planner who knows every surplus and need would achieve by
moving resources over the same network: the transportation problem of `market.transport`
solved on truthful orders. Market efficiency = realised gains / optimal gains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from array import array

import numpy as np

from market import transport
from market.mechanism import Book, small_routes
from market.network import Network
from market.orders import (_CODES, COLUMNS_FROM, Order, OrderList, Side, Trade, columns_of, numbered_orders,
                           order_columns_of, resource_code)
from market.policy import TRANSFER_PARTS

N_PARTS = len(TRANSFER_PARTS)


def optimal_gain(true_orders: Sequence[Order], network: Network) -> float:
    """The largest total gain any matching of these (truthful) orders could reach."""
    return optimal_allocation(true_orders, network)[0]


def optimal_allocation(true_orders: Sequence[Order], network: Network,
                       memo: dict | None = None, warm: transport.Warm | None = None) -> tuple[float, np.ndarray]:
    """`optimal_gain` and the allocation that reaches it: per order, the units an ask ships or
    a bid receives (delivered) in the optimum, in the orders' own order. `memo` (a dict shared
    between calls on one network) keeps each resource's solution by its book, so a second
    call that meets the very same book of a resource does not solve it again. `warm`: the run's
    memory of its LPs (`market.transport.Warm`), None to solve each afresh."""
    # Each resource's book: the numbers of its asks and of its bids, in the orders' own order;
    # resources in the order they first appear among the orders with a quantity, the order in
    # which their gains are summed. (Grouped in Python: a park's day has a few thousand orders at
    # most, and most books are small enough to be walked in lists, `_solve_small_book`.)
    if len(true_orders) >= COLUMNS_FROM:
        return _optimal_allocation_columns(true_orders, network, memo, warm)
    books: dict[str, tuple[list[int], list[int]]] = {}
    for k, o in enumerate(true_orders):
        if o.quantity > 0:
            sides = books.get(o.resource)
            if sides is None:
                sides = books[o.resource] = ([], [])
            sides[o.side is not Side.SELL].append(k)
    moved = [0.0] * len(true_orders)
    total = 0.0
    for resource, (asks, bids) in books.items():
        if not asks or not bids:
            continue  # no seller or no buyer: nothing to move
        at = asks + bids
        b0, end = len(asks), len(at)
        owner = [true_orders[k].owner for k in at]
        price = [float(true_orders[k].price) for k in at]
        quantity = [float(true_orders[k].quantity) for k in at]
        found = _solve_small_book(resource, b0, owner, price, quantity, network, memo) \
            if b0 * (end - b0) <= transport.SMALL else None
        if found is None:
            found = _solve_large_book(resource, b0, owner, price, quantity, network, memo, warm)
        total += found[0]
        for k, x in zip(at, found[1]):
            moved[k] = x
    return total, np.array(moved)


def _optimal_allocation_columns(true_orders: Sequence[Order], network: Network, memo: dict | None,
                                warm: transport.Warm | None) -> tuple[float, np.ndarray]:
    """`optimal_allocation` of many orders, grouped into books on their columns (an
    `OrderList`'s, made once): the same books, in the same order, with the same numbers."""
    cols = order_columns_of(true_orders)
    moved = np.zeros(len(true_orders))
    total = 0.0
    owners, prices, quantities = cols.owner, cols.price, cols.quantity
    for asks, bids in cols.books().values():
        if not len(asks) or not len(bids):
            continue  # no seller or no buyer: nothing to move
        b0 = len(asks)
        at = np.concatenate((asks, bids))
        resource = cols.resource[int(at[0])]
        owner, price, quantity = owners[at].tolist(), prices[at].tolist(), quantities[at].tolist()
        found = _solve_small_book(resource, b0, owner, price, quantity, network, memo) \
            if b0 * (len(at) - b0) <= transport.SMALL else None
        if found is None:
            found = _solve_large_book(resource, b0, owner, price, quantity, network, memo, warm)
        total += found[0]
        moved[at] = found[1]
    return total, moved


def _solve_large_book(resource: str, b0: int, owner: list[int], price: list[float], quantity: list[float],
                      network: Network, memo: dict | None, warm: transport.Warm | None) -> tuple[float, list[float]]:
    """`_solve_book` of one book's columns (asks before `b0`, then bids): its gain and what
    each of its orders moves, kept in `memo` by the book's exact bits."""
    o, p, q = np.array(owner, dtype=np.int64), np.array(price, dtype=float), np.array(quantity, dtype=float)
    key = None
    if memo is not None:
        key = (resource, b0, o.tobytes(), p.tobytes(), q.tobytes())
        found = memo.get(key)
        if found is not None:
            return found
    gain, out, into = _solve_book(Book(resource, o[:b0], o[b0:], p[:b0], p[b0:], q[:b0], q[b0:]), network, warm)
    found = (gain, out.tolist() + into.tolist())
    if memo is not None:
        memo[key] = found
    return found


def _solve_small_book(resource: str, b0: int, owner: list[int], price: list[float], quantity: list[float],
                      network: Network, memo: dict | None) -> tuple[float, list[float]] | None:
    """`_solve_book` of a book of a few orders (the asks before `b0`, then the bids), walked in
    Python lists: its gain and what each of its orders moves, or None when it needs HiGHS. The
    same routes, arithmetic and bits (see the sums below); kept in `memo` by the book's exact bits."""
    key = None
    if memo is not None:
        key = ("small", resource, b0, tuple(owner), array("d", price).tobytes(), array("d", quantity).tobytes())
        found = memo.get(key)
        if found is not None:
            return found
    i, j, _, share, cost, gain = small_routes(network, resource, owner[:b0], owner[b0:], price[:b0], price[b0:])
    moved = [0.0] * len(owner)
    if i:
        x = transport.solve_lists(quantity[:b0], quantity[b0:], i, j, gain, share)
        if x is None:
            return None
        # What each order moves: numpy's bincount, a sum per order in the edges' order from 0.0.
        terms = []
        for e, q in enumerate(x):
            if q:
                moved[i[e]] += q
                moved[b0 + j[e]] += q * share[e]
                terms.append(gain[e] * q)
        # The book's gain, `gain @ x`: zeros add nothing, so one term is its own sum; from two on,
        # numpy's own dot product (its order of summation and fused multiply-adds are its own).
        total = 0.0 if not terms else terms[0] if len(terms) == 1 else float(np.array(gain) @ np.array(x))
    else:
        total = 0.0
    found = (total, moved)
    if memo is not None:
        memo[key] = found
    return found


def _allocate(resource: str, asks: list[Order], bids: list[Order], network: Network
              ) -> tuple[float, np.ndarray, np.ndarray]:
    """One resource's optimum: its gain, what each ask ships and what each bid receives."""
    return _solve_book(Book.of(resource, asks, bids), network)


def _solve_book(book: Book, network: Network, warm: transport.Warm | None = None
                ) -> tuple[float, np.ndarray, np.ndarray]:
    out, into = np.zeros(len(book.sellers)), np.zeros(len(book.buyers))
    e, gain = book.routes(network)
    if len(e.i) == 0:
        return 0.0, out, into
    x = transport.solve(book.supply, book.demand, e.i, e.j, gain, e.share, warm)
    return float(gain @ x), np.bincount(e.i, weights=x, minlength=len(out)), \
        np.bincount(e.j, weights=x * e.share, minlength=len(into))


def realised_gain(trades: Iterable[Trade], true_orders: Sequence[Order]) -> float:
    """Gains of the trades at true values: what buyers would have paid outside for what they
    received, less what sellers' shipments were worth to them, less transport.

    A company may have several true asks for one resource (what it could keep and use later is
    worth more than what it would dispose of); its shipments are valued against its cheapest
    reservations first, the allocation that leaves it best off.
    """
    return exchange_values(trades, true_orders)[0]


def gains_by_company(trades: Iterable[Trade], true_orders: Sequence[Order], n: int) -> np.ndarray:
    """Each company's own gain from its trades against its outside options: a seller's receipt
    less the journey and less what the shipment was worth to it, a buyer's value of what it
    received less what it paid. They sum to `realised_gain` less what a mechanism kept."""
    return exchange_values(trades, true_orders, n)[2]


def exchange_values(trades: Iterable[Trade], true_orders: Sequence[Order], n: int = 0,
                    transfer_of: Callable[[Order], np.ndarray] | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """From the trades: `realised_gain`; the part of it that is transfers rather
    than resources saved, by `market.policy.TRANSFER_PARTS` (the taxes the exchanges avoid and
    the subsidies they earn; `transfer_of(order)` gives an order's per unit, e.g.
    `Ledger.transfer_of`, an array never changed once returned; zeros without it); and
    `gains_by_company` (for `n` companies). Gains less transfers are the exchanges' social
    surplus: outside purchases and disposals avoided at their real cost, less transport and losses."""
    if isinstance(true_orders, OrderList) and len(true_orders) >= COLUMNS_FROM and \
            (transfer_of is None or hasattr(getattr(transfer_of, "__self__", None), "transfer_rows")):
        trades = trades if isinstance(trades, Sequence) else list(trades)
        if len(trades) >= COLUMNS_FROM:
            on_columns = _values_on_columns(trades, true_orders, n, transfer_of)
            if on_columns is not None:
                return on_columns
    shipped, got, own, transport_paid = _trade_sums(trades, n)
    # Only the orders of a company and resource that traded are valued.
    asks: dict[tuple[int, str], list[Order]] = {}
    bids: dict[tuple[int, str], list[Order]] = {}
    sell = Side.SELL
    for o in true_orders:
        key = (o.owner, o.resource)
        if o.side is sell:
            if key in shipped:
                asks.setdefault(key, []).append(o)
        elif key in got:
            bids.setdefault(key, []).append(o)
    total = -transport_paid
    # The transfers part by part as Python floats (the same sums as on arrays); the arrays
    # `transfer_of` returns, as tuples of floats (None where all are zero), by identity.
    transfers = [0.0] * N_PARTS
    parts = _PARTS
    if len(parts) > _PARTS_KEPT:
        parts.clear()
    none: list[Order] = []
    # Sold values count against the gains, bought ones for them (a - x is a + -x, exactly).
    for amounts, offered, sign, what in ((shipped, asks, -1.0, "sold"), (got, bids, 1.0, "bought")):
        for key, q in amounts.items():
            orders = offered.get(key, none)
            if len(orders) == 1:  # `_schedule_value` of one order, written out
                o = orders[0]
                quantity = o.quantity
                take = quantity if quantity < q else q
                value = 0.0 + take * o.price
                if q - take > 1e-6 * (q if q > 1.0 else 1.0):  # max(1.0, q)
                    raise ValueError(f"company {key[0]} {what} {q:g} {key[1]} but offered only {take:g}")
                if transfer_of is not None and take > 0:
                    per_unit = transfer_of(o)
                    found = parts.get(id(per_unit))
                    per_part = found[1] if found is not None else _per_part(per_unit, parts)
                    if per_part is not None:
                        # (0.0 + take x u: the sums `_schedule_value` makes; a part of all zeros adds
                        # nothing, and no sum here is ever -0.0, so skipping them changes no bit.)
                        for k, u in enumerate(per_part):
                            transfers[k] += sign * (0.0 + take * u)
            else:
                value, moved = _schedule_value(q, sorted(orders, key=_minus_price if sign > 0 else _price) if orders
                                               else orders, key, what, transfer_of, parts)
                for k, m in enumerate(moved):
                    transfers[k] += sign * m
            total += sign * value
            if n:
                own[key[0]] += sign * value
    return total, np.array(transfers, dtype=float), np.array(own, dtype=float)


def _values_on_columns(trades: Sequence[Trade], true_orders: OrderList, n: int,
                       transfer_of: Callable[[Order], np.ndarray] | None) -> tuple[float, np.ndarray, np.ndarray] | None:
    """`exchange_values` of a large park on the trades' and orders' columns: the same sums in
    the same order (the sold keys, then the bought ones, each in the order they first trade;
    `np.add.at` and `np.add.accumulate` add in index order). A key with one order (nearly all)
    is valued on arrays; one with several or none by `_schedule_value`, its orders made for it.
    `transfer_of` is None or a ledger's (`Ledger.transfer_rows` gives its arrays at once).
    None when some company sold or bought more than it offered: the loop then says which."""
    tc, oc = columns_of(trades), true_orders.columns
    t_code = np.fromiter(map(resource_code, tc.resource), np.intp, len(tc))
    width = len(_CODES)  # more than any code
    transport_paid = float(np.add.accumulate(np.concatenate(([0.0], tc.transport_cost)))[-1])
    own = np.zeros(n)
    if n:
        np.add.at(own, np.stack((tc.seller, tc.buyer), axis=1).ravel(),
                  np.stack((tc.seller_unit_price * tc.delivered - tc.transport_cost, -(tc.price * tc.delivered)),
                           axis=1).ravel())
    order_key = oc.owner * width + oc.code
    ledger = getattr(transfer_of, "__self__", None)  # (None without transfers)
    rows_of = None if ledger is None else ledger.transfer_rows
    parts = _PARTS
    if len(parts) > _PARTS_KEPT:
        parts.clear()
    terms, whose, moved = [], [], []
    for sign, who, amount, ask, what in ((-1.0, tc.seller, tc.shipped, True, "sold"),
                                         (1.0, tc.buyer, tc.delivered, False, "bought")):
        key = who * width + t_code
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        q = np.zeros(len(uniq))
        np.add.at(q, inverse.ravel(), amount)
        by_first = np.argsort(first, kind="stable")  # the keys in the order they first trade
        keys, q, first = uniq[by_first], q[by_first], first[by_first]
        # Each key's orders of this side, in the orders' order.
        side = np.flatnonzero(oc.is_ask == ask)
        sorted_side = side[np.argsort(order_key[side], kind="stable")]
        side_keys = order_key[sorted_side]
        lo, hi = np.searchsorted(side_keys, keys, "left"), np.searchsorted(side_keys, keys, "right")
        single = np.flatnonzero(hi - lo == 1)
        at = sorted_side[lo[single]]
        qs, quantity = q[single], oc.quantity[at]
        take = np.where(quantity < qs, quantity, qs)
        if (qs - take > 1e-6 * np.where(qs > 1.0, qs, 1.0)).any():
            return None
        value = np.zeros(len(keys))
        value[single] = 0.0 + take * oc.price[at]
        part = np.zeros((len(keys), N_PARTS))
        if rows_of is not None and len(single):
            per_unit = rows_of([oc.resource[k] for k in at.tolist()], oc.is_ask[at], oc.price[at])
            part[single] = np.where((take > 0)[:, None], 0.0 + take[:, None] * per_unit, 0.0)
        for i in np.flatnonzero(hi - lo != 1).tolist():  # several orders, or none
            idx = sorted_side[lo[i]:hi[i]].tolist()
            orders = numbered_orders([(int(oc.owner[k]), oc.resource[k], Side.SELL if ask else Side.BUY,
                                       float(oc.quantity[k]), float(oc.price[k])) for k in idx], repeat(-1, len(idx)))
            name = tc.resource[int(first[i])]
            value[i], m = _schedule_value(float(q[i]), sorted(orders, key=_minus_price if sign > 0 else _price),
                                          (int(keys[i]) // width, name), what, transfer_of, parts)
            part[i] = m
        terms.append(sign * value)
        whose.append(keys // width)
        moved.append(sign * part)
    values = np.concatenate(terms)
    total = float(np.add.accumulate(np.concatenate(([-transport_paid], values)))[-1])
    if n:
        np.add.at(own, np.concatenate(whose), values)
    transfers = np.add.accumulate(np.concatenate([np.zeros((1, N_PARTS)), *moved]), axis=0)[-1]
    return total, transfers, own


def _trade_sums(trades: Iterable[Trade], n: int
                ) -> tuple[dict[tuple[int, str], float], dict[tuple[int, str], float], list[float], float]:
    """The trades' sums, each in the trades' order: per seller and resource what it shipped, per
    buyer and resource what it got (keys in the order they first trade), each of the `n`
    companies' receipts less journeys and payments (Python floats), and the transport paid."""
    shipped: dict[tuple[int, str], float] = {}
    got: dict[tuple[int, str], float] = {}
    own = [0.0] * n
    if not isinstance(trades, Sequence):
        trades = list(trades)
    if len(trades) < COLUMNS_FROM:
        transport_paid = 0.0
        for t in trades:
            key = (t.seller, t.resource)
            shipped[key] = shipped.get(key, 0.0) + t.shipped
            key = (t.buyer, t.resource)
            got[key] = got.get(key, 0.0) + t.delivered
            transport_paid += t.transport_cost
            if n:  # t.receipt and t.payment, written out
                own[t.seller] += (t.price if t.seller_price is None else t.seller_price) * t.delivered - t.transport_cost
                own[t.buyer] -= t.price * t.delivered
        return shipped, got, own, transport_paid
    # The same sums on the columns: `np.add.accumulate` and `np.add.at` add in index order, and
    # a - x is a + -x, exactly (a buyer's payment is added as its negative).
    cols = columns_of(trades)
    resource = cols.resource
    for amounts, who, q in ((shipped, cols.seller, cols.shipped), (got, cols.buyer, cols.delivered)):
        get = amounts.get
        for key, x in zip(zip(who.tolist(), resource), q.tolist()):
            amounts[key] = get(key, 0.0) + x
    transport_paid = float(np.add.accumulate(np.concatenate(([0.0], cols.transport_cost)))[-1])
    if n:
        at = np.zeros(n)
        np.add.at(at, np.stack((cols.seller, cols.buyer), axis=1).ravel(),
                  np.stack((cols.seller_unit_price * cols.delivered - cols.transport_cost,
                            -(cols.price * cols.delivered)), axis=1).ravel())
        own = at.tolist()
    return shipped, got, own, transport_paid


# `_per_part`'s floats of the arrays `transfer_of` returned, by the array's id, over calls (a
# ledger's few arrays serve every step): each array is kept beside its floats, so its id stays
# its own; emptied when it holds more than `_PARTS_KEPT` (arrays of ledgers gone).
_PARTS: dict[int, tuple[np.ndarray, tuple[float, ...] | None]] = {}
_PARTS_KEPT = 4096


def _price(o: Order) -> float:
    return o.price


def _minus_price(o: Order) -> float:
    return -o.price


def _per_part(per_unit: np.ndarray, parts: dict[int, tuple[np.ndarray, tuple[float, ...] | None]]
              ) -> tuple[float, ...] | None:
    """An order's transfers per unit as floats, None if all are zero; by the array's identity
    (kept beside its floats, so its id stays its own)."""
    found = parts.get(id(per_unit))
    if found is None:
        floats = tuple(np.asarray(per_unit, dtype=float).tolist())
        found = parts[id(per_unit)] = (per_unit, floats if any(floats) else None)
    return found[1]


def _schedule_value(q: float, orders: list[Order], key: tuple[int, str], what: str,
                    transfer_of: Callable[[Order], np.ndarray] | None,
                    parts: dict[int, tuple[np.ndarray, tuple[float, ...] | None]]) -> tuple[float, list[float]]:
    value, left = 0.0, q
    moved = [0.0] * N_PARTS
    for o in orders:
        quantity = o.quantity
        take = quantity if quantity < left else left  # min(left, quantity)
        value += take * o.price
        if transfer_of is not None and take > 0:
            per_part = _per_part(transfer_of(o), parts)
            if per_part is not None:
                for k, u in enumerate(per_part):
                    moved[k] += take * u
        left -= take
    if left > 1e-6 * max(1.0, q):
        raise ValueError(f"company {key[0]} {what} {q:g} {key[1]} but offered only {q - left:g}")
    return value, moved
