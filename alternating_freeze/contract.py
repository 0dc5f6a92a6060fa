"""The results on disk, defined once: file names, columns, statuses and the atomic writes.

Training writes these files and the analysis reads them, so both import this module; it uses the
standard library only (importing it pulls in neither torch nor pandas). Names and columns are
stable: a column is only ever added, and readers treat the ones added since the first version as
optional, so that old run folders stay readable. See README, "Results on disk".
"""
from __future__ import annotations

import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional

SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "checkpoint.pt"
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
    "epoch", "step", "trained", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "epoch_s", "eval_s", "elapsed_s", "train_flops", "epoch_cpu_s", "threads", "gflops_per_s",
)
# The columns of the first version; a reader requires these and fills any later one with NaN.
REQUIRED_COLUMNS = (
    "epoch", "step", "trained", "train_loss", "train_acc", "test_loss", "test_acc",
    "epoch_s", "eval_s", "elapsed_s", "train_flops",
)
TEXT_COLUMNS = ("trained",)
# Measurements of the machine, not of the computation: they differ between identical runs.
TIMING_COLUMNS = ("epoch_s", "eval_s", "elapsed_s", "epoch_cpu_s", "gflops_per_s")

COMPLETED, DIVERGED, FAILED = "completed", "diverged", "failed"
RUN_STATUSES = (COMPLETED, DIVERGED, FAILED)  # what summary.json can say
TERMINAL = (COMPLETED, DIVERGED)  # statuses a resumed sweep does not run again

# Config keys that change how a run executes but not what it computes: left out of the config
# hash, of the analysis' configurations and of sweep folder names (conf/train.yaml lists them too).
EXECUTION_KEYS = ("trainer.device", "trainer.num_threads", "trainer.progress", "trainer.checkpoint",
                  "trainer.eval_batch_size", "trainer.channels_last", "dataset.root", "dataset.download")
EXECUTION_GROUPS = ("logger",)  # whole top-level groups of that kind (experiment trackers)
# Result-affecting keys added after runs were written, with the value that computes what runs without the key
# computed: at that value a key counts as absent (in the config hash and in the analysis), so older run folders
# resume and compare as the same configuration. A key added later goes here with its neutral default.
ADDED_AT = {"trainer.precision": "fp32", "dataset.augment": "none", "model.stages": None}


def without_added_defaults(tree: dict) -> dict:
    """``tree`` (a config as nested dicts) without the ``ADDED_AT`` keys that hold their neutral value."""
    for key, neutral in ADDED_AT.items():
        group, leaf = key.split(".")
        if isinstance(tree.get(group), dict) and leaf in tree[group] and tree[group][leaf] == neutral:
            del tree[group][leaf]
    return tree

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


# ---------------------------------------------------------------- atomic writes


def write_atomic(path: Path | str, data: bytes, durable: bool = True) -> None:
    """Write through a temporary file in the same folder and ``os.replace``: a killed writer never
    leaves a file that looks complete. ``durable``: fsync the file before the rename and the folder
    after it, so that the file survives a crash of the machine too. Permissions follow the umask,
    as for any new file (mkstemp's 0600 would hide results from collaborators)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        try:  # the rename itself; some filesystems cannot open or fsync a folder, and the file is in place
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError:
            pass


TEMPORARY = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")  # write_atomic's temporary files


def remove_temporaries(folder: Path | str) -> int:
    """Delete the temporary files that writes killed mid-way left in ``folder`` (a checkpoint's are
    megabytes each); only the holder of the folder's job lock calls this, so none is in use."""
    removed = 0
    for path in Path(folder).iterdir() if Path(folder).is_dir() else ():
        if TEMPORARY.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def finite(obj: Any) -> Any:
    """NaN and inf are not JSON: they become null (a diverged run's losses)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_json(path: Path | str, obj: Any, durable: bool = True) -> None:
    write_atomic(path, (json.dumps(finite(obj), indent=2, default=str) + "\n").encode(), durable)


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
    """metrics.csv's bytes: the header, then one line per epoch (floats at full precision)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()
