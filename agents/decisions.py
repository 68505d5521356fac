"""Each company's production decision of the step, for the whole park (`agents.production`
has the rule and the solvers; this module gathers what each company knows: its contracts, its
expectations, what it can see of the park).

Most processes never need the tiers: one that pays with every input bought and every
by-product disposed of outside (its worst case) runs at full load, and one that loses money
even if inputs came free of charge at the lowest price any seller would take and every
by-product fetched its buyer's outside price (its best case) never runs. Only the processes in
between, and those of companies bound by a contract, are decided from tiers, so a park of
1,000 companies decides in a few milliseconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from agents.production import EPS, Decision, Expectations, Tier, best_level, best_levels, tier_profit
from market.mechanism import reach_km
from market.contracts import Contract
from market.network import Network
from market.settlement import Ledger

INF = float("inf")


class ProductionDecisions:
    """The decisions of every company of a park. `processes[i]` is company i's list of
    (inputs, by-products) dicts per process; `prices[i]` its sale prices (set by the model
    whenever they change, with `reclassify`)."""

    def __init__(self, processes: Sequence[Sequence[tuple[dict[str, float], dict[str, float]]]], decision: Decision):
        self.processes = [list(p) for p in processes]
        self.decision = decision
        self.fixed: list[np.ndarray] = []  # per company: 1 full, 0 off, -1 decided from tiers
        self.worst: list[np.ndarray] = []
        self.best: list[np.ndarray] = []
        self.expected_cost: list[np.ndarray] = [np.zeros(len(p)) for p in self.processes]
        # Each company's processes' slice of the park's, end to end in company order (`decide`).
        ends = np.cumsum([len(p) for p in self.processes], dtype=np.int64).tolist()
        self._bounds = list(zip([0, *ends[:-1]], ends))
        # From `fixed` (`reclassify`): which processes of the park run at full load, and which
        # companies have a process decided from tiers or any process at all (`decide` reads
        # these every day; `fixed` changes only with prices); and `expected_cost` end to end.
        self._full = np.zeros(0, dtype=bool)
        self._tiered: list[int] = []
        self._some: list[bool] = []
        self.expected_all = np.zeros(ends[-1] if ends else 0)

    def reclassify(self, prices: Sequence[np.ndarray], worst_cost: Sequence[np.ndarray],
                   best_cost: Sequence[np.ndarray]) -> None:
        """Worst and best margins of every process under the current prices, from each
        company's unit costs at outside prices and on the park's best terms
        (`agents.pricing.ProductPrices.unit_cost`, `best_cost`)."""
        self.worst = [np.asarray(p, dtype=float) - w for p, w in zip(prices, worst_cost)]
        self.best = [np.asarray(p, dtype=float) - b for p, b in zip(prices, best_cost)]
        if self.decision is Decision.OUTSIDE:
            self.fixed = [(w > 0).astype(np.int8) for w in self.worst]
        else:
            self.fixed = [np.where(w > 0, 1, np.where(b <= 0, 0, -1)).astype(np.int8)
                          for w, b in zip(self.worst, self.best)]
        self.expected_cost = [np.asarray(w, dtype=float) for w in worst_cost]
        self._full = np.concatenate(self.fixed) == 1 if self.fixed else np.zeros(0, dtype=bool)
        self.expected_all = np.concatenate(self.expected_cost) if self.expected_cost else np.zeros(0)
        self._tiered = [i for i, f in enumerate(self.fixed) if (f < 0).any()]
        self._some = [len(f) > 0 for f in self.fixed]

    def decide(self, avail: np.ndarray, prices: Sequence[np.ndarray], ledger: Ledger,
               contracts: Sequence[Contract], expect: Expectations | None, network: Network | None) -> list[np.ndarray]:
        """Each company's production per process this step, given what each process can make
        (`avail`, end to end over the companies in their order). Without expectations (the
        baseline, or decision "outside") every process is judged at outside prices."""
        # Those that pay at outside prices run at full load: one multiplication over the park.
        at_full = avail * self._full
        out = [at_full[a:b] for a, b in self._bounds]
        if expect is None:
            return out
        odd = set()  # companies bound by a contract worse than their outside option (prices moved since)
        for c in contracts:
            if c.terms.price - c.terms.penalty > ledger.buy_price(c.resource) + EPS:
                odd.add(c.buyer)
            if (c.terms.price + c.terms.penalty) * c.share - c.cost < -ledger.dispose_price(c.resource) - EPS:
                odd.add(c.seller)
        # A process that pays at outside prices pays more on any better terms: only the
        # processes in between, and companies bound to terms worse than outside, need the tiers.
        todo = self._tiered
        if odd:
            tiered = set(todo)
            todo = [i for i, some in enumerate(self._some) if i in tiered or (i in odd and some)]
        if not todo:
            return out
        bound = defaultdict(list)
        for c in contracts:
            bound[c.seller].append(c)
            bound[c.buyer].append(c)
        can = [avail[a:b] for a, b in self._bounds]
        opp = self._opportunities(todo, can, ledger, expect, network)
        for i in todo:
            procs = self.processes[i]
            resources = sorted({r for ins, outs in procs for r in (*ins, *outs)})
            t_in, t_out = {}, {}
            for r in resources:
                t_in[r], t_out[r] = self._tiers(i, r, ledger, bound.get(i, ()), expect, opp)
            caps = can[i]
            shared = len(procs) > 1 and len(resources) < sum(len(set(ins) | set(outs)) for ins, outs in procs)
            if not shared:
                # No resource shared between processes: each is its own one-dimensional problem.
                levels = []
                for k, (ins, outs) in enumerate(procs):
                    terms = []
                    for r in sorted(set(ins) | set(outs)):
                        per_unit = ins.get(r, 0.0) - outs.get(r, 0.0)
                        if per_unit > EPS:
                            terms.append((per_unit, t_in[r]))
                        elif per_unit < -EPS:
                            terms.append((-per_unit, t_out[r]))
                    levels.append(best_level(float(prices[i][k]), float(caps[k]), terms) if caps[k] > 0 else 0.0)
                out[i] = np.array(levels)
            else:
                net = np.array([[ins.get(r, 0.0) - outs.get(r, 0.0) for r in resources] for ins, outs in procs])
                out[i] = best_levels(np.asarray(prices[i], dtype=float), caps, net,
                                     [t_in[r] for r in resources], [t_out[r] for r in resources])
        return out

    def _tiers(self, i: int, r: str, ledger: Ledger, contracts: Sequence[Contract], expect: Expectations,
               opp: dict) -> tuple[list[Tier], list[Tier]]:
        """Company i's sources of r, cheapest first, and outlets, best first."""
        t_in: list[Tier] = []
        t_out: list[Tier] = []
        bought = shipped = 0.0
        for c in contracts:
            if c.resource != r or (c.seller != i and c.buyer != i):
                continue
            if c.buyer == i:
                # Taking a contracted unit costs its price; not taking it costs the penalty.
                t_in.append((c.terms.quantity, -(c.terms.price - c.terms.penalty)))
                bought += c.terms.quantity
            if c.seller == i:
                t_out.append((c.terms.quantity / c.share,
                              (c.terms.price + c.terms.penalty) * c.share - c.cost))
                shipped += c.terms.quantity / c.share
        spot = expect.inputs(i, r, bought)
        if spot is not None:
            t_in.append(spot)
        spot = expect.outlets(i, r, shipped)
        if spot is not None:
            t_out.append(spot)
        if (i, r, "in") in opp:
            t_in.append(opp[(i, r, "in")])
        if (i, r, "out") in opp:
            t_out.append(opp[(i, r, "out")])
        t_in.append((INF, -ledger.buy_price(r)))
        t_out.append((INF, -ledger.dispose_price(r)))
        t_in.sort(key=lambda t: -t[1])
        t_out.sort(key=lambda t: -t[1])
        return t_in, t_out

    def _opportunities(self, todo: Sequence[int], avail: Sequence[np.ndarray], ledger: Ledger,
                       expect: Expectations, network: Network | None, every: bool = False) -> dict:
        """What the companies deciding from tiers can see of the park beyond their own trade:
        surplus others could not sell that could reach them (for their inputs) and needs
        others bought outside that they could serve (for their by-products), each priced at
        half the pair's gain and shared among the companies that could take it in proportion
        to what they could use. `network` carries who knows whom (information sharing).
        `every`: count every process (a valuation), not only those decided from tiers."""
        out: dict = {}
        if network is None:
            return out
        want_in: dict[str, dict[int, float]] = defaultdict(dict)
        want_out: dict[str, dict[int, float]] = defaultdict(dict)
        for i in todo:
            for (ins, outs), cap, f in zip(self.processes[i], avail[i], self.fixed[i]):
                if f == 1 and not every:
                    continue
                for r, q in ins.items():
                    want_in[r][i] = want_in[r].get(i, 0.0) + q * float(cap)
                for r, q in outs.items():
                    want_out[r][i] = want_out[r].get(i, 0.0) + q * float(cap)
        col = expect.col
        for r, wants in want_in.items():
            k = col[r]
            sellers = np.flatnonzero(expect.unsold[:, k] > EPS)
            if len(sellers):
                self._match(out, r, "in", sellers, np.array(sorted(wants)), wants, expect.unsold[sellers, k],
                            ledger, network)
        for r, wants in want_out.items():
            k = col[r]
            buyers = np.flatnonzero(expect.unmet[:, k] > EPS)
            if len(buyers):
                self._match(out, r, "out", np.array(sorted(wants)), buyers, wants, expect.unmet[buyers, k],
                            ledger, network)
        return out

    def value(self, i: int, caps: np.ndarray, prices: np.ndarray, ledger: Ledger, contracts: Sequence[Contract],
              expect: Expectations | None, network: Network | None) -> tuple[float, np.ndarray]:
        """Company i's best expected profit a step, and the levels that reach it, if its
        processes could make `caps` (0 for a process it does not have): the valuation of an
        investment or an entry (`agents.investment`). Without expectations, at outside prices."""
        procs = self.processes[i]
        resources = sorted({r for ins, outs in procs for r in (*ins, *outs)})
        mine = [c for c in contracts if c.seller == i or c.buyer == i]
        opp: dict = {}
        if expect is not None:
            avail = [np.zeros(len(p)) for p in self.processes]
            avail[i] = caps
            opp = self._opportunities([i], avail, ledger, expect, network, every=True)
        t_in, t_out = {}, {}
        for r in resources:
            if expect is None:
                t_in[r], t_out[r] = [(INF, -ledger.buy_price(r))], [(INF, -ledger.dispose_price(r))]
            else:
                t_in[r], t_out[r] = self._tiers(i, r, ledger, mine, expect, opp)
        net = np.array([[ins.get(r, 0.0) - outs.get(r, 0.0) for r in resources] for ins, outs in procs])
        if not resources:
            x = np.asarray(caps, dtype=float) * (np.asarray(prices) > 0)
            return float(np.asarray(prices) @ x), x
        x = best_levels(np.asarray(prices, dtype=float), np.asarray(caps, dtype=float), net,
                        [t_in[r] for r in resources], [t_out[r] for r in resources])
        return tier_profit(np.asarray(prices, dtype=float), x, net, [t_in[r] for r in resources],
                           [t_out[r] for r in resources]), x

    @staticmethod
    def _match(out: dict, r: str, side: str, sellers: np.ndarray, buyers: np.ndarray, wants: dict[int, float],
               amount: np.ndarray, ledger: Ledger, network: Network) -> None:
        bid = ledger.park_buy_value(r)
        ask = -ledger.dispose_price(r)
        e = network.edges(r, sellers, buyers, max_km=reach_km(network, r, np.array([ask]), np.array([bid])))
        if len(e.i) == 0:
            return
        gain = e.share * bid - ask - e.cost  # per unit shipped
        ok = gain > EPS
        ei, ej, share, gain = e.i[ok], e.j[ok], e.share[ok], gain[ok]
        if len(ei) == 0:
            return
        if side == "in":
            # Surplus of seller ei shared among the candidate buyers ej that reach it.
            w = np.array([wants[int(b)] for b in buyers[ej]])
            total = np.zeros(len(sellers))
            np.add.at(total, ei, w)
            q = amount[ei] * w / np.maximum(total[ei], EPS) * share  # delivered
            price = bid - gain / (2.0 * share)  # per unit delivered
            who = buyers[ej]
        else:
            w = np.array([wants[int(s)] for s in sellers[ei]])
            total = np.zeros(len(buyers))
            np.add.at(total, ej, w)
            q = amount[ej] * w / np.maximum(total[ej], EPS) / share  # shipped
            price = -(ask + gain / 2.0)  # minus the net value per unit shipped
            who = sellers[ei]
        qty: dict[int, float] = defaultdict(float)
        money: dict[int, float] = defaultdict(float)
        for c, qq, pp in zip(who.tolist(), q.tolist(), price.tolist()):
            qty[c] += qq
            money[c] += qq * pp
        for c, qq in qty.items():
            if qq > EPS:
                out[(c, r, side)] = (qq, -money[c] / qq)
