import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EXAMPLE = REPO / "tests" / "data" / "example.toml"


@pytest.fixture
def example_path() -> Path:
    return EXAMPLE


def run_cli(*args: str, cwd: Path | None = None):
    """Run `python run.py ARGS` in a subprocess, as a user would."""
    import subprocess

    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, str(REPO / "run.py"), *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=300)
