"""The market lab: classic induced-value experiments, run on the park's own mechanisms and
strategies with no park around them, printed beside the published figures.

Every market here is one resource traded by co-located traders (no transport, no losses), so
the mechanisms meet the textbook setting: each trader has a schedule of units with induced
values (buyers) or costs (sellers), and efficiency is the realised surplus at those values over
the largest surplus any allocation could reach.
"""

from __future__ import annotations

import math

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.strategies import STRATEGIES, Quote, Strategy
from agents.tactics import TACTICS
from experiments.problems import InputError, Problems
from market.bilateral import negotiate
from market.call import CallMarket
from market.cda import ContinuousDoubleAuction
from market.mcafee import mcafee_unit
from market.mechanism import Fixed, Negotiator
from market.network import Network
from market.orders import MarketEvent, Order, Side
from market.resources import Resource

GOOD = "unit"


@dataclass(frozen=True)
class Schedule:
    """An induced-value market: each buyer's unit values and each seller's unit costs, in the
    order the trader must trade them (Smith 1962; Gode & Sunder 1993)."""

    name: str
    values: tuple[tuple[float, ...], ...]
    costs: tuple[tuple[float, ...], ...]
    floor: float
    ceiling: float

    def max_surplus(self) -> float:
        v = np.sort(np.concatenate([np.array(x, float) for x in self.values]))[::-1]
        c = np.sort(np.concatenate([np.array(x, float) for x in self.costs]))
        k = min(len(v), len(c))
        g = v[:k] - c[:k]
        return float(g[g > 0].sum())


def gode_sunder_market(rng: np.random.Generator, traders: int = 6, units: int = 4,
                       floor: float = 1.0, ceiling: float = 200.0) -> Schedule:
    """6 buyers and 6 sellers with multi-unit step schedules in the range of Gode & Sunder
    (1993), whose prices ran from 1 to 200: values drawn uniform and sorted down per buyer
    (falling marginal value), costs drawn uniform and sorted up per seller."""
    values = tuple(tuple(np.sort(rng.uniform(floor, ceiling, units))[::-1].round(2)) for _ in range(traders))
    costs = tuple(tuple(np.sort(rng.uniform(floor, ceiling, units)).round(2)) for _ in range(traders))
    return Schedule("gode-sunder", values, costs, floor, ceiling)


def _network(n: int) -> Network:
    r = Resource(GOOD, "unit", virgin_price=0.0, disposal_cost=0.0)
    return Network(np.zeros((n, 2)), {GOOD: r})


class LabTraders:
    """Lab traders: each owns a strategy and its unit schedule, trades its units in order, and
    quotes its next unit's value or cost through its strategy."""

    def __init__(self, market: Schedule, strategies: list[Strategy], rng: np.random.Generator):
        self.m = market
        self.nb = len(market.values)
        self.strategies = strategies
        self.rng = rng
        self.done = [0] * (self.nb + len(market.costs))

    def side(self, owner: int) -> Side:
        return Side.BUY if owner < self.nb else Side.SELL

    def reservation(self, owner: int) -> float | None:
        sched = self.m.values[owner] if owner < self.nb else self.m.costs[owner - self.nb]
        k = self.done[owner]
        return sched[k] if k < len(sched) else None

    def quote(self, owner: int) -> Quote:
        return Quote(self.side(owner), GOOD, self.reservation(owner), self.m.floor, self.m.ceiling)

    def requote(self, order: Order, rng: np.random.Generator) -> float:
        return self.strategies[order.owner].price(self.quote(order.owner), rng)

    def observe(self, event: MarketEvent) -> None:
        for owner, s in enumerate(self.strategies):
            if self.reservation(owner) is not None and s.traits.get("memory") == "event":
                s.on_market(self.quote(owner), event, self.rng)

    def negotiator(self, order: Order, reservation: float, floor: float, ceiling: float) -> Negotiator:
        raise NotImplementedError("the lab negotiates pairs directly")

    def orders(self) -> list[Order]:
        out = []
        for owner in range(len(self.done)):
            if self.reservation(owner) is not None:
                out.append(Order(owner, GOOD, self.side(owner), 1.0,
                                 self.strategies[owner].price(self.quote(owner), self.rng)))
        return out


