"""Text from values: every table, figure, warning and report says a number, a list or a unit the same way, and
its prose comes from ``report.md.tmpl`` (string.Template, one section per ``%% name`` line)."""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from string import Template
from typing import Any, Iterable

import numpy as np
import pandas as pd

MAX_LISTED = 10  # longer lists of runs or configurations end in "..."


@functools.cache
def sections() -> dict[str, Template]:
    parts = re.split(r"^%% (\w+)\n", Path(__file__).with_name("report.md.tmpl").read_text("utf-8"), flags=re.M)
    return {name: Template(text.strip("\n")) for name, text in zip(parts[1::2], parts[2::2])}


def say(section: str, **values: Any) -> str:
    """The template's ``section`` with ``values`` filled in."""
    return sections()[section].substitute(values)


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


def counted(values: pd.Series) -> str:
    """ "2 diverged, 1 failed": each value with how often it occurs, most frequent first."""
    return ", ".join(f"{n} {v}" for v, n in values.value_counts().items())


def family(label: str) -> str:
    """The arm family of a label: "alternating/batch", "progressive/batch", "standard"."""
    return re.split("[ ,]", str(label))[0]


def flops_unit(values: Iterable[Any]) -> tuple[float, str]:
    """The unit that shows the largest of ``values`` in 1-999: (1e9, "GFLOP")."""
    top = max((abs(float(v)) for v in values if not is_missing(v) and math.isfinite(float(v))), default=0.0)
    return next(
        ((s, n) for s, n in ((1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")) if top >= s),
        (1.0, "FLOP"),
    )
