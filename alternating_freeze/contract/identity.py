"""A configuration, defined once: which keys change results, a run's and a configuration's identity, how a
strategy is named, and what type each recorded value must have. Standard library only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Optional

# Config keys that change how a run executes but not what it computes: left out of the config hash, of the
# analysis' configurations and of sweep folder names (conf/train.yaml's exclude_keys reads this list).
EXECUTION_KEYS = (
    "trainer.device",
    "trainer.num_threads",
    "trainer.progress",
    "trainer.checkpoint",
    "trainer.eval_batch_size",
    "trainer.channels_last",
    "trainer.compile",
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


# The options each schedule's formula reads besides its name and warmup (contract.rates; schedule.SchedulerConfig).
SCHEDULE_OPTIONS = {
    "step": ("milestones", "gamma"),
    "cosine": ("min_lr",),
    "linear": ("min_lr",),
    "onecycle": ("pct_start", "div_factor", "final_div_factor"),
}


def schedule_label(scheduler: Optional[Mapping], full: bool = False) -> tuple[str, tuple[str, ...]]:
    """How a learning-rate schedule is named, and the `scheduler` options that name says: "" for a constant rate
    without warmup (what a run that recorded no scheduler trained at: labels of older runs are unchanged), else
    its name and warmup, ``cosine warmup 0.1``; ``full`` adds the options its formula reads, as the report's
    protocol states it: ``step milestones 0.5:0.75 gamma 0.1``."""
    s = dict(scheduler or {})
    name, warmup = str(s.get("name") or "constant"), s.get("warmup") or 0
    if name == "constant" and not warmup:
        return ("constant" if full else ""), ()
    words = [name, *([f"warmup {text(warmup)}"] if warmup else [])]
    words += [f"{k} {text(s[k])}" for k in SCHEDULE_OPTIONS.get(name, ()) if full and k in s]
    return " ".join(words), ("name", "warmup")


def configuration_label(config: Mapping) -> tuple[str, tuple[str, ...]]:
    """How reports and trackers name a configuration: its strategy's label (``strategy_label``), then its schedule
    where the rate is not constant, ``alternating/batch every 8, cosine warmup 0.1``; and the dotted config keys
    that name says (``strategy.every``, ``scheduler.name``)."""
    strategy, said = strategy_label(config.get("strategy") or {})
    schedule, named = schedule_label(config.get("scheduler"))
    keys = (*(f"strategy.{k}" for k in said), *(f"scheduler.{k}" for k in named))
    return ", ".join(filter(None, [strategy, schedule])), keys


# ---------------------------------------------------------------- the type of a config value read from disk

# What each result-affecting key's value is (a reader checks a recorded config with ``config_problems``); a key not
# listed here must hold a plain value: text, a number, a boolean, null, or a list of those.
KINDS = {
    "number": "optimizer.lr optimizer.eps optimizer.weight_decay optimizer.momentum dataset.test_fraction "
    "dataset.val_fraction strategy.t_0",
    "integer": "seed dataset.subset dataset.split_seed model.depth model.width model.split strategy.every "
    "strategy.count strategy.seed trainer.epochs trainer.batch_size",
    "boolean": "dataset.standardize model.batchnorm optimizer.nesterov strategy.freeze_bn_stats",
    "numbers": "optimizer.betas model.splits",
    "integers": "strategy.steps strategy.always",
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
