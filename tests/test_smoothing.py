"""`agents.smoothing.KeyedAverages` against the dict rule it replaces, bit for bit and in order,
with few keys (Python lists) and with many (arrays), across the switch from one to the other."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.smoothing import KeyedAverages


def plain(steps, a):
    """The rule as a dict: every key seen so far averaged, new keys after the others."""
    avg: dict = {}
    total: dict = {}
    b = 1 - a
    for seen in steps:
        avg.update({key: b * v + a * seen.get(key, 0.0) for key, v in avg.items()})
        for key, q in seen.items():
            if key not in avg:
                avg[key] = b * 0.0 + a * q
            total[key] = total.get(key, 0.0) + q
    return avg, total


@st.composite
def steps(draw):
    pool = draw(st.integers(1, 3 * KeyedAverages.FEW))
    out = []
    for _ in range(draw(st.integers(1, 12))):
        keys = draw(st.lists(st.integers(0, pool - 1), unique=True, max_size=pool))
        out.append({(k % 40, f"r{k // 40}"): draw(st.floats(0, 1e4).map(lambda x: x * 0.7071067811865476))
                    for k in keys})
    return out


@settings(max_examples=60, deadline=None)
@given(steps(), st.sampled_from([1.0, 1 / 3, 1 / 30]), st.booleans())
def test_the_averages_and_totals_are_the_dict_rules(drawn, a, as_arrays):
    want_avg, want_total = plain(drawn, a)
    got = KeyedAverages()
    for seen in drawn:
        amounts = list(seen.values())
        if as_arrays:  # as `Partnerships._observe_columns` hands them over
            amounts = np.array(amounts, dtype=float)
        got.add(list(seen), amounts, a)
    assert [(k, repr(v)) for k, v in got.averages().items()] == [(k, repr(v)) for k, v in want_avg.items()]
    assert [(k, repr(v)) for k, v in got.totals().items()] == [(k, repr(v)) for k, v in want_total.items()]
