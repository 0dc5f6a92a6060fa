"""A run folder's files, defined once: their names, metrics.csv's columns, the statuses summary.json can say,
the ``trained`` column, and reading a run's summary and metrics. Standard library only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "checkpoint.pt"
WEIGHTS_FILE = "weights.pt"  # a completed run's final weights (records.load_weights)
ERROR_FILE = "error.txt"
LOG_FILE = "train.log"
CONFIG_FILE = ".hydra/config.yaml"
OVERRIDES_FILE = ".hydra/overrides.yaml"
MULTIRUN_FILE = "multirun.yaml"
TUNING_FILE = "tuning.json"  # a tuned sweep's trials and choices, at the top of the sweep folder
LOCK_FILE = ".lock"  # held by the process running the job (fcntl), with its pid and host

# metrics.csv, one row per finished epoch, in this column order. ``nan`` is a value that does not
# exist (val_* without a validation split; the losses of a diverged epoch).
METRICS_COLUMNS = (
    "epoch",
    "step",
    "trained",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "epoch_s",
    "eval_s",
    "elapsed_s",
    "train_flops",
    "epoch_cpu_s",
    "threads",
    "gflops_per_s",
    "lr",  # the rate at the epoch's last step: optimizer.lr x the scheduler's factor
    "block_lrs",  # each block's rate then, ":"-joined, where the strategy scales blocks (FreezeOut); else empty
)
# The columns of the first version; a reader requires these and fills any later one with NaN.
REQUIRED_COLUMNS = (
    "epoch",
    "step",
    "trained",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "epoch_s",
    "eval_s",
    "elapsed_s",
    "train_flops",
)
TEXT_COLUMNS = ("trained", "block_lrs")
# Measurements of the machine, not of the computation: they differ between identical runs.
TIMING_COLUMNS = ("epoch_s", "eval_s", "elapsed_s", "epoch_cpu_s", "gflops_per_s")

# An unloaded process keeps its threads busy (torch's spin; measured 0.95-1.03 here); a starved one waits for a
# core: CPU seconds under this share of wall seconds x threads. A run's log line and the analysis both judge by it.
STARVED_SHARE = 0.6

COMPLETED, DIVERGED, FAILED = "completed", "diverged", "failed"
RUN_STATUSES = (COMPLETED, DIVERGED, FAILED)  # what summary.json can say
TERMINAL = (COMPLETED, DIVERGED)  # statuses a resumed sweep does not run again

# ---------------------------------------------------------------- the `trained` column

ALL_BLOCKS = "all"
# Two-half runs wrote these before blocks were numbered; they mean blocks 0 and 1.
LEGACY_TRAINED = {"first": "0", "second": "1", "first+second": "0+1"}


def trained_label(steps: Iterable[frozenset], n_blocks: int) -> str:
    """What trained during an epoch, from the trainable sets of its steps: ``all`` when every
    step trained every block, else the blocks that trained at some step, joined by ``+``."""
    steps = set(steps)
    if steps and all(len(s) == n_blocks for s in steps):
        return ALL_BLOCKS
    return "+".join(str(b) for b in sorted(set().union(*steps)))


def parse_trained(label: str) -> Optional[frozenset]:
    """The blocks of a ``trained`` label (None for ``all``); the two-half names are read as 0 and 1."""
    label = LEGACY_TRAINED.get(label, label)
    if label == ALL_BLOCKS:
        return None
    return frozenset(int(b) for b in label.split("+"))


# ---------------------------------------------------------------- reading and writing a run's records


def read_summary(run_dir: Path | str) -> Optional[dict]:
    """A run's summary.json as a dict, or None when it is missing or not a JSON object."""
    try:
        data = json.loads((Path(run_dir) / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def metrics_rows(run_dir: Path | str) -> Optional[int]:
    """How many epochs a run's metrics.csv holds (lines after the header), or None without one."""
    try:
        with open(Path(run_dir) / METRICS_FILE, "rb") as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except OSError:
        return None


def agrees(run_dir: Path | str, summary: dict) -> bool:
    """Whether summary.json and metrics.csv describe the same epochs (a summary is written last,
    so a disagreement means something else wrote into the folder)."""
    return metrics_rows(run_dir) == summary.get("epochs_completed")


def metrics_csv(rows: Iterable[dict]) -> bytes:
    """metrics.csv's bytes: the header, then one line per epoch (floats at full precision). A column a row lacks
    (an epoch trained before the column existed, then resumed) is ``nan``: a value that does not exist."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS, lineterminator="\n", extrasaction="ignore", restval="nan")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()
