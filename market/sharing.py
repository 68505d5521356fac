"""Sharing a coalition's gains: how a park operator could split what trading inside the park is worth.

The park is a cooperative game with transferable utility (money): the value v(S) of a
coalition S of companies is the largest gain its members could reach trading only among
themselves (`park_game`). A sharing rule turns v into one payoff per company:

- `shapley`: each company's average marginal contribution over all orders of arrival
  (Shapley 1953), exact for small parks, sampled for large ones (Castro, Gómez & Tejada 2009).
- `nash`: the Nash (1950) bargaining solution over the companies' stand-alone values.

`core_check` tells whether a split is stable (no coalition would do better on its own;
Gillies 1959), and `gini` measures how unequal a split is (Gini 1912).

Coalitions are bitmasks over players 0..n-1: bit i set means player i is in the coalition, so
the grand coalition N is `(1 << n) - 1` and the empty one is 0. Characteristic functions must
give v(0) = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from market.network import Network
from market.orders import Order
from market.welfare import optimal_gain

CoalitionValue = Callable[[int], float]
"""A characteristic function: the value of a coalition given as a bitmask, with v(0) = 0."""

# Above this many players a coalition mask no longer fits in an int64; sampling then builds the
# masks as Python integers, which have no width limit.
_INT64_PLAYERS = 62


def coalition_members(mask: int, n: int) -> list[int]:
    """The players (ascending) in coalition `mask` of an n-player game."""
    if mask < 0 or mask >> n:
        raise ValueError(f"mask {mask:#x} is not a coalition of {n} players")
    return [i for i in range(n) if mask >> i & 1]


def cached(v: CoalitionValue) -> CoalitionValue:
    """`v`, evaluated at most once per coalition: exact sharing and the core check ask for the
    same coalitions many times, and a park's v solves a transportation problem per call."""
    memo: dict[int, float] = {}

    def value(mask: int) -> float:
        mask = int(mask)
        if mask not in memo:
            memo[mask] = float(v(mask))
        return memo[mask]

    return value


def _all_values(n: int, v: CoalitionValue) -> np.ndarray:
    """v of every coalition, indexed by mask."""
    values = np.fromiter((v(m) for m in range(1 << n)), dtype=float, count=1 << n)
    if values[0] != 0:
        raise ValueError(f"the empty coalition must be worth 0, got v(0) = {values[0]:g}")
    return values


def _subset_sums(weights: np.ndarray) -> np.ndarray:
    """sum of weights[i] over the members of each coalition, indexed by mask (2^n entries)."""
    sums = np.zeros(1)
    for w in weights:
        sums = np.concatenate([sums, sums + w])  # the new upper half has the next bit set
    return sums


