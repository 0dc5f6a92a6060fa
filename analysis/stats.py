"""Statistics across seeds, per configuration: mean, spread and confidence interval of the mean. One function computes
every interval (``bootstrap_ci``), for the tables and as seaborn's ``errorbar`` for the figures' bands and bars."""

from __future__ import annotations

import functools
import inspect
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats as st

from alternating_freeze.contract import ACCURACY

from .describe import counted, fmt_value, is_missing
from .loading import BLOCKS, context_columns, key_columns
from .measures import of_runs, stats_metrics
from .tuning import OUTSIDE_VERDICT

METRICS = stats_metrics(ACCURACY)  # a classification's; the first, the headline, is summarised even without a value
TIMED = ("train_s",)  # measurements of the machine: only runs whose timing is trusted count (``speed``)
MIN_SEEDS = 5  # fewer completed seeds than this per configuration is warned about
CI_METHODS = {"percentile": "percentile", "bca": "BCa"}
ORDER = (
    "strategy",
    "unit",
    "n_blocks",
    "every",
    "steps",
    "order",
    "schedule",
    "t_0",
    "start",
    "strategy_seed",
    "optimizer_state",
    "freeze_bn_stats",
)


@dataclass(frozen=True)
class Bootstrap:
    """scipy.stats.bootstrap's settings; percentile by default: at 3-10 seeds BCa's own correction is too noisy."""

    confidence: float = 0.95
    method: str = "percentile"
    n_resamples: int = 9999
    seed: int = 0

    def __post_init__(self) -> None:
        if str(self.method).lower() not in CI_METHODS:
            raise ValueError(f"method={self.method!r}: allowed are {', '.join(CI_METHODS.values())}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence!r}: must lie strictly between 0 and 1")
        if int(self.n_resamples) < 1:
            raise ValueError(f"n_resamples={self.n_resamples!r}: must be at least 1")

    @property
    def scipy_method(self) -> str:
        return CI_METHODS[self.method.lower()]

    def describe(self) -> str:
        return (
            f"{self.confidence:.0%} {self.scipy_method} bootstrap confidence interval of the mean over seeds "
            f"(scipy.stats.bootstrap, {self.n_resamples} resamples, seed {self.seed})"
        )

    def interval(self, values: Any) -> tuple[float, float]:
        """``bootstrap_ci`` with these settings: the ``errorbar`` of every seaborn plot."""
        return bootstrap_ci(values, self)


DEFAULT = Bootstrap()
_RNG = "rng" if "rng" in inspect.signature(st.bootstrap).parameters else "random_state"


def finite(values: Any) -> np.ndarray:
    """The finite numbers among ``values`` as float64 (missing, unparsable and infinite left out)."""
    x = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("float64").to_numpy()
    return x[np.isfinite(x)]


def bootstrap_ci(values: Sequence[float], boot: Bootstrap = DEFAULT) -> tuple[float, float]:
    """CI of the *mean* (not of single runs), from a fresh ``default_rng(boot.seed)``: the same in any order."""
    return _bootstrap(tuple(finite(values)), boot)


