"""Shared helpers of the test suite: a plain module, imported as ``import helpers`` / ``from helpers import ...``
(pytest puts tests/ on sys.path, as the folder of the rootdir's conftest.py). Test files import from here and never
from one another; conftest.py holds only fixtures, which may call these.

Sections: running the CLI (af-train in a subprocess) and composing configs in process; freezing probes; model
configs; dataset files; hand-written run folders for the analysis tests (they follow the README's "Results on
disk" contract exactly, so those tests need neither torch nor the training code, and every statistic can be
checked against a hand computation). torch, torchvision and Hydra are imported inside the helpers that need
them, so that the analysis tests stay free of the training code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

import analysis
from alternating_freeze import contract
from alternating_freeze.contract import metrics_csv

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


# ---------------------------------------------------------------- the CLI and composed configs


def cli_env() -> dict:
    """Environment for subprocess runs of the entrypoint: no progress bar, few threads."""
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


# A 2-layer, 32-wide GPT on the bundled text's first 20000 characters, 2 epochs of 5 steps: seconds a run.
TINY_GPT = (
    "model=gpt",
    "dataset=text",
    "dataset.subset=20000",
    "model.n_layer=2",
    "model.n_embd=32",
    "model.block_size=32",
    "trainer.steps_per_epoch=5",
    "trainer.epochs=2",
)


def af_train(*args: str) -> list[str]:
    """The real console entrypoint, run with this interpreter (python -m is the same code path)."""
    return [sys.executable, "-m", "alternating_freeze", *args]


def run_sweep(sweep_dir, *args: str, env=None, check: bool = True, timeout: int = 900):
    """``af-train -m`` into ``sweep_dir``; with ``check``, a failed sweep fails the test with its output."""
    proc = subprocess.run(
        af_train("-m", f"hydra.sweep.dir={sweep_dir}", *args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def summaries(sweep_dir) -> dict:
    """Every job's summary.json of a sweep, by job folder name."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))}