def cda_period(market: Schedule, traders: LabTraders, rng: np.random.Generator, sessions: int = 60,
               rounds: int = 10) -> float:
    """One trading period of the continuous double auction: sessions of `rounds` arrivals in
    which every trader shouts for its next unit, until `sessions` pass or three in a row bring
    no trade. Returns the realised surplus at induced values."""
    cda = ContinuousDoubleAuction(rounds=rounds)
    net = _network(len(traders.done))
    surplus, idle = 0.0, 0
    for s in range(sessions):
        orders = traders.orders()
        if not any(o.side is Side.BUY for o in orders) or not any(o.side is Side.SELL for o in orders):
            break
        trades = cda.clear(orders, net, s, rng, traders)
        for t in trades:
            surplus += traders.reservation(t.buyer) - traders.reservation(t.seller)
            traders.done[t.buyer] += 1
            traders.done[t.seller] += 1
        idle = 0 if trades else idle + 1
        if idle >= 3:
            break
    return surplus


def cda_efficiency(strategy: str, seeds: int, days: int = 1, converged_from: int = 0) -> float:
    """Mean efficiency of a CDA populated by one strategy over `seeds` markets; for a learning
    strategy, trading `days` periods on the same schedules and averaging from `converged_from`."""
    effs = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        market = gode_sunder_market(rng)
        n = len(market.values) + len(market.costs)
        strategies = [STRATEGIES[strategy]() for _ in range(n)]
        best = market.max_surplus()
        for day in range(days):
            traders = LabTraders(market, strategies, rng)
            got = cda_period(market, traders, rng)
            if day >= converged_from:
                effs.append(got / best)
    return float(np.mean(effs))


def call_market_gap(seeds: int) -> float:
    """Largest relative gap between the call market's surplus with truthful bids and the
    optimum, over random multi-unit markets (each unit one order)."""
    worst = 0.0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        m = gode_sunder_market(rng)
        orders = [Order(b, GOOD, Side.BUY, 1.0, v) for b, vs in enumerate(m.values) for v in vs]
        nb = len(m.values)
        orders += [Order(nb + s, GOOD, Side.SELL, 1.0, c) for s, cs in enumerate(m.costs) for c in cs]
        trades = CallMarket().clear(orders, _network(nb + len(m.costs)), 0, rng, Fixed())
        value = {(o.owner, o.side): [] for o in orders}
        for o in orders:
            value[(o.owner, o.side)].append(o.price)
        got = _trade_surplus(trades, value)
        worst = max(worst, abs(got - m.max_surplus()) / m.max_surplus())
    return worst


def _trade_surplus(trades, value) -> float:
    # Each owner's units go in schedule order: best units first, as the sorted match pairs them.
    used: dict = {}
    total = 0.0
    for t in trades:
        for owner, side, sign in ((t.buyer, Side.BUY, 1.0), (t.seller, Side.SELL, -1.0)):
            k = used.get((owner, side), 0)
            q = t.delivered
            while q > 1e-9:
                total += sign * value[(owner, side)][k]
                k += 1
                q -= 1.0
            used[(owner, side)] = k
    return total


def mcafee_share(per_side: int, markets: int, seed: int = 0) -> float:
    """McAfee's (1992) share of the optimal gains with unit traders, values and costs uniform on
    [1, 1000]: realised over optimal surplus, summed over `markets` random markets."""
    rng = np.random.default_rng(seed)
    got = best = 0.0
    for _ in range(markets):
        b = rng.uniform(1, 1000, per_side)
        s = rng.uniform(1, 1000, per_side)
        bi, si, _, _ = mcafee_unit(b, s)
        got += float(b[bi].sum() - s[si].sum())
        bs, ss = np.sort(b)[::-1], np.sort(s)
        g = bs - ss
        best += float(g[g > 0].sum())
    return got / best


