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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.tactics import TACTICS
from experiments.lab_markets import (GOOD, LabResult, Schedule, _network, gode_sunder_market, lab_result,
                                     random_markets)
from experiments.problems import InputError, Problems
from market.bilateral import negotiate
from market.call import CallMarket
from market.mcafee import mcafee_unit
from market.mechanism import Fixed
from market.orders import Order, Side

CDA_BOOKS = (("persistent", "persistent book"), ("gode_sunder", "G&S rules"))
ZIP_DAYS = 8
ZIP_FROM = 5  # the days from which ZIP counts as converged


def cda_efficiency(strategy: str, seeds: int, days: int = 1, converged_from: int = 0,
                   rules: str = "persistent") -> float:
    """Mean efficiency of a CDA populated by one strategy over `seeds` random markets; for a
    learning strategy, trading `days` days on the same schedules and averaging from day
    `converged_from` + 1."""
    return lab_result(random_markets(seeds), strategy, days, rules).efficiency_from(converged_from + 1)


def all_units_share(markets: list[Schedule]) -> float:
    """What ZI-U must reach when every unit trades, as it does when nothing stops a loss:
    (sum of values - sum of costs) / max surplus, averaged over the markets (Gode & Sunder
    1993 explain ZI-U's shortfall this way: extra-marginal units displace intra-marginal ones).
    With values and costs from one distribution its expectation is 0."""
    return float(np.mean([(sum(map(sum, m.values)) - sum(map(sum, m.costs))) / m.max_surplus() for m in markets]))


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


MCAFEE_RANGE = (1.0, 1000.0)  # values and costs of the McAfee rows, and the bounds convention's bounds
MCAFEE_CONVENTIONS = (
    ("reduce", "no (k+1)-th pair: reduce trade", "McAfee 1992, as this lab has read his table"),
    ("bounds", "no (k+1)-th pair: the range's bounds", "McAfee 1992's convention for the missing pair"),
)


def mcafee_share(per_side: int, markets: int, seed: int = 0, convention: str = "reduce") -> float:
    """McAfee's (1992) share of the optimal gains with unit traders, values and costs uniform on
    [1, 1000]: realised over optimal surplus, summed over `markets` random markets. With the
    "bounds" convention a missing (k+1)-th bid is 1 and a missing ask 1000 (`mcafee_unit`);
    the markets are the same for both conventions at one seed."""
    rng = np.random.default_rng(seed)
    bounds = MCAFEE_RANGE if convention == "bounds" else None
    got = best = 0.0
    for _ in range(markets):
        b = rng.uniform(*MCAFEE_RANGE, per_side)
        s = rng.uniform(*MCAFEE_RANGE, per_side)
        bi, si, _, _ = mcafee_unit(b, s, bounds)
        got += float(b[bi].sum() - s[si].sum())
        bs, ss = np.sort(b)[::-1], np.sort(s)
        g = bs - ss
        best += float(g[g > 0].sum())
    return got / best


BILATERAL_RANGE = (1.0, 1000.0)  # values, costs and the public range of the bilateral rows
BILATERAL_DEADLINES = (("generous", 25), ("tight", 3))


@dataclass(frozen=True)
class Split:
    """Bilateral deals between a buyer tactic and a seller tactic: the share that agree, the
    share of the possible gains realised, and the sellers' share of the realised gains (the
    split of the surplus: Faratin, Sierra & Jennings 1998 predict the tougher side keeps more)."""

    agreement: float
    gains: float
    seller_share: float