@functools.lru_cache(maxsize=1 << 16)  # a figure asks again for intervals the tables computed
def _bootstrap(x: tuple, boot: Bootstrap) -> tuple[float, float]:
    if len(set(x)) < 2:
        return (x[0], x[0]) if len(x) > 1 else (math.nan, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = st.bootstrap(
            (np.array(x),),
            np.mean,
            vectorized=True,
            n_resamples=boot.n_resamples,
            confidence_level=boot.confidence,
            method=boot.scipy_method,
            **{_RNG: np.random.default_rng(boot.seed)},
        )
    lo, hi = map(float, res.confidence_interval)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa's jackknife degenerated: the percentile interval
        return _bootstrap(x, Bootstrap(boot.confidence, "percentile", boot.n_resamples, boot.seed))
    return lo, hi


def t_interval(values: Any, confidence: float = DEFAULT.confidence) -> tuple[float, float]:
    """mean ± t(n-1) sd/sqrt(n): it allows for the sd's own uncertainty, the honest interval at 2-5 seeds."""
    x = finite(values)
    if x.size < 2:
        return math.nan, math.nan
    half = float(st.t.ppf(0.5 + confidence / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return float(x.mean()) - half, float(x.mean()) + half


def estimate(values: Any, boot: Bootstrap = DEFAULT) -> dict[str, float]:
    """n, mean, std (ddof=1), the bootstrap CI and t-interval of the mean, min and max of the finite ``values``."""
    x = finite(values)
    some, nan = x.size > 0, math.nan
    return {
        "n": x.size,
        "mean": x.mean() if some else nan,
        "std": x.std(ddof=1) if x.size > 1 else nan,
        **dict(
            zip(
                ("ci_low", "ci_high", "t_ci_low", "t_ci_high"),
                (*bootstrap_ci(x, boot), *t_interval(x, boot.confidence)),
            )
        ),
        "min": x.min() if some else nan,
        "max": x.max() if some else nan,
    }


def _sort_key(value: Any) -> tuple:
    """Numbers by value, lists of numbers ("1,2,3", "1:1") element by element, then text."""
    if is_missing(value) or isinstance(value, (bool, np.bool_, int, float, np.number)):
        return (0, ()) if is_missing(value) else (1, (float(value),))
    try:
        return (1, tuple(float(p) for p in re.split("[,:]", str(value))))
    except ValueError:
        return (2, (str(value),))


def context_keys(table: pd.DataFrame) -> list[str]:
    """The context columns that tell contexts apart (not a tuned sweep's tuned keys, which vary within one)."""
    same = table.groupby("context_id").nunique(dropna=False)  # a key set in one context, absent in another, counts
    return [c for c in context_columns(table.columns) if table[c].nunique(dropna=False) > 1 and (same[c] <= 1).all()]


def configurations(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (trials aside) in reading order: by context, standard first, then by schedule."""
    known, keys = runs[runs["config_id"].notna() & ~runs["role"].isin(OUTSIDE_VERDICT)], key_columns(runs)
    table = known.drop_duplicates("config_id")[
        ["config_id", "label", "strategy_label", "context_id", "n_blocks", *keys]
    ].assign(_alt=lambda t: t["strategy"] != "standard")
    ctx = context_keys(table)
    order = [
        *ctx,
        "context_id",
        "_alt",
        *(c for c in ORDER if c in table),
        *(c for c in keys if c not in (*ctx, *ORDER, *BLOCKS)),
        *(b for b in BLOCKS if b in table),
    ]
    ranks = [tuple(map(_sort_key, r)) for r in table[order].itertuples(index=False)]
    return table.iloc[sorted(range(len(table)), key=ranks.__getitem__)].drop(columns="_alt").reset_index(drop=True)


def context_names(configs: pd.DataFrame) -> dict[str, str]:
    """context_id -> what tells it from the other contexts: "depth=4" ("" when there is one context)."""
    ctx = context_keys(configs)
    names = {r["context_id"]: ", ".join(f"{c}={fmt_value(r[c])}" for c in ctx) for r in configs.to_dict("records")}
    if len(set(names.values())) < len(names):  # told apart by what no column shows (a FLOP budget): name the id
        names = {k: ", ".join(filter(None, [v, f"context {k[:6]}"])) for k, v in names.items()}
    return names


def summarize(
    runs: pd.DataFrame,
    metrics: Optional[Sequence[str]] = None,
    boot: Bootstrap = DEFAULT,
    configs: Optional[pd.DataFrame] = None,
) -> pd.DataFrame:
    """``estimate`` per configuration and metric over its completed seeds (``train_s``: only trusted timings);
    ``metrics``: by default those of the runs' objective (``measures.stats_metrics``)."""
    configs = configurations(runs) if configs is None else configs
    metrics = stats_metrics(of_runs(runs)) if metrics is None else metrics
    metrics = [m for i, m in enumerate(metrics) if i == 0 or m in runs and runs[m].notna().any()]
    out = []
    for cfg in configs.to_dict("records"):
        mine = runs[(runs["config_id"] == cfg["config_id"]) & ~runs["role"].isin(OUTSIDE_VERDICT)]
        done = mine[mine["in_stats"]]
        dup = int((mine["status"].eq("completed") & ~mine["in_stats"]).sum())
        excluded = ", ".join(
            filter(None, [counted(mine.loc[mine["status"] != "completed", "status"]), f"{dup} duplicate" * bool(dup)])
        )
        out += [
            {
                "config_id": cfg["config_id"],
                "label": cfg["label"],
                "metric": metric,
                **estimate(done.loc[done["timing_ok"], metric] if metric in TIMED else done[metric], boot),
                "n_runs": len(mine),
                "n_excluded": len(mine) - len(done),
                "excluded": excluded,
                **{c: v for c, v in cfg.items() if c not in ("config_id", "label")},
            }
            for metric in metrics
        ]
    return pd.DataFrame.from_records(
        out,
        columns=[
            "config_id",
            "label",
            "metric",
            "n",
            "mean",
            "std",
            "ci_low",
            "ci_high",
            "t_ci_low",
            "t_ci_high",
            "min",
            "max",
            "n_runs",
            "n_excluded",
            "excluded",
            *configs.columns[2:],
        ],
    )
