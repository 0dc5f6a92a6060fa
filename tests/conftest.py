"""Fixtures only; the helpers they call, and that tests import, live in helpers.py."""

from pathlib import Path

import helpers
import pytest
import yaml
from helpers import EPOCH1, EVERY1, EVERY4, STANDARD, make_config, write_multirun, write_run


@pytest.fixture
def cli_env():
    """Environment for subprocess runs of the entrypoint: no progress bar, few threads."""
    return helpers.cli_env()


# ---------------------------------------------------------------- hand-written sweeps of the analysis tests


@pytest.fixture
def sweep(tmp_path):
    """A frequency sweep: standard, alternating every 1 and 4 batches, every 1 epoch."""
    root = tmp_path / "frequency" / "2026-11-24_10-00-00"
    write_multirun(root, ["experiment=frequency"])
    for seed, acc in STANDARD.items():
        write_run(root, make_config(seed), acc, epoch_s=1.0, flops_per_epoch=3e9)
    for seed, acc in EVERY1.items():
        write_run(root, make_config(seed, "alternating", every=1), acc, epoch_s=0.7 + 0.01 * seed)
    for seed, acc in EVERY4.items():
        write_run(root, make_config(seed, "alternating", every=4), acc, epoch_s=0.8)
    for seed, acc in EPOCH1.items():
        write_run(root, make_config(seed, "alternating", unit="epoch", every=1), acc, epoch_s=0.6)
    return root


@pytest.fixture
def messy(sweep):
    """The sweep plus every way a run can go wrong, all on seeds whose good runs exist elsewhere."""
    write_run(sweep, make_config(7, "alternating", every=4), 0.5, status="diverged", epochs_done=2)
    write_run(
        sweep,
        make_config(8, "alternating", every=4),
        status="failed",
        epochs_done=0,
        error="RuntimeError: CUDA out of memory",
    )
    write_run(sweep, make_config(9), summary=False, epochs_done=1)  # killed after one epoch
    truncated = write_run(sweep, make_config(10), 0.99)
    text = (truncated / "metrics.csv").read_text()
    (truncated / "metrics.csv").write_text(text[: len(text) - 25])  # cut inside the last line
    garbage = write_run(sweep, make_config(11), 0.99)
    (garbage / "summary.json").write_text('{"status": "completed", "final_test_a')
    bare = Path(sweep) / "seed=12,strategy=standard"  # launched, killed before the first epoch
    (bare / ".hydra").mkdir(parents=True)
    (bare / ".hydra" / "config.yaml").write_text(yaml.safe_dump(make_config(12)))
    orphan = write_run(sweep, make_config(13), summary=False, job="orphan")  # metrics.csv only: no config
    (orphan / ".hydra" / "config.yaml").unlink()
    (orphan / ".hydra" / "overrides.yaml").unlink()
    binary = write_run(sweep, make_config(14), 0.99)
    (binary / "summary.json").write_bytes(b"\xff\xfe\x00garbage")
    empty = write_run(sweep, make_config(15), summary=False)
    (empty / "metrics.csv").write_text("")
    return sweep
