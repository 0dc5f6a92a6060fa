"""Statistics across seeds, per configuration: mean, spread and confidence interval of the mean.

Only runs with ``in_stats`` (completed, known config, not a duplicate) count. Every interval is a
bootstrap confidence interval *of the mean over seeds* (not of single runs): with the fixed
``Bootstrap.seed`` it is the same on every machine and in every order of computation. Paired
comparisons with standard training are in ``paired``.
"""
from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats as st

from .describe import is_missing
from .loading import config_columns, context_columns, key_columns

METRICS = ("final_test_acc", "best_test_acc", "train_s", "train_flops", "epochs_to_90pct", "loss_std")
MIN_SEEDS = 5  # fewer completed seeds than this per configuration is warned about
CI_METHODS = {"percentile": "percentile", "bca": "BCa"}  # lower-case name -> scipy's spelling
STATUS_ORDER = ("completed", "diverged", "failed", "incomplete", "corrupt")


@dataclass(frozen=True)
class Bootstrap:
    """How confidence intervals are computed (scipy.stats.bootstrap).

    ``method``: "percentile" (default: at the 3-10 seeds typical here BCa's jackknife estimate of
    its own correction is too noisy to help) or "BCa" (bias-corrected and accelerated; falls back
    to percentile where its jackknife degenerates). Either is too narrow at few seeds: see
    ``t_interval``.
    Each interval draws from a fresh ``numpy.random.default_rng(seed)``, so results are reproducible
    and do not depend on which other intervals were computed.
    """

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
        name = self.scipy_method
        return (f"{self.confidence:.0%} {name} bootstrap confidence interval of the mean over seeds "
                f"(scipy.stats.bootstrap, {self.n_resamples} resamples, seed {self.seed})")


DEFAULT = Bootstrap()
_RNG_ARG = "rng" if "rng" in inspect.signature(st.bootstrap).parameters else "random_state"


def bootstrap_ci(values: Sequence[float], boot: Bootstrap = DEFAULT) -> tuple[float, float]:
    """Bootstrap confidence interval of the *mean* of ``values`` (NaNs dropped).

    It is an interval for the expected value over seeds, i.e. where the mean of many more seeds of
    this configuration would likely fall; it says nothing about the spread of single runs (that is
    ``std``). Returns (nan, nan) for fewer than 2 values, and (v, v) when all values equal v.
    """
    x = np.asarray([v for v in values if not is_missing(v)], dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    method = boot.scipy_method
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = st.bootstrap((x,), np.mean, vectorized=True, n_resamples=boot.n_resamples, method=method,
                           confidence_level=boot.confidence, **{_RNG_ARG: np.random.default_rng(boot.seed)})
        lo, hi = res.confidence_interval
        if method == "BCa" and not (np.isfinite(lo) and np.isfinite(hi)):
            return bootstrap_ci(x, Bootstrap(boot.confidence, "percentile", boot.n_resamples, boot.seed))
    return float(lo), float(hi)


def t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Classical interval of the mean, mean ± t(n-1) sd/sqrt(n): for roughly normal values it
    accounts for the uncertainty of the sd itself, which the bootstrap does not, so it is the honest
    one at 2-5 seeds. NaN for fewer than 2 values."""
    n = values.size
    if n < 2:
        return math.nan, math.nan
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    half = float(st.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def floats(values: pd.Series) -> np.ndarray:
    """Numbers as float64, anything missing or unparsable as NaN (nullable Int64 included)."""
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()


def _sort_part(value: Any) -> tuple:
    if is_missing(value):
        return (0, 0, "")
    if isinstance(value, (bool, np.bool_)):
        return (1, int(value), "")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (1, float(value), "")
    return (2, 0, str(value))


def configurations(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (``config_id``) with its label and settings, in reading order:
    grouped by the settings a baseline shares (dataset, model, optimizer, ...), standard training
    first, then by strategy, unit and switching frequency."""
    known = runs[runs["config_id"].notna()]
    cols = config_columns(runs)
    keep = ["config_id", "label", "strategy_label", "context_id", *key_columns(cols)]
    table = known.drop_duplicates("config_id")[keep].copy()
    if table.empty:
        return table.reset_index(drop=True)
    ctx = [c for c in context_columns(cols) if known[c].nunique(dropna=True) > 1]
    strat = ["strategy", "unit", "every", "steps", "order", "schedule", "t_0", "start", "strategy_seed",
             "optimizer_state", "freeze_bn_stats"]
    rest = [c for c in key_columns(cols) if c not in ctx and c not in strat and c not in ("split", "splits")]
    order = [*ctx, "__std", *[c for c in strat if c in table], *rest, "split", "splits"]
    table["__std"] = table["strategy"] != "standard"
    recs = table.to_dict("records")
    recs.sort(key=lambda r: tuple(_sort_part(r.get(c)) for c in order))
    return pd.DataFrame.from_records(recs, columns=table.columns).drop(columns="__std").reset_index(drop=True)


def _status_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUS_ORDER} | {
        s: int(n) for s, n in counts.items() if s not in STATUS_ORDER}


