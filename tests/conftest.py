import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env():
    """Environment for subprocess runs of the entrypoint: no progress bar, few threads."""
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


def af_train(*args: str) -> list[str]:
    """The real console entrypoint, run with this interpreter (python -m is the same code path)."""
    return [sys.executable, "-m", "alternating_freeze.train", *args]
