"""A run's config and summary as runs.csv columns: which keys have a column of their own and under what name, the
result keys read from summary.json, and a config flattened into columns with its blocks, label and identity."""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from alternating_freeze import contract as c

from .describe import fmt_value

# Config leaves with a column of their own (``<group>.name``: the group's); any other leaf keeps its dotted path.
SHORT = {
    "dataset": "name subset test_fraction val_fraction split_seed standardize",
    "model": "name depth width batchnorm dropout split splits",
    "strategy": "name unit every steps order start t_0 schedule seed optimizer_state freeze_bn_stats",
    "optimizer": "name lr betas eps weight_decay momentum nesterov",
    "trainer": "epochs batch_size budget",
}
ALIASES = {
    f"{group}.{k}": group if k == "name" else "strategy_seed" if k == "seed" else k
    for group, keys in SHORT.items()
    for k in keys.split()
} | {"seed": "seed"}
GROUPS = tuple(SHORT)
ACCURACIES = c.ACCURACY.keys  # final_test_acc, best_test_acc, final_val_acc, best_val_acc, test_acc_at_best_val
LOSSES = c.LOSS.keys  # the same in loss (nats per character for a text); absent in runs written before them
RESULT_KEYS = (
    *ACCURACIES,
    *LOSSES,
    "best_val_epoch",
    "final_train_loss",
    "epochs_to_90pct",
    "loss_std",
    "train_s",
    "train_cpu_s",
    "eval_s",
    "total_s",
    "train_flops",
    "train_gflops_per_s",
    "budget_flops",
    "batched_with",
    "load_avg_start",
    "load_avg_end",
)
RESOLVED_KEYS = ("n_params", "n_train", "n_val", "n_test", "input_dim", "num_classes", "cores")


def column(key: str) -> str:
    """The runs.csv column of a dotted config key; an element of a list (``optimizer.betas.0``, a tuned
    key) lives in its list's column."""
    key = re.sub(r"\.\d+$", "", key)
    return ALIASES.get(key) or (key if key.split(".")[0] in GROUPS else f"config.{key}")


def scheduler_options(row: dict) -> dict:
    """A runs (or configurations) row's ``scheduler`` options, from its config.scheduler.* columns (a list as the
    JSON its column holds), as contract.schedule_label reads them."""
    prefix = "config.scheduler."
    return {
        k[len(prefix) :]: json.loads(v) if isinstance(v, str) and v.startswith("[") else v
        for k, v in row.items()
        if k.startswith(prefix) and v is not None and v == v  # NaN: an older run without the option
    }


def element(row: dict, key: str):
    """A config key's value in a runs row, an element of a list column for ``optimizer.betas.0``."""
    value, index = row.get(column(key)), re.search(r"\.(\d+)$", key)
    if index and isinstance(value, str) and value.startswith("["):
        value = [float(x) for x in value.strip("[]").split(",") if x.strip()]
    if index and isinstance(value, (list, tuple)):
        return value[int(index.group(1))] if int(index.group(1)) < len(value) else None
    return value


def is_int(value: Any, lowest: int = -(2**63)) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lowest <= value < 2**63


def block_starts(config: dict, resolved: dict) -> Optional[list]:
    """Where the run's blocks 1..K-1 began: ``resolved``'s record, else the config's, else the MLP default."""
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    depth = [model["depth"] // 2] if is_int(model.get("depth")) else None
    return next(
        (
            s
            for s in (resolved.get("splits"), [resolved.get("split")], model.get("splits"), [model.get("split")], depth)
            if isinstance(s, list) and s and None not in s
        ),
        None,
    )


def flatten_config(config: dict, resolved: dict, hidden: tuple = ()) -> dict[str, Any]:
    """The config as columns, the blocks the run used and its configuration's identity and label (its strategy and
    schedule: ``contract.configuration_label``)."""
    tree = c.without_added_defaults(json.loads(json.dumps({k: v for k, v in config.items() if k != "hydra"})))
    flat = c.flatten(tree)
    cols = {
        column(k): json.dumps(v) if isinstance(v, (list, dict)) else v
        for k, v in flat.items()
        if c.affects_results(k) and k not in hidden
    }
    if starts := block_starts(config, resolved):
        cols |= {
            "split": starts[0] if len(starts) == 1 else None,
            "n_blocks": len(starts) + 1,
            "splits": ",".join(map(fmt_value, starts)) if len(starts) > 1 else None,
        }
    steps = (
        resolved["steps"]
        if "steps" in resolved
        else flat.get("strategy.steps")
        or ([flat["strategy.every"]] * cols.get("n_blocks", 2) if "strategy.every" in flat else None)
    )
    strategy = tree.get("strategy")
    if isinstance(strategy, dict) and "name" in strategy:
        cols["steps"] = ":".join(map(fmt_value, steps)) if isinstance(steps, list) and len(steps) > 1 else None
        cols["strategy_label"], said = c.configuration_label(tree)  # the strategy, and a schedule that is not constant
        cols["labelled"] = ",".join(map(column, said))
        if not any(map(c.affects_results, hidden)):
            cols["config_id"] = c.configuration_id(tree, starts)
    return cols
