"""Paired comparisons with standard training: same seeds, same data, every other setting equal.

Pairing by seed removes the seed-to-seed variation both arms share (same initial weights, same
batch order), so a difference of a fraction of a point can be seen with a handful of seeds. Two
views: at equal epochs (the summary.json numbers) and at equal training FLOPs (accuracy read off
both learning curves at the budget of the cheaper arm), because a frozen half costs less per step.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats as st

from .describe import seeds_text
from .stats import DEFAULT, Bootstrap, bootstrap_ci, configurations, floats, t_interval

EQUAL_FLOPS = "test_acc_at_equal_flops"
PAIRED_METRICS = ("final_test_acc", EQUAL_FLOPS, "train_s", "train_flops")
WILCOXON_MIN_N = 5  # below 5 pairs the smallest two-sided exact p is 0.125: the test cannot say anything
PAIRED_COLUMNS = ["config_id", "label", "baseline_id", "baseline_label", "metric", "n_pairs", "seeds",
                  "seeds_only_config", "seeds_only_baseline", "mean_config", "mean_baseline", "mean_diff", "ci_low",
                  "ci_high", "t_ci_low", "t_ci_high", "sd_diff", "t", "df", "p_ttest", "p_holm", "p_wilcoxon", "d_z",
                  "note"]


def paired_test(a: np.ndarray, b: np.ndarray, boot: Bootstrap = DEFAULT) -> dict[str, Any]:
    """Mean, bootstrap CI, t-interval, paired t-test, Wilcoxon test and d_z of ``a - b`` (see
    ``paired_comparison``); whatever ``n`` cannot support is NaN and named in ``note``."""
    # Accuracies are k / n_test: differences equal on paper differ in their last bits, which would
    # turn a constant shift into t ~ 1e14 and hide ties from Wilcoxon. Rounded, they are equal again.
    d = np.round(a - b, 12)
    n = d.size
    res: dict[str, Any] = {"n_pairs": n, "mean_config": math.nan, "mean_baseline": math.nan,
                           "mean_diff": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                           "t_ci_low": math.nan, "t_ci_high": math.nan, "sd_diff": math.nan,
                           "t": math.nan, "df": n - 1 if n else 0, "p_ttest": math.nan,
                           "p_wilcoxon": math.nan, "d_z": math.nan}
    if n == 0:
        return res | {"note": "no paired seeds"}
    res.update(mean_config=float(a.mean()), mean_baseline=float(b.mean()), mean_diff=float(d.mean()))
    if n < 2:
        return res | {"note": "one pair: no CI, sd, t-test, Wilcoxon or d_z"}
    res["ci_low"], res["ci_high"] = bootstrap_ci(d, boot)
    sd = 0.0 if np.all(d == d[0]) else float(d.std(ddof=1))  # equal values can give an sd of 1e-17
    res["sd_diff"] = sd
    res["t_ci_low"], res["t_ci_high"] = t_interval(d, boot.confidence)
    notes = []
    if sd == 0:
        notes.append("all differences equal (sd 0): t-test and d_z undefined")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = st.ttest_1samp(d, 0.0)  # = ttest_rel(a, b), on the rounded differences
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
            res["p_wilcoxon"] = float(st.wilcoxon(d, zero_method="wilcox").pvalue)
        if nonzero < n:
            notes.append(f"Wilcoxon: {n - nonzero} zero difference(s) dropped")
    return res | {"note": "; ".join(notes)}


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error), NaN where p is NaN.

    With m finite p-values sorted ascending, the i-th (1-based) becomes max over j <= i of
    min(1, (m - j + 1) p_(j)); an adjusted p below alpha rejects at family-wise level alpha.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    if idx.size:
        order = idx[np.argsort(p[idx], kind="stable")]
        m = order.size
        adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
        out[order] = adjusted
    return out


def _curve_points(curves: Optional[pd.DataFrame]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """run_id -> (cumulative training FLOPs, test accuracy) per finished epoch, completed runs only."""
    if curves is None or curves.empty:
        return {}
    sel = curves[curves["in_stats"].astype(bool)]
    return {rid: (floats(g["train_flops"]), floats(g["test_acc"])) for rid, g in sel.groupby("run_id", sort=False)}


def _at_flops(points: Optional[tuple[np.ndarray, np.ndarray]], budget: float) -> float:
    """Test accuracy at ``budget`` FLOPs, linear between the epochs around it; NaN before the first
    epoch's FLOPs (nothing was evaluated there) or without a curve."""
    if points is None or not math.isfinite(budget) or budget <= 0:  # no FLOPs counted: no cost to compare at
        return math.nan
    x, y = points
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0 or budget < x[0] or budget > x[-1]:
        return math.nan
    return float(np.interp(budget, x, y))


def equal_flops(a_points, b_points) -> tuple[float, float]:
    """(accuracy of a, accuracy of b) at the smaller of the two runs' total training FLOPs: the
    cheaper run's final accuracy against the other's, read off its curve at the same cost."""
    if a_points is None or b_points is None or not len(a_points[0]) or not len(b_points[0]):
        return math.nan, math.nan
    finite = [x[np.isfinite(x)] for x in (a_points[0], b_points[0])]
    if not all(x.size for x in finite):
        return math.nan, math.nan
    budget = min(float(finite[0][-1]), float(finite[1][-1]))
    return _at_flops(a_points, budget), _at_flops(b_points, budget)


