"""Who knows whom, who is bound to whom: contracts, pipes, trust and the search for partners.

The model calls, each step: `observe` (the true positions, before contracts), `deliver`
(contracts first), `after_market` (repeated trade, search for new partners) and, every
`period` steps, `negotiate` (pairs sign contracts and build pipes). Money this causes (penalties,
pipe annuities, search) is returned to the model, which books it in the ledger.

Partner choice: a pair negotiates only when each trusts the other at least `min_trust`;
candidates are taken in order of the joint gain each pair expects, weighted by the buyer's
trust in the seller (`market.trust`), so reliable partners are served first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import chain
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from agents.cooperation import CooperationSettings
from agents.smoothing import KeyedAverages
from market.contract_negotiation import Deal, Party, annuity, negotiate_contract
from market.contracts import Contract, Delivery, deliver
from market.network import Network, Pipeline
from market.orders import (COLUMNS_FROM, Order, OrderColumns, Side, Trade, by_resource_code, columns_of,
                           order_columns_of)
from market.policy import Policy
from market.resources import Mode
from market.settlement import Ledger
from market.trust import TrustBook


@dataclass(frozen=True, slots=True)
class Pipe:
    """A pipe built during the run: who pays what share of its annuity and from when."""

    pipeline: Pipeline
    built: int
    investment: float
    seller: int
    buyer: int
    seller_share: float  # of the cost after subsidy
    subsidy: float  # government's share of the whole investment
    charge_per_step: float  # annuity of the whole investment over its life
    life_steps: int


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A link that formed: its first contract, the pipe it needed, or repeated spot trade."""

    step: int
    seller: int
    buyer: int
    resource: str
    how: str  # "contract", "pipe" or "spot"


