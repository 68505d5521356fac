"""The checks `.ci/run` makes before the tests (issue 16), so a local `pytest` fails where CI would:
ruff over the whole repository and mypy over agents/ and market/, both configured in
pyproject.toml and run with this interpreter's (the dev group's) versions."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    out = _run("ruff", "check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_finds_nothing_in_agents_and_market():
    out = _run("mypy")
    assert out.returncode == 0, out.stdout + out.stderr
