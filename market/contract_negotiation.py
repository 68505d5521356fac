"""Negotiating a supply contract, and the pipe it may need, by alternating offers.

Two companies bargain over a whole contract (`market.contracts.Terms`): price, quantity,
duration, who pays what share of a new pipe, and the penalty for a breach. The protocol is
Rubinstein's (1982) alternating offers cut off at a deadline; each side's offers follow a
time-dependent tactic of Faratin, Sierra & Jennings (1998, Robotics and Autonomous Systems
24, 159-182) applied, as in their multi-issue model, to the value the side asks for itself:
at round t it asks for the share 1 - alpha(t) of what its opening offer would give it, and
accepts an offer worth at least what its own next offer would be.

What each side values (EUR, discounted over the contract, against its outside option: for
the seller disposing of its surplus, for the buyer buying outside):

    seller: U_s = A q rho_s (p - k) - A q (1 - rho_s) pi - sigma P
    buyer:  U_b = A q rho_b (v - p) + A q (1 - rho_b) pi - (1 - sigma) P

with p the price per unit delivered, q the quantity per step, A the annuity factor of the
duration, k the seller's cost per unit delivered (its outside option plus transport over the
route, per unit that arrives), v the buyer's outside cost per unit (plus any exchange
subsidy), P the pipe's cost after the government's investment subsidy, sigma the seller's
share of it and pi the penalty per unit short. rho_s is the seller's belief that it will
deliver, rho_b the buyer's trust in the seller (`market.trust`): a buyer who doubts its
partner asks for a higher penalty. All prices are public outside prices, so both sides know k
and v; they differ in their beliefs and in their shared-vision weight w, with which a side
values a contract at (1 - w) U + w G, G being the pair's joint gain as it sees it (plus the
shared-vision programme's value of the CO2 avoided). A side never accepts, nor offers, a
contract worth less than 0 to it in those terms: with w = 0 no contract is signed below
either outside option; with w > 0 a side may accept a private loss that the park's gain
outweighs.

Quantity and duration are set before the first offer: both values rise with q and with the
duration as long as the contract pays, so both sides want the most each can commit to, and
the offers carry q = the smaller commitment and the shorter horizon (never past the pipe's
life). The price, the pipe share and the penalty divide the gain and are conceded with
alpha(t), and the price is set so that the offer is worth the side's target to it. The pipe
share moves from the side's ideal (seller 0, buyer 1) to an even split. The penalty moves from
the side's ideal (seller 0, buyer the whole unit gain v - k) to the side's own expected
shortfall share times the unit gain, (1 - rho) (v - k): a buyer who doubts its partner ends
asking more, a seller sure of itself concedes more readily. A penalty never exceeds what a
unit short costs the buyer, v - p (damages, not a bet on a breach): where the side's penalty
would, the offer sets it to v - p and prices to the target with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from market.contracts import Terms
from market.orders import Side


def concession(round_: int, deadline: int, beta: float, kappa: float = 0.0) -> float:
    """Faratin et al.'s alpha(t): the share of the way from opening to reservation conceded by
    round `round_` of a negotiation with deadline `deadline` (1 at and after the deadline).
    beta < 1 is Boulware, 1 linear, > 1 Conceder; kappa is the share conceded at the opening."""
    if deadline < 1:
        raise ValueError(f"concession: deadline must be at least 1 round, got {deadline}")
    if round_ < 0:
        raise ValueError(f"concession: rounds are numbered from 0, got {round_}")
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"concession: beta must be a positive number (< 1 Boulware, 1 linear, > 1 Conceder), got {beta}")
    if not 0.0 <= kappa <= 1.0:
        raise ValueError(f"concession: kappa is the share conceded at the opening and must lie in [0, 1], got {kappa}")
    return kappa + (1.0 - kappa) * (min(round_, deadline) / deadline) ** (1.0 / beta)


def annuity(steps: int, rate_per_step: float) -> float:
    """Sum of the discount factors of steps 1..steps at `rate_per_step` (> -1)."""
    if rate_per_step <= -1:
        raise ValueError(f"annuity: the rate per step must be above -1, got {rate_per_step}")
    if steps <= 0:
        return 0.0
    if rate_per_step == 0:
        return float(steps)
    return (1.0 - (1.0 + rate_per_step) ** -steps) / rate_per_step


@dataclass(frozen=True, slots=True)
class Deal:
    """The public facts of a possible contract: q per step for `duration` steps with annuity
    factor `annuity`, the buyer's outside cost `value` and the seller's cost `cost` per unit
    delivered, the pipe's cost after subsidy `pipe` (EUR, 0 on an existing route) and the
    shared-vision programme's extra value per unit delivered `park_value`."""

    quantity: float
    duration: int
    annuity: float
    value: float
    cost: float
    pipe: float = 0.0
    park_value: float = 0.0

    @property
    def max_penalty(self) -> float:
        return max(0.0, self.value - self.cost)


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a negotiation: its belief that the seller delivers (`reliability`), its
    shared-vision weight, and its tactic (Faratin et al.'s beta and kappa)."""

    side: Side
    reliability: float
    weight: float = 0.0
    beta: float = 1.0
    kappa: float = 0.0


def utility(deal: Deal, party: Party, t: Terms) -> float:
    """The party's own gain from the contract against its outside option (EUR)."""
    aq = deal.annuity * deal.quantity
    rho = party.reliability
    if party.side is Side.SELL:
        return aq * rho * (t.price - deal.cost) - aq * (1 - rho) * t.penalty - t.seller_share * deal.pipe
    return aq * rho * (deal.value - t.price) + aq * (1 - rho) * t.penalty - (1 - t.seller_share) * deal.pipe


def joint_gain(deal: Deal, party: Party) -> float:
    """The pair's gain as the party sees it, with the programme's value of CO2 avoided."""
    return deal.annuity * deal.quantity * party.reliability * (deal.value - deal.cost + deal.park_value) - deal.pipe


def worth(deal: Deal, party: Party, t: Terms) -> float:
    """What the contract is worth to the party: (1 - w) own gain + w joint gain."""
    w = party.weight
    return (1.0 - w) * utility(deal, party, t) + w * joint_gain(deal, party)


def _ideal(deal: Deal, side: Side) -> Terms:
    if side is Side.SELL:
        return Terms(deal.value, deal.quantity, deal.duration, 0.0, 0.0)
    return Terms(deal.cost, deal.quantity, deal.duration, 1.0, deal.max_penalty)


def offer(deal: Deal, party: Party, round_: int, deadline: int) -> Terms:
    """The party's offer at `round_`: it concedes alpha(t) of its opening value and moves the
    pipe share and penalty alpha(t) of the way to the middle; the price makes up the value."""
    return _Side(deal, party, deadline).offer(round_)


class _Side:
    """One party's side of one negotiation: what `utility`, `worth`, `offer` and `_price_for`
    compute, with what depends on neither the round nor the terms worked out once (its opening
    terms and their worth, its joint gain, the factors of its utility). The same floating-point
    operations in the same order: the same values."""

    __slots__ = ("deal", "party", "deadline", "sell", "aq", "aq_rho", "aq_miss", "keep", "w", "joint", "start",
                 "start_worth", "fair", "slope", "middle_to")

    def __init__(self, deal: Deal, party: Party, deadline: int):
        self.deal, self.party, self.deadline = deal, party, deadline
        self.sell = party.side is Side.SELL
        aq = self.aq = deal.annuity * deal.quantity
        rho = party.reliability
        self.aq_rho = aq * rho  # utility's aq * rho * (...)
        self.aq_miss = aq * (1 - rho)  # utility's aq * (1 - rho) * penalty
        self.w = party.weight
        self.keep = 1.0 - self.w
        self.joint = joint_gain(deal, party)
        self.start = _ideal(deal, party.side)
        self.start_worth = self.worth(self.start.price, self.start.seller_share, self.start.penalty)
        self.fair = (1.0 - rho) * deal.max_penalty
        slope = (1.0 - party.weight) * deal.annuity * deal.quantity * rho  # `_price_for`'s
        self.slope = -slope if not self.sell else slope
        self.middle_to = (deal.value + deal.cost) / 2

    def utility(self, price: float, sigma: float, pen: float) -> float:
        d = self.deal
        if self.sell:
            return self.aq_rho * (price - d.cost) - self.aq_miss * pen - sigma * d.pipe
        return self.aq_rho * (d.value - price) + self.aq_miss * pen - (1 - sigma) * d.pipe

    def worth(self, price: float, sigma: float, pen: float) -> float:
        return self.keep * self.utility(price, sigma, pen) + self.w * self.joint

    def worth_of(self, t: Terms) -> float:
        return self.keep * self.utility(t.price, t.seller_share, t.penalty) + self.w * self.joint

    def price_for(self, target: float, sigma: float, pen: float, fallback: float) -> float:
        if abs(self.slope) < 1e-12:
            return fallback
        return (target - self.worth(0.0, sigma, pen)) / self.slope

    def offer(self, round_: int) -> Terms:
        deal, party, start = self.deal, self.party, self.start
        a = concession(round_, self.deadline, party.beta, party.kappa)
        sigma = start.seller_share + a * (0.5 - start.seller_share)
        pen = start.penalty + a * (self.fair - start.penalty)
        target = (1.0 - a) * self.start_worth
        middle = start.price + a * (self.middle_to - start.price)
        price = self.price_for(target, sigma, pen, middle)
        if pen > deal.value - price:
            # The cap binds: the penalty is the buyer's loss per unit, v - p, at the price that
            # makes the offer worth the target with that penalty (both move with p: one linear
            # equation).
            f0 = self.worth(0.0, sigma, deal.value)
            f1 = self.worth(1.0, sigma, deal.value - 1.0)
            price = (target - f0) / (f1 - f0) if abs(f1 - f0) > 1e-12 else middle
            pen = deal.value - price
            if pen < 0:
                pen = 0.0
                price = self.price_for(target, sigma, pen, middle)
        return Terms(float(price), deal.quantity, deal.duration, float(sigma), float(pen))


def _price_for(deal: Deal, party: Party, target: float, sigma: float, pen: float, fallback: float) -> float:
    """The price at which the contract with these other terms is worth `target` to the party;
    `fallback` for a party indifferent to the price (a full shared vision)."""
    slope = (1.0 - party.weight) * deal.annuity * deal.quantity * party.reliability
    if party.side is Side.BUY:
        slope = -slope
    if abs(slope) < 1e-12:
        return fallback
    base = worth(deal, party, Terms(0.0, deal.quantity, deal.duration, sigma, pen))
    return (target - base) / slope


@dataclass(frozen=True, slots=True)
class ContractOffer:
    """One line of a negotiation's log."""

    round_: int
    side: Side
    terms: Terms
    accepted: bool


@dataclass(frozen=True, slots=True)
class ContractOutcome:
    terms: Terms | None
    log: tuple[ContractOffer, ...]

    @property
    def agreed(self) -> bool:
        return self.terms is not None


def _loss_repaid(deal: Deal, party: Party, t: Terms) -> bool:
    """A side takes a private loss only for a positive joint gain: with none, a side that weighs
    the park's gain would be indifferent to a contract that only moves money to its partner."""
    return utility(deal, party, t) >= -1e-9 or joint_gain(deal, party) > 1e-9


def negotiate_contract(deal: Deal, seller: Party, buyer: Party, deadline: int, seller_opens: bool) -> ContractOutcome:
    """Alternating offers over a contract, rounds 0 .. deadline-1, the opener proposing in even
    rounds. A responder accepts an offer worth at least as much to it as its own next offer
    (Faratin et al.'s rule) and at least 0 (its outside option, in its shared-vision terms)."""
    if seller.side is not Side.SELL or buyer.side is not Side.BUY:
        raise ValueError("negotiate_contract: pass the seller's Party (side SELL) then the buyer's (side BUY)")
    if deadline < 1:
        raise ValueError(f"negotiate_contract: deadline must be at least 1 round, got {deadline}")
    if deal.quantity <= 0 or deal.duration <= 0:
        return ContractOutcome(None, ())
    log: list[ContractOffer] = []
    sides = {Side.SELL: _Side(deal, seller, deadline), Side.BUY: _Side(deal, buyer, deadline)}
    # A responder's next offer (round t + 1) is the offer it makes as proposer in that round:
    # `offer` is a function of its arguments, so each is computed once.
    made: dict[tuple[Side, int], Terms] = {}

    def offer_of(party: Party, round_: int) -> Terms:
        terms = made.get((party.side, round_))
        if terms is None:
            terms = made[(party.side, round_)] = sides[party.side].offer(round_)
        return terms

    s_side, b_side = sides[Side.SELL], sides[Side.BUY]
    for t in range(deadline):
        proposer, responder = (seller, buyer) if (t % 2 == 0) == seller_opens else (buyer, seller)
        terms = offer_of(proposer, t)
        if not (math.isfinite(terms.price) and math.isfinite(terms.penalty) and math.isfinite(terms.seller_share)):
            return ContractOutcome(None, tuple(log))
        mine = sides[responder.side].worth_of(terms)
        ok = (mine >= -1e-9 and mine >= sides[responder.side].worth_of(offer_of(responder, t + 1)) - 1e-9
              and sides[proposer.side].worth_of(terms) >= -1e-9
              and all(side.utility(terms.price, terms.seller_share, terms.penalty) >= -1e-9 or side.joint > 1e-9
                      for side in (s_side, b_side)))
        log.append(ContractOffer(t, proposer.side, terms, ok))
        if ok:
            return ContractOutcome(terms, tuple(log))
    return ContractOutcome(None, tuple(log))