def bilateral_deals(tactic_buyer: str, tactic_seller: str, deals: int, deadline: int, seed: int = 0
                    ) -> tuple[float, float]:
    """Two-party deals with values and costs uniform on [1, 1000] (sorted so they overlap) and the
    public price range [1, 1000]: agreement rate and realised share of the maximum gains."""
    rng = np.random.default_rng(seed)
    agreed = got = best = 0.0
    for _ in range(deals):
        lo, hi = np.sort(rng.uniform(1, 1000, 2))
        buyer = TACTICS[tactic_buyer]().negotiator(hi, 1.0, 1000.0, Side.BUY)
        seller = TACTICS[tactic_seller]().negotiator(lo, 1.0, 1000.0, Side.SELL)
        outcome = negotiate(buyer, seller, deadline, bool(rng.random() < 0.5), hi, lo)
        best += hi - lo
        if outcome.agreed:
            agreed += 1
            got += hi - lo
    return agreed / deals, got / best


def mcafee_schedule_share(m: Schedule) -> float:
    """McAfee on a given schedule, each unit a unit trader: realised over optimal surplus."""
    b = np.concatenate([np.array(v, float) for v in m.values])
    s = np.concatenate([np.array(c, float) for c in m.costs])
    bi, si, _, _ = mcafee_unit(b, s)
    return float(b[bi].sum() - s[si].sum()) / m.max_surplus()


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_market(path: Path) -> Schedule:
    """A market of bids and asks from a TOML file (see `docs/market-lab.md`)."""
    p = Problems(f"market {path.name}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError([f"market {path}: file not found"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError([f"market {path.name}: not valid TOML: {e}"]) from None
    except IsADirectoryError:
        raise InputError([f"market {path}: is a folder, not a market file: give a .toml file"]) from None
    except OSError as e:
        raise InputError([f"market {path}: cannot be read ({e.strerror})"]) from None
    for key in data:
        if key not in ("market", "buyers", "sellers"):
            p.add(key, "unknown section", valid=("market", "buyers", "sellers"), got=key)
    head = data.get("market", {})
    if not isinstance(head, dict):
        p.add("market", f"must be a table, e.g. [market] name = \"...\", got {head!r}")
        head = {}
    # The range bids and asks are drawn in: by default the lowest and highest value or cost.
    floor, ceiling = head.get("floor"), head.get("ceiling")
    for key in head:
        if key not in ("name", "floor", "ceiling"):
            p.add(f"market.{key}", "unknown key", valid=("name", "floor", "ceiling"), got=key)

    def units(section: str, field: str) -> list[tuple[float, ...]]:
        out = []
        rows = data.get(section, [])
        if not isinstance(rows, list) or not rows:
            p.add(section, f"needs at least one [[{section}]] table with {field} = [...]")
            return out
        for n, row in enumerate(rows):
            if not isinstance(row, dict):
                p.add(f"{section}[{n}]", "must be a table")
                continue
            for key in row:
                if key not in ("name", field):
                    p.add(f"{section}[{n}].{key}", "unknown key", valid=("name", field), got=key)
            xs = row.get(field)
            ok = isinstance(xs, list) and xs and all(_finite(x) for x in xs)
            if not ok:
                p.add(f"{section}[{n}].{field}", "must be a non-empty list of finite numbers")
                continue
            out.append(tuple(float(x) for x in xs))
        return out

    values = units("buyers", "values")
    costs = units("sellers", "costs")
    every = [x for v in values for x in v] + [x for c in costs for x in c]
    for key, v in (("floor", floor), ("ceiling", ceiling)):
        if v is not None and not _finite(v):
            p.add(f"market.{key}", f"must be a finite number, got {v!r}")
    p.raise_if_any()
    lo = float(floor) if floor is not None else min(every)
    hi = float(ceiling) if ceiling is not None else max(every)
    if lo >= hi or min(every) < lo or max(every) > hi:
        p.add("market", f"floor {lo:g} and ceiling {hi:g} must bracket every value and cost "
                        f"({min(every):g} to {max(every):g})")
    p.raise_if_any()
    # A trader trades its units best first: values falling, costs rising.
    out = Schedule(str(head.get("name", path.stem)), tuple(tuple(sorted(v, reverse=True)) for v in values),
                   tuple(tuple(sorted(c)) for c in costs), lo, hi)
    if out.max_surplus() <= 0:
        p.add("market", f"no buyer values a unit above any seller's cost (highest value {max(max(v) for v in values):g}, "
                        f"lowest cost {min(min(c) for c in costs):g}): there are no gains from trade to measure "
                        f"efficiency against")
        p.raise_if_any()
    return out


def schedule_cda(m: Schedule, strategy: str, seeds: int, days: int = 1, converged_from: int = 0) -> float:
    effs = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        strategies = [STRATEGIES[strategy]() for _ in range(len(m.values) + len(m.costs))]
        for day in range(days):
            got = cda_period(m, LabTraders(m, strategies, rng), rng)
            if day >= converged_from:
                effs.append(got / m.max_surplus())
    return float(np.mean(effs))


@dataclass(frozen=True)
class Row:
    experiment: str
    measured: str
    bar: str
    published: str
    ok: bool


def run(seeds: int = 50, market: Schedule | None = None) -> list[Row]:
    """Every experiment of the lab, as table rows."""
    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    rows = []
    if market is None:
        zic = cda_efficiency("zic", seeds)
        ziu = cda_efficiency("ziu", seeds)
        zip_ = cda_efficiency("zip", seeds, days=8, converged_from=4)
        rows.append(Row(f"CDA, ZI-C, 6x6 multi-unit, {seeds} seeds", pct(zic), ">= 95 %",
                        "97-99 % (Gode & Sunder 1993)", zic >= 0.95))
        rows.append(Row("CDA, ZI-U, same markets", pct(ziu), "clearly below ZI-C",
                        "well below ZI-C (Gode & Sunder 1993)", ziu < zic - 0.1))
        rows.append(Row("CDA, ZIP, days 5-8 of 8 on fixed schedules", pct(zip_), ">= 97 %",
                        "near 100 % once converged (Cliff 1997)", zip_ >= 0.97))
        for n, published in ((2, 0.77), (4, 0.92), (10, 0.98), (25, 0.997)):
            share = mcafee_share(n, 20_000)
            rows.append(Row(f"McAfee, {n} per side, U[1,1000], 20,000 markets", pct(share),
                            f"within 1 point of {pct(published)}", f"{pct(published)} (McAfee 1992)",
                            abs(share - published) <= 0.01))
        gap = call_market_gap(seeds)
        rows.append(Row(f"call market, truthful, {seeds} seeds", f"gap {gap:.1e}", "gap <= 1e-9",
                        "the optimum by construction", gap <= 1e-9))
        agree, gains = bilateral_deals("linear", "linear", 1000, 25)
        rows.append(Row("bilateral, Linear vs Linear, 1,000 deals, 25 rounds",
                        f"{pct(agree)} agree, {pct(gains)} gains", ">= 95 %, >= 90 %",
                        "1 - 1/T agree, 1 - 1/T^2 gains (analytic)", agree >= 0.95 and gains >= 0.90))
    else:
        best = market.max_surplus()
        call = CallMarket()
        orders = [Order(b, GOOD, Side.BUY, 1.0, v) for b, vs in enumerate(market.values) for v in vs]
        nb = len(market.values)
        orders += [Order(nb + s, GOOD, Side.SELL, 1.0, c) for s, cs in enumerate(market.costs) for c in cs]
        value = {}
        for o in orders:
            value.setdefault((o.owner, o.side), []).append(o.price)
        trades = call.clear(orders, _network(nb + len(market.costs)), 0, np.random.default_rng(0), Fixed())
        got = _trade_surplus(trades, value)
        rows.append(Row("call market, truthful", pct(got / best) if best else "n/a", "100 %", "", abs(got - best) <= 1e-9 * max(1, best)))
        for name in ("zic", "ziu"):
            rows.append(Row(f"CDA, {name.upper()}, {seeds} seeds", pct(schedule_cda(market, name, seeds)), "", "", True))
        rows.append(Row(f"CDA, ZIP, days 5-8 of 8, {seeds} seeds",
                        pct(schedule_cda(market, "zip", seeds, days=8, converged_from=4)), "", "", True))
        rows.append(Row("McAfee, each unit a trader", pct(mcafee_schedule_share(market)), "", "", True))
    return rows


def render(rows: list[Row], title: str) -> str:
    headers = ["experiment", "measured", "bar", "published", ""]
    cells = [[r.experiment, r.measured, r.bar, r.published, "ok" if r.ok else "MISSED"] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = lambda c: "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip()  # noqa: E731
    return "\n".join([title, "", line(headers), line(["-" * w for w in widths])] + [line(c) for c in cells])