def summarize(runs: pd.DataFrame, metrics: Sequence[str] = METRICS, boot: Bootstrap = DEFAULT) -> pd.DataFrame:
    """Per configuration and metric, across the seeds of its completed runs (long format).

    ``n``: completed seeds with a finite value; ``mean``; ``std``: sample standard deviation
    (ddof=1), the run-to-run spread over seeds; ``ci_low``/``ci_high``: bootstrap confidence
    interval of the mean (see ``Bootstrap``), NaN when n < 2; ``t_ci_low``/``t_ci_high``: the
    t-interval of the mean at the same confidence (wider, and more honest, at few seeds);
    ``n_runs``: all runs of the configuration; ``excluded``: those left out and why (e.g.
    "2 diverged"). Metrics are summary.json keys: final/best test accuracy (fractions), train_s
    (training seconds, evaluation excluded), train_flops (training FLOPs executed),
    epochs_to_90pct, loss_std (std of per-epoch train loss).
    """
    configs = configurations(runs)
    done = runs[runs["in_stats"]]
    out = []
    for cfg in configs.to_dict("records"):
        mine = runs[runs["config_id"] == cfg["config_id"]]
        counts = _status_counts(mine)
        dropped = len(mine) - int(mine["in_stats"].sum())
        excluded = ", ".join(f"{n} {s}" for s, n in counts.items() if n and s != "completed")
        dup = int(((mine["status"] == "completed") & ~mine["in_stats"]).sum())
        if dup:
            excluded = ", ".join(filter(None, [excluded, f"{dup} duplicate"]))
        sel = done[done["config_id"] == cfg["config_id"]]
        for metric in metrics:
            vals = floats(sel[metric]) if metric in sel else np.array([])
            vals = vals[np.isfinite(vals)]
            lo, hi = bootstrap_ci(vals, boot)
            tlo, thi = t_interval(vals, boot.confidence)
            out.append({
                "config_id": cfg["config_id"], "label": cfg["label"], "metric": metric, "n": int(vals.size),
                "mean": float(vals.mean()) if vals.size else math.nan,
                "std": float(vals.std(ddof=1)) if vals.size > 1 else math.nan,
                "ci_low": lo, "ci_high": hi, "t_ci_low": tlo, "t_ci_high": thi,
                "min": float(vals.min()) if vals.size else math.nan,
                "max": float(vals.max()) if vals.size else math.nan,
                "n_runs": len(mine), "n_excluded": dropped, "excluded": excluded,
                **{c: cfg[c] for c in configs.columns if c not in ("config_id", "label")},
            })
    cols = ["config_id", "label", "metric", "n", "mean", "std", "ci_low", "ci_high", "t_ci_low", "t_ci_high",
            "min", "max", "n_runs", "n_excluded", "excluded",
            *[c for c in configs.columns if c not in ("config_id", "label")]]
    return pd.DataFrame.from_records(out, columns=cols)


def curve_summary(curves: pd.DataFrame, boot: Bootstrap = DEFAULT,
                  ci_metrics: Sequence[str] = ("test_acc", "train_loss"),
                  mean_metrics: Sequence[str] = ("train_s_cum", "train_flops")) -> pd.DataFrame:
    """Per configuration and epoch: mean over completed seeds of each metric, and for
    ``ci_metrics`` the bootstrap CI of that mean (long format: config_id, label, epoch, metric,
    n, mean, ci_low, ci_high)."""
    sel = curves[curves["in_stats"].astype(bool)] if len(curves) else curves
    out = []
    for (cid, label, epoch), g in sel.groupby(["config_id", "label", "epoch"], sort=True):
        for metric in (*ci_metrics, *mean_metrics):
            vals = floats(g[metric])
            vals = vals[np.isfinite(vals)]
            lo, hi = bootstrap_ci(vals, boot) if metric in ci_metrics else (math.nan, math.nan)
            out.append({"config_id": cid, "label": label, "epoch": int(epoch), "metric": metric, "n": int(vals.size),
                        "mean": float(vals.mean()) if vals.size else math.nan, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame.from_records(out, columns=["config_id", "label", "epoch", "metric", "n", "mean", "ci_low",
                                                   "ci_high"])


__all__ = ["Bootstrap", "CI_METHODS", "DEFAULT", "METRICS", "MIN_SEEDS", "STATUS_ORDER", "bootstrap_ci",
           "configurations", "curve_summary", "floats", "summarize", "t_interval"]
