"""Sweeps through the real CLI: folders named from overrides, resume after SIGKILL, failure tolerance,
parallel launchers, and relaunches that never redo or overwrite a job (what a sweep will launch:
test_sweep_plan.py)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import ROOT, af_train, run_sweep, summaries

from alternating_freeze.contract import TIMING_COLUMNS
from alternating_freeze.records import save_checkpoint

pytestmark = pytest.mark.slow  # every test here launches af-train (or a benchmark) in a subprocess
FAST = ["trainer.epochs=2", "trainer.progress=none", "trainer.num_threads=1"]


def folder(*overrides):
    """A job's folder name: its result-affecting overrides, FAST's epochs included, sorted (Hydra's override_dirname)."""
    return ",".join(sorted([*overrides, "trainer.epochs=2"]))


RESULT_KEYS = (
    "status",
    "final_test_acc",
    "best_test_acc",
    "final_train_loss",
    "train_flops",
    "epochs_completed",
    "epochs_to_90pct",
    "loss_std",
    "config_hash",
)


def results(summary):
    return {k: summary[k] for k in RESULT_KEYS}


def test_grid_sweep_names_folders_from_overrides(tmp_path, cli_env):
    proc = run_sweep(tmp_path, *FAST, "seed=0,1", "strategy=standard,alternating", env=cli_env)
    runs = summaries(tmp_path)
    assert set(runs) == {folder(f"seed={s}", f"strategy={k}") for s in (0, 1) for k in ("standard", "alternating")}
    assert all(r["status"] == "completed" for r in runs.values())
    assert "4 completed" in proc.stdout


def test_killed_sweep_resumes_without_recomputing(tmp_path, cli_env):
    args = ["seed=0,1,2", "strategy=alternating", "model.width=512"]
    reference = tmp_path / "reference"
    run_sweep(reference, *FAST, *args, env=cli_env)

    resumed = tmp_path / "resumed"
    cmd = af_train("-m", f"hydra.sweep.dir={resumed}", *FAST, *args)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while not list(resumed.glob("*/summary.json")) and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {
        p: (p.stat().st_mtime_ns, p.read_bytes())
        for p in resumed.glob("*/*")
        if p.is_file() and p.parent.joinpath("summary.json").exists() and p.name in ("summary.json", "metrics.csv")
    }
    assert 0 < len(done) < 6, "the kill should land between the first and the last job"

    out = run_sweep(resumed, *FAST, *args, env=cli_env).stdout
    for path, (mtime, content) in done.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content, f"{path} was recomputed"
    assert "skipped" in out
    assert {k: results(v) for k, v in summaries(resumed).items()} == {
        k: results(v) for k, v in summaries(reference).items()
    }


def test_a_failing_job_does_not_stop_the_sweep(tmp_path, cli_env):
    # lr 1e+30 diverges (written as Hydra writes it in folder names); split 2 of a depth-2 network is invalid and fails; the rest complete
    proc = run_sweep(
        tmp_path,
        *FAST,
        "optimizer=sgd",
        "optimizer.lr=0.01,1e+30",
        "model.depth=2",
        "model.split=1,2",
        env=cli_env,
        check=False,
    )
    assert proc.returncode == 1
    runs = summaries(tmp_path)
    status = {k: v["status"] for k, v in runs.items()}
    assert status == {
        folder("model.depth=2", "model.split=1", "optimizer.lr=0.01", "optimizer=sgd"): "completed",
        folder("model.depth=2", "model.split=1", "optimizer.lr=1e+30", "optimizer=sgd"): "diverged",
        folder("model.depth=2", "model.split=2", "optimizer.lr=0.01", "optimizer=sgd"): "failed",
        folder("model.depth=2", "model.split=2", "optimizer.lr=1e+30", "optimizer=sgd"): "failed",
    }
    for name, s in status.items():
        if s == "failed":
            assert "model.split=2" in runs[name]["error"] and name in proc.stdout
            assert (tmp_path / name / "error.txt").read_text().startswith("Traceback")
    assert "1 completed" in proc.stdout and "1 diverged" in proc.stdout and "2 failed" in proc.stdout


def test_a_sweep_over_execution_keys_only_is_one_job_and_reported(tmp_path, cli_env):
    """Keys that do not change results stay out of folder names: both jobs are one folder, the
    sweep folder itself, run once and counted in the table."""
    proc = subprocess.run(
        af_train("-m", f"hydra.sweep.dir={tmp_path}", "trainer.progress=none,log", "trainer.checkpoint=false"),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "completed"
    assert f"sweep {tmp_path}: 1 completed" in proc.stdout


def test_killed_run_resumes_from_its_epoch_checkpoint(tmp_path, cli_env):
    # wide enough that an epoch takes a noticeable time, so the kill lands mid-run
    args = [
        "hydra.run.dir={}",
        "trainer.epochs=4",
        "trainer.progress=log",
        "trainer.batch_size=16",
        "model.width=1024",
        "model.dropout=0.1",
        "strategy=alternating_epoch",
        "trainer.num_threads=1",
    ]
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(af_train(*[a.format(full) for a in args]), cwd=ROOT, env=cli_env, check=True, timeout=600)

    proc = subprocess.Popen(
        af_train(*[a.format(killed) for a in args]),
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    metrics = killed / "metrics.csv"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (killed / "checkpoint.pt").exists() and not (killed / "summary.json").exists()

    subprocess.run(af_train(*[a.format(killed) for a in args]), cwd=ROOT, env=cli_env, check=True, timeout=600)
    assert "resuming" in (killed / "train.log").read_text()
    drop = TIMING_COLUMNS

    def rows(d):
        lines = (d / "metrics.csv").read_text().splitlines()
        header = lines[0].split(",")
        return [[v for h, v in zip(header, line.split(",")) if h not in drop] for line in lines[1:]]

    assert rows(killed) == rows(full) and len(rows(full)) == 4
    assert results(json.loads((killed / "summary.json").read_text())) == results(
        json.loads((full / "summary.json").read_text())
    )


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=5"],
    ],
)
def test_parallel_launchers(tmp_path, cli_env, launcher):
    run_sweep(tmp_path, *FAST, "seed=0,1", *launcher, env=cli_env)
    runs = summaries(tmp_path)
    assert set(runs) == {folder("seed=0"), folder("seed=1")} and all(r["status"] == "completed" for r in runs.values())
    assert all(r["resolved"]["num_threads"] == 1 for r in runs.values())


def submitit_tasks(session: int) -> list[int]:
    """Pids of submitit's local job processes in a process session (what SLURM signals on preemption)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            sid = int(stat.read_text().rsplit(")", 1)[1].split()[3])  # fields after the name: state ppid pgrp session
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if sid == session and b"submitit.core._submit" in cmd:
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds submitit's controller through /proc")
def test_preempted_submitit_job_is_requeued_and_resumes_from_its_checkpoint(tmp_path, cli_env):
    # slow enough epochs that the preemption lands mid-run, as in the test above; logged epochs for the log check
    args = [
        "seed=0",
        "trainer.epochs=4",
        "trainer.progress=log",
        "trainer.batch_size=8",
        "model.width=1024",
        "strategy=alternating_epoch",
    ]
    # with 15 min asked, submitit takes a signal in the first 5 min for a preemption (a timeout counts down requeues)
    submitit = ["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=15"]
    reference = tmp_path / "reference"
    run_sweep(reference, *FAST, *args, env=cli_env)

    preempted = tmp_path / "preempted"
    proc = subprocess.Popen(
        af_train("-m", f"hydra.sweep.dir={preempted}", *FAST, *args, *submitit),
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not list(preempted.glob("*/metrics.csv")):
        time.sleep(0.02)
    job = next(preempted.glob("*/metrics.csv")).parent
    assert not (job / "summary.json").exists(), "the preemption should land mid-run"
    tasks = submitit_tasks(proc.pid)
    assert len(tasks) == 1, "submitit's job process not found"
    os.kill(tasks[0], signal.SIGUSR2)  # the signal submitit asks SLURM to send before a preemption or timeout
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out

    log = (job / "train.log").read_text()
    assert "resuming" in log, log
    logs = "".join(p.read_text() for p in (preempted / ".submitit").rglob("*_log.*"))
    assert "this job is preempted" in logs and "Requeued job" in logs
    assert results(summaries(preempted)[job.name]) == results(summaries(reference)[job.name])


def test_unreadable_checkpoint_is_ignored_and_a_foreign_one_refused(tmp_path, cli_env):
    run = [f"hydra.run.dir={tmp_path}", "trainer.epochs=2", "trainer.progress=log"]
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short by a crash")
    subprocess.run(af_train(*run), cwd=ROOT, env=cli_env, check=True, timeout=300, capture_output=True)
    assert "ignoring unreadable checkpoint" in (tmp_path / "train.log").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["epochs_completed"] == 2

    other = tmp_path / "other"
    other.mkdir()
    save_checkpoint(other / "checkpoint.pt", {"config_hash": "0" * 16, "state": {}}, {})  # another config's run
    proc = subprocess.run(
        af_train(f"hydra.run.dir={other}", "trainer.epochs=1", "trainer.progress=none"),
        cwd=ROOT,
        env=cli_env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    out = proc.stderr + proc.stdout
    assert proc.returncode == 2 and "Traceback" not in out
    assert f"hydra.run.dir='{other}': holds a checkpoint of a different config" in out
    assert (other / "checkpoint.pt").exists()  # the other run's progress is kept, nothing written beside it
    assert not (other / "summary.json").exists() and not (other / "error.txt").exists()


def test_a_relaunch_with_fewer_jobs_counts_only_its_own(tmp_path, cli_env):
    """Folders an earlier launch left (finished, or killed mid-run) are not this sweep's jobs: they
    are neither counted as skipped nor make a clean relaunch fail."""
    run_sweep(tmp_path, *FAST, "seed=0,1", env=cli_env)
    killed = tmp_path / folder("seed=2")  # an earlier launch's job, killed before it finished
    (killed / ".hydra").mkdir(parents=True)
    (killed / ".hydra" / "config.yaml").write_text((tmp_path / folder("seed=0") / ".hydra" / "config.yaml").read_text())
    past = time.time() - 3600
    for path in (*killed.rglob("*"), *(tmp_path / folder("seed=1")).rglob("*")):
        os.utime(path, (past, past))
    proc = run_sweep(tmp_path, *FAST, "seed=0", env=cli_env)
    assert f"sweep {tmp_path}: 0 completed, 1 skipped (2 folder(s) of earlier launches" in proc.stdout


def test_a_job_folder_with_another_configs_results_is_refused_not_skipped(tmp_path, cli_env):
    run_sweep(tmp_path, *FAST, "seed=0,1", env=cli_env)
    theirs = tmp_path / folder("seed=1") / "summary.json"
    other = json.loads(theirs.read_text()) | {"config_hash": "another config"}  # e.g. a preset edited since
    theirs.write_text(json.dumps(other))
    before = theirs.read_bytes()
    proc = run_sweep(tmp_path, *FAST, "seed=0,1", env=cli_env, check=False)
    assert proc.returncode == 1
    assert "1 skipped" in proc.stdout and "1 refused" in proc.stdout
    assert f"refused    {folder('seed=1')}" in proc.stdout
    assert theirs.read_bytes() == before
