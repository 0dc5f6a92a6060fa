"""The results on disk, defined once: file names, columns, statuses and the atomic writes.

Training writes these files and the analysis reads them, so both import this module; it uses the
standard library only (importing it pulls in neither torch nor pandas). Names and columns are
stable: a column is only ever added, and readers treat the ones added since the first version as
optional, so that old run folders stay readable. See README, "Results on disk".
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable, Optional

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

# Config keys that change how a run executes but not what it computes: left out of the config hash, of the
# analysis' configurations and of sweep folder names (conf/train.yaml's exclude_keys reads this list).
EXECUTION_KEYS = (
    "trainer.device",
    "trainer.num_threads",
    "trainer.progress",
    "trainer.checkpoint",
    "trainer.eval_batch_size",
    "trainer.channels_last",
    "trainer.allow_untrained",
    "trainer.keep_weights",
    "dataset.root",
    "dataset.download",
)
EXECUTION_GROUPS = ("logger",)  # whole top-level groups of that kind (experiment trackers)
# Result-affecting keys added after runs were written, with the value that computes what runs without the key
# computed: at that value a key counts as absent (in the config hash and in the analysis), so older run folders
# resume and compare as the same configuration. A key added later goes here with its neutral default; a whole
# group added later goes here as {key: value} of the options that make it neutral (the others are then unused).
ADDED_AT = {
    "trainer.precision": "fp32",
    "dataset.augment": "none",
    "model.stages": None,
    "trainer.steps_per_epoch": None,
    "dataset.path": None,
    "model.init_from": None,
    **{f"model.{key}": None for key in ("n_layer", "n_head", "n_embd", "block_size", "bias", "tie_weights")},  # gpt
    "scheduler": {"name": "constant", "warmup": 0.0},
}


# ---------------------------------------------------------------- a configuration: keys, identity, label


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"depth": 3}}`` -> ``{"model.depth": 3}``: the one flattening of a config. Lists (and empty
    mappings) stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def affects_results(key: str) -> bool:
    """Whether a dotted config key can change what a run computes (execution keys and Hydra's own cannot)."""
    return key not in EXECUTION_KEYS and key.split(".")[0] not in (*EXECUTION_GROUPS, "hydra")


def without_added_defaults(tree: dict) -> dict:
    """``tree`` (a config as nested dicts) without the ``ADDED_AT`` keys that hold their neutral value."""
    for key, neutral in ADDED_AT.items():
        if "." not in key:  # a group: absent when its deciding options hold their neutral values
            if isinstance(tree.get(key), dict) and all(tree[key].get(k) == v for k, v in neutral.items()):
                del tree[key]
            continue
        group, leaf = key.split(".")
        if isinstance(tree.get(group), dict) and leaf in tree[group] and tree[group][leaf] == neutral:
            del tree[group][leaf]
    return tree


def result_tree(config: Mapping) -> dict:
    """A config (plain nested values, resolved) without what cannot change its results: a copy."""
    tree = json.loads(json.dumps(config))
    for key in EXECUTION_KEYS:
        group, leaf = key.split(".")
        if isinstance(tree.get(group), dict):
            tree[group].pop(leaf, None)
    for group in (*EXECUTION_GROUPS, "hydra"):
        tree.pop(group, None)
    return without_added_defaults(tree)


def config_hash(config: Mapping) -> str:
    """Identity of what a run computes, seed included: two runs with equal hashes produce the same results."""
    return hashlib.sha256(json.dumps(result_tree(config), sort_keys=True).encode()).hexdigest()[:16]


def configuration_id(config: Mapping, block_starts: Optional[list] = None) -> str:
    """Identity of a configuration: what its runs compute, the seed aside (``config_hash`` without it), with the
    blocks as the run built them (``block_starts``, e.g. summary.json's ``resolved.splits``). Standard training
    trains every block at once, so where blocks begin, and a FLOP budget of "standard", do not change it."""
    tree = result_tree(config)
    tree.pop("seed", None)
    model, trainer = tree.get("model") or {}, tree.get("trainer") or {}
    if isinstance(model, dict) and block_starts is not None:
        model.pop("split", None)
        model["splits"] = list(block_starts)
    if isinstance(tree.get("strategy"), dict) and tree["strategy"].get("name") == "standard":
        for key in ("split", "splits") if isinstance(model, dict) else ():
            model.pop(key, None)
        if isinstance(trainer, dict) and trainer.get("budget") == "standard":
            trainer["budget"] = None
    return hashlib.sha1(json.dumps(tree, sort_keys=True, default=str).encode()).hexdigest()[:10]


def text(value: Any) -> str:
    """A config value in a label: 4 not 4.0, 0.001 not 1e-03, true/false, lists as 1:3."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e6 else f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ":".join(map(text, value))
    return str(value)


# Options that say how a strategy trains rather than which schedule it is: left out of its label.
UNLABELLED = ("name", "unit", "seed", "start", "optimizer_state", "freeze_bn_stats")


def strategy_label(strategy: Mapping) -> tuple[str, tuple[str, ...]]:
    """How reports, trackers and logs name a strategy configuration, and the options that name says:
    ``standard``, ``alternating/batch every 4``, ``alternating/epoch steps 1:3 reverse``,
    ``progressive/batch linear t_0 0.5``. A strategy without wording of its own here is named by its unit and
    every option but the ``UNLABELLED`` ones (``lisa/batch count 2 every 5``): a new strategy shows up in
    reports as it is, and a reader of a report can tell its settings apart."""
    s = dict(strategy)
    name, unit = str(s.get("name")), s.get("unit")
    head = name if unit is None else f"{name}/{text(unit)}"
    if name == "standard":
        return name, ("name",)
    if name == "alternating":
        steps, every = s.get("steps"), s.get("every")
        balanced = steps is None or every is None or {text(x) for x in steps} == {text(every)}
        words = [f"every {text(every)}" if balanced else f"steps {text(steps)}"]
        words += [] if s.get("order") in (None, "cyclic") else [text(s["order"])]
        return " ".join([head, *words]), ("name", "unit", "every", "steps", "order")
    if name == "progressive":
        return f"{head} {text(s.get('schedule'))} t_0 {text(s.get('t_0'))}", ("name", "unit", "schedule", "t_0")
    said = [k for k, v in s.items() if k not in UNLABELLED and v is not None]
    return " ".join([head, *(f"{k} {text(s[k])}" for k in said)]), ("name", "unit", *said)


# ---------------------------------------------------------------- tuning: one rule each for training and analysis

RANGED = ("log_uniform", "uniform", "int")  # search-space distributions with a range (tuning.json's "space")
BOUNDARY = 0.05  # a choice within this fraction of either end of its range may have a better value beyond it


def valid_score(metric: str, value: Any) -> bool:
    """Whether a trial's score can be selected on: a finite number (never a bool), and for an accuracy
    (``*_acc``) within [0, 1]. Anything else counts as a failed trial, at the metric's worst value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return not str(metric).endswith("_acc") or 0.0 <= value <= 1.0


def boundary_side(distribution: str, lo: float, hi: float, value: float) -> Optional[str]:
    """ "low" or "high" when ``value`` lies within the outer ``BOUNDARY`` of [lo, hi] (on a log scale for
    log_uniform), else None: the Playbook's check that the best point is not at the edge of the search space."""
    if distribution not in RANGED or not hi > lo or (distribution == "log_uniform" and min(lo, value) <= 0):
        return None
    f = math.log if distribution == "log_uniform" else float
    at = (f(value) - f(lo)) / (f(hi) - f(lo))
    return "low" if at < BOUNDARY else "high" if at > 1 - BOUNDARY else None


# ---------------------------------------------------------------- the type of a config value read from disk

# What each result-affecting key's value is (a reader checks a recorded config with ``config_problems``); a key not
# listed here must hold a plain value: text, a number, a boolean, null, or a list of those.
KINDS = {
    "number": "optimizer.lr optimizer.eps optimizer.weight_decay optimizer.momentum dataset.test_fraction "
    "dataset.val_fraction strategy.t_0",
    "integer": "seed dataset.subset dataset.split_seed model.depth model.width model.split strategy.every "
    "strategy.seed trainer.epochs trainer.batch_size",
    "boolean": "dataset.standardize model.batchnorm optimizer.nesterov strategy.freeze_bn_stats",
    "numbers": "optimizer.betas model.splits",
    "integers": "strategy.steps",
}
_CHECKS = {
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "plain": lambda v: v is None or isinstance(v, (str, int, float, bool)),
}
_CHECKS |= {
    "numbers": lambda v: isinstance(v, list) and all(map(_CHECKS["number"], v)),
    "integers": lambda v: isinstance(v, list) and all(map(_CHECKS["integer"], v)),
}
KIND = {key: kind for kind, keys in KINDS.items() for key in keys.split()}


def config_problems(config: Mapping) -> list[str]:
    """The result-affecting values of a recorded config that are not of their key's kind (``optimizer.lr="fast"``)."""
    out = []
    for key, value in flatten(config).items():
        if not affects_results(key) or (value is None and key in KIND):
            continue
        kind = KIND.get(key, "plain")
        plain = isinstance(value, list) and all(map(_CHECKS["plain"], value))
        if not (_CHECKS[kind](value) or (kind == "plain" and plain)):
            out.append(
                f"config: {key}={value!r:.40} is not {'a list of ' if kind.endswith('s') else 'a'} {kind.rstrip('s')}"
            )
    return out


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


class LinkRefused(OSError):
    """A symbolic link where the harness would write: its message is the one line."""

    def __str__(self) -> str:
        return str(self.strerror)


def refuse_link(path: Path | str) -> None:
    """Refuse ``path`` in one line when it is a symbolic link: nothing in a sweep is written through a link
    (a planted one would have the harness change a file outside the sweep folder)."""
    if Path(path).is_symlink():
        raise LinkRefused(errno.ELOOP, f"{path} is a symbolic link; nothing is written through links: remove it")


def open_nofollow(path: Path | str, flags: int, mode: int = 0o666) -> int:
    """``os.open`` for every file the harness writes or truncates inside a sweep in place (locks, counters):
    a link at ``path`` is refused (``refuse_link``'s line), never followed."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            refuse_link(path)
        raise


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
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, LinkRefused) and not e.filename:  # a full disk: say which
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
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
    """metrics.csv's bytes: the header, then one line per epoch (floats at full precision). A column a row lacks
    (an epoch trained before the column existed, then resumed) is ``nan``: a value that does not exist."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS, lineterminator="\n", extrasaction="ignore", restval="nan")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()
