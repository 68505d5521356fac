"""The README's quick start, read from the README as fresh-check reads it."""

import shlex
import subprocess

import pytest

from tests.conftest import REPO


def quick_start() -> list[str]:
    lines = (REPO / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Quick start"))
    cmds, inside = [], False
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("```"):
            if inside:
                break
            inside = True
            continue
        if inside and line.strip() and not line.strip().startswith("#"):
            cmds.append(line.strip())
    return cmds


def test_quick_start_has_exactly_two_commands_run_then_test():
    cmds = quick_start()
    assert len(cmds) == 2
    assert "run.py" in cmds[0]
    assert "pytest" in cmds[1]


@pytest.mark.slow
def test_first_quick_start_command_simulates_the_default_park(tmp_path):
    # Run where a user would (the repo root), but send the outputs to a temporary folder so the
    # test leaves nothing behind: the command itself is taken from the README unchanged.
    cmd = shlex.split(quick_start()[0]) + ["simulate", "--out", str(tmp_path / "out")]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "kalundborg" in r.stdout
    assert (tmp_path / "out" / "summary.json").exists()


def test_nothing_in_the_repository_points_outside_it():
    """Users get this repository and nothing beside it: no file may send them to a folder they
    do not have (the published figures live in docs/published-data.md)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = subprocess.run(["git", "-C", str(root), "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    bad = []
    for name in files:
        if name.endswith((".png", ".lock")) or name == "tests/test_readme.py":
            continue
        text = (root / name).read_text(encoding="utf-8", errors="replace")
        if "shared/data" in text or "../shared" in text:
            bad.append(name)
    assert not bad, f"files pointing at ../shared: {bad}"
