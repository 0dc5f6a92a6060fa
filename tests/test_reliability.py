"""Regressions of issue #24 (adversarial round): planted links, secrets, corrupt results, bad input. In-process:
each test calls the functions a sweep calls, so the whole file runs in seconds."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from alternating_freeze import contract, joblock, policy, preflight, progress
from alternating_freeze.errors import ConfigError


def precious(tmp_path: Path) -> Path:
    target = tmp_path / "outside" / "precious.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("precious")
    return target


def test_planted_links_in_a_sweep_are_never_written_through(tmp_path):
    """#24.2: .lock (even when the job would be skipped), .progress.json, multirun.yaml, a job folder, tensorboard/."""
    target, sweep = precious(tmp_path), tmp_path / "sweep"
    job = sweep / "seed=0"
    job.mkdir(parents=True)
    contract.write_json(job / contract.SUMMARY_FILE, {"status": "completed"})  # a job a resume would skip
    (job / contract.LOCK_FILE).symlink_to(target)
    counter = target.with_name("counter.txt")  # its own file: two flocks of one file by one process would wait
    counter.write_text("precious")
    (sweep / progress.PROGRESS_FILE).symlink_to(counter)
    with policy.claim(job, OmegaConf.create({"seed": 0}), sweep) as claimed:
        assert claimed.status == policy.FAILED and "symbolic link" in str(claimed.error)
    with pytest.raises(OSError, match="symbolic link"), joblock.hold(job):
        pass
    assert joblock.owner(job) is None

    progress.launch(sweep, 3)
    progress.ended(sweep, 1.0, ran=True)
    assert progress.started(sweep) is None

    (sweep / contract.MULTIRUN_FILE).symlink_to(target)  # the arms sweeper writes it with write_atomic
    contract.write_atomic(sweep / contract.MULTIRUN_FILE, b"hydra: {}\n")
    assert not (sweep / contract.MULTIRUN_FILE).is_symlink()

    elsewhere = tmp_path / "outside" / "folder"
    elsewhere.mkdir()
    (sweep / "seed=1").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError, match="seed=1 is a symbolic link"):
        preflight.no_linked_folders(sweep)
    with policy.claim(sweep / "seed=1", OmegaConf.create({"seed": 1}), None) as claimed:
        assert claimed.status == policy.FAILED
    assert list(elsewhere.iterdir()) == []

    from alternating_freeze.loggers.base import RunInfo
    from alternating_freeze.loggers.tensorboard import TensorBoardConfig, TensorBoardTracker

    (job / "tensorboard").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError, match="symbolic link"):
        TensorBoardTracker(TensorBoardConfig(), RunInfo(job, {}, str(sweep), job.name, "standard", 0))
    assert list(elsewhere.iterdir()) == [] and target.read_text() == counter.read_text() == "precious"
