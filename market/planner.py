"""The park operator as a central planner: clears at the social optimum, prices from duals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from market import transport
from market.mechanism import Book, Traders, book_by_resource
from market.network import Network
from market.orders import Order, Trade


@dataclass(frozen=True)
class Planner:
    """Matches the declared orders at the optimum of the transportation problem (as the call
    market does) but prices every unit at the LP's dual values: the competitive-equilibrium,
    or locational marginal, prices of the network (Samuelson 1952 spatial equilibrium;
    Schweppe et al. 1988 for spot pricing over a network).

    A buyer pays its bid less the rent `v` of its demand row, per unit delivered; its seller then
    receives its ask plus the rent `u` of its supply row, per unit shipped, after transport.
    On every used route gain = u + share x v, so the budget balances exactly and every party
    keeps exactly its rent: nobody trades beyond its declared limit.
    """

    name: str = "planner"
    # The run's memory of its LPs (`market.transport.Warm`), shared with the run's optimum as the
    # call market's is: each model builds its own planner.
    warm: transport.Warm = field(default_factory=transport.Warm, compare=False, repr=False)

    def clear(self, orders: Sequence[Order], network: Network, step: int, rng: np.random.Generator,
              traders: Traders | None = None) -> list[Trade]:
        out: list[Trade] = []
        for resource, (asks, bids) in sorted(book_by_resource(orders).items()):
            book = Book.of(resource, asks, bids)
            sellers, buyers, bid = book.sellers, book.buyers, book.bid
            e, gain = book.routes(network)
            if len(e.i) == 0:
                continue
            # The shipments are the optimum's own (`market.welfare`'s solve of the same book, with
            # the same memory): where several allocations are optimal, the one the run's optimum
            # takes. Another optimal vertex gains as much today but leaves other stock for
            # tomorrow, and the planner's days then fell short of the optimum's (a park drawn in
            # CI: 0.470 against 0.483 EUR on a day). The rents come from the LP's duals; every
            # optimal dual solution is complementary to every optimal primal one, so on each route
            # used gain = u + share x v still holds and nobody trades beyond its limit.
            x = transport.solve(book.supply, book.demand, e.i, e.j, gain, e.share, self.warm)
            _, _, v = transport.solve_with_prices(book.supply, book.demand, e.i, e.j, gain, e.share)
            for n in np.flatnonzero(x > 0):
                q = float(x[n])
                out.append(Trade(step, int(sellers[e.i[n]]), int(buyers[e.j[n]]), resource, q, q * float(e.share[n]),
                                 float(bid[e.j[n]] - v[e.j[n]]), float(e.cost[n]) * q, float(e.distance[n])))
        return out
