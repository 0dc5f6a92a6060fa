"""The run policy every launcher shares (policy.py), in process: a finished job is skipped (and what a kill left
beside its results removed), another config's folder is refused untouched, a job another process holds is left to
it, and an exception becomes a recorded failure."""

import json

from helpers import cfg_of
from omegaconf import OmegaConf

from alternating_freeze import joblock, policy
from alternating_freeze.config import config_hash
from alternating_freeze.contract import CHECKPOINT_FILE, ERROR_FILE, METRICS_FILE, SUMMARY_FILE
from alternating_freeze.errors import ForeignFolder
from alternating_freeze.sweep import RUNNING_ELSEWHERE


def finished(job, cfg) -> bytes:
    job.mkdir(parents=True, exist_ok=True)
    (job / METRICS_FILE).write_text("epoch,step\n1,10\n2,20\n")
    config = OmegaConf.to_container(cfg, resolve=True)
    summary = json.dumps(
        {"status": "completed", "config_hash": config_hash(cfg), "config": config, "epochs_completed": 2}
    )
    (job / SUMMARY_FILE).write_text(summary)
    return summary.encode()


def test_a_finished_job_is_skipped_and_a_checkpoint_left_by_a_kill_removed(tmp_path):
    cfg = cfg_of()
    summary = finished(tmp_path, cfg)
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"killed between summary.json and the checkpoint's removal")
    with policy.claim(tmp_path, cfg, None) as job:
        assert job.status == policy.SKIPPED
    assert not (tmp_path / CHECKPOINT_FILE).exists() and (tmp_path / SUMMARY_FILE).read_bytes() == summary


def test_another_configs_folder_is_refused_and_left_as_it_is(tmp_path):
    summary = finished(tmp_path, cfg_of("optimizer.lr=0.01"))
    with policy.claim(tmp_path, cfg_of(), None) as job:
        assert job.status == policy.FAILED and isinstance(job.error, ForeignFolder)
    assert "optimizer.lr 0.01 -> 0.001" in str(job.error)
    assert (tmp_path / SUMMARY_FILE).read_bytes() == summary and not (tmp_path / ERROR_FILE).exists()


def test_a_job_held_by_another_process_is_left_to_it(tmp_path):
    with joblock.hold(tmp_path) as other:
        assert other is None
        with policy.claim(tmp_path, cfg_of(), None) as job:
            assert job.status == RUNNING_ELSEWHERE
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_an_exception_is_recorded_as_the_jobs_failure(tmp_path):
    cfg = cfg_of("seed=3")
    with policy.claim(tmp_path, cfg, None) as job:
        assert job.status is None
        policy.attempt(job, lambda: 1 / 0)
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert job.status == summary["status"] == "failed" and summary["seed"] == 3
    assert summary["error"] == "ZeroDivisionError: division by zero" and summary["config_hash"] == config_hash(cfg)
    assert "ZeroDivisionError" in (tmp_path / ERROR_FILE).read_text()
