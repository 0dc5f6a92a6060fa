"""Batched groups on SLURM (``hydra/launcher=batched_slurm``): each group one array task, its members' results
those of a local ``hydra/launcher=batched`` run; done jobs skipped before submission; a cancelled job stops the
launching process with one line instead of a wait without end; timeouts past ``max_num_timeout`` recorded as failed.

Needs the cluster of tests/test_slurm.py (``scripts/slurm-local up``); skipped with its printed reason without one.
Results are compared exactly (metrics.csv without the timing columns, status, epochs, final test accuracy).
"""

import json
import os
import signal
import subprocess

import pytest
from helpers import run_sweep, summaries
from test_slurm import SLOW, TUNED, array_jobs, finish, launch, results, slurm_env, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CLUSTER = [
    "hydra.launcher.slurm.partition=debug",
    "hydra.launcher.slurm.cpus_per_task=1",
    "hydra.launcher.slurm.mem_gb=1",
]
BATCHED_SLURM = ["hydra/launcher=batched_slurm", *CLUSTER, "trainer.num_threads=1", "trainer.progress=log"]
# four runs of one key, max_members=3: a group of three and a group of one (which trains as a separate run)
SWEEP = ["trainer.epochs=2", "seed=0,1", "strategy=standard,alternating_epoch", "hydra.launcher.max_members=3"]


def submitted(sweep_dir) -> list[str]:
    """The SLURM jobs (array tasks) the sweep submitted: submitit pickles each one's call as <id>_submitted.pkl."""
    return sorted(p.name for p in (sweep_dir / ".submitit").rglob("*_submitted.pkl"))


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    root = tmp_path_factory.mktemp("groups")
    slurm = launch(root / "slurm", *SWEEP, *BATCHED_SLURM)
    local = run_sweep(
        root / "local",
        *SWEEP,
        "hydra/launcher=batched",
        "trainer.num_threads=1",
        "trainer.progress=log",
        env=slurm_env(),
    )
    try:
        out = finish(slurm)
    finally:
        if array_jobs(root / "slurm"):
            subprocess.run(["scancel", *array_jobs(root / "slurm")], env=slurm_env(), capture_output=True, timeout=30)
    return root, out, local.stdout


def test_groups_on_slurm_give_the_local_batched_results(groups):
    root, out, local_out = groups
    slurm, local = results(root / "slurm"), results(root / "local")
    assert len(slurm) == 4 and all(status == "completed" and epochs == 2 for status, epochs, *_ in slurm.values())
    assert slurm == local
    together = {n: s.get("batched_with") for n, s in summaries(root / "slurm").items()}
    assert together == {n: s.get("batched_with") for n, s in summaries(root / "local").items()}
    assert sorted(together.values(), key=str) == [3, 3, 3, None], "a group of three, and one run alone"
    assert "submitting 2 groups (3, 1 runs) for 4 of 4 jobs" in out
    assert len(array_jobs(root / "slurm")) == 1 and len(submitted(root / "slurm")) == 2, "one array, a task a group"
    assert f"sweep {root / 'slurm'}: 4 completed" in out
    for s in summaries(root / "slurm").values():  # the SLURM job's cpus_per_task, as under hydra/launcher=slurm
        assert s["resolved"]["num_threads"] == 1


def test_a_rerun_submits_only_what_is_not_done(groups):
    root, _, _ = groups
    sweep = root / "slurm"
    before = submitted(sweep)
    proc = run_sweep(sweep, *SWEEP, *BATCHED_SLURM, env=slurm_env(), timeout=300)
    assert "nothing submitted" in proc.stdout + proc.stderr and "0 completed, 4 skipped" in proc.stdout
    assert submitted(sweep) == before

    expected = results(sweep)
    redo = next(p for p in sweep.iterdir() if "seed=1" in p.name and "alternating" in p.name)
    (redo / "summary.json").unlink()  # its checkpoint is at its last epoch: it only finishes again
    proc = run_sweep(sweep, *SWEEP, *BATCHED_SLURM, env=slurm_env(), timeout=300)
    out = proc.stdout + proc.stderr
    assert "submitting 1 groups (1 runs) for 1 of 4 jobs" in out and "1 completed, 3 skipped" in proc.stdout
    assert len(submitted(sweep)) == len(before) + 1
    assert results(sweep) == expected


def test_a_cancelled_group_stops_the_launch_with_one_line(tmp_path):
    sweep = tmp_path / "slurm"
    proc = launch(sweep, *SLOW, "trainer.epochs=50", "seed=0,1", *BATCHED_SLURM)
    try:
        wait_for(lambda: list(sweep.glob("*/metrics.csv")), "the group's first epoch")
        subprocess.run(["scancel", *array_jobs(sweep)], env=slurm_env(), check=True, capture_output=True, timeout=30)
        out, _ = proc.communicate(timeout=120)  # squeue is asked every 10 s; lost after two misses
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, out[-3000:]
    said = [line for line in out.splitlines() if line.startswith("error: SLURM job ")]
    assert len(said) == 1 and "left the queue without a result" in said[0], out[-3000:]
    assert said[0].endswith(f"rerun the same command into {sweep} to resume their runs") and "Traceback" not in out
    assert not list(sweep.glob("*/summary.json")), "nothing recorded for the lost runs: a rerun resumes them"


def test_a_group_past_max_num_timeout_is_recorded_as_failed(tmp_path):
    """timeout_min=2 with signal_delay_s=30: the signal comes 82-88 s after the start (tests/test_slurm.py); with
    max_num_timeout=0 it is not requeued, and each unfinished member is recorded as failed with the reason."""
    sweep = tmp_path / "slurm"
    proc = launch(
        sweep,
        *SLOW,
        "trainer.epochs=75",
        "seed=0,1",
        *BATCHED_SLURM,
        "hydra.launcher.slurm.timeout_min=2",
        "hydra.launcher.slurm.signal_delay_s=30",
        "hydra.launcher.slurm.max_num_timeout=0",
    )
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1 and "2 failed" in out, out[-3000:]
    for s in summaries(sweep).values():
        assert s["status"] == "failed" and "timed-out too many times" in s["error"], json.dumps(s)[:2000]


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "hydra.launcher.slurm.partition=nowhere",
            "error: hydra.launcher.slurm.partition='nowhere': nowhere is not a partition",
        ),
        ("hydra.launcher.slurm.cpus_per_task=4096", "error: hydra.launcher.slurm.cpus_per_task=4096: at most"),
    ],
)
def test_what_the_cluster_cannot_run_is_refused_before_anything_is_prepared(tmp_path, override, message):
    proc = run_sweep(
        tmp_path, "trainer.epochs=2", "seed=0,1", *BATCHED_SLURM, override, env=slurm_env(), check=False, timeout=120
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out
    assert out.strip().splitlines()[-1].startswith(message), out[-2000:]
    assert not (tmp_path / ".submitit").exists() and not list(tmp_path.glob("*/.hydra"))


def test_the_tuned_presets_two_stages_run_as_slurm_groups(tmp_path):
    proc = run_sweep(tmp_path, *TUNED, *BATCHED_SLURM[:-2], env=slurm_env(), check=False, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count("submitting 1 groups") == 2, "the grid's 4 runs in one group, then the 2 final runs"
    tuning = json.loads((tmp_path / "tuning.json").read_text())
    for name, arm in tuning["arms"].items():
        assert len(arm["trials"]) == 2 and arm["chosen"] is not None and len(arm["final_jobs"]) == 1, name
        for job in arm["final_jobs"]:
            assert json.loads((tmp_path / job / "summary.json").read_text())["status"] == "completed"