def _metric_values(metric: str, mine: pd.DataFrame, theirs: pd.DataFrame, common: list,
                   points: dict) -> tuple[np.ndarray, np.ndarray]:
    if metric != EQUAL_FLOPS:
        return floats(mine.loc[common, metric]), floats(theirs.loc[common, metric])
    pairs = [equal_flops(points.get(mine.loc[s, "run_id"]), points.get(theirs.loc[s, "run_id"])) for s in common]
    return np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs], dtype=float)


def paired_comparison(runs: pd.DataFrame, curves: Optional[pd.DataFrame] = None,
                      metrics: Sequence[str] = PAIRED_METRICS, boot: Bootstrap = DEFAULT) -> pd.DataFrame:
    """Each non-standard configuration against standard training with all other settings equal
    (dataset incl. subset/test_fraction/split_seed, model except the split point, optimizer,
    trainer), seed by seed: only seeds completed in both arms are paired.

    Metrics: summary.json keys (at equal epochs), and ``test_acc_at_equal_flops`` (needs
    ``curves``; left out without them): both arms' test accuracy at the total training FLOPs of the
    cheaper one, i.e. the cheaper run's final accuracy and the other's interpolated linearly
    between the two epochs around that cost (NaN, and dropped, when the budget falls before the
    other run's first epoch).

    Per configuration and metric: ``n_pairs``; ``mean_config``/``mean_baseline`` over the paired
    seeds; ``mean_diff`` (config - standard; for accuracy a fraction, x100 for points);
    ``ci_low``/``ci_high``: bootstrap CI of the mean paired difference; ``t_ci_low``/``t_ci_high``:
    the classical t-interval of the same mean (mean ± t(n-1) sd/sqrt(n)), the one consistent with
    the t-test and wider than the bootstrap interval at small n; ``sd_diff`` (ddof=1); ``t``,
    ``df``, ``p_ttest`` (scipy.stats.ttest_rel, two-sided); ``p_holm``: ``p_ttest`` Holm-adjusted
    over every comparison of the same metric in this table; ``p_wilcoxon`` (signed-rank,
    two-sided, zero differences dropped; NaN with a ``note`` when fewer than WILCOXON_MIN_N
    differences are non-zero); ``d_z`` = mean_diff / sd_diff (Cohen's d for paired data).
    ``seeds_only_config``/``seeds_only_baseline``: seeds completed in one arm only, left out.
    A configuration without a baseline gets rows with ``baseline_label`` empty and a note.
    """
    if curves is None:
        metrics = [m for m in metrics if m != EQUAL_FLOPS]
    configs = configurations(runs)
    done = runs[runs["in_stats"]]
    standard = configs[configs["strategy"] == "standard"]
    points = _curve_points(curves) if EQUAL_FLOPS in metrics else {}
    out = []
    for cfg in configs[configs["strategy"] != "standard"].to_dict("records"):
        base = standard[standard["context_id"] == cfg["context_id"]]
        head = {"config_id": cfg["config_id"], "label": cfg["label"]}
        if base.empty:
            for metric in metrics:
                out.append(head | {"baseline_id": None, "baseline_label": None, "metric": metric,
                                   **paired_test(np.array([]), np.array([]), boot),
                                   "note": "no standard baseline with the same settings"})
            continue
        base = base.iloc[0]
        mine = done[done["config_id"] == cfg["config_id"]].set_index("seed")
        theirs = done[done["config_id"] == base["config_id"]].set_index("seed")
        common = sorted(set(mine.index) & set(theirs.index))
        only_a, only_b = set(mine.index) - set(theirs.index), set(theirs.index) - set(mine.index)
        for metric in metrics:
            a, b = _metric_values(metric, mine, theirs, common, points)
            ok = np.isfinite(a) & np.isfinite(b)
            row = head | {"baseline_id": base["config_id"], "baseline_label": base["label"], "metric": metric,
                          "seeds": seeds_text(np.asarray(common)[ok]), "seeds_only_config": seeds_text(only_a),
                          "seeds_only_baseline": seeds_text(only_b), **paired_test(a[ok], b[ok], boot)}
            if not ok.all():
                lost = seeds_text(np.asarray(common)[~ok])
                row["note"] = "; ".join(filter(None, [f"seed(s) {lost} without a value in both arms", row["note"]]))
            out.append(row)
    frame = pd.DataFrame.from_records(out, columns=PAIRED_COLUMNS)
    for metric, idx in frame.groupby("metric", sort=False).groups.items():
        frame.loc[idx, "p_holm"] = holm(frame.loc[idx, "p_ttest"].to_numpy(dtype=float))
    return frame


def n_comparisons(paired: pd.DataFrame, metric: str = "final_test_acc") -> int:
    """How many p-values of ``metric`` the Holm adjustment is over (the size of the family)."""
    if paired.empty:
        return 0
    return int((paired["metric"].eq(metric) & paired["p_ttest"].notna()).sum())


__all__ = ["EQUAL_FLOPS", "PAIRED_METRICS", "WILCOXON_MIN_N", "equal_flops", "holm", "n_comparisons",
           "paired_comparison", "paired_test"]
