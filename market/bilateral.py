"""Bilateral negotiation: pairs of companies haggle over the price, offer by offer, to a deadline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market.mechanism import Book, Negotiator, Traders, book_by_resource, public_range
from market.network import Network
from market.orders import MarketEvent, Order, Side, Trade

# Less than this much left (units shipped or delivered) counts as nothing left: it stops
# rounding residues from starting further negotiations over dust.
EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Offer:
    """One line of a negotiation's log: in round `round_` the `side` proposed `price` per unit
    delivered and the other side accepted it or not."""

    round_: int
    side: Side
    price: float
    accepted: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a negotiation ended: the agreed price per unit delivered, or None at the deadline."""

    price: float | None
    log: tuple[Offer, ...]

    @property
    def agreed(self) -> bool:
        return self.price is not None


@dataclass(frozen=True, slots=True)
class Deal:
    """One negotiation of a step, as the mechanism reports it to traders that ask
    (`negotiated`): who met whom, their limits per unit delivered, the units delivered if they
    agree (`delivered`; what the pair would have traded when they do not), the public range
    the negotiators were given, who opened, the opening offer and the agreed price (None at
    the deadline). The split of a deal's gain is the measure of a tactic's toughness in
    Faratin, Sierra & Jennings (1998): the tougher side keeps more of `gain`."""

    step: int
    resource: str
    seller: int
    buyer: int
    seller_limit: float
    buyer_limit: float
    delivered: float
    floor: float
    ceiling: float
    buyer_opened: bool
    first_offer: float
    price: float | None

    @property
    def agreed(self) -> bool:
        return self.price is not None

    @property
    def gain(self) -> float:
        """The pair's gain at their limits over the units they would trade."""
        return (self.buyer_limit - self.seller_limit) * self.delivered

    @property
    def seller_gain(self) -> float:
        """What the seller keeps of `gain` (0 without a deal)."""
        return 0.0 if self.price is None else (self.price - self.seller_limit) * self.delivered


def negotiate(buyer: Negotiator, seller: Negotiator, deadline: int, buyer_opens: bool,
              buyer_limit: float = math.inf, seller_limit: float = -math.inf) -> Outcome:
    """Alternating offers with a deadline (Rubinstein 1982, cut off after `deadline` rounds).

    Rounds are numbered 0 .. deadline-1; in each, one side proposes a price per unit delivered
    and the other accepts it or not; the opener proposes in even rounds. No offer is made at
    round `deadline`: a tactic that plans to reach its reservation there (as Faratin et al.'s
    do) never quite offers it, and a thin overlap of reservations can end without a deal.

    The market holds each side to its order: an offer beyond the proposer's own limit is cut
    back to the limit, and an acceptance beyond the responder's limit does not count.
    """
    log: list[Offer] = []
    for t in range(deadline):
        side = Side.BUY if (t % 2 == 0) == buyer_opens else Side.SELL
        if side is Side.BUY:
            price = min(float(buyer.propose(t, deadline)), buyer_limit)
            ok = seller.accepts(price, t, deadline)
        else:
            price = max(float(seller.propose(t, deadline)), seller_limit)
            ok = buyer.accepts(price, t, deadline)
        ok = bool(ok) and seller_limit <= price <= buyer_limit
        log.append(Offer(t, side, price, ok))
        if ok:
            return Outcome(price, tuple(log))
    return Outcome(None, tuple(log))