def shapley(n: int, v: CoalitionValue, *, exact_max: int = 15, samples: int = 2000,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """The Shapley value of the n-player game v: what each player adds on average when the
    players join one by one in a uniformly random order (Shapley 1953).

        phi_i = sum over S not containing i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))

    It is the only sharing rule that is efficient (shares sum to v(N)), symmetric (players who
    add the same to every coalition get the same), gives nothing to a dummy (who adds nothing)
    and is additive over games.

    With n <= `exact_max` the sum is computed exactly: v is evaluated once per coalition (2^n
    calls; wrap an expensive v in `cached` if it is also needed elsewhere) and the marginal
    contributions are accumulated with numpy, one vectorised pass per player.

    Above `exact_max` the value is estimated by sampling orders of arrival (Castro, Gómez &
    Tejada 2009, "Polynomial calculation of the Shapley value based on sampling", Computers &
    Operations Research 36(5), 1726-1730): the average marginal contribution of each player over
    `samples` permutations, drawn from `rng` (required then). The permutations are antithetic:
    half are drawn uniformly and the other half are their reverses, so a player arriving early
    in one is late in its partner, which cancels much of the variance (exactly so for games
    whose marginal contributions are linear in the number of predecessors). An odd `samples`
    is rounded up to the next even number. The estimate costs n * samples calls of v. Along
    any one permutation the marginal contributions telescope to v(N), so the estimate is
    efficient whatever the sample: it sums to v(N) up to floating-point rounding.
    """
    if n < 0:
        raise ValueError(f"a game needs n >= 0 players, got {n}")
    if n == 0:
        return np.zeros(0)
    if n <= exact_max:
        return _shapley_exact(n, v)
    if rng is None:
        raise ValueError(f"the Shapley value of {n} > exact_max = {exact_max} players is estimated by "
                         "sampling permutations: pass rng=np.random.default_rng(seed)")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    return _shapley_sampled(n, v, samples, rng)


def _shapley_exact(n: int, v: CoalitionValue) -> np.ndarray:
    values = _all_values(n, v)
    size = _subset_sums(np.ones(n)).astype(np.int64)  # popcount of every mask
    # weight of a coalition of s players that i joins: s! (n-s-1)! / n! = 1 / (n C(n-1, s))
    weight = np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)])[np.minimum(size, n - 1)]
    phi = np.empty(n)
    for i in range(n):
        # Masks as a (high bits, bit i, low bits) block: [:, 0, :] are the coalitions without i
        # and [:, 1, :] the same coalitions with i added.
        v3 = values.reshape(-1, 2, 1 << i)
        w3 = weight.reshape(-1, 2, 1 << i)
        phi[i] = float(np.sum(w3[:, 0, :] * (v3[:, 1, :] - v3[:, 0, :])))
    return phi


def _shapley_sampled(n: int, v: CoalitionValue, samples: int, rng: np.random.Generator) -> np.ndarray:
    if v(0) != 0:
        raise ValueError(f"the empty coalition must be worth 0, got v(0) = {v(0):g}")
    pairs = (samples + 1) // 2
    drawn = rng.permuted(np.tile(np.arange(n), (pairs, 1)), axis=1)
    perms = np.concatenate([drawn, drawn[:, ::-1]])
    if n <= _INT64_PLAYERS:
        bits = np.left_shift(np.int64(1), perms)
    else:
        bits = np.vectorize(lambda i: 1 << int(i), otypes=[object])(perms)
    prefix = np.cumsum(bits, axis=1)  # the coalition after each arrival
    values = np.array([[v(int(m)) for m in row] for row in prefix], dtype=float)
    marginal = np.diff(values, axis=1, prepend=0.0)
    total = np.zeros(n)
    np.add.at(total, perms, marginal)
    return total / len(perms)


def nash(n: int, v: CoalitionValue) -> np.ndarray:
    """The Nash (1950) bargaining solution of the grand coalition's value v(N), with
    transferable utility and each player's disagreement payoff its stand-alone value
    d_i = v({i}):

        x_i = d_i + (v(N) - sum_j d_j) / n

    Nash's solution maximises the product of the gains over disagreement, prod_i (x_i - d_i),
    over the feasible payoffs. With transferable utility the feasible set is the simplex
    sum_i x_i = v(N), so the problem is to split a fixed surplus v(N) - sum_j d_j among n
    factors whose sum is fixed; by the inequality of arithmetic and geometric means the
    product is largest when the factors are equal: every player gets its stand-alone value plus
    an equal share of the surplus. (Nash stated two players; the n-player form is the same
    argument.) When v(N) < sum_j d_j there is no surplus to bargain over and the formula
    splits the shortfall equally.
    """
    if n == 0:
        return np.zeros(0)
    d = np.array([v(1 << i) for i in range(n)], dtype=float)
    return d + (v((1 << n) - 1) - d.sum()) / n


