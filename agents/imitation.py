"""Companies copy more successful peers: the pairwise comparison (Fermi) rule.

Szabó & Tőke (1998), "Evolutionary prisoner's dilemma game on a square lattice", Physical
Review E 58, 69-73; Traulsen, Nowak & Pacheco (2006), "Stochastic dynamics of invasion and
fixation", Physical Review E 74, 011909. Each period every company picks one peer at random
among those it knows and adopts the peer's way of doing business with probability

    1 / (1 + exp(-(payoff_peer - payoff_own) / K))

where K (the `imitation_noise`) sets how noisy the comparison is: near 0 a company copies
only better peers, for large K it copies at random. All companies decide on the period's
payoffs first, then change together (synchronous update).

What is copied: the bidding strategy and negotiation tactic, and, when the shared-vision
programme spreads by imitation, the shared-vision weight. The payoff is a company's gain from
exchanges over the period per EUR of its revenue, so that a fish farm and a power station are
compared on how much symbiosis does for each, not on their size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Adoption:
    """Company `who` adopted the way of company `model`."""

    who: int
    model: int


def fermi_probability(own: float, peer: float, noise: float) -> float:
    """The chance of adopting a peer's way under the Fermi rule with temperature `noise` > 0."""
    if not noise > 0:
        raise ValueError(f"fermi_probability: the noise K must be > 0, got {noise}")
    x = (peer - own) / noise
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return float(e / (1.0 + e))


def imitate(payoff: np.ndarray, known: np.ndarray | None, noise: float, rng: np.random.Generator) -> list[Adoption]:
    """Who adopts whose way this period. Every company draws its peer and its coin, always, so
    the random stream does not depend on the payoffs."""
    n = len(payoff)
    out: list[Adoption] = []
    if n < 2:
        return out
    for i in range(n):
        pick = rng.random()
        coin = rng.random()
        if known is None:
            # Everyone but i, in order, without listing them (n^2 over a period otherwise).
            k = min(int(pick * (n - 1)), n - 2)
            j = k if k < i else k + 1
        else:
            peers = np.flatnonzero(known[i])
            peers = peers[peers != i]
            if len(peers) == 0:
                continue
            j = int(peers[min(int(pick * len(peers)), len(peers) - 1)])
        if coin < fermi_probability(float(payoff[i]), float(payoff[j]), noise):
            out.append(Adoption(i, j))
    return out


def starting_weights(n: int, mean: float, spread: float, rng: np.random.Generator) -> np.ndarray:
    """Shared-vision weights at the start: uniform in mean +- spread, clipped to [0, 1]. Draws
    n numbers even when the spread is 0, so other streams do not shift with the setting."""
    u = rng.random(n)
    return np.clip(mean + spread * (2.0 * u - 1.0), 0.0, 1.0)
