"""Assigning strategies (or tactics) to companies in the proportions a run asks for."""

from __future__ import annotations

import numpy as np


def population(shares: dict[str, float], fixed: list[str], rng: np.random.Generator) -> list[str]:
    """One name per company. Companies with a name in `fixed` keep it; the others get names in
    exactly the proportions of `shares` (largest remainders), in an order drawn from `rng`."""
    free = [i for i, f in enumerate(fixed) if not f]
    names = sorted(k for k, v in shares.items() if v > 0)
    total = sum(shares[k] for k in names)
    n = len(free)
    exact = np.array([shares[k] / total * n for k in names]) if names else np.zeros(0)
    counts = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    pool = [name for name, c in zip(names, counts) for _ in range(c)]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    out = list(fixed)
    for i, name in zip(free, pool):
        out[i] = name
    return out
