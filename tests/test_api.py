"""Ecopark from Python (experiments/api.py): the README's example and the notebook run as
written, and the API gives what the command line gives."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pandas as pd
import pytest

from experiments import api, runner
from experiments.config import resolve
from tests.conftest import REPO


def readme_python() -> str:
    """The first Python block of README.md that uses the API."""
    text = (REPO / "README.md").read_text()
    blocks = text.split("```python\n")[1:]
    return next(b.split("```")[0] for b in blocks if "api." in b)


def test_the_readmes_python_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it must not need files a run would have written
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme_python(), "README.md", "exec"), {})  # noqa: S102 (our own README)
    printed = out.getvalue()
    assert "social_surplus_eur" in printed and "carbon-tax" in printed
    assert not os.listdir(tmp_path)


def test_a_run_from_python_is_the_command_lines_run():
    run = api.simulate("kalundborg", steps=20, seed=3, set={"policy.carbon_tax": 25.0})
    cfg, park = resolve("kalundborg", 20, 3, {"policy.carbon_tax": 25.0})
    same = runner.simulate(cfg, park)
    assert run.summary == same.summary
    pd.testing.assert_frame_equal(run.trades, same.trades)
    assert run.kpis["gains_from_trade_eur"] == pytest.approx(
        run.kpis["exchange_surplus_eur"] + run.kpis["transfers_eur"])
    assert run.kpis.dtype == float and run.config.policy.carbon_tax == 25.0
    assert "policy.carbon_tax" in api.keys() and api.keys()["steps"] == "int"


def test_bad_input_from_python_raises_the_command_lines_messages():
    with pytest.raises(api.InputError) as e:
        api.simulate("kalundborg", steps=3, set={"policy.carbon_tx": 25})
    assert "unknown key (did you mean 'policy.carbon_tax'?)" in e.value.problems[0]
    with pytest.raises(api.InputError) as e:
        api.compare(schemes=["baseline", "nope"], replicates=0)
    text = "\n".join(e.value.problems)
    assert "replicates: must be at least 1, got 0" in text and "scheme 'nope'" in text
    with pytest.raises(api.InputError):
        api.scenario("no-such-park")


def test_a_run_saved_from_python_never_replaces_someones_files(tmp_path):
    run = api.simulate("kalundborg", steps=5, yardstick=False)
    out = run.save(tmp_path / "r")
    assert json.loads((out / "summary.json").read_text())["kpis"] == json.loads(json.dumps(run.summary["kpis"]))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("x")
    with pytest.raises(api.InputError):
        run.save(mine)
    assert (mine / "thesis.txt").read_text() == "x"


@pytest.mark.slow  # starts a Jupyter kernel and runs a comparison
def test_the_example_notebook_runs():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "examples")}}).execute()
    text = "\n".join(str(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "landfill-tax" in text
