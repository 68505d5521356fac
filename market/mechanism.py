"""The one interface every market mechanism implements: orders and the network in, trades out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from market.network import Network
from market.orders import Order, Side, Trade


class Mechanism(Protocol):
    name: str

    def clear(self, orders: Sequence[Order], network: Network, step: int, rng: np.random.Generator) -> list[Trade]:
        """Match `orders` over `network` and return the trades of this step."""
        ...


def book_by_resource(orders: Sequence[Order]) -> dict[str, tuple[list[Order], list[Order]]]:
    """Asks and bids of each resource, in the order they were posted."""
    books: dict[str, tuple[list[Order], list[Order]]] = defaultdict(lambda: ([], []))
    for o in orders:
        if o.quantity <= 0:
            continue
        asks, bids = books[o.resource]
        (asks if o.side is Side.SELL else bids).append(o)
    return {r: b for r, b in books.items() if b[0] and b[1]}
