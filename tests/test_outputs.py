"""Outputs land whole or not at all."""

import pytest

from experiments import outputs, runner
from tests.conftest import EXAMPLE


def _result():
    cfg, park = runner.resolve(str(EXAMPLE), 5, 0, {})
    return runner.simulate(cfg, park)


def test_a_write_that_fails_midway_leaves_no_folder_and_no_debris(tmp_path, monkeypatch):
    result = _result()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(type(result.trades), "to_parquet", boom)
    with pytest.raises(OSError):
        outputs.write_run(result, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_rewriting_replaces_the_old_outputs_whole_but_never_a_users_file(tmp_path):
    from experiments.problems import InputError

    out = tmp_path / "out"
    outputs.write_run(_result(), out)
    (out / "summary.json").write_text("{}")
    with pytest.raises(InputError, match="holds an earlier `simulate` output: add --overwrite"):
        outputs.write_run(_result(), out)
    assert (out / "summary.json").read_text() == "{}"
    outputs.write_run(_result(), out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "summary.json").read_text() != "{}"
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="notes.txt"):
        outputs.write_run(_result(), out)
    with pytest.raises(InputError, match="notes.txt"):  # not even with --overwrite: it is not Ecopark's
        outputs.write_run(_result(), out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
