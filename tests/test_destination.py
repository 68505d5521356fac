"""Nothing a user has is lost: every command that writes claims its destination before any
work (`experiments.destination`): a folder of the user's is refused and left as it was, an
earlier output of the same command is replaced only with --overwrite, another command's
output is refused, and two writers of one destination are never at work at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from experiments import destination
from experiments.problems import InputError
from tests.conftest import EXAMPLE, REPO, run_cli

# Each writing command, as small as it runs: its arguments before --out.
COMMANDS = {
    "simulate": ["simulate", "--scenario", str(EXAMPLE), "--steps", "2", "--quiet"],
    "compare": ["compare", "--scenario", str(EXAMPLE), "--steps", "2", "--replicates", "1",
                "--schemes", "baseline,carbon-tax"],
    "resilience": ["resilience", "--scenario", str(EXAMPLE), "--steps", "2", "--random-orders", "1"],
}


def _users_folder(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("two years of work")
    (mine / "summary.json").write_text("{\"mine\": true}")  # a name Ecopark also writes
    return mine


@pytest.mark.slow  # one CLI subprocess per command
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_users_folder_and_replaces_its_own_only_when_asked(tmp_path, command):
    mine = _users_folder(tmp_path)
    r = run_cli(*COMMANDS[command], "--out", str(mine))
    assert r.returncode == 2 and "Ecopark did not write" in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert sorted(p.name for p in mine.iterdir()) == ["summary.json", "thesis.txt"]
    assert (mine / "summary.json").read_text() == "{\"mine\": true}"
    out = tmp_path / "out"
    assert run_cli(*COMMANDS[command], "--out", str(out)).returncode == 0
    first = sorted(p.name for p in out.iterdir())
    assert ".ecopark.json" in first
    again = run_cli(*COMMANDS[command], "--out", str(out))
    assert again.returncode == 2 and "add --overwrite" in again.stderr
    assert run_cli(*COMMANDS[command], "--out", str(out), "--overwrite").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "out"]  # no lock or temporary folder left


def test_another_commands_output_and_a_file_are_refused(tmp_path):
    out = tmp_path / "out"
    with destination.claim_folder(out, "compare", ("compare.csv",)) as c:
        c.write_folder(lambda tmp: (tmp / "compare.csv").write_text("a,b\n"))
    with pytest.raises(InputError, match=r"holds the outputs of `run.py compare`, not of `simulate`"):
        destination.claim_folder(out, "simulate", ("summary.json",), overwrite=True)
    afile = tmp_path / "f.csv"
    afile.write_text("mine")
    with pytest.raises(InputError, match="the file exists: add --overwrite"):
        destination.claim_file(afile, "whatif")
    with pytest.raises(InputError, match="is a folder"):
        destination.claim_file(out, "whatif", overwrite=True)
    with destination.claim_file(afile, "whatif", overwrite=True) as c:
        c.write_file("new\n")
    assert afile.read_text() == "new\n"


def test_a_folder_written_before_markers_is_still_recognised_by_its_files(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "history.json").write_text("{}")
    with pytest.raises(InputError, match="add --overwrite"):
        destination.claim_folder(old, "history", ("history.json",))
    with destination.claim_folder(old, "history", ("history.json",), overwrite=True) as c:
        c.write_folder(lambda tmp: (tmp / "history.json").write_text("[]"))
    assert (old / "history.json").read_text() == "[]"


def test_a_second_writer_is_refused_with_the_first_ones_pid_and_a_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "out"
    first = destination.claim_folder(out, "simulate", ())
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from experiments import destination as d\n"
         "try:\n    d.claim_folder(sys.argv[1], 'simulate', ())\nexcept Exception as e:\n    print(e)",
         str(out)], capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert f"another Ecopark command (PID {os.getpid()}) is writing there now" in other.stdout
    first.release()
    assert not (tmp_path / ".out.lock").exists()
    # A lock left by a process that is gone (a killed run) does not block the next one.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".out.lock").write_text(dead.stdout)
    with destination.claim_folder(out, "simulate", ()):
        assert (tmp_path / ".out.lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / ".out.lock").exists()


def test_a_place_that_cannot_be_written_is_refused_before_any_work():
    with pytest.raises(InputError, match="cannot"):
        destination.claim_folder("/proc/ecopark-out", "simulate", ())


def test_without_out_a_new_run_goes_beside_the_earlier_ones(tmp_path):
    base = tmp_path / "results" / "kalundborg-seed0"
    assert destination.default_folder(base) == base
    base.mkdir(parents=True)
    assert destination.default_folder(base) == base  # empty: free
    (base / "summary.json").write_text("{}")
    assert destination.default_folder(base) == tmp_path / "results" / "kalundborg-seed0-2"
    (tmp_path / "results" / "kalundborg-seed0-2").write_text("a file, not a folder")
    assert destination.default_folder(base) == tmp_path / "results" / "kalundborg-seed0-3"
