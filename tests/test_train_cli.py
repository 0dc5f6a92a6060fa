"""The real `af-train` entrypoint in a subprocess: files on disk, determinism, and one-line errors."""

import csv
import json
import os
import stat
import subprocess

import pytest
from helpers import ROOT, af_train

from alternating_freeze.contract import METRICS_COLUMNS, TIMING_COLUMNS

pytestmark = pytest.mark.slow  # every test here launches af-train (or a benchmark) in a subprocess
TIMING = set(TIMING_COLUMNS)


def train(tmp_path, *overrides, env=None, check=True):
    proc = subprocess.run(
        af_train(f"hydra.run.dir={tmp_path}", "trainer.progress=log", *overrides),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_run_writes_metrics_and_summary(tmp_path, cli_env):
    train(tmp_path, "trainer.epochs=3", "strategy=alternating_epoch", env=cli_env)
    rows = read_metrics(tmp_path)
    assert list(rows[0]) == list(METRICS_COLUMNS)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [r["trained"] for r in rows] == ["0", "1", "0"]
    flops = [int(r["train_flops"]) for r in rows]
    assert 0 < flops[0] < flops[1] < flops[2]
    # the epoch training the second half (first frozen) costs fewer FLOPs than one training the first
    assert flops[1] - flops[0] < flops[0]
    for r in rows:
        assert 0.0 <= float(r["test_acc"]) <= 1.0 and float(r["train_loss"]) > 0 and float(r["epoch_s"]) > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["error"] is None
    assert summary["final_test_acc"] == float(rows[-1]["test_acc"])
    assert summary["best_test_acc"] == max(float(r["test_acc"]) for r in rows)
    assert summary["train_flops"] == flops[-1] and summary["epochs_completed"] == 3
    assert summary["config"]["strategy"]["unit"] == "epoch" and summary["seed"] == 0
    assert summary["resolved"]["split"] == 1 and summary["resolved"]["n_train"] == 1437 - 144
    assert summary["resolved"]["n_val"] == 144 and summary["selection"] == "val"
    best = max(range(3), key=lambda i: float(rows[i]["val_acc"]))
    assert summary["best_val_epoch"] == best + 1 and summary["best_val_acc"] == float(rows[best]["val_acc"])
    assert summary["test_acc_at_best_val"] == float(rows[best]["test_acc"])
    assert summary["train_cpu_s"] > 0 and summary["thread_counts"] == [int(rows[0]["threads"])]
    cores = summary["resolved"]["cores"]
    for r in rows:  # CPU seconds of the process's threads cannot exceed wall seconds times the cores it may use
        assert 0 < float(r["epoch_cpu_s"]) <= float(r["epoch_s"]) * cores + 0.05
    assert all(isinstance(summary[k], float) and summary[k] >= 0 for k in ("load_avg_start", "load_avg_end"))
    assert summary["resolved"]["splits"] == [1] and summary["resolved"]["n_blocks"] == 2
    assert set(summary["versions"]) == {"python", "torch", "alternating_freeze"}
    assert (tmp_path / ".hydra" / "config.yaml").exists() and (tmp_path / "train.log").exists()
    assert not (tmp_path / "checkpoint.pt").exists()  # removed once the run has ended
    assert not list(tmp_path.glob(".*.tmp"))


def test_same_seed_gives_identical_metrics(tmp_path, cli_env):
    runs = []
    for name in ("a", "b"):
        train(
            tmp_path / name,
            "trainer.epochs=2",
            "strategy=alternating",
            "strategy.every=3",
            "model.dropout=0.2",
            env=cli_env,
        )
        runs.append([{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(tmp_path / name)])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["model=transformer"], "model"),
        (["model.split=3"], "model.split"),
        (["strategy=alternating", "strategy.every=0"], "strategy.every"),
        (["model.depth=1"], "model.depth"),
        (["optimizer.lr=0"], "optimizer.lr"),
        (["trainer.device=quantum"], "trainer.device"),
        (["dataset=mnist", "dataset.root=/nonexistent"], "dataset.root"),
    ],
)
def test_bad_input_is_one_readable_line(tmp_path, cli_env, overrides, expected):
    proc = train(tmp_path, *overrides, env=cli_env, check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0
    assert "Traceback" not in out
    assert expected in out
    errors = [line for line in out.splitlines() if "error" in line.lower()]
    assert errors, out


def test_result_files_follow_the_umask(tmp_path, cli_env):
    """Collaborators on a shared filesystem can read results: no owner-only temporary-file modes."""
    umask = os.umask(0o022)  # the child inherits it; 0o077 would not tell 0600 files from the umask's
    try:
        train(tmp_path, "trainer.epochs=1", env=cli_env)
    finally:
        os.umask(umask)
    for name in ("metrics.csv", "summary.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