def cfg_of(*overrides):
    """The train config composed in process with Hydra's compose API, as af-train composes it."""
    from hydra import compose, initialize_config_dir

    import alternating_freeze.config  # noqa: F401  registers the schemas the config composes with

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def preset_sweeper(name):
    """(config loader, master config, arms sweeper, job overrides) of an experiment preset, as a sweep sets them up."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import HydraContext, RunMode

    import alternating_freeze.config  # noqa: F401  registers the schemas the presets compose with

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    master = loader.load_configuration("train", overrides=[f"experiment={name}"], run_mode=RunMode.MULTIRUN)
    # Imported only now: Hydra's plugin scan (above) re-executes plugin modules in place, and a class
    # imported before it would subclass a BasicSweeper that no longer is the module's own.
    from hydra_plugins.af_arms_sweeper.arms_sweeper import ArmsSweeper

    params = [f"{k}={v}" for k, v in master.hydra.sweeper.params.items()]
    sweeper = ArmsSweeper(params=dict(master.hydra.sweeper.params), arms=dict(master.hydra.sweeper.arms))
    sweeper.hydra_context, sweeper.config = HydraContext(config_loader=loader, callbacks=None), master
    overrides = OverridesParser.create(config_loader=loader).parse_overrides(params + [f"experiment={name}"])
    return loader, master, sweeper, sweeper.split_arguments(overrides, None)[0]


# ---------------------------------------------------------------- freezing probes


def random_data(n=256, d=20, classes=4, seed=0):
    """Random inputs and labels; the test split is the first 64 training rows."""
    import torch

    from alternating_freeze.data import Data

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return Data(x, y, x[:64], y[:64], classes, "random")


def block_state(model, b):
    """Parameters and buffers (BatchNorm running statistics) of one block, copied."""
    return {k: v.detach().clone() for k, v in model.blocks[b].state_dict().items()}


def changed(a, b):
    """Keys whose tensors differ between two ``block_state`` snapshots."""
    import torch

    return [k for k in a if not torch.equal(a[k], b[k])]


class Recorder:
    """Wraps a strategy: at the start of every step, snapshots every block and records what trains."""

    def __init__(self, strategy, model):
        self.strategy, self.model, self.snaps, self.sets = strategy, model, [], []
        self.optimizer_state, self.freeze_bn_stats = strategy.optimizer_state, strategy.freeze_bn_stats

    def trainable(self, epoch, step):
        self.snaps.append([block_state(self.model, b) for b in range(self.model.n_blocks)])
        self.sets.append(self.strategy.trainable(epoch, step))
        return self.sets[-1]


# ---------------------------------------------------------------- model configs


DIGITS = (1, 8, 8)  # the digits images: one channel of 8x8


def cnn(**kw):
    from alternating_freeze.models import ModelConfig

    return ModelConfig(**{"name": "cnn", "depth": 4, "width": 4, "batchnorm": True, **kw})


def resnet(**kw):
    from alternating_freeze.models import ModelConfig

    return ModelConfig(**{"name": "resnet", "depth": 8, "width": 4, "batchnorm": True, **kw})


# ---------------------------------------------------------------- dataset files


def write_cifar(root, monkeypatch, per_batch=4, n_test=3):
    """Image j (counted over the five batches) is filled with j, except one channel-1 pixel of image 0 at 255;
    torchvision's md5 table is pointed at these files so its integrity check really runs."""
    from torchvision.datasets import CIFAR10

    folder = root / "cifar-10-batches-py"
    folder.mkdir()

    def dump(name, obj):  # Python 3 str keys: torchvision unpickles with encoding="latin1" and reads entry["data"]
        (folder / name).write_bytes(pickle.dumps(obj))
        return [name, hashlib.md5((folder / name).read_bytes()).hexdigest()]

    train = []
    for b in range(5):
        data = np.repeat(np.arange(b * per_batch, (b + 1) * per_batch, dtype=np.uint8), 3072).reshape(per_batch, 3072)
        if b == 0:
            data[0, 1 * 1024 + 2 * 32 + 3] = 255  # channel 1, row 2, column 3 in CIFAR's channel-major rows
        train.append(
            dump(f"data_batch_{b + 1}", {"data": data, "labels": [(b * per_batch + i) % 10 for i in range(per_batch)]})
        )
    test = [dump("test_batch", {"data": np.full((n_test, 3072), 200, np.uint8), "labels": [7] * n_test})]
    meta = dump("batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    monkeypatch.setattr(CIFAR10, "train_list", train)
    monkeypatch.setattr(CIFAR10, "test_list", test)
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": meta[1]})
    return folder


# ---------------------------------------------------------------- hand-written run folders (analysis)

FAST = analysis.Bootstrap(n_resamples=2000)  # the default is 9999; fewer keep the suite quick
METRICS_HEADER = "epoch,step,trained,train_loss,train_acc,test_loss,test_acc,epoch_s,eval_s,elapsed_s,train_flops"


def make_config(
    seed=0,
    strategy="standard",
    unit="batch",
    every=1,
    steps=None,
    depth=3,
    width=32,
    split=None,
    epochs=3,
    lr=0.001,
    dataset="digits",
    subset=None,
    optimizer_state="keep",
):
    """The resolved config tree of one run, as Hydra composes it."""
    if strategy == "standard":
        strat = {"name": "standard"}
    else:
        strat = {
            "name": strategy,
            "unit": unit,
            "every": every,
            "start": "first",
            "steps": steps,
            "optimizer_state": optimizer_state,
            "freeze_bn_stats": True,
        }
    return {
        "seed": seed,
        "dataset": {
            "name": dataset,
            "root": "data",
            "download": False,
            "subset": subset,
            "test_fraction": 0.2,
            "split_seed": 0,
            "standardize": False,
        },
        "model": {"name": "mlp", "depth": depth, "width": width, "batchnorm": False, "dropout": 0.0, "split": split},
        "strategy": strat,
        "optimizer": {
            "name": "adam",
            "lr": lr,
            "betas": [0.9, 0.999],
            "eps": 1e-08,
            "weight_decay": 0.0,
            "momentum": 0.0,
            "nesterov": False,
        },
        "trainer": {
            "epochs": epochs,
            "batch_size": 128,
            "eval_batch_size": 8192,
            "device": "cpu",
            "num_threads": 1,
            "checkpoint": True,
            "progress": "none",
        },
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


def write_run(
    sweep,
    cfg,
    final_acc=0.9,
    *,
    status="completed",
    epoch_s=0.5,
    flops_per_epoch=2e9,
    summary=True,
    epochs_done=None,
    error=None,
    job=None,
):
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
        rows.append(
            f"{e + 1},{(e + 1) * 12},{trained},{losses[e]},{accs[e] - 0.01},{losses[e] + 0.1},{accs[e]},"
            f"{epoch_s},0.05,{elapsed},{int(flops_per_epoch * (e + 1))}"
        )
    if status != "failed" or epochs:
        (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    if summary:
        finite = [x for x in losses if math.isfinite(x)]
        depth = cfg["model"]["depth"]
        s = {
            "status": status,
            "error": error if status != "diverged" else "loss became NaN or infinite",
            "epochs_completed": epochs,
            "final_test_acc": accs[-1] if accs else None,
            "best_test_acc": max(accs) if accs else None,
            "final_train_loss": losses[-1] if losses and math.isfinite(losses[-1]) else None,
            "epochs_to_90pct": next((i + 1 for i, a in enumerate(accs) if a >= 0.9 * accs[-1]), None) if accs else None,
            "loss_std": statistics.pstdev(finite) if len(finite) > 1 else None,
            "train_s": epoch_s * epochs,
            "eval_s": 0.05 * epochs,
            "total_s": elapsed + 1.0,
            "train_flops": int(flops_per_epoch * epochs),
            "train_gflops_per_s": 4.0,
            "seed": cfg["seed"],
            "device": "cpu",
            "resolved": {
                "split": cfg["model"]["split"] or depth // 2,
                "steps": None
                if cfg["strategy"]["name"] == "standard"
                else (cfg["strategy"]["steps"] or [cfg["strategy"]["every"]] * 2),
                "device": "cpu",
                "num_threads": 1,
                "input_dim": 64,
                "num_classes": 10,
                "n_train": 1437,
                "n_test": 360,
                "n_params": 5000,
            },
            "config": cfg,
            "config_hash": contract.config_hash(cfg),
            "overrides": overrides_of(cfg),
            "versions": {"python": "3.11", "torch": "2.5", "alternating_freeze": "0.1.0"},
            "started_at": "2026-11-24T10:00:00+00:00",
            "finished_at": "2026-11-24T10:01:00+00:00",
        }
        if status == "failed":
            s = {
                k: s[k]
                for k in (
                    "status",
                    "error",
                    "seed",
                    "total_s",
                    "config",
                    "config_hash",
                    "overrides",
                    "versions",
                    "started_at",
                    "finished_at",
                )
            }
            (run / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")
        (run / "summary.json").write_text(json.dumps(s, indent=2))
    return run


def write_multirun(sweep, task):
    tree = {
        "hydra": {
            "run": {"dir": "outputs/runs/${now:%Y-%m-%d_%H-%M-%S}"},
            "sweep": {"dir": str(sweep), "subdir": "${hydra.job.override_dirname}"},
            "sweeper": {
                "_target_": "hydra_plugins.af_arms_sweeper.arms_sweeper.ArmsSweeper",
                "max_batch_size": None,
                "params": {"seed": "range(5)"},
                "arms": {"standard": ["strategy=standard"], "batch": ["strategy=alternating", "strategy.every=1,4"]},
            },
            "launcher": {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"},
            "overrides": {"hydra": [f"hydra.sweep.dir={sweep}", "hydra.mode=MULTIRUN"], "task": task},
            "job": {"name": "train"},
        },
        **make_config(),
    }
    Path(sweep).mkdir(parents=True, exist_ok=True)
    (Path(sweep) / "multirun.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))


# Known final test accuracies per configuration and seed.
STANDARD = {0: 0.90, 1: 0.92, 2: 0.91, 3: 0.93, 4: 0.89}
EVERY1 = {0: 0.91, 1: 0.935, 2: 0.905, 3: 0.95, 4: 0.90, 5: 0.97}  # seed 5 has no standard partner
EVERY4 = {0: 0.88, 1: 0.915, 2: 0.90, 3: 0.925, 4: 0.87}
EPOCH1 = {0: 0.86, 1: 0.87, 2: 0.88}


def by_label(frame, label, metric):
    rows = frame[(frame["label"] == label) & (frame["metric"] == metric)]
    assert len(rows) == 1, (label, metric, frame["label"].unique())
    return rows.iloc[0]


def write_val_run(
    root: Path,
    cfg: dict,
    val: list,
    test: list,
    *,
    flops: float = 3e9,
    epoch_s: float = 0.5,
    status: str = "completed",
    job: str = "",
    budget=None,
) -> Path:
    """A run folder as training writes it now: validation columns and the new summary.json keys."""
    if budget is not None:
        cfg = cfg | {"trainer": cfg["trainer"] | {"budget": budget}}
    run = Path(root) / (job or ",".join(sorted(overrides_of(cfg))) + f",lr={cfg['optimizer']['lr']}")
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = [
        {
            "epoch": e + 1,
            "step": 10 * (e + 1),
            "trained": "all",
            "train_loss": 1 / (e + 1),
            "train_acc": 0.5,
            "val_loss": 1.0,
            "val_acc": v,
            "test_loss": 1.0,
            "test_acc": t,
            "epoch_s": epoch_s,
            "eval_s": 0.01,
            "elapsed_s": (e + 1) * epoch_s,
            "train_flops": int(flops * (e + 1)),
            "epoch_cpu_s": epoch_s,
            "threads": 1,
            "gflops_per_s": flops / epoch_s / 1e9,
        }
        for e, (v, t) in enumerate(zip(val, test))
    ]
    (run / "metrics.csv").write_bytes(metrics_csv(rows))
    best = int(np.argmax(val))
    summary = {
        "status": status,
        "error": None,
        "epochs_completed": len(val),
        "final_test_acc": test[-1],
        "best_test_acc": max(test),
        "final_val_acc": val[-1],
        "best_val_acc": val[best],
        "best_val_epoch": best + 1,
        "test_acc_at_best_val": test[best],
        "selection": "val",
        "final_train_loss": 1 / len(val),
        "epochs_to_90pct": 1,
        "loss_std": 0.1,
        "train_s": epoch_s * len(val),
        "train_cpu_s": epoch_s * len(val),
        "eval_s": 0.01,
        "total_s": 1.0,
        "train_flops": int(flops * len(val)),
        "train_gflops_per_s": flops / epoch_s / 1e9,
        "thread_counts": [1],
        "seed": cfg["seed"],
        "device": "cpu",
        "budget_flops": None if budget is None else 9e9,
        "resolved": {
            "split": 1,
            "splits": [1],
            "n_blocks": 2,
            "steps": None,
            "device": "cpu",
            "num_threads": 1,
            "n_train": 100,
            "n_val": 10,
            "n_test": 30,
            "epochs": len(val),
        },
        "config": cfg,
        "overrides": overrides_of(cfg),
        "finished_at": "2026-11-29T10:00:00+00:00",
    }
    (run / "summary.json").write_text(json.dumps(summary))
    return run