@dataclass(frozen=True)
class Bilateral:
    """Pairs of companies negotiate the price of a resource by alternating offers to a deadline
    (Rubinstein 1982, Econometrica 50; deadline and tactics after Faratin, Sierra & Jennings
    1998). Each side's offers come from its negotiator (`Traders.negotiator`).

    Who meets whom, per resource: the routes `Network.edges` gives (pipelines for pipeline
    resources) with positive declared gain f*bid - ask - c, one route per seller-buyer pair (the
    best, if parallel pipes join them). Buyers take turns in an order drawn from `rng`; each
    negotiates with its sellers from the best declared gain down, skipping sellers with nothing
    left, until it is served or has tried them all. A failed pair does not meet again in the
    step. One pass suffices: sellers only run out, so no pair a buyer skipped becomes possible
    later.

    Each negotiation is over the price per unit delivered. The buyer's limit is its bid b; the
    seller's, on a route with delivered share f and transport cost c per unit shipped, is
    (ask + c) / f. Who opens is a fair coin drawn from `rng` per pair: the order of moves
    shapes the split of the gain, and a coin keeps it from favouring one side of the market.

    What the negotiators know of the other side: nothing but the resource's public price range
    [floor, ceiling], the same for every pair and independent of anyone's order (private
    information: each side knows its own limit only). The range is `bounds` when given, else
    the traders' `price_range(resource)`: in the park, minus the disposal price (what a seller
    pays to get rid of a unit outside, taxes included) to the park buy value (what a buyer pays
    outside, taxes and exchange subsidy included), which every company knows
    (`agents.traders.ParkTraders.price_range`). Buyers open at the floor, sellers at the
    ceiling (`agents.tactics`), so an opening offer never depends on the other side's limit.
    Until issue 13 the range was the lowest seller limit and highest bid of the step's
    profitable routes: with one seller and one buyer each opened at the other's limit, and
    Boulware, Linear and Conceder ended the same. A deal fails when the last offer (which stops
    short of its maker's limit, see `negotiate`) falls outside the other's limit: with limits
    uniform over the range, Linear vs Linear agrees on a share 1 - 1/deadline of deals and
    realises 1 - 1/deadline**2 of their gains (tests/test_bilateral.py); tougher tactics and
    tighter deadlines agree less (docs/market-lab.md).

    Traders with a `negotiated(deal)` method are told of every negotiation, agreed or not, as
    a `Deal`.

    On agreement at price p the pair trades as much as it can: shipped = min(seller's remaining,
    buyer's remaining / f), delivered = shipped * f; the buyer pays p per unit delivered, the
    seller pays the journey. Every trade is reported to the resource's traders as a
    `MarketEvent(accepted=True)` on the side whose offer was taken, in that side's terms: p for
    a buyer, p*f - c per unit shipped for a seller.
    """

    deadline: int = 10
    name: str = "bilateral"
    bounds: tuple[float, float] | None = None
    # The model reports trades to learning strategies unless the mechanism does it itself.
    reports_events: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not (isinstance(self.deadline, int) and self.deadline >= 1):
            raise ValueError(f"Bilateral: deadline is the number of rounds of a negotiation and must be "
                             f"a whole number >= 1, got {self.deadline!r}")
        if self.bounds is not None and not self.bounds[0] <= self.bounds[1]:
            raise ValueError(f"Bilateral: bounds are the public (floor, ceiling) of prices and need floor <= "
                             f"ceiling, got {self.bounds!r}")

    def price_range(self, resource: str, traders: Traders) -> tuple[float, float]:
        """The public price range of `resource`: `bounds`, else the traders' `price_range`."""
        if self.bounds is not None:
            return self.bounds
        lo, hi = public_range(None, traders, resource,
                              "Bilateral needs a public price range that reveals no order: give `bounds` or "
                              "traders with a price_range(resource) method (agents.traders.ParkTraders)")
        if not lo <= hi:
            raise ValueError(f"Bilateral: the public price range of {resource} is empty ({lo} > {hi})")
        return lo, hi

    def clear(self, orders: Sequence[Order], network: Network, step: int, rng: np.random.Generator,
              traders: Traders | None = None) -> list[Trade]:
        if traders is None:
            raise ValueError("Bilateral needs negotiators: pass the traders behind the orders "
                             "(a market.mechanism.Traders, such as agents.traders.ParkTraders) as "
                             "`traders`; market.mechanism.Fixed quotes prices but cannot negotiate")
        trades: list[Trade] = []
        for resource, (asks, bids) in sorted(book_by_resource(orders).items()):
            trades.extend(self._clear_one(resource, asks, bids, network, step, rng, traders))
        return trades

    def _clear_one(self, resource: str, asks: list[Order], bids: list[Order], network: Network, step: int,
                   rng: np.random.Generator, traders: Traders) -> list[Trade]:
        book = Book.of(resource, asks, bids)
        sellers, buyers, ask, bid = book.sellers, book.buyers, book.ask, book.bid
        e, gain = book.routes(network)
        ok = np.flatnonzero(gain > 0)
        if len(ok) == 0:
            return []
        seller_limit = (ask[e.i] + e.cost) / e.share
        floor, ceiling = self.price_range(resource, traders)
        told = getattr(traders, "negotiated", None)

        # Each buyer's sellers, best declared gain first (ties: lower seller index), one route
        # per pair.
        routes: dict[int, list[int]] = {}
        seen: set[tuple[int, int]] = set()
        for n in ok[np.lexsort((e.i[ok], -gain[ok]))].tolist():
            pair = (int(e.i[n]), int(e.j[n]))
            if pair not in seen:
                seen.add(pair)
                routes.setdefault(pair[1], []).append(n)

        supply = [o.quantity for o in asks]
        demand = [o.quantity for o in bids]
        out: list[Trade] = []
        for j in rng.permutation(len(bids)).tolist():
            for n in routes.get(j, ()):
                if demand[j] <= EPS:
                    break
                i = int(e.i[n])
                if supply[i] <= EPS:
                    continue
                f, c = float(e.share[n]), float(e.cost[n])
                s_lim, b_lim = float(seller_limit[n]), float(bid[j])
                buyer = traders.negotiator(bids[j], b_lim, floor, ceiling)
                seller = traders.negotiator(asks[i], s_lim, floor, ceiling)
                opens = bool(rng.integers(2))
                result = negotiate(buyer, seller, self.deadline, buyer_opens=opens, buyer_limit=b_lim,
                                   seller_limit=s_lim)
                q = min(supply[i], demand[j] / f)
                if told is not None:
                    told(Deal(step, resource, int(sellers[i]), int(buyers[j]), s_lim, b_lim, q * f, floor, ceiling,
                              opens, result.log[0].price, result.price))
                if result.price is None:
                    continue
                supply[i] -= q
                demand[j] -= q * f
                out.append(Trade(
                    step=step,
                    seller=int(sellers[i]),
                    buyer=int(buyers[j]),
                    resource=resource,
                    shipped=q,
                    delivered=q * f,
                    price=result.price,
                    transport_cost=c * q,
                    distance_km=float(e.distance[n]),
                ))
                taken = result.log[-1].side
                shown = result.price if taken is Side.BUY else result.price * f - c
                traders.observe(MarketEvent(step, resource, taken, shown, True))
        return out