class Partnerships:
    PAIR_BLOCK = 1 << 20  # seller-buyer pairs of a pipeline resource looked at together (`_pipe_candidates`)
    FEW_PAIRS = 64  # up to this many pairs, `_pipe_candidates` first checks whether any could be new

    def __init__(self, settings: CooperationSettings, policy: Policy, n: int, steps_per_year: int,
                 pipelines: Sequence[Pipeline]):
        self.s = settings
        self.policy = policy
        self.n = n
        self.steps_per_year = steps_per_year
        self.rate = (1.0 + settings.discount_rate) ** (1.0 / steps_per_year) - 1.0
        self.contracts: list[Contract] = []
        self.active: list[Contract] = []  # the contracts in force this step (set by `deliver`)
        # `active_at`'s working list: the contracts signed so far (`_seen` of them, in order) not
        # yet ended at step `_pruned_at`; rebuilt when `contracts` is another list or changed.
        self._live: list[Contract] = []
        self._live_of: list[Contract] | None = None
        self._seen = 0
        self._pruned_at = -1
        self.pipes: list[Pipe] = []
        self.trust = TrustBook(n, settings.trust_prior, settings.trust_weight, settings.trust_memory)
        # A company's belief in its own deliveries: kept / broken with the same prior.
        self._own_kept = np.zeros(n)
        self._own_broken = np.zeros(n)
        if policy.information >= 1.0:
            self.known: np.ndarray | None = None
        else:
            self.known = np.eye(n, dtype=bool)
            for p in pipelines:
                self.known[p.a, p.b] = self.known[p.b, p.a] = True
        # Each company's surplus (what it would dispose of) and need per resource, as seen by
        # `observe`: averaged over about a period, and summed over the run.
        self._surplus_seen = KeyedAverages()
        self._need_seen = KeyedAverages()
        self._observed = 0
        # `observe`'s prices of surplus, by the ledger's, by resource and by resource code
        self._below: tuple[object, dict[str, float], np.ndarray] = (None, {}, np.zeros(0))
        self._spot_days: dict[tuple[int, int, str], int] = defaultdict(int)
        self._spot_dist: dict[tuple[int, int, str], float] = {}
        self._linked: set[tuple[int, int, str]] = set()
        self.links: list[LinkEvent] = []
        self.investment_eur = 0.0
        self._taken = np.zeros(n, dtype=np.int64)  # new relations each company took on in `_taken_year`
        self._taken_year = 0  # a year of the run (step // steps_per_year)

    def active_at(self, step: int) -> list[Contract]:
        """The contracts running at `step`, in signing order: the contracts that
        `Contract.active(step)` keeps, found without walking every contract ever signed (about
        17,000 after a year of synthetic:1000, walked several times a step)."""
        if self._live_of is not self.contracts or len(self.contracts) < self._seen or step < self._pruned_at:
            self._live, self._live_of, self._seen, self._pruned_at = [], self.contracts, 0, -1
        if len(self.contracts) > self._seen:
            self._live.extend(self.contracts[self._seen:])
            self._seen = len(self.contracts)
        if step != self._pruned_at:
            self._live = [c for c in self._live if c.start + c.terms.duration > step]  # c.end > step
            self._pruned_at = step
        return [c for c in self._live if c.start <= step]

    # ------------------------------------------------------------------ each step
    # The averages and totals as dicts by (company, resource), in the order first seen.
    @property
    def _surplus(self) -> dict[tuple[int, str], float]:
        return self._surplus_seen.averages()

    @property
    def _need(self) -> dict[tuple[int, str], float]:
        return self._need_seen.averages()

    @property
    def _surplus_sum(self) -> dict[tuple[int, str], float]:
        return self._surplus_seen.totals()

    @property
    def _need_sum(self) -> dict[tuple[int, str], float]:
        return self._need_seen.totals()

    def observe(self, true_orders: Sequence[Order], ledger: Ledger) -> None:
        """Running averages of each company's surplus (what it would dispose of) and need,
        over about one period (exponential smoothing)."""
        a = 1.0 / self.s.period
        # An ask priced under `below[r]` is surplus: kept while the ledger's prices are the same
        # (`Ledger.reprice` replaces them).
        buy = ledger.buy_prices
        if self._below[0] is not buy:
            below = {r: p - 1e-9 for r, p in buy.items()}
            self._below = (buy, below, by_resource_code(below))
        below = self._below[1]
        if len(true_orders) >= COLUMNS_FROM:
            self._observe_columns(order_columns_of(true_orders), self._below[2], a)
            return
        seen_s: dict[tuple[int, str], float] = {}
        seen_n: dict[tuple[int, str], float] = {}
        sell = Side.SELL
        for o in true_orders:
            if o.side is sell:
                if o.price < below[o.resource]:
                    key = (o.owner, o.resource)
                    seen_s[key] = seen_s.get(key, 0.0) + o.quantity
            else:
                key = (o.owner, o.resource)
                seen_n[key] = seen_n.get(key, 0.0) + o.quantity
        self._surplus_seen.add(list(seen_s), list(seen_s.values()), a)
        self._need_seen.add(list(seen_n), list(seen_n.values()), a)
        self._observed += 1

    def _observe_columns(self, cols: OrderColumns, below: np.ndarray, a: float) -> None:
        """`observe` on the orders' columns (`below`: the price under which an ask is surplus, by
        resource code): per side, each (company, resource) shown, in the order first shown, with
        its orders' quantities added in the orders' order."""
        is_ask = cols.is_ask
        limit = below[cols.code]
        for seen, mask in ((self._surplus_seen, is_ask & (cols.price < limit)), (self._need_seen, ~is_ask)):
            at = np.flatnonzero(mask)
            cell = cols.owner[at] * (1 << 20) + cols.code[at]
            _, first, inverse = np.unique(cell, return_index=True, return_inverse=True)
            sums = np.zeros(len(first))
            np.add.at(sums, inverse, cols.quantity[at])
            order = np.argsort(first)
            shown = at[first[order]].tolist()
            seen.add(list(zip(cols.owner[shown].tolist(), map(cols.resource.__getitem__, shown))), sums[order], a)
        self._observed += 1

    def deliver(self, step: int, true_orders: Sequence[Order]
                ) -> tuple[Sequence[Trade], list[Delivery], Sequence[Order], list[tuple[int, int, float]]]:
        """Contracts deliver; trust and self-belief are updated; returns the contract trades,
        the deliveries, the orders left for the spot market and the penalties (payer, payee,
        EUR)."""
        active = self.active_at(step)
        self.active = active
        if not active:
            return [], [], true_orders, []
        trades, done, rest = deliver(active, true_orders, step, self.s.tolerance)
        penalties = []
        m = self.s.trust_memory
        # Python floats for the loop: a numpy scalar costs more to read and write (same values).
        own_kept, own_broken = self._own_kept.tolist(), self._own_broken.tolist()
        seen: list[tuple[int, int, bool]] = []  # for `trust`, in the order observed
        for c, d in zip(active, done, strict=True):  # one delivery per active contract, in order
            seller, breacher = c.seller, d.breacher
            if breacher < 0:  # kept
                seen.append((c.buyer, seller, True))
                seen.append((seller, c.buyer, True))
                own_kept[seller] = m * own_kept[seller] + 1
                own_broken[seller] *= m
            else:
                other = c.buyer if breacher == seller else seller
                seen.append((other, breacher, False))
                if breacher == seller:
                    own_broken[seller] = m * own_broken[seller] + 1
                    own_kept[seller] *= m
                if d.penalty > 0:
                    penalties.append((breacher, other, d.penalty))
        self.trust.record_all(seen)
        self._own_kept[:] = own_kept
        self._own_broken[:] = own_broken
        return trades, done, rest, penalties

    def after_market(self, step: int, trades: Sequence[Trade], left: dict[int, tuple[set[str], set[str]]],
                     rng: np.random.Generator) -> np.ndarray:
        """Count repeated trade; companies with surplus left or needs unmet search for partners
        they do not know yet. Returns each company's search cost this step."""
        if len(trades) < COLUMNS_FROM:
            for t in trades:
                key = (t.seller, t.buyer, t.resource)
                self._spot_days[key] += 1
                self._spot_dist[key] = t.distance_km
                if self.known is not None:
                    self.known[t.seller, t.buyer] = self.known[t.buyer, t.seller] = True
        else:  # the same, read from the trades' columns (`market.orders.TradeList`)
            cols = columns_of(trades)
            days, dist = self._spot_days, self._spot_dist
            for key, km in zip(zip(cols.seller.tolist(), cols.buyer.tolist(), cols.resource), cols.distance_km.tolist()):
                days[key] += 1
                dist[key] = km
            if self.known is not None:
                self.known[cols.seller, cols.buyer] = True
                self.known[cols.buyer, cols.seller] = True
        cost = np.zeros(self.n)
        if self.known is None or not left:
            return cost
        info = self.policy.information
        p_find = info + (1.0 - info) * self.s.search_rate
        sellers_of: dict[str, list[int]] = defaultdict(list)
        buyers_of: dict[str, list[int]] = defaultdict(list)
        for c, (surplus, need) in left.items():
            for r in surplus:
                sellers_of[r].append(c)
            for r in need:
                buyers_of[r].append(c)
        for c in sorted(left):
            if self._busy(step, c):
                continue  # no attention left this year for a new partner: it does not search
            surplus, need = left[c]
            cost[c] = (1.0 - info) * self.s.search_cost_eur
            u = rng.random()
            if u >= p_find:
                continue
            others = {b for r in surplus for b in buyers_of.get(r, ())} | {s for r in need for s in sellers_of.get(r, ())}
            unknown = sorted(o for o in others if not self.known[c, o])
            if unknown:
                j = unknown[int(rng.integers(len(unknown)))]
                if self._busy(step, j):
                    continue  # found, but the other has no attention left this year
                self.known[c, j] = self.known[j, c] = True
                self._take(step, c)
                self._take(step, j)
        return cost

    def average_orders(self, ledger: Ledger, whole_run: bool = False) -> list[Order]:
        """Truthful orders for each company's average surplus (what it would dispose of) and
        need per step, over about the last period or the whole run: the positions the park
        operator's coalition game is played on."""
        if whole_run:
            k = max(1, self._observed)
            surplus = {key: q / k for key, q in self._surplus_sum.items()}
            need = {key: q / k for key, q in self._need_sum.items()}
        else:
            surplus, need = self._surplus, self._need
        out = []
        for (c, r), q in sorted(surplus.items()):
            if q > 1e-9:
                out.append(Order(c, r, Side.SELL, q, -ledger.dispose_price(r)))
        for (c, r), q in sorted(need.items()):
            if q > 1e-9:
                out.append(Order(c, r, Side.BUY, q, ledger.park_buy_value(r)))
        return out

    def capital(self, step: int) -> tuple[np.ndarray, float]:
        """This step's pipe annuities: what each company pays, and the government."""
        pay = np.zeros(self.n)
        gov = 0.0
        for p in self.pipes:
            if p.built <= step < p.built + p.life_steps:
                own = p.charge_per_step * (1.0 - p.subsidy)
                pay[p.seller] += own * p.seller_share
                pay[p.buyer] += own * (1.0 - p.seller_share)
                gov += p.charge_per_step * p.subsidy
        return pay, gov

    def reliability(self, company: int) -> float:
        a = self.s.trust_prior * self.s.trust_weight
        b = (1 - self.s.trust_prior) * self.s.trust_weight
        k, s = self._own_kept[company], self._own_broken[company]
        return float((k + a) / (k + s + a + b))

    # ------------------------------------------------------------------ every period
    def negotiate(self, step: int, network: Network, ledger: Ledger, weights: np.ndarray,
                  tactics: Sequence[tuple[float, float]], rng: np.random.Generator,
                  multiples: dict[str, float] | None = None, on_pipe=None) -> tuple[list[Contract], Network]:
        """Pairs negotiate contracts: pairs that traded on the spot market on at least half the
        steps of the last period (on their route), and, for pipeline resources, pairs that know
        each other and no pipe joins (a new pipe). A new pipe is an irreversible investment: its
        NPV must clear (multiple - 1) x its cost, the multiple for the resource's value
        uncertainty (`agents.investment`; 1 when none is given). Returns the contracts signed
        and the network with any new pipes; `on_pipe(step, seller, buyer, resource, npv,
        threshold, investment)` hears of each pipe built."""
        self._multiples = multiples or {}
        free_s, free_n, bound = self._uncommitted(step)
        half = max(1, self.s.period // 2)
        cands = self._candidates(network, ledger, free_s, free_n, bound, weights, half)
        npv_of = {(c[1], c[2], c[3]): c for c in cands}
        signed: list[Contract] = []
        new_pipes: list[Pipeline] = []
        for _, a, b, r, dist, invest in cands:
            new = (a, b, r) not in self._linked  # a renewal takes no new attention
            if new and (self._busy(step, a) or self._busy(step, b)):
                continue
            c = self._sign(step, network, ledger, a, b, r, dist, invest, free_s, free_n, weights, tactics, rng)
            if c is None:
                continue
            signed.append(c)
            if invest > 0:
                new_pipes.append(self._build_pipe(step, c, -npv_of[(a, b, r)][0], on_pipe))
            self._link(step, a, b, r, "pipe" if invest > 0 else "contract")
            if new:
                self._take(step, a)
                self._take(step, b)
        for key, days in self._spot_days.items():
            if days >= half:
                self._link(step, *key, "spot")
        self._spot_days.clear()
        if new_pipes:
            network = Network(network.positions, network.resources, network.pipelines + tuple(new_pipes), network.known)
        return signed, network

    def _uncommitted(self, step: int) -> tuple[dict[tuple[int, str], float], dict[tuple[int, str], float],
                                                set[tuple[int, int, str]]]:
        """What each company may still commit to new contracts: commit_share of its surplus
        (per seller and resource) and of its need (per buyer and resource) less what running
        contracts take; and the (seller, buyer, resource) routes already under contract."""
        out_q: dict[tuple[int, str], float] = defaultdict(float)
        in_q: dict[tuple[int, str], float] = defaultdict(float)
        bound: set[tuple[int, int, str]] = set()
        for c in self.contracts:
            if c.end > step:
                out_q[(c.seller, c.resource)] += c.terms.quantity / c.share
                in_q[(c.buyer, c.resource)] += c.terms.quantity
                bound.add((c.seller, c.buyer, c.resource))
        free_s = {k: self.s.commit_share * v - out_q.get(k, 0.0) for k, v in self._surplus.items()}
        free_n = {k: self.s.commit_share * v - in_q.get(k, 0.0) for k, v in self._need.items()}
        return free_s, free_n, bound

    def _candidates(self, network: Network, ledger: Ledger, free_s: dict, free_n: dict, bound: set,
                    weights: np.ndarray, half: int) -> list[tuple[float, int, int, str, float, float]]:
        """The pairs worth negotiating, best first, as (-score, seller, buyer, resource,
        distance, investment): spot partners of at least `half` the last period's steps, and
        unjoined pairs of a pipeline resource with a new pipe."""
        s = self.s
        cands: list[tuple[float, int, int, str, float, float]] = []
        for (a, b, r), days in self._spot_days.items():
            if days >= half and (a, b, r) not in bound:
                cands.append(self._candidate(network, ledger, a, b, r, self._spot_dist[(a, b, r)], 0.0, free_s, free_n,
                                             weights))
        for r, res in network.resources.items():
            if res.transport is not Mode.PIPELINE:
                continue
            sellers = np.array(sorted(a for (a, rr), v in free_s.items() if rr == r and v > 1e-9), dtype=np.int64)
            buyers = np.array(sorted(b for (b, rr), v in free_n.items() if rr == r and v > 1e-9), dtype=np.int64)
            if len(sellers) == 0 or len(buyers) == 0:
                continue
            piped = {(p.a, p.b) for p in network.pipelines if p.resource == r}
            piped |= {(b, a) for a, b in piped}
            fixed = res.pipe_fixed if res.pipe_fixed is not None else s.pipe_fixed_eur
            per_km = res.pipe_per_km if res.pipe_per_km is not None else s.pipe_per_km_eur
            cands.extend(self._pipe_candidates(network, ledger, r, sellers, buyers, piped, bound, fixed, per_km,
                                               free_s, free_n, weights))
        cands = [c for c in cands if c[0] < 0]
        cands.sort()
        return cands

    def _pipe_life(self) -> int:
        return int(round(self.s.pipe_lifetime_years * self.steps_per_year))

    def _sign(self, step: int, network: Network, ledger: Ledger, a: int, b: int, r: str, dist: float, invest: float,
              free_s: dict, free_n: dict, weights: np.ndarray, tactics: Sequence[tuple[float, float]],
              rng: np.random.Generator) -> Contract | None:
        """Seller a and buyer b negotiate over what both have free, if each trusts the other
        enough; the contract signed (recorded, and taken off free_s and free_n) or None."""
        s = self.s
        if self.trust.trust(a, b) < s.min_trust or self.trust.trust(b, a) < s.min_trust:
            return None
        res = network.resources[r]
        share = res.delivered_share(dist)
        if share <= 0:
            return None
        q = min(free_s.get((a, r), 0.0) * share, free_n.get((b, r), 0.0))
        if q <= 1e-9:
            return None
        duration = int(round(s.horizon_years * self.steps_per_year))
        if invest > 0:
            duration = min(duration, self._pipe_life())
        deal = self._deal(ledger, a, b, r, q, duration, dist, invest)
        seller = Party(Side.SELL, self.reliability(a), float(weights[a]), *tactics[a])
        buyer = Party(Side.BUY, self.trust.trust(b, a), float(weights[b]), *tactics[b])
        terms = negotiate_contract(deal, seller, buyer, s.deadline, seller_opens=bool(rng.integers(2))).terms
        if terms is None:  # no agreement before the deadline
            return None
        c = Contract(len(self.contracts), a, b, r, terms, step + 1, share, res.transport_cost * dist, dist, invest)
        self.contracts.append(c)
        free_s[(a, r)] = free_s.get((a, r), 0.0) - q / share
        free_n[(b, r)] = free_n.get((b, r), 0.0) - q
        if self.known is not None:
            self.known[a, b] = self.known[b, a] = True
        return c

    def _build_pipe(self, step: int, c: Contract, npv: float, on_pipe=None) -> Pipeline:
        """The pipe contract c pays for: built (in service from the next step), its annuity
        charged over its life, and `on_pipe` told of it."""
        invest, sub, life = c.investment, self.policy.investment_subsidy, self._pipe_life()
        pl = Pipeline(c.seller, c.buyer, c.resource, c.distance_km)
        if on_pipe is not None:
            bar = self._bar(c.resource, invest * (1.0 - sub))
            on_pipe(step, c.seller, c.buyer, c.resource, npv + bar, bar, invest)
        self.pipes.append(Pipe(pl, step + 1, invest, c.seller, c.buyer, c.terms.seller_share, sub,
                               invest * self._crf(life), life))
        self.investment_eur += invest
        return pl

    def _busy(self, step: int, company: int) -> bool:
        """Whether `company` has taken on all the new relations it can this year."""
        cap = self.s.new_relations_per_year
        return cap > 0 and self._this_year(step)[company] >= cap

    def _take(self, step: int, company: int) -> None:
        if self.s.new_relations_per_year > 0:
            self._this_year(step)[company] += 1

    def _this_year(self, step: int) -> np.ndarray:
        year = step // self.steps_per_year
        if year != self._taken_year:
            self._taken_year = year
            self._taken[:] = 0
        return self._taken

    def _bar(self, r: str, invest: float) -> float:
        """What a new pipe's NPV must clear (0 with no uncertainty)."""
        return (getattr(self, "_multiples", {}).get(r, 1.0) - 1.0) * invest

    def terminate(self, company: int, step: int, steps: int) -> list[tuple[int, int, float]]:
        """A company closes: its contracts in force end now, and it pays each partner `steps`
        steps of the contract's penalty on the contracted quantity (at most the steps the
        contract had left). Returns (payer, payee, EUR)."""
        out = []
        for n, c in enumerate(self.contracts):
            if company not in (c.seller, c.buyer) or not c.active(step):
                continue
            left = c.end - step
            other = c.buyer if c.seller == company else c.seller
            amount = c.terms.penalty * c.terms.quantity * min(steps, left)
            if amount > 0:
                out.append((company, other, amount))
            self.contracts[n] = replace(c, terms=replace(c.terms, duration=step - c.start))
            self._live_of = None  # a contract changed: `active_at` starts over
        self.active = [c for c in self.active if c.active(step)]
        return out

    def _link(self, step: int, a: int, b: int, r: str, how: str) -> None:
        if (a, b, r) not in self._linked:
            self._linked.add((a, b, r))
            self.links.append(LinkEvent(step, a, b, r, how))

    def _crf(self, life: int) -> float:
        """Capital recovery factor per step: the annuity that repays 1 EUR over `life` steps."""
        a = annuity(life, self.rate)
        return 1.0 / a if a > 0 else 0.0

    def _deal(self, ledger: Ledger, a: int, b: int, r: str, q: float, duration: int, dist: float, invest: float) -> Deal:
        res = ledger.resources[r]
        share = res.delivered_share(dist)
        cost = (-ledger.dispose_price(r) + res.transport_cost * dist) / share
        co2 = res.co2_virgin + res.co2_disposal / share
        return Deal(quantity=q, duration=duration, annuity=annuity(duration, self.rate),
                    value=ledger.park_buy_value(r), cost=cost,
                    pipe=invest * (1.0 - self.policy.investment_subsidy),
                    park_value=self.policy.shared_vision_co2_value * co2)

    def _pipe_candidates(self, network: Network, ledger: Ledger, r: str, sellers: np.ndarray, buyers: np.ndarray,
                         piped: set, bound: set, fixed: float, per_km: float, free_s: dict, free_n: dict,
                         weights: np.ndarray) -> list[tuple[float, int, int, str, float, float]]:
        """`_candidate` for every seller-buyer pair of a pipeline resource at once (a park of
        1,000 companies has 10^5 such pairs): the same joint gain, as arrays."""
        # A pair already piped or under contract is never a candidate, nor a company with
        # itself: a small park's few pairs of a resource often all are, and then the arrays
        # below have nothing to find (looked at only for a few pairs: a big park has many).
        if len(sellers) * len(buyers) <= self.FEW_PAIRS and all(
                x == y or (x, y) in piped or (x, y, r) in bound for x in sellers.tolist() for y in buyers.tolist()):
            return []
        res = network.resources[r]
        at_s, at_b = network.positions[sellers], network.positions[buyers]
        fs = np.array([free_s.get((x, r), 0.0) for x in sellers.tolist()])
        fn = np.array([free_n.get((x, r), 0.0) for x in buyers.tolist()])
        # The pairs whose route delivers something (the others cannot gain), seller-major (each
        # seller's buyers in order): distance, delivered share and quantity are per pair.
        reach = self._pipe_reach(ledger, r, fs, fn, fixed, per_km, network)
        if reach is not None:
            # Only the buyers within a seller's reach can gain (a k-d tree finds them): at 10,000
            # companies 1 to 10 million pairs a resource, of which a few thousand are.
            near = cKDTree(at_b).query_ball_point(at_s, reach * (1.0 + 1e-6) + 1e-6, return_sorted=True)
            counts = np.fromiter(map(len, near), np.intp, len(near))
            si = np.repeat(np.arange(len(sellers)), counts)
            bi = np.fromiter(chain.from_iterable(near), np.intp, int(counts.sum()))
            parts = [_pairs_worth_a_look(self.known, res.loss_per_km, sellers, buyers, at_s, at_b, fs, fn, si, bi)]
        else:  # every pair, a block of sellers at a time against every buyer (`PAIR_BLOCK` pairs at most)
            m = len(buyers)
            block = max(1, self.PAIR_BLOCK // m)
            parts = [_pairs_worth_a_look(self.known, res.loss_per_km, sellers, buyers, at_s, at_b, fs, fn,
                                         np.repeat(np.arange(lo, min(lo + block, len(sellers))), m),
                                         np.tile(np.arange(m), min(lo + block, len(sellers)) - lo))
                     for lo in range(0, len(sellers), block)]
        si, bi, d, share, q = (np.concatenate(x) for x in zip(*parts))
        if not len(si):  # no pair can gain (a small park's usual case: its few pairs are piped)
            return []
        a, b = sellers[si], buyers[bi]
        life = int(round(self.s.pipe_lifetime_years * self.steps_per_year))
        duration = min(int(round(self.s.horizon_years * self.steps_per_year)), life)
        ann = annuity(duration, self.rate)
        cost = (-ledger.dispose_price(r) + res.transport_cost * d) / share
        co2 = res.co2_virgin + res.co2_disposal / share
        invest = fixed + per_km * d
        pipe = invest * (1.0 - self.policy.investment_subsidy)
        # What the pipe's NPV must clear: the value of waiting of a sunk investment (`_bar`, per pair).
        bar = (getattr(self, "_multiples", {}).get(r, 1.0) - 1.0) * pipe
        with np.errstate(invalid="ignore"):
            extra = np.where(np.maximum(weights[a], weights[b]) > 0, self.policy.shared_vision_co2_value * co2, 0.0)
        worth = ledger.park_buy_value(r) - cost + extra
        aq = ann * q
        # The buyer's trust lies in (0, 1] and rounding is monotone, so with aq, pipe and bar >= 0
        # the gain is <= 0 where the worth is (a product <= 0 less what is >= 0), and at most its
        # value at trust 1 where the worth is positive: the trust is looked up only where the gain can be > 0.
        could = np.flatnonzero(~((aq >= 0) & (pipe >= 0) & (bar >= 0) & ((worth <= 0) | (aq * worth - pipe - bar <= 0))))
        if not len(could):
            return []
        a, b, d, invest, aq, worth, pipe, bar = a[could], b[could], d[could], invest[could], aq[could], \
            worth[could], pipe[could], bar[could]
        rho = self.trust.trust_of(b, a)
        gain = aq * rho * worth - pipe - bar
        keep = np.flatnonzero(gain > 0)
        out = []
        for x, y, g, dist, inv in zip(a[keep].tolist(), b[keep].tolist(), gain[keep].tolist(), d[keep].tolist(),
                                      invest[keep].tolist()):
            if (x, y) in piped or (x, y, r) in bound:
                continue
            out.append((-g, x, y, r, dist, inv))
        return out

    def _pipe_reach(self, ledger: Ledger, r: str, fs: np.ndarray, fn: np.ndarray, fixed: float, per_km: float,
                    network: Network) -> np.ndarray | None:
        """Per seller (free surplus `fs`; the buyers' free needs `fn`), a distance from which no
        new pipe of resource r to any buyer gains, or None where no such bound holds.

        A pair's gain is aq x trust x worth - pipe - bar (`_pipe_candidates`), with trust <= 1
        and pipe + bar = multiple x (1 - subsidy) x (fixed + per_km x d). The quantity q is at
        most min(fs, the largest fn) and at most fs x share, so aq x worth is at most
        annuity x (min(fs, max fn) x (buy value + CO2 value of virgin supply) + fs x (disposal
        price + CO2 value of disposal)), each term taken where positive; a route with losses
        also delivers nothing from 1 / loss_per_km km. A pipe whose cost passes that bound
        cannot gain."""
        res = network.resources[r]
        sub = self.policy.investment_subsidy
        multiple = getattr(self, "_multiples", {}).get(r, 1.0)
        duration = min(int(round(self.s.horizon_years * self.steps_per_year)), self._pipe_life())
        ann = annuity(duration, self.rate)
        if not (per_km > 0 and fixed >= 0 and sub < 1 and multiple >= 1 and res.transport_cost >= 0
                and res.loss_per_km >= 0 and ann >= 0 and len(fn)):
            return None
        v = self.policy.shared_vision_co2_value
        per_delivered = max(ledger.park_buy_value(r), 0.0) + max(v * res.co2_virgin, 0.0)
        per_shipped = max(ledger.dispose_price(r), 0.0) + max(v * res.co2_disposal, 0.0)
        top = ann * (np.minimum(fs, float(fn.max())) * per_delivered + fs * per_shipped)
        reach = (top / (multiple * (1.0 - sub)) - fixed) / per_km
        if res.loss_per_km > 0:
            reach = np.minimum(reach, 1.0 / res.loss_per_km)
        if not np.isfinite(reach).all():
            return None
        return np.maximum(reach, 0.0)

    def _candidate(self, network: Network, ledger: Ledger, a: int, b: int, r: str, dist: float, invest: float,
                   free_s: dict, free_n: dict, weights: np.ndarray) -> tuple[float, int, int, str, float, float]:
        """A pair worth negotiating: its joint gain as the buyer's trust sees it, counting the
        shared-vision programme's value of the CO2 avoided when either side holds the vision
        (a side with weight 0 never signs at a loss, but its partner may make it whole)."""
        res = network.resources[r]
        share = res.delivered_share(dist)
        if share <= 0:
            return (0.0, a, b, r, dist, invest)
        q = min(free_s.get((a, r), 0.0) * share, free_n.get((b, r), 0.0))
        if q <= 1e-9:
            return (0.0, a, b, r, dist, invest)
        life = int(round(self.s.pipe_lifetime_years * self.steps_per_year))
        duration = int(round(self.s.horizon_years * self.steps_per_year))
        if invest > 0:
            duration = min(duration, life)
        deal = self._deal(ledger, a, b, r, q, duration, dist, invest)
        rho = self.trust.trust(b, a)
        extra = deal.park_value if max(weights[a], weights[b]) > 0 else 0.0
        gain = deal.annuity * q * rho * (deal.value - deal.cost + extra) - deal.pipe - self._bar(r, deal.pipe)
        return (-gain if gain > 0 else 0.0, a, b, r, dist, invest)


def _pairs_worth_a_look(known: np.ndarray | None, loss_per_km: float, sellers: np.ndarray, buyers: np.ndarray,
                        at_s: np.ndarray, at_b: np.ndarray, fs: np.ndarray, fn: np.ndarray, si: np.ndarray,
                        bi: np.ndarray) -> tuple[np.ndarray, ...]:
    """Of the pairs (seller si, buyer bi, by their places in `sellers` and `buyers`), those whose
    route delivers something between two companies that know each other: their si, bi,
    distance, delivered share and quantity."""
    d = np.hypot(at_s[si, 0] - at_b[bi, 0], at_s[si, 1] - at_b[bi, 1])
    share = np.clip(1.0 - loss_per_km * d, 0.0, 1.0)
    q = np.minimum(fs[si] * share, fn[bi])
    ok = (share > 0) & (q > 1e-9) & (sellers[si] != buyers[bi])
    if known is not None:
        ok &= known[sellers[si], buyers[bi]]
    at = np.flatnonzero(ok)
    return si[at], bi[at], d[at], share[at], q[at]
