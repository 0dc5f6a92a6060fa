"""Text from config values (labels, numbers, the sweep in one line): every table, figure and report names a
configuration the same way, and no name is hard-coded."""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

LABEL_BASE_COLUMNS = ("strategy", "unit", "every", "steps", "order", "t_0", "schedule")  # in ``strategy_label``
MAX_LISTED = 10  # longer lists of runs or configurations end in "..."


def is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA all mean "this run has no such setting"."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def fmt_value(value: Any) -> str:
    """A config value as a short string: 4 not 4.0, 0.001 not 1e-03, true/false for booleans."""
    if is_missing(value) or isinstance(value, (bool, np.bool_)):
        return "-" if is_missing(value) else str(bool(value)).lower()
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e6 else f"{float(value):g}"
    return str(int(value)) if isinstance(value, np.integer) else str(value)


def seeds_text(seeds: Iterable[Any]) -> str:
    return " ".join(str(int(s)) for s in sorted(seeds))


def listing(items: Iterable[Any]) -> str:
    """Items joined by "; " (labels contain commas), the first MAX_LISTED of them."""
    items = list(map(str, items))
    return "; ".join(items[:MAX_LISTED]) + "; ..." * (len(items) > MAX_LISTED)


def strategy_label(cfg: Mapping[str, Any]) -> str:
    """"standard", "alternating/batch every 4", "alternating/epoch steps 1:3", "alternating/batch every 1
    random", "random_block/batch every 2", "progressive/batch linear t_0 0.5"."""
    name, unit, every, steps, order = (cfg.get(k) for k in ("strategy", "unit", "every", "steps", "order"))
    if name == "alternating":
        balanced = is_missing(every) or is_missing(steps) or set(str(steps).split(":")) == {fmt_value(every)}
        return (f"alternating/{fmt_value(unit)} " + (f"every {fmt_value(every)}" if balanced else f"steps {steps}")
                + ("" if is_missing(order) or order == "cyclic" else f" {order}"))
    if name == "random_block":
        return f"random_block/{fmt_value(unit)} every {fmt_value(every)}"
    if name == "progressive":
        return f"progressive/{fmt_value(unit)} {fmt_value(cfg.get('schedule'))} t_0 {fmt_value(cfg.get('t_0'))}"
    return "unknown" if is_missing(name) else str(name)


def family(label: str) -> str:
    """The arm family of a label: "alternating/batch", "progressive/batch", "standard"."""
    return re.split("[ ,]", str(label))[0]


def blocks_text(row: Mapping[str, Any], with_k: bool) -> str:
    """Where blocks begin: "split=2", "splits=1,3", led by "K=3 " when the number of blocks varies."""
    text = f"splits={row['splits']}" if not is_missing(row.get("splits")) else \
        f"split={fmt_value(row['split'])}" if not is_missing(row.get("split")) else ""
    return f"K={fmt_value(row.get('n_blocks'))} {text}" if text and with_k else text


def flops_unit(values: Iterable[Any]) -> tuple[float, str]:
    """The unit that shows the largest of ``values`` in 1-999: (1e9, "GFLOP")."""
    top = max((abs(float(v)) for v in values if not is_missing(v) and math.isfinite(float(v))), default=0.0)
    return next(((s, n) for s, n in ((1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")) if top >= s),
                (1.0, "FLOP"))


def _span(values: pd.Series) -> str:
    vals = sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))
    if len(vals) > 3 and all(isinstance(v, (int, float, np.number)) for v in vals):
        return f"{fmt_value(vals[0])}-{fmt_value(vals[-1])}"
    return "/".join(map(fmt_value, vals)) or "-"


def context(runs: pd.DataFrame) -> str:
    """The runs in one line: "digits, MLP depth 4/6 width 128, 20 epochs, 5 seeds per configuration"."""
    if runs.empty or "dataset" not in runs or runs["dataset"].isna().all():
        return "no run with a readable config"
    col = lambda name: runs[name] if name in runs else pd.Series([None] * len(runs), dtype=object)  # noqa: E731
    data = col("dataset").astype(str) + col("subset").map(lambda s: "" if is_missing(s) else f" (subset {s})")
    counts = runs.groupby("config_id")["seed"].nunique()
    lo, hi = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
    return (f"{', '.join(sorted(data.unique()))}, {_span(col('model')).upper()} depth {_span(col('depth'))} width "
            f"{_span(col('width'))}{' batchnorm' * bool(col('batchnorm').eq(True).all())}, {_span(col('epochs'))} "
            f"epochs, " + (f"{hi} seed{'s' * (hi != 1)}" if lo == hi else f"{lo}-{hi} seeds")
            + " per configuration" * (runs["config_id"].nunique() > 1))
