"""Issue 19's load test: ten headless Chromium sessions against one `run.py viz` server, each
loading the page, pressing Step at the same moment (three times) and playing; figures from
`benchmarks/page_load.py`, written to test-artifacts/page-load.json.

Every session must load, every step reach its screen and the server log no error. The issue's
latency bars (step to screen median under 1.5 s, every session ready within 10 s, on 2 cores
with the browsers on the same machine) are asserted when the machine was otherwise idle as the
test began (load average below the core count): on a machine busy with other work the figures
are reported in a warning instead, since they then measure the neighbours.
"""

import json
import os
import warnings
from pathlib import Path

import pytest

from tests.conftest import REPO
from tools.solara_assets import cache_dir, missing

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"no {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)"),
    pytest.mark.skipif(bool(missing()), reason=f"Solara's asset cache {cache_dir()} is not filled: "
                                               "run `uv run python tools/solara_assets.py`"),
]


def test_ten_sessions_step_and_play_at_once(tmp_path):
    from benchmarks.page_load import measure

    cores = len(os.sched_getaffinity(0))
    fig = measure(10, rounds=3, play_s=5.0, log_dir=tmp_path)
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "page-load.json").write_text(json.dumps(fig.summary(), indent=2) + "\n")
    assert not fig.failures, fig.failures
    assert fig.errors == 0, fig.error_lines
    assert len(fig.ready_s) == 10 and len(fig.step_s) == 30
    assert all(days > 0 for days in fig.play_days), fig.play_days
    figures = (f"ready max {max(fig.ready_s):.1f} s, step to screen median {fig.step_median_s:.2f} s "
               f"(max {fig.step_max_s:.2f} s), load average {fig.load_before:.1f} on {cores} cores")
    if fig.load_before >= cores:
        warnings.warn(f"the machine was busy, latency bars not judged: {figures}", stacklevel=1)
        return
    assert max(fig.ready_s) < 10.0, figures
    assert fig.step_median_s < 1.5, figures


def test_one_session_steps_to_screen_within_0_4_s(tmp_path):
    from benchmarks.page_load import measure

    fig = measure(1, rounds=5, play_s=0.0, log_dir=tmp_path)
    assert not fig.failures and fig.errors == 0, (fig.failures, fig.error_lines)
    if fig.load_before >= len(os.sched_getaffinity(0)):
        warnings.warn(f"the machine was busy, latency bar not judged: step to screen median "
                      f"{fig.step_median_s:.2f} s, load average {fig.load_before:.1f}", stacklevel=1)
        return
    assert fig.step_median_s <= 0.4, fig.step_s
