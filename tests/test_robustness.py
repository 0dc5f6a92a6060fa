"""Nothing in a results folder runs code, and no crash, race or bad value loses or falsifies a
result (issue 14): each case here failed before it was fixed."""

import json
import os
import pickle
import subprocess
import time

import pytest
import torch
from helpers import ROOT, af_train, cfg_of, run_sweep
from omegaconf import OmegaConf

from alternating_freeze import joblock, preflight
from alternating_freeze.config import config_hash, validate
from alternating_freeze.contract import agrees
from alternating_freeze.errors import ConfigError
from alternating_freeze.records import CHECKPOINT_MAGIC

RUN = ["trainer.epochs=2", "trainer.progress=log", "trainer.num_threads=1"]


def train(run_dir, *overrides, env=None):
    return subprocess.run(
        af_train(f"hydra.run.dir={run_dir}", *RUN, *overrides),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


class Planted:
    """A pickle that runs a shell command when it is loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["old format", "our header with the right hash"])
def test_a_planted_checkpoint_never_runs_code(tmp_path, cli_env, form):
    run_dir, marker = tmp_path / "run", tmp_path / "PWNED"
    run_dir.mkdir()
    payload = pickle.dumps({"model": Planted(marker)})
    if form == "old format":
        torch.save({"config_hash": "x", "model": Planted(marker)}, run_dir / "checkpoint.pt")
    else:
        h = config_hash(cfg_of(*RUN))
        header = json.dumps({"config_hash": h, "state": {"epoch": 1}}).encode()
        (run_dir / "checkpoint.pt").write_bytes(CHECKPOINT_MAGIC + header + b"\n" + payload)
    proc = train(run_dir, env=cli_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not marker.exists()
    assert "ignoring unreadable checkpoint" in (run_dir / "train.log").read_text()
    assert json.loads((run_dir / "summary.json").read_text())["epochs_completed"] == 2


@pytest.mark.slow
def test_two_launches_of_one_sweep_compute_each_job_once(tmp_path, cli_env):
    sweep = tmp_path / "sweep"
    args = af_train(
        "-m",
        f"hydra.sweep.dir={sweep}",
        "seed=0,1,2,3",
        "model.width=1024",
        "trainer.epochs=3",
        "trainer.progress=log",
        "trainer.num_threads=1",
        "trainer.batch_size=32",
    )
    first = subprocess.Popen(args, cwd=ROOT, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not list(sweep.glob("*/metrics.csv")) and time.time() < deadline:
        time.sleep(0.01)
    second = subprocess.run(args, cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=600)
    out_first, _ = first.communicate(timeout=600)
    out_second = second.stdout + second.stderr
    logs = out_first + out_second
    assert logs.count("completed: final test acc") == 4, logs[-3000:]  # each job trained once, by one of them
    for job in sweep.glob("seed=*"):
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "completed" and agrees(job, summary)
    for out in (out_first, out_second):  # both tables account for every job
        table = next(line for line in out.splitlines() if line.startswith(f"sweep {sweep}:"))
        counts = {s: int(n) for n, s in (part.strip().split(" ", 1) for part in table.split(": ", 1)[1].split(", "))}
        assert sum(counts.values()) == 4 and set(counts) <= {"completed", "skipped", "running elsewhere"}, table


@pytest.mark.slow
def test_a_job_locked_by_another_process_is_left_to_it(tmp_path, cli_env):
    """The race above, made deterministic: this test holds one job's lock as a twin launch would."""
    sweep = tmp_path / "sweep"
    run_sweep(sweep, "seed=0,1", *RUN, env=cli_env)
    held = sorted(sweep.glob("seed=1*"))[0]
    (held / "summary.json").unlink()  # unfinished, and its lock held by "another launch"
    with joblock.hold(held) as other:
        assert other is None
        proc = run_sweep(sweep, "seed=0,1", *RUN, env=cli_env, check=False)
    assert proc.returncode == 1 and f"sweep {sweep}: 0 completed, 1 skipped, 1 running elsewhere" in proc.stdout, (
        proc.stdout
    )
    assert not (held / "summary.json").exists()  # not trained behind its owner's back
    counter = json.loads((sweep / ".progress.json").read_text())  # the launch is done with both jobs
    assert (counter["total"], counter["ended"], counter["ran"]) == (2, 2, 0)
    run_sweep(sweep, "seed=0,1", *RUN, env=cli_env)
    assert json.loads((held / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_a_summary_that_disagrees_with_metrics_is_run_again(tmp_path, cli_env):
    assert train(tmp_path, env=cli_env).returncode == 0
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("\n".join(metrics.read_text().splitlines()[:2]) + "\n")  # another writer's 1 epoch
    assert not agrees(tmp_path, json.loads((tmp_path / "summary.json").read_text()))
    assert train(tmp_path, env=cli_env).returncode == 0
    assert "running the job again" in (tmp_path / "train.log").read_text()
    assert agrees(tmp_path, json.loads((tmp_path / "summary.json").read_text()))


@pytest.mark.slow
def test_an_unresolvable_interpolation_is_a_recorded_one_line_failure(tmp_path, cli_env):
    env = {k: v for k, v in cli_env.items() if k != "AF_UNSET_VARIABLE"}
    proc = train(tmp_path / "run", "optimizer.lr=${oc.env:AF_UNSET_VARIABLE}", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert [line for line in out.splitlines() if "error:" in line][0].count("optimizer.lr") >= 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["config_hash"] is None
    assert summary["config"]["optimizer"]["lr"] == "${oc.env:AF_UNSET_VARIABLE}"
    sweep = subprocess.run(
        af_train(
            "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", *RUN, "seed=0,1", "optimizer.lr=${oc.env:AF_UNSET_VARIABLE}"
        ),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sweep.returncode == 1 and f"sweep {tmp_path / 'sweep'}: 0 completed, 2 failed" in sweep.stdout


@pytest.mark.slow
def test_a_glob_over_a_config_group(tmp_path, cli_env):
    proc = subprocess.run(
        af_train(
            "-m",
            f"hydra.sweep.dir={tmp_path}",
            "strategy=glob(alternating*)",
            "trainer.epochs=1",
            "trainer.progress=none",
            "trainer.num_threads=1",
            "trainer.allow_untrained=true",
        ),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {p.name for p in tmp_path.glob("strategy=*")} == {
        f"strategy={s},trainer.epochs=1" for s in ("alternating", "alternating_batch", "alternating_epoch")
    }


@pytest.mark.slow
def test_more_threads_than_cores_are_cut_and_recorded(tmp_path, cli_env):
    assert train(tmp_path, "trainer.num_threads=100000", env=cli_env).returncode == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert summary["resolved"]["num_threads"] == cores == summary["thread_counts"][0]
    assert any("100000" in note and "cores" in note for note in summary["notes"])


@pytest.mark.slow
def test_stale_temporaries_of_killed_writes_are_removed(tmp_path, cli_env):
    tmp_path.mkdir(exist_ok=True)
    stale = [tmp_path / f".checkpoint.pt.{pid}.0123abcd.tmp" for pid in (11, 12)]
    for p in stale:
        p.write_bytes(b"\0" * 1024)
    mine = tmp_path / ".notes.tmp"  # not one of ours
    mine.write_text("keep")
    assert train(tmp_path, env=cli_env).returncode == 0
    assert not any(p.exists() for p in stale) and mine.exists()


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optimizer.lr=inf"], "optimizer.lr"),
        (["optimizer.weight_decay=nan"], "optimizer.weight_decay"),
        (["optimizer.weight_decay=inf"], "optimizer.weight_decay"),
        (["optimizer=sgd", "optimizer.momentum=nan"], "optimizer.momentum"),
        (["optimizer.eps=inf"], "optimizer.eps"),
        (["+model.foo=1"], "model.foo"),
        (["trainer.checkpoint=2"], "trainer.checkpoint"),
        (["seed=99999999999999999999"], "seed"),
        (["seed=-1"], "seed"),
    ],
)
def test_bad_values_are_refused_by_name(overrides, key):
    with pytest.raises(ConfigError) as e:
        validate(cfg_of(*overrides), overrides)
    assert e.value.key == key and str(e.value).startswith(f"{key}=") and "\n" not in str(e.value)


def test_preflight_checks_say_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no SLURM here, whatever this machine has installed
    file = tmp_path / "a-file"
    file.write_text("x")
    cases = [
        (lambda: preflight.writable_folder("hydra.run.dir", ""), "hydra.run.dir"),
        (lambda: preflight.writable_folder("hydra.sweep.dir", str(file)), "is a file"),
        (lambda: preflight.writable_folder("hydra.run.dir", "/proc/no-such-place"), "cannot be written"),
        (
            lambda: preflight.launcher_available(
                OmegaConf.create(
                    {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher", "n_jobs": 0}
                )
            ),
            "hydra.launcher.n_jobs=0",
        ),
        (
            lambda: preflight.launcher_available(
                OmegaConf.create({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"})
            ),
            "sbatch",
        ),
    ]
    for check, text in cases:
        with pytest.raises(ConfigError, match=text):
            check()


@pytest.mark.slow
def test_a_sweep_without_its_dataset_stops_before_any_job(tmp_path, cli_env):
    proc = subprocess.run(
        af_train(
            "-m",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "dataset=mnist",
            f"dataset.root={tmp_path / 'data'}",
            "seed=0,1,2",
        ),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out
    assert out.strip().splitlines()[-1].startswith("error: dataset.root=") and "dataset.download=true" in out
    assert not list((tmp_path / "sweep").glob("*/.hydra"))


@pytest.mark.slow
@pytest.mark.parametrize("planted", [".hydra/config.yaml", "train.log"])
def test_a_folder_with_links_where_hydra_writes_is_refused(tmp_path, cli_env, planted):
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / planted).symlink_to(target)
    proc = train(run_dir, env=cli_env)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == "precious"
    sweep = tmp_path / "sweep"
    (sweep / "seed=0" / ".hydra").mkdir(parents=True)
    (sweep / "seed=0" / planted).symlink_to(target)
    proc = subprocess.run(
        af_train("-m", f"hydra.sweep.dir={sweep}", *RUN, "seed=0,1"),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "symbolic link" in proc.stderr and target.read_text() == "precious"
