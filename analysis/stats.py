"""Statistics across seeds: per-configuration summaries and paired comparisons with standard training.

Only runs with ``in_stats`` (completed, known config, not a duplicate) count. Every interval is a
bootstrap confidence interval *of the mean over seeds* (not of single runs): with the fixed
``Bootstrap.seed`` it is the same on every machine and in every order of computation.
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
from .loading import ALIASES, config_columns, context_columns, key_columns

METRICS = ("final_test_acc", "best_test_acc", "train_s", "train_flops", "epochs_to_90pct", "loss_std")
PAIRED_METRICS = ("final_test_acc", "train_s", "train_flops")
MIN_SEEDS = 5  # fewer completed seeds than this per configuration is warned about
WILCOXON_MIN_N = 5  # below 5 pairs the smallest two-sided exact p is 0.125: the test cannot say anything
STATUS_ORDER = ("completed", "diverged", "failed", "incomplete", "corrupt")


@dataclass(frozen=True)
class Bootstrap:
    """How confidence intervals are computed (scipy.stats.bootstrap).

    ``method``: "percentile" (default; robust at the 3-10 seeds typical here, as rliable uses) or
    "BCa" (bias-corrected and accelerated; falls back to percentile where its jackknife degenerates).
    Each interval draws from a fresh ``numpy.random.default_rng(seed)``, so results are reproducible
    and do not depend on which other intervals were computed.
    """

    confidence: float = 0.95
    method: str = "percentile"
    n_resamples: int = 9999
    seed: int = 0

    def describe(self) -> str:
        name = "BCa" if self.method.lower() == "bca" else "percentile"
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
    method = "BCa" if boot.method.lower() == "bca" else "percentile"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = st.bootstrap((x,), np.mean, vectorized=True, n_resamples=boot.n_resamples, method=method,
                           confidence_level=boot.confidence, **{_RNG_ARG: np.random.default_rng(boot.seed)})
        lo, hi = res.confidence_interval
        if method == "BCa" and not (np.isfinite(lo) and np.isfinite(hi)):
            return bootstrap_ci(x, Bootstrap(boot.confidence, "percentile", boot.n_resamples, boot.seed))
    return float(lo), float(hi)


def _floats(values: pd.Series) -> np.ndarray:
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
    strat = ["strategy", "unit", "every", "steps", "start", "optimizer_state", "freeze_bn_stats"]
    rest = [c for c in key_columns(cols) if c not in ctx and c not in strat and c != "split"]
    order = [*ctx, "__std", *[c for c in strat if c in table], *rest, "split"]
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
    interval of the mean (see ``Bootstrap``), NaN when n < 2; ``n_runs``: all runs of the
    configuration; ``excluded``: those left out and why (e.g. "2 diverged"). Metrics are summary.json
    keys: final/best test accuracy (fractions), train_s (training seconds, evaluation excluded),
    train_flops (training FLOPs executed), epochs_to_90pct, loss_std (std of per-epoch train loss).
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
            vals = _floats(sel[metric]) if metric in sel else np.array([])
            vals = vals[np.isfinite(vals)]
            lo, hi = bootstrap_ci(vals, boot)
            out.append({
                "config_id": cfg["config_id"], "label": cfg["label"], "metric": metric, "n": int(vals.size),
                "mean": float(vals.mean()) if vals.size else math.nan,
                "std": float(vals.std(ddof=1)) if vals.size > 1 else math.nan,
                "ci_low": lo, "ci_high": hi,
                "min": float(vals.min()) if vals.size else math.nan,
                "max": float(vals.max()) if vals.size else math.nan,
                "n_runs": len(mine), "n_excluded": dropped, "excluded": excluded,
                **{c: cfg[c] for c in configs.columns if c not in ("config_id", "label")},
            })
    cols = ["config_id", "label", "metric", "n", "mean", "std", "ci_low", "ci_high", "min", "max", "n_runs",
            "n_excluded", "excluded", *[c for c in configs.columns if c not in ("config_id", "label")]]
    return pd.DataFrame.from_records(out, columns=cols)


def _paired_test(a: np.ndarray, b: np.ndarray, boot: Bootstrap) -> dict[str, Any]:
    d = a - b
    n = d.size
    res: dict[str, Any] = {"n_pairs": n, "mean_config": math.nan, "mean_baseline": math.nan,
                           "mean_diff": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                           "t_ci_low": math.nan, "t_ci_high": math.nan, "sd_diff": math.nan,
                           "t": math.nan, "df": n - 1 if n else 0, "p_ttest": math.nan,
                           "p_wilcoxon": math.nan, "d_z": math.nan}
    notes = []
    if n == 0:
        return res | {"note": "no paired seeds"}
    res.update(mean_config=float(a.mean()), mean_baseline=float(b.mean()), mean_diff=float(d.mean()))
    res["ci_low"], res["ci_high"] = bootstrap_ci(d, boot)
    if n < 2:
        notes.append("one pair: no CI, sd, t-test, Wilcoxon or d_z")
        return res | {"note": "; ".join(notes)}
    sd = float(d.std(ddof=1))
    res["sd_diff"] = sd
    half = float(st.t.ppf(0.5 + boot.confidence / 2, n - 1)) * sd / math.sqrt(n)
    res["t_ci_low"], res["t_ci_high"] = res["mean_diff"] - half, res["mean_diff"] + half
    if sd == 0:
        notes.append("all differences equal (sd 0): t-test and d_z undefined")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = st.ttest_rel(a, b)
        res.update(t=float(t.statistic), p_ttest=float(t.pvalue), d_z=res["mean_diff"] / sd)
    nonzero = int(np.count_nonzero(d))
    if nonzero == 0:
        notes.append("Wilcoxon: all differences zero")
    elif n < WILCOXON_MIN_N:
        notes.append(f"Wilcoxon: n < {WILCOXON_MIN_N} pairs")
    elif nonzero < WILCOXON_MIN_N:
        notes.append(f"Wilcoxon: fewer than {WILCOXON_MIN_N} non-zero differences")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res["p_wilcoxon"] = float(st.wilcoxon(a, b, zero_method="wilcox").pvalue)
        if nonzero < n:
            notes.append(f"Wilcoxon: {n - nonzero} zero difference(s) dropped")
    return res | {"note": "; ".join(notes)}


def _seeds_text(seeds) -> str:
    return " ".join(str(int(s)) for s in sorted(seeds))


def paired_comparison(runs: pd.DataFrame, metrics: Sequence[str] = PAIRED_METRICS,
                      boot: Bootstrap = DEFAULT) -> pd.DataFrame:
    """Each non-standard configuration against standard training with all other settings equal
    (dataset incl. subset/test_fraction/split_seed, model except the split point, optimizer,
    trainer), seed by seed: only seeds completed in both arms are paired.

    Per configuration and metric: ``n_pairs``; ``mean_config``/``mean_baseline`` over the paired
    seeds; ``mean_diff`` (config - standard; for accuracy a fraction, x100 for points);
    ``ci_low``/``ci_high``: bootstrap CI of the mean paired difference (an interval for the average
    effect of switching strategy, seeds held equal); ``t_ci_low``/``t_ci_high``: the classical
    t-interval of the same mean (mean ± t(n-1) sd/sqrt(n)), the one consistent with the t-test and
    wider than the bootstrap interval at small n; ``sd_diff`` (ddof=1); ``t``, ``df``, ``p_ttest``
    (scipy.stats.ttest_rel, two-sided); ``p_wilcoxon`` (signed-rank, two-sided, zero differences
    dropped; NaN with a ``note`` when fewer than WILCOXON_MIN_N differences are non-zero);
    ``d_z`` = mean_diff / sd_diff (Cohen's standardized paired effect). p-values are not corrected
    for multiple comparisons.
    ``seeds_only_config``/``seeds_only_baseline``: seeds completed in one arm only, left out.
    A configuration without a baseline gets rows with ``baseline_label`` empty and a note.
    """
    configs = configurations(runs)
    done = runs[runs["in_stats"]]
    standard = configs[configs["strategy"] == "standard"]
    out = []
    for cfg in configs[configs["strategy"] != "standard"].to_dict("records"):
        base = standard[standard["context_id"] == cfg["context_id"]]
        head = {"config_id": cfg["config_id"], "label": cfg["label"]}
        if base.empty:
            for metric in metrics:
                out.append(head | {"baseline_id": None, "baseline_label": None, "metric": metric,
                                   **_paired_test(np.array([]), np.array([]), boot),
                                   "note": "no standard baseline with the same settings"})
            continue
        base = base.iloc[0]
        mine = done[done["config_id"] == cfg["config_id"]].set_index("seed")
        theirs = done[done["config_id"] == base["config_id"]].set_index("seed")
        common = sorted(set(mine.index) & set(theirs.index))
        only_a, only_b = set(mine.index) - set(theirs.index), set(theirs.index) - set(mine.index)
        for metric in metrics:
            a, b = _floats(mine.loc[common, metric]), _floats(theirs.loc[common, metric])
            ok = np.isfinite(a) & np.isfinite(b)
            out.append(head | {"baseline_id": base["config_id"], "baseline_label": base["label"], "metric": metric,
                               "seeds": _seeds_text(np.asarray(common)[ok]),
                               "seeds_only_config": _seeds_text(only_a),
                               "seeds_only_baseline": _seeds_text(only_b), **_paired_test(a[ok], b[ok], boot)})
    cols = ["config_id", "label", "baseline_id", "baseline_label", "metric", "n_pairs", "seeds", "seeds_only_config",
            "seeds_only_baseline", "mean_config", "mean_baseline", "mean_diff", "ci_low", "ci_high", "t_ci_low",
            "t_ci_high", "sd_diff", "t",
            "df", "p_ttest", "p_wilcoxon", "d_z", "note"]
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
            vals = _floats(g[metric])
            vals = vals[np.isfinite(vals)]
            lo, hi = bootstrap_ci(vals, boot) if metric in ci_metrics else (math.nan, math.nan)
            out.append({"config_id": cid, "label": label, "epoch": int(epoch), "metric": metric, "n": int(vals.size),
                        "mean": float(vals.mean()) if vals.size else math.nan, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame.from_records(out, columns=["config_id", "label", "epoch", "metric", "n", "mean", "ci_low",
                                                   "ci_high"])


def collect_warnings(runs: pd.DataFrame, stats: pd.DataFrame, paired: pd.DataFrame) -> list[str]:
    """Everything a reader must know before trusting the numbers, as sentences."""
    notes: list[str] = []
    done = runs[runs["in_stats"]]
    if done.empty:
        notes.append("No completed runs: there is nothing to compute statistics on.")
    bad = runs[runs["status"] != "completed"]
    if len(bad):
        counts = bad["status"].value_counts()
        notes.append(f"{len(bad)} of {len(runs)} runs excluded from the statistics: "
                     + ", ".join(f"{n} {s}" for s, n in counts.items()) + " (see the table of problem runs).")
    unknown = runs[runs["config_id"].isna()]
    if len(unknown):
        notes.append(f"{len(unknown)} run(s) without a readable config cannot be assigned to a configuration: "
                     + ", ".join(unknown["run_id"].astype(str)) + ".")
    dups = runs[runs["note"].notna()]
    if len(dups):
        listed = "; ".join(f"{r} is a {n}" for r, n in zip(dups["run_id"][:10], dups["note"][:10]))
        notes.append(f"{len(dups)} completed run(s) repeat a configuration and seed already counted: {listed}"
                     + ("; ..." if len(dups) > 10 else "") + ".")
    if len(stats):
        first = stats.drop_duplicates("config_id")
        for r in first.to_dict("records"):
            n = int(stats[(stats["config_id"] == r["config_id"]) & (stats["metric"] == "final_test_acc")]["n"].max()) \
                if "final_test_acc" in set(stats["metric"]) else int(r["n"])
            lost = runs[(runs["config_id"] == r["config_id"]) & runs["status"].isin(["diverged", "failed"])]
            if len(lost):
                kinds = ", ".join(f"{k} {s}" for s, k in lost["status"].value_counts().items())
                notes.append(f"{r['label']}: {kinds} of {r['n_runs']} runs excluded; its statistics describe only "
                             f"the {n} completed run(s), which flatters it if failures are part of its behaviour.")
            if n == 0:
                notes.append(f"{r['label']}: no completed runs.")
            elif n == 1:
                notes.append(f"{r['label']}: one completed seed: no standard deviation, CI or test (NaN).")
            elif n < MIN_SEEDS:
                notes.append(f"{r['label']}: only {n} completed seeds (< {MIN_SEEDS}): intervals are wide, and "
                             f"bootstrap intervals are too narrow at this n.")
    if len(paired):
        for r in paired.drop_duplicates("config_id").to_dict("records"):
            if is_missing(r["baseline_id"]):
                notes.append(f"{r['label']}: no standard run with the same dataset, model, optimizer and trainer "
                             f"settings: no paired comparison.")
                continue
            parts = []
            if r["seeds_only_config"]:
                parts.append(f"seed(s) {r['seeds_only_config']} only in {r['label']}")
            if r["seeds_only_baseline"]:
                parts.append(f"seed(s) {r['seeds_only_baseline']} only in {r['baseline_label']}")
            if parts:
                notes.append(f"{r['label']} vs {r['baseline_label']}: unpaired " + " and ".join(parts)
                             + ", dropped from the paired comparison.")
    for col, what in (("device", "devices"), ("num_threads", "thread counts")):
        if col in done and done[col].nunique(dropna=True) > 1:
            vals = ", ".join(sorted(map(str, done[col].dropna().unique())))
            notes.append(f"Completed runs ran on different {what} ({vals}): train_s comparisons mix hardware.")
    return notes


__all__ = ["Bootstrap", "DEFAULT", "METRICS", "PAIRED_METRICS", "bootstrap_ci", "configurations", "summarize",
           "paired_comparison", "curve_summary", "collect_warnings", "ALIASES"]
