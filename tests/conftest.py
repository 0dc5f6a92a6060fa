import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["analysis_fixtures"]  # the hand-written sweeps (fixtures sweep, messy) of the analysis tests


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


def run_sweep(sweep_dir, *args: str, env=None, check: bool = True, timeout: int = 900):
    """``af-train -m`` into ``sweep_dir``; with ``check``, a failed sweep fails the test with its output."""
    proc = subprocess.run(af_train("-m", f"hydra.sweep.dir={sweep_dir}", *args),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def summaries(sweep_dir) -> dict:
    """Every job's summary.json of a sweep, by job folder name."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))}
