"""Run folders written by hand, with known numbers, for the analysis tests (af-analyze).

They follow the README's "Results on disk" contract exactly (``.hydra/config.yaml``,
``.hydra/overrides.yaml``, ``metrics.csv``, ``summary.json``, ``multirun.yaml``), so the tests that use them
need neither torch nor the training code, and every statistic can be checked against a hand computation.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import yaml

import analysis
from alternating_freeze import contract

ROOT = Path(__file__).resolve().parents[1]
FAST = analysis.Bootstrap(n_resamples=2000)  # the default is 9999; fewer keep the suite quick
METRICS_HEADER = "epoch,step,trained,train_loss,train_acc,test_loss,test_acc,epoch_s,eval_s,elapsed_s,train_flops"


# ---------------------------------------------------------------- writing run folders


def make_config(seed=0, strategy="standard", unit="batch", every=1, steps=None, depth=3, width=32, split=None,
                epochs=3, lr=0.001, dataset="digits", subset=None, optimizer_state="keep"):
    """The resolved config tree of one run, as Hydra composes it."""
    if strategy == "standard":
        strat = {"name": "standard"}
    else:
        strat = {"name": strategy, "unit": unit, "every": every, "start": "first", "steps": steps,
                 "optimizer_state": optimizer_state, "freeze_bn_stats": True}
    return {
        "seed": seed,
        "dataset": {"name": dataset, "root": "data", "download": False, "subset": subset, "test_fraction": 0.2,
                    "split_seed": 0, "standardize": False},
        "model": {"name": "mlp", "depth": depth, "width": width, "batchnorm": False, "dropout": 0.0, "split": split},
        "strategy": strat,
        "optimizer": {"name": "adam", "lr": lr, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0,
                      "momentum": 0.0, "nesterov": False},
        "trainer": {"epochs": epochs, "batch_size": 128, "eval_batch_size": 8192, "device": "cpu",
                    "num_threads": 1, "checkpoint": True, "progress": "none"},
    }


def overrides_of(cfg):
    out = [f"seed={cfg['seed']}", f"strategy={cfg['strategy']['name']}"]
    if cfg["strategy"]["name"] != "standard":
        out += [f"strategy.unit={cfg['strategy']['unit']}", f"strategy.every={cfg['strategy']['every']}"]
    if cfg["model"]["depth"] != 3:
        out.append(f"model.depth={cfg['model']['depth']}")
    if cfg["model"]["split"] is not None:
        out.append(f"model.split={cfg['model']['split']}")
    return out


def curve_of(final_acc, epochs, seed):
    """Per-epoch test accuracy ending exactly at final_acc, and a falling train loss."""
    accs = [final_acc * (0.7 + 0.3 * (e + 1) / epochs) for e in range(epochs)]
    accs[-1] = final_acc
    losses = [1.0 / (e + 1) + 0.01 * seed for e in range(epochs)]
    return accs, losses


def write_run(sweep, cfg, final_acc=0.9, *, status="completed", epoch_s=0.5, flops_per_epoch=2e9,
              summary=True, epochs_done=None, error=None, job=None):
    """One run folder per the contract; returns it. ``summary=False``: killed or still running."""
    job = job or ",".join(sorted(overrides_of(cfg)))
    run = Path(sweep) / job
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides_of(cfg)))
    epochs = cfg["trainer"]["epochs"] if epochs_done is None else epochs_done
    accs, losses = curve_of(final_acc, cfg["trainer"]["epochs"], cfg["seed"])
    accs, losses = accs[:epochs], losses[:epochs]
    if status == "diverged" and epochs:
        losses[-1] = float("nan")
    trained = "all" if cfg["strategy"]["name"] == "standard" else "first+second"
    rows, elapsed = [METRICS_HEADER], 0.0
    for e in range(epochs):
        elapsed += epoch_s + 0.05
        rows.append(f"{e + 1},{(e + 1) * 12},{trained},{losses[e]},{accs[e] - 0.01},{losses[e] + 0.1},{accs[e]},"
                    f"{epoch_s},0.05,{elapsed},{int(flops_per_epoch * (e + 1))}")
    if status != "failed" or epochs:
        (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    if summary:
        finite = [x for x in losses if math.isfinite(x)]
        depth = cfg["model"]["depth"]
        s = {
            "status": status, "error": error if status != "diverged" else "loss became NaN or infinite",
            "epochs_completed": epochs,
            "final_test_acc": accs[-1] if accs else None, "best_test_acc": max(accs) if accs else None,
            "final_train_loss": losses[-1] if losses and math.isfinite(losses[-1]) else None,
            "epochs_to_90pct": next((i + 1 for i, a in enumerate(accs) if a >= 0.9 * accs[-1]), None) if accs else None,
            "loss_std": statistics.pstdev(finite) if len(finite) > 1 else None,
            "train_s": epoch_s * epochs, "eval_s": 0.05 * epochs, "total_s": elapsed + 1.0,
            "train_flops": int(flops_per_epoch * epochs), "train_gflops_per_s": 4.0,
            "seed": cfg["seed"], "device": "cpu",
            "resolved": {"split": cfg["model"]["split"] or depth // 2,
                         "steps": None if cfg["strategy"]["name"] == "standard" else
                         (cfg["strategy"]["steps"] or [cfg["strategy"]["every"]] * 2),
                         "device": "cpu", "num_threads": 1, "input_dim": 64, "num_classes": 10, "n_train": 1437,
                         "n_test": 360, "n_params": 5000},
            "config": cfg, "config_hash": contract.config_hash(cfg), "overrides": overrides_of(cfg),
            "versions": {"python": "3.11", "torch": "2.5", "alternating_freeze": "0.1.0"},
            "started_at": "2026-11-24T10:00:00+00:00", "finished_at": "2026-11-24T10:01:00+00:00",
        }
        if status == "failed":
            s = {k: s[k] for k in ("status", "error", "seed", "total_s", "config", "config_hash", "overrides",
                                   "versions", "started_at", "finished_at")}
            (run / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")
        (run / "summary.json").write_text(json.dumps(s, indent=2))
    return run


def write_multirun(sweep, task):
    tree = {"hydra": {"run": {"dir": "outputs/runs/${now:%Y-%m-%d_%H-%M-%S}"},
                      "sweep": {"dir": str(sweep), "subdir": "${hydra.job.override_dirname}"},
                      "sweeper": {"_target_": "hydra_plugins.af_arms_sweeper.arms_sweeper.ArmsSweeper",
                                  "max_batch_size": None, "params": {"seed": "range(5)"},
                                  "arms": {"standard": ["strategy=standard"],
                                           "batch": ["strategy=alternating", "strategy.every=1,4"]}},
                      "launcher": {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"},
                      "overrides": {"hydra": [f"hydra.sweep.dir={sweep}", "hydra.mode=MULTIRUN"], "task": task},
                      "job": {"name": "train"}},
            **make_config()}
    Path(sweep).mkdir(parents=True, exist_ok=True)
    (Path(sweep) / "multirun.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))


# Known final test accuracies per configuration and seed.
STANDARD = {0: 0.90, 1: 0.92, 2: 0.91, 3: 0.93, 4: 0.89}
EVERY1 = {0: 0.91, 1: 0.935, 2: 0.905, 3: 0.95, 4: 0.90, 5: 0.97}  # seed 5 has no standard partner
EVERY4 = {0: 0.88, 1: 0.915, 2: 0.90, 3: 0.925, 4: 0.87}
EPOCH1 = {0: 0.86, 1: 0.87, 2: 0.88}


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
    write_run(sweep, make_config(8, "alternating", every=4), status="failed", epochs_done=0,
              error="RuntimeError: CUDA out of memory")
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


def by_label(frame, label, metric):
    rows = frame[(frame["label"] == label) & (frame["metric"] == metric)]
    assert len(rows) == 1, (label, metric, frame["label"].unique())
    return rows.iloc[0]
