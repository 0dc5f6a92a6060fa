"""hydra/launcher=batched through the real CLI: the basic launcher's folders, resume after SIGKILL,
failures, one-line errors for bad options, the tuning protocol, and configs composed as Hydra composes them."""

import csv
import json
import os
import re
import signal
import subprocess
import time

import pytest
from helpers import ROOT, af_train, preset_sweeper, run_sweep, summaries
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode
from omegaconf import OmegaConf

from alternating_freeze.contract import TIMING_COLUMNS

FAST = ["trainer.epochs=2", "trainer.progress=log", "trainer.num_threads=1"]
BATCHED = ["hydra/launcher=batched"]
RESULT_KEYS = (
    "status",
    "final_test_acc",
    "best_test_acc",
    "final_val_acc",
    "best_val_acc",
    "final_train_loss",
    "train_flops",
    "epochs_completed",
    "epochs_to_90pct",
    "config_hash",
)


def files(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def assert_close(a, b, n_test=360):
    """A member's results against its separate run's (README, "Batched runs": the tolerance)."""
    for k in RESULT_KEYS:
        if k.endswith("_acc"):
            assert abs(a[k] - b[k]) <= 1 / n_test + 1e-12, k
        elif isinstance(a[k], float):
            assert a[k] == pytest.approx(b[k], rel=1e-4), k
        else:
            assert a[k] == b[k], k


@pytest.mark.slow
def test_a_batched_sweep_writes_the_basic_launchers_folders(tmp_path, cli_env):
    args = ["seed=0,1", "strategy=standard,alternating"]
    basic, batched = tmp_path / "basic", tmp_path / "batched"
    run_sweep(basic, *FAST, *args, env=cli_env)
    out = run_sweep(batched, *FAST, *args, *BATCHED, env=cli_env).stdout
    assert "sweep" in out and "4 completed" in out
    assert files(basic) == files(batched)
    a, b = summaries(basic), summaries(batched)
    for job in a:
        assert set(b[job]) - set(a[job]) == {"batched_with"} and b[job]["batched_with"] == 4
        assert any("group's seconds" in n for n in b[job]["notes"])
        assert_close(b[job], a[job])
        for f in (".hydra/config.yaml", ".hydra/overrides.yaml"):
            assert (basic / job / f).read_text() == (batched / job / f).read_text()
        hydra = [OmegaConf.load(d / job / ".hydra/hydra.yaml") for d in (basic, batched)]
        for h in hydra:
            del h.hydra.launcher, h.hydra.sweep.dir, h.hydra.runtime.output_dir, h.hydra.overrides.hydra
            del h.hydra.runtime.choices["hydra/launcher"]
        assert hydra[0] == hydra[1]
        with open(basic / job / "metrics.csv") as fa, open(batched / job / "metrics.csv") as fb:
            ra, rb = list(csv.DictReader(fa)), list(csv.DictReader(fb))
        assert list(ra[0]) == list(rb[0]) and len(ra) == len(rb) == 2
        for x, y in zip(ra, rb):
            assert {k: v for k, v in x.items() if k not in TIMING_COLUMNS and not k.endswith("loss")} == {
                k: v for k, v in y.items() if k not in TIMING_COLUMNS and not k.endswith("loss")
            }
        log = (batched / job / "train.log").read_text()
        assert "epoch 1/2" in log and "epoch 2/2" in log and "completed: final test acc" in log
        assert log.count("epoch 1/2") == 1  # its own lines only


@pytest.mark.slow
def test_a_killed_batched_sweep_resumes_every_unfinished_member(tmp_path, cli_env):
    """Groups of two, one after the other: SIGKILL once the first group has finished; the relaunch skips
    its members (files untouched) and ends with an uninterrupted sweep's results."""
    args = ["seed=0,1,2,3,4,5", "strategy=alternating", "model.width=512", *BATCHED, "hydra.launcher.max_members=2"]
    reference = tmp_path / "reference"
    run_sweep(reference, *FAST, *args, env=cli_env)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        af_train("-m", f"hydra.sweep.dir={killed}", *FAST, *args),
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while len(list(killed.glob("*/summary.json"))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {
        p: (p.stat().st_mtime_ns, p.read_bytes())
        for p in killed.glob("*/*")
        if p.name in ("summary.json", "metrics.csv") and (p.parent / "summary.json").exists()
    }
    assert 0 < len(done) < 12, "the kill should land between the first and the last group"
    out = run_sweep(killed, *FAST, *args, env=cli_env).stdout
    for path, (mtime, content) in done.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content, f"{path} was recomputed"
    assert "skipped" in out and not list(killed.glob("*/checkpoint.pt"))
    resumed, whole = summaries(killed), summaries(reference)
    assert resumed.keys() == whole.keys() and len(whole) == 6
    for job in whole:
        assert {k: resumed[job][k] for k in RESULT_KEYS} == {k: whole[job][k] for k in RESULT_KEYS}


@pytest.mark.slow
def test_failed_and_diverged_members_are_recorded_and_the_others_go_on(tmp_path, cli_env):
    # lr 1e+30 diverges; split 2 of a depth-2 network fails; as under the basic launcher (test_sweeps.py)
    proc = run_sweep(
        tmp_path,
        *FAST,
        "optimizer=sgd",
        "optimizer.lr=0.01,1e+30",
        "model.depth=2",
        "model.split=1,2",
        "seed=0,1",
        *BATCHED,
        env=cli_env,
        check=False,
    )
    assert proc.returncode == 1
    status = {k: v["status"] for k, v in summaries(tmp_path).items()}
    assert sorted(status.values()) == ["completed"] * 2 + ["diverged"] * 2 + ["failed"] * 4
    for job, s in status.items():
        assert ("model.split=2" in job) == (s == "failed")
        assert ("1e+30" in job and "split=1" in job) == (s == "diverged")
    assert "2 completed" in proc.stdout and "2 diverged" in proc.stdout and "4 failed" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "option, message",
    [
        ("hydra.launcher.max_members=0", "error: hydra.launcher.max_members=0: an integer >= 1"),
        (
            "hydra.launcher.device=tpu",
            "error: hydra.launcher.device='tpu': null (each job's own), or allowed: auto, cpu",
        ),
    ],
)
def test_bad_launcher_options_are_one_line_errors(tmp_path, cli_env, option, message):
    proc = run_sweep(tmp_path, *FAST, "seed=0,1", *BATCHED, option, env=cli_env, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert any(line.startswith(message) for line in out.splitlines()), out[-2000:]
    assert not summaries(tmp_path) and "Launching" not in out


@pytest.mark.slow
def test_the_tuning_protocol_runs_batched(tmp_path, cli_env):
    proc = run_sweep(
        tmp_path,
        *FAST,
        "experiment=frequency_tuned",
        *BATCHED,
        "trainer.epochs=1",
        "seed=0",
        "trainer.allow_untrained=true",
        'hydra.sweeper.tune.grid={optimizer.lr:"0.001,0.01"}',
        'hydra.sweeper.tune.seeds="100"',
        "hydra.callbacks.analyze.enabled=false",
        env=cli_env,
    )
    tuning = json.loads((tmp_path / "tuning.json").read_text())
    assert len(tuning["arms"]) == 10 and all(a["chosen"] for a in tuning["arms"].values())
    finals = [job for a in tuning["arms"].values() for job in a["final_jobs"]]
    runs = summaries(tmp_path)
    assert len(finals) == 10 and all(runs[job]["status"] == "completed" for job in finals)
    assert len(runs) == 10 * 2 + len(set(finals) - {t["job"] for a in tuning["arms"].values() for t in a["trials"]})
    assert "completed" in proc.stdout


# in process; the two large presets take seconds, the small one keeps compose.py in the fast lane
@pytest.mark.parametrize(
    "preset, n",
    [
        pytest.param("frequency", 50, marks=pytest.mark.slow),
        pytest.param("blocks", 12, marks=pytest.mark.slow),
        ("digits_cnn", 6),
    ],
)
def test_configs_are_composed_as_hydra_composes_them(preset, n):
    """Derived configs (a composed base with the job's value overrides applied) equal Hydra's composition of
    every job, hydra node included, errors included; only a few jobs are composed in full."""
    from alternating_freeze.compose import Composer

    _, _, _, jobs = preset_sweeper(preset)
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    master = loader.load_configuration(
        "train",
        overrides=[f"experiment={preset}", "hydra/launcher=batched", "hydra.sweep.dir=/tmp/sweep"],
        run_mode=RunMode.MULTIRUN,
    )
    jobs = [
        *jobs[:n],
        [*jobs[0], "optimizer.lr=0.01", "+extra={a:1}"],
        [*jobs[1], "model.splits=[1]", "~model.split"],
        [*jobs[2], "strategy.unit=week"],
    ]
    composer = Composer(loader, master)
    for job in jobs:
        try:
            expected = OmegaConf.to_yaml(loader.load_sweep_config(master, list(job)))
        except Exception as e:  # noqa: BLE001 - the same error either way
            with pytest.raises(type(e), match=re.escape(str(e).splitlines()[0])):
                composer(list(job))
            continue
        assert OmegaConf.to_yaml(composer(list(job))) == expected, job
    assert composer.full <= 2 * len(composer.bases) + 1, (composer.full, len(jobs))


def test_the_arm_checks_and_the_launcher_compose_each_set_of_group_options_once(monkeypatch):
    """The sweeper's pre-launch check of every arm (arm_checks) and the batched launcher compose through one
    Composer (compose.shared): the frequency preset's ten arm configurations and fifty jobs cost four full
    compositions (two sets of group options, each composed and checked once; fourteen before), and the check
    still refuses arms too short for their schedules, as before."""
    from alternating_freeze import compose
    from alternating_freeze.errors import ConfigError

    loader, master, sweeper, jobs = preset_sweeper("frequency")
    full, compose_full = [], loader.load_sweep_config
    monkeypatch.setattr(loader, "load_sweep_config", lambda m, o: full.append(o) or compose_full(m, o))
    params = [f"{k}={v}" for k, v in master.hydra.sweeper.params.items()]
    sweeper._check_schedules(sweeper._parser().parse_overrides([*params, "experiment=frequency"]))
    assert len(full) == 4
    composer = compose.shared(loader, master)
    for job in jobs:
        composer(list(job))
    assert len(jobs) == 50 and len(full) == 4 and len(composer.bases) == 2
    assert compose.shared(loader, master, fast=False) is not composer  # the launcher's fast_compose=false: its own
    with pytest.raises(ConfigError, match=r"too short: arm 'batch strategy.every=32'.*'epoch strategy.every=2'"):
        sweeper._check_schedules(
            sweeper._parser().parse_overrides([*params, "experiment=frequency", "trainer.epochs=2"])
        )


@pytest.mark.slow
def test_the_sweep_benchmark_compares_steps_and_refuses_cuda_without_one(tmp_path):
    import sys

    import torch

    out = tmp_path / "step.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.sweep", "--step", "--no-sweeps", "--threads", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    step = json.loads(out.read_text())
    assert set(step["step"]["ms_per_step"]) == {"vmap", "baddbmm_autograd", "ours"} and "cpu" in step["machine"]
    assert all(v > 0 for v in step["step"]["ms_per_step"].values())
    if not torch.cuda.is_available():
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.sweep", "--device", "cuda"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].endswith("--device cuda: CUDA is not available on this machine")


@pytest.mark.slow
def test_members_keep_epoch_lines_in_their_logs_and_open_one_tracker_run(tmp_path, cli_env):
    """As a separate run with progress=none: no epoch lines on the terminal, all of them in train.log. A member
    that ends up training separately (a CNN, which the batched step does not stack) opens one tracker run, not two."""
    proc = run_sweep(tmp_path / "mlp", *FAST, "seed=0,1", "trainer.progress=none", *BATCHED, env=cli_env)
    assert "epoch 1/2" not in proc.stdout + proc.stderr
    logs = sorted((tmp_path / "mlp").glob("*/train.log"))
    assert len(logs) == 2 and all("epoch 2/2" in log.read_text() for log in logs)
    run_sweep(tmp_path / "cnn", *FAST, "seed=0,1", "model=cnn", "logger=tensorboard", *BATCHED, env=cli_env)
    runs = [d for d in (tmp_path / "cnn").iterdir() if (d / "summary.json").exists()]
    assert len(runs) == 2 and all(len(list(d.rglob("events.out.tfevents.*"))) == 1 for d in runs)