def bilateral_split(tactic_buyer: str, tactic_seller: str, pairs: list[tuple[float, float]], deadline: int,
                    floor: float, ceiling: float, seed: int = 0) -> Split:
    """Negotiates each (seller's cost, buyer's value) of `pairs` once under private information:
    each side knows its own limit and the public range [floor, ceiling] only; who opens is a
    fair coin from one generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    agreed = got = best = sellers = 0.0
    for cost, value in pairs:
        buyer = TACTICS[tactic_buyer]().negotiator(value, floor, ceiling, Side.BUY)
        seller = TACTICS[tactic_seller]().negotiator(cost, floor, ceiling, Side.SELL)
        outcome = negotiate(buyer, seller, deadline, bool(rng.random() < 0.5), value, cost)
        best += value - cost
        if outcome.price is not None:
            agreed += 1
            got += value - cost
            sellers += outcome.price - cost
    return Split(agreed / len(pairs), got / best, sellers / got if got > 0 else math.nan)


def random_pairs(deals: int, seed: int, lo: float = BILATERAL_RANGE[0], hi: float = BILATERAL_RANGE[1]
                 ) -> list[tuple[float, float]]:
    """`deals` (cost, value) pairs uniform on [lo, hi], sorted so that they overlap."""
    rng = np.random.default_rng(seed)
    return [(float(a), float(b)) for a, b in np.sort(rng.uniform(lo, hi, (deals, 2)), axis=1)]


def bilateral_deals(tactic_buyer: str, tactic_seller: str, deals: int, deadline: int, seed: int = 0
                    ) -> tuple[float, float]:
    """Two-party deals with values and costs uniform on [1, 1000] (sorted so they overlap) and the
    public price range [1, 1000]: agreement rate and realised share of the maximum gains."""
    split = bilateral_split(tactic_buyer, tactic_seller, random_pairs(deals, seed), deadline, *BILATERAL_RANGE,
                            seed=seed)
    return split.agreement, split.gains


def bilateral_over_seeds(tactic_buyer: str, tactic_seller: str, pairs_of: Callable[[int], list[tuple[float, float]]],
                         deadline: int, floor: float, ceiling: float, seeds: int) -> tuple[Split, Split]:
    """`bilateral_split` on seeds 0 .. `seeds` - 1 (seed n: the pairs `pairs_of(n)` and the
    openers' coin): the mean over seeds, and the standard deviation over seeds of each figure."""
    runs = np.array([[getattr(bilateral_split(tactic_buyer, tactic_seller, pairs_of(n), deadline, floor, ceiling,
                                              seed=n), f) for f in ("agreement", "gains", "seller_share")]
                     for n in range(seeds)])
    mean, sd = np.nanmean(runs, axis=0), (np.nanstd(runs, axis=0, ddof=1) if seeds > 1 else np.zeros(3))
    return Split(*map(float, mean)), Split(*map(float, sd))


def mcafee_schedule_share(m: Schedule, convention: str = "reduce") -> float:
    """McAfee on a given schedule, each unit a unit trader: realised over optimal surplus. The
    "bounds" convention takes the market's floor and ceiling as the bounds."""
    b = np.concatenate([np.array(v, float) for v in m.values])
    s = np.concatenate([np.array(c, float) for c in m.costs])
    bi, si, _, _ = mcafee_unit(b, s, (m.floor, m.ceiling) if convention == "bounds" else None)
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


@dataclass(frozen=True)
class Row:
    experiment: str
    measured: str
    bar: str
    published: str
    ok: bool


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _alphas(r: LabResult) -> str:
    return " ".join(f"{a:.1f}" for a in r.alpha) + " %"


def cda_rows(markets: list[Schedule], what: str, checked: bool) -> list[Row]:
    """ZI-C, ZI-U and ZIP (per unit) in the CDA under each order book, on `markets`. With
    `checked`, each row carries its bar: ZI-C at least 95 %; ZI-U within 2 points of the share
    all units trading gives; ZIP's efficiency on days 5-8 at least ZI-C's and its Smith's alpha
    at most 10 % on each of days 5-8."""
    rows = []
    everything = all_units_share(markets)
    for rules, book in CDA_BOOKS:
        zic = lab_result(markets, "zic", 1, rules).efficiency_from(1)
        ziu = lab_result(markets, "ziu", 1, rules).efficiency_from(1)
        zip_ = lab_result(markets, "zip", ZIP_DAYS, rules)
        zip_eff, zip_alpha = zip_.efficiency_from(ZIP_FROM), zip_.worst_alpha_from(ZIP_FROM)
        rows.append(Row(f"CDA ({book}), ZI-C, {what}", pct(zic), ">= 95 %" if checked else "",
                        "97-99 % (Gode & Sunder 1993, their markets)" if checked else "",
                        zic >= 0.95 or not checked))
        rows.append(Row(f"CDA ({book}), ZI-U, same markets", pct(ziu),
                        f"within 2 points of {pct(everything)}" if checked else "",
                        "every unit trades (see docs/market-lab.md)" if checked else "",
                        abs(ziu - everything) <= 0.02 or not checked))
        rows.append(Row(f"CDA ({book}), ZIP per unit, days {ZIP_FROM}-{ZIP_DAYS} of {ZIP_DAYS}", pct(zip_eff),
                        f">= ZI-C ({pct(zic)})" if checked else "",
                        "near 100 % once converged (Cliff 1997)" if checked else "",
                        zip_eff >= zic or not checked))
        rows.append(Row(f"CDA ({book}), ZIP Smith's alpha, days 1-{ZIP_DAYS}", _alphas(zip_),
                        f"days {ZIP_FROM}-{ZIP_DAYS} <= 10 %" if checked else "",
                        "falls to a few % within days (Cliff 1997)" if checked else "",
                        zip_alpha <= 10.0 or not checked))
    return rows


BILATERAL_SEEDS = 5
BILATERAL_DEALS = 1000
TOUGHNESS = {"boulware": 0, "linear": 1, "conceder": 2}  # Boulware holds out longest


def schedule_pairs(m: Schedule) -> list[tuple[float, float]]:
    """Every (cost, value) of a seller's unit and a buyer's unit with gains from trade."""
    costs = [c for cs in m.costs for c in cs]
    return [(c, v) for vs in m.values for v in vs for c in costs if v > c]


def _split_bar(tactic_buyer: str, tactic_seller: str, split: Split, sd: Split) -> tuple[str, bool]:
    """The tougher side keeps more than half of the realised gains; equal tactics split them
    evenly, within 3 standard deviations over seeds (and 2 points)."""
    tb, ts = TOUGHNESS[tactic_buyer], TOUGHNESS[tactic_seller]
    if tb == ts:
        tol = max(0.02, 3 * sd.seller_share)
        return f"seller {pct(0.5)} +- {pct(tol)}", abs(split.seller_share - 0.5) <= tol
    if ts < tb:
        return "seller keeps > 50 %", split.seller_share > 0.5
    return "buyer keeps > 50 %", split.seller_share < 0.5


def bilateral_rows(pairs_of: Callable[[int], list[tuple[float, float]]], floor: float, ceiling: float,
                   seeds: int, what: str, checked: bool) -> list[Row]:
    """Every buyer tactic against every seller tactic at a generous and a tight deadline, under
    private information (each side knows its own limit and the public range [floor, ceiling]):
    agreement rate, share of the possible gains realised and the sellers' share of the realised
    gains, mean (and standard deviation) over `seeds`. With `checked`, the bars of Faratin,
    Sierra & Jennings (1998): the tougher tactic keeps more (`_split_bar`), and each pair
    agrees on fewer deals at the tight deadline than at the generous one."""
    rows = []
    generous: dict[tuple[str, str], float] = {}
    for label, deadline in BILATERAL_DEADLINES:
        for b in TOUGHNESS:
            for s in TOUGHNESS:
                m, sd = bilateral_over_seeds(b, s, pairs_of, deadline, floor, ceiling, seeds)
                generous.setdefault((b, s), m.agreement)
                bar, ok = _split_bar(b, s, m, sd)
                if label == "tight":
                    bar += f", agree < {pct(generous[(b, s)])}"
                    ok = ok and m.agreement < generous[(b, s)]
                rows.append(Row(f"bilateral, {b} buyer vs {s} seller, {deadline} rounds ({label}), {what}",
                                f"{pct(m.agreement)} agree (sd {pct(sd.agreement)}), {pct(m.gains)} gains, "
                                f"seller {pct(m.seller_share)} (sd {pct(sd.seller_share)})",
                                bar if checked else "", "the later concession keeps more (the tactics of Faratin et al. 1998)"
                                if checked else "", ok or not checked))
    return rows


def run(seeds: int = 50, market: Schedule | None = None) -> list[Row]:
    """Every experiment of the lab, as table rows."""
    rows = []
    if market is None:
        rows += cda_rows(random_markets(seeds), f"6x6 random U[1,200], 4 units each, {seeds} markets", True)
        for n, published in ((2, 0.77), (4, 0.92), (10, 0.98), (25, 0.997)):
            reduce = mcafee_share(n, 20_000)
            bounds = mcafee_share(n, 20_000, convention="bounds")
            rows.append(Row(f"McAfee ({MCAFEE_CONVENTIONS[0][1]}), {n} per side, U[1,1000], 20,000 markets",
                            pct(reduce), f"within 1 point of {pct(published)}",
                            f"{pct(published)} ({MCAFEE_CONVENTIONS[0][2]})", abs(reduce - published) <= 0.01))
            rows.append(Row(f"McAfee ({MCAFEE_CONVENTIONS[1][1]}), {n} per side, same markets", pct(bounds),
                            f">= reduce ({pct(reduce)})", MCAFEE_CONVENTIONS[1][2], bounds >= reduce))
        gap = call_market_gap(seeds)
        rows.append(Row(f"call market, truthful, {seeds} seeds", f"gap {gap:.1e}", "gap <= 1e-9",
                        "the optimum by construction", gap <= 1e-9))
        agree, gains = bilateral_deals("linear", "linear", 1000, 25)
        rows.append(Row("bilateral, Linear vs Linear, 1,000 deals, 25 rounds",
                        f"{pct(agree)} agree, {pct(gains)} gains", ">= 95 %, >= 90 %",
                        "1 - 1/T agree, 1 - 1/T^2 gains (analytic)", agree >= 0.95 and gains >= 0.90))
        rows += bilateral_rows(lambda n: random_pairs(BILATERAL_DEALS, n), *BILATERAL_RANGE, BILATERAL_SEEDS,
                               f"U[1,1000], range [1, 1000], {BILATERAL_DEALS:,} deals x {BILATERAL_SEEDS} seeds",
                               True)
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
        rows.append(Row("call market, truthful", pct(got / best) if best else "n/a", "100 %", "",
                        abs(got - best) <= 1e-9 * max(1, best)))
        rows += cda_rows([market] * seeds, f"{seeds} seeds", False)
        for convention, what, _ in MCAFEE_CONVENTIONS:
            rows.append(Row(f"McAfee ({what}), each unit a trader", pct(mcafee_schedule_share(market, convention)),
                            "", "", True))
        rows += bilateral_rows(lambda n: schedule_pairs(market), market.floor, market.ceiling, BILATERAL_SEEDS,
                               f"every unit pair with gains, range [{market.floor:g}, {market.ceiling:g}], "
                               f"{BILATERAL_SEEDS} seeds", False)
    return rows


NOT_RUN = ("Gode & Sunder's five designed markets (1993) are not in the lab: their schedules were not found "
           "with a citable source (docs/market-lab.md).")


def render(rows: list[Row], title: str, notes: tuple[str, ...] = ()) -> str:
    headers = ["experiment", "measured", "bar", "published", ""]
    cells = [[r.experiment, r.measured, r.bar, r.published, "ok" if r.ok else "MISSED"] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = lambda c: "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip()  # noqa: E731
    table = [title, "", line(headers), line(["-" * w for w in widths])] + [line(c) for c in cells]
    return "\n".join(table + ([""] + list(notes) if notes else []))