def gini(x: Sequence[float] | np.ndarray) -> float:
    """The Gini (1912) coefficient of the benefits x: the mean absolute difference between two
    players' benefits over twice the mean benefit,

        G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x)),

    0 when everyone gets the same and (n-1)/n when one player gets everything. Computed in
    O(n log n) from the sorted benefits x_(1) <= ... <= x_(n), where the double sum is
    2 sum_k (2k - n - 1) x_(k). The coefficient is defined for a positive total only: returns
    nan when n == 0 or mean(x) <= 0. Negative benefits are allowed with a positive total; G can
    then exceed 1.
    """
    a = np.sort(np.asarray(x, dtype=float).ravel())
    n = len(a)
    if n == 0 or not a.sum() > 0:
        return float("nan")
    rank = np.arange(1, n + 1)
    return float(np.sum((2 * rank - n - 1) * a) / (n * a.sum()))


@dataclass(frozen=True, slots=True)
class CoreCheck:
    """Whether a split x is in the core (Gillies 1959): efficient, and no coalition S gets
    less than it could secure on its own (excess v(S) - x(S) <= 0 for every S).

    `worst_mask` is the coalition with the largest excess and `worst_excess` that excess; both
    are 0 when no coalition has a positive excess. `efficient` is |x(N) - v(N)| <= tol *
    max(1, |v(N)|).
    """

    in_core: bool
    worst_mask: int
    worst_excess: float
    efficient: bool


def core_check(n: int, v: CoalitionValue, x: Sequence[float] | np.ndarray, *, tol: float = 1e-6) -> CoreCheck:
    """Check x against every one of the 2^n coalitions of v (exactly, so n <= 20).

    Coalition S blocks when its excess v(S) - x(S) exceeds tol * max(1, |v(S)|): its members
    would gain by leaving with v(S). x is in the core when it is efficient and nothing blocks.
    """
    if n > 20:
        raise ValueError(f"the core check enumerates all 2^n coalitions, exponential in n = {n} > 20; "
                         "for a large park use the sampled Shapley value (shapley(..., rng=...)) instead")
    x = np.asarray(x, dtype=float)
    if x.shape != (n,):
        raise ValueError(f"x must have one payoff per player ({n}), got shape {x.shape}")
    values = _all_values(n, v)
    excess = values - _subset_sums(x)  # excess[0] = 0: the empty coalition
    worst = int(np.argmax(excess))  # the first maximum, so 0 when no excess is positive
    grand = values[-1]
    efficient = bool(abs(x.sum() - grand) <= tol * max(1.0, abs(grand)))
    blocked = bool(np.any(excess > tol * np.maximum(1.0, np.abs(values))))
    return CoreCheck(efficient and not blocked, worst, float(excess[worst]), efficient)


def park_game(true_orders: Sequence[Order], network: Network) -> CoalitionValue:
    """The park as a cooperative game: v(S) is `market.welfare.optimal_gain` of the orders of
    the companies in S on the same network, the most a coalition could gain if its members
    traded only among themselves (companies are players by their index, `Order.owner`).

    Resources do not interact in the optimum, so v(S) is the sum over resources of the value
    of S's traders of that resource alone: each resource's value is solved once per
    coalition of its own traders (a few for most resources) and cached, not once per S.
    """
    by_resource: dict[str, dict[int, list[Order]]] = {}
    for o in true_orders:
        if o.owner < 0:
            raise ValueError(f"order owners must be company indices >= 0, got {o.owner}")
        by_resource.setdefault(o.resource, {}).setdefault(o.owner, []).append(o)
    parts: list[tuple[int, dict, dict]] = []
    for _resource, owners in sorted(by_resource.items()):
        players = 0
        for owner in owners:
            players |= 1 << owner
        parts.append((players, owners, {}))

    def value(mask: int) -> float:
        total = 0.0
        for players, owners, memo in parts:
            key = mask & players
            if key not in memo:
                orders = [o for owner, own in owners.items() if key >> owner & 1 for o in own]
                memo[key] = optimal_gain(orders, network) if orders else 0.0
            total += memo[key]
        return total

    return cached(value)
