"""hydra/launcher=batched_slurm's launching side without a cluster: its wait against a stand-in `squeue` (a job that
left the queue without a result is lost after two answers, a result is read as soon as it is written, a silent
squeue ends the wait), and the configuration it composes. Against the real local cluster: test_slurm_batched.py."""

import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from helpers import ROOT

from hydra_plugins.af_batched_launcher import slurm_groups


class FakeJob:
    """What the wait reads of a submitit job: its id, its result file and its result."""

    def __init__(self, folder: Path, job_id: str, result=None):
        self.job_id, self._result = job_id, result
        self.paths = SimpleNamespace(result_pickle=folder / f"{job_id}_result.pkl")

    def finish(self):
        self.paths.result_pickle.write_text("done")

    def result(self):
        if isinstance(self._result, Exception):
            raise self._result
        return self._result


@pytest.fixture
def squeue(tmp_path, monkeypatch):
    """A PATH whose `squeue` prints the lines of tmp_path/queue (or fails when that file is missing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    queue = tmp_path / "queue"
    script = bin_dir / "squeue"
    script.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/asked\n[ -f {queue} ] || exit 1\ncat {queue}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(slurm_groups, "RESULT_POLL_S", 0.01)
    monkeypatch.setattr(slurm_groups, "QUEUE_POLL_S", 0.0)
    return queue


def test_a_job_that_left_the_queue_without_a_result_is_lost_and_the_others_are_read(tmp_path, squeue):
    squeue.write_text("7_1\n")  # 7_0 has left the queue without a result; 7_1 runs; 7_2 has failed
    lost, done, failed = (
        FakeJob(tmp_path, "7_0"),
        FakeJob(tmp_path, "7_1", ["completed", "skipped"]),
        FakeJob(tmp_path, "7_2", RuntimeError("boom")),
    )
    failed.finish()

    calls = []

    def sleep(_):  # the queue empties once the wait has asked a few times, with 7_1's result written
        calls.append(1)
        if len(calls) == 5:
            done.finish()
            squeue.write_text("")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(slurm_groups.time, "sleep", sleep)
        outcomes = slurm_groups.wait([lost, done, failed])
    assert outcomes[0] == "lost" and outcomes[1] == ["completed", "skipped"]
    assert isinstance(outcomes[2], RuntimeError)
    assert "-r -o %i -j 7" in (tmp_path / "asked").read_text()


def test_ids_squeue_no_longer_knows_are_not_queued(tmp_path, squeue):
    script = squeue.parent / "bin" / "squeue"
    script.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n")
    assert slurm_groups.queue(["12_0"]) == set()
    squeue.parent.joinpath("bin", "squeue").write_text("#!/bin/sh\necho 'Unable to contact controller' >&2\nexit 1\n")
    assert slurm_groups.queue(["12_0"]) is None


def test_a_silent_squeue_ends_the_wait(tmp_path, squeue, monkeypatch):
    monkeypatch.setattr(slurm_groups, "QUEUE_SILENT_S", -1.0)  # squeue fails (no queue file): silent at once
    with pytest.raises(RuntimeError, match="squeue has not answered"):
        slurm_groups.wait([FakeJob(tmp_path, "9")])


def test_batched_slurm_composes_the_slurm_launchers_options_under_slurm():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "alternating_freeze",
            "hydra/launcher=batched_slurm",
            "hydra.launcher.slurm.partition=debug",
            "--cfg",
            "hydra",
            "-p",
            "hydra.launcher",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    launcher = yaml.safe_load(proc.stdout)
    assert launcher["_target_"].endswith("BatchedLauncher") and launcher["max_members"] == 256
    slurm = yaml.safe_load((ROOT / "conf/hydra/launcher/slurm.yaml").read_text())
    for key, value in slurm.items():  # slurm.yaml's defaults, from their one home
        if key != "defaults":
            assert launcher["slurm"][key] == (value if key != "partition" else "debug"), key
