"""Human-readable text from config values: run labels, model shapes, figure titles.

Kept apart from loading and plotting so that every table, figure and report names a configuration
the same way, and no title is ever hard-coded.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

# Strategy columns that the base label already shows (see ``strategy_label``).
LABEL_BASE_COLUMNS = ("strategy", "unit", "every", "steps", "order", "t_0", "schedule")


def is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA all mean "this run has no such setting"."""
    if value is None or value is pd.NA:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def fmt_value(value: Any) -> str:
    """A config value as a short string: 4 not 4.0, 0.001 not 1e-03, true/false for booleans."""
    if is_missing(value):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:g}"
    return str(value)


def seeds_text(seeds: Iterable[Any]) -> str:
    """Seeds as "0 1 3" (sorted, space-separated)."""
    return " ".join(str(int(s)) for s in sorted(seeds))


def strategy_label(cfg: Mapping[str, Any]) -> str:
    """The strategy part of a label: "standard", "alternating/batch every 4", "alternating/epoch steps 1:3",
    "alternating/batch every 1 random", "random_block/batch every 2", "progressive/batch linear t_0 0.5"."""
    name = cfg.get("strategy")
    if is_missing(name):
        return "unknown"
    unit, every, steps = cfg.get("unit"), cfg.get("every"), cfg.get("steps")
    if name == "alternating":
        balanced = is_missing(every) or is_missing(steps) or set(str(steps).split(":")) == {fmt_value(every)}
        clock = f"every {fmt_value(every)}" if balanced else f"steps {steps}"
        order = cfg.get("order")
        return f"alternating/{fmt_value(unit)} {clock}" + ("" if is_missing(order) or order == "cyclic" else f" {order}")
    if name == "random_block":
        return f"random_block/{fmt_value(unit)} every {fmt_value(every)}"
    if name == "progressive":
        return f"progressive/{fmt_value(unit)} {fmt_value(cfg.get('schedule'))} t_0 {fmt_value(cfg.get('t_0'))}"
    return str(name)


def model_shape(cfg: Mapping[str, Any]) -> str:
    """E.g. "MLP depth 4 width 256" (plus batchnorm / dropout when used)."""
    name = cfg.get("model")
    text = (str(name).upper() if not is_missing(name) else "model")
    text += f" depth {fmt_value(cfg.get('depth'))} width {fmt_value(cfg.get('width'))}"
    if cfg.get("batchnorm") is True:
        text += " batchnorm"
    dropout = cfg.get("dropout")
    if not is_missing(dropout) and dropout:
        text += f" dropout {fmt_value(dropout)}"
    return text


FLOPS_UNITS = ((1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"))


def flops_unit(values: Iterable[Any]) -> tuple[float, str]:
    """The unit that shows the largest magnitude among ``values`` in 1-999: (1e9, "GFLOP")."""
    vals = [abs(float(v)) for v in values if not is_missing(v) and math.isfinite(float(v))]
    top = max(vals) if vals else 0.0
    return next(((scale, name) for scale, name in FLOPS_UNITS if top >= scale), (1.0, "FLOP"))


def _span(values: Iterable[Any]) -> str:
    vals = sorted({v for v in values if not is_missing(v)}, key=lambda v: (str(type(v)), v))
    if not vals:
        return "-"
    if len(vals) == 1:
        return fmt_value(vals[0])
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return f"{fmt_value(vals[0])}-{fmt_value(vals[-1])}"
    return "/".join(fmt_value(v) for v in vals)


def context(runs: pd.DataFrame) -> dict[str, str]:
    """What a figure or report is about, derived from the runs it shows.

    Returns ``dataset`` ("digits", "mnist (subset 1000)"), ``model`` ("MLP depth 4 width 256", or
    "MLP depth 2-6 width 128" when the runs differ), ``seeds`` ("5 seeds", "3-5 seeds per
    configuration"), ``epochs`` and ``title`` (all of them joined).
    """
    if runs.empty or "dataset" not in runs or runs["dataset"].isna().all():
        return {"dataset": "unknown dataset", "model": "unknown model", "seeds": "0 seeds", "epochs": "",
                "title": "no run with a readable config"}
    col = lambda name: runs[name] if name in runs else pd.Series([None] * len(runs))  # noqa: E731
    datasets = []
    pairs = {(None if is_missing(d) else d, None if is_missing(s) else s)  # NaN != NaN: one entry per run
             for d, s in zip(col("dataset"), col("subset"))}
    for name, subset in pairs:
        text = fmt_value(name)
        if not is_missing(subset):
            text += f" (subset {fmt_value(subset)})"
        datasets.append(text)
    dataset = ", ".join(sorted(datasets))
    shapes = {model_shape(r) for r in runs.to_dict("records")}
    if len(shapes) == 1:
        model = shapes.pop()
    else:
        name = _span(col("model"))
        model = f"{name.upper()} depth {_span(col('depth'))} width {_span(col('width'))}"
    if "config_id" in runs and "seed" in runs:
        counts = runs.groupby("config_id")["seed"].nunique()
        lo, hi = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
    else:
        lo = hi = int(col("seed").nunique())
    seeds = f"{hi} seed{'s' if hi != 1 else ''}" if lo == hi else f"{lo}-{hi} seeds"
    if "config_id" in runs and runs["config_id"].nunique() > 1:
        seeds += " per configuration"
    epochs = f"{_span(col('epochs'))} epochs"
    return {"dataset": dataset, "model": model, "seeds": seeds, "epochs": epochs,
            "title": f"{dataset}, {model}, {epochs}, {seeds}"}
