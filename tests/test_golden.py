"""One small seeded run kept as files: a change in it is a change of behaviour to review.

Refresh on purpose with:  ECOPARK_UPDATE_GOLDEN=1 uv run pytest tests/test_golden.py
"""

import json
import os
from pathlib import Path

import pandas as pd

from experiments import runner
from tests.conftest import EXAMPLE

GOLDEN = Path(__file__).parent / "golden"
STEPS, SEED = 40, 1


def _run():
    cfg, park = runner.resolve(str(EXAMPLE), STEPS, SEED, {})
    return runner.simulate(cfg, park)


def _kpis(result) -> dict:
    return {k: (None if v is None else round(float(v), 4)) for k, v in result.summary["kpis"].items()}


def _trades_csv(result) -> str:
    return result.trades.round(4).to_csv(index=False, float_format="%.6g")


def test_golden_run_is_unchanged():
    result = _run()
    kpis, trades = _kpis(result), _trades_csv(result)
    if os.environ.get("ECOPARK_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / "example_kpis.json").write_text(json.dumps(kpis, indent=2, sort_keys=True) + "\n")
        (GOLDEN / "example_trades.csv").write_text(trades)
    expected = json.loads((GOLDEN / "example_kpis.json").read_text())
    assert kpis.keys() == expected.keys()
    for k, v in expected.items():
        assert (kpis[k] is None) == (v is None), k
        assert v is None or abs(kpis[k] - v) <= 1e-6 * max(1.0, abs(v)), k
    assert trades == (GOLDEN / "example_trades.csv").read_text()


def test_same_seed_same_trades_other_seed_other_timeseries():
    a, b = _run(), _run()
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    cfg, park = runner.resolve(str(EXAMPLE), STEPS, SEED + 1, {})
    c = runner.simulate(cfg, park)
    assert not a.timeseries["profit_eur"].equals(c.timeseries["profit_eur"])
