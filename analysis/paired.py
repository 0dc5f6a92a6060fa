"""Paired comparisons with standard training on the same seeds, every other setting equal: pairing removes what both
arms share (initial weights, batch order), so a fraction of a point shows with a handful of seeds."""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
from scipy import stats as st

from alternating_freeze.contract import ACCURACY

from .describe import seeds_text
from .measures import CURVE_OF, of_runs, paired_metrics
from .measures import EQUAL_FLOPS as EQUAL_FLOPS  # re-exported: the equal-FLOPs metric of a classification
from .speed import timing_usable
from .stats import DEFAULT, TIMED, Bootstrap, configurations, estimate

PAIRED_METRICS = paired_metrics(ACCURACY)  # a classification's: final_test_acc, EQUAL_FLOPS, train_s, train_flops
WILCOXON_MIN_N = 5  # below 5 pairs the smallest two-sided exact p is 0.125: the test cannot say anything
PAIRED_COLUMNS = [
    "config_id",
    "label",
    "baseline_id",
    "baseline_label",
    "metric",
    "n_pairs",
    "seeds",
    "seeds_only_config",
    "seeds_only_baseline",
    "mean_config",
    "mean_baseline",
    "mean_diff",
    "ci_low",
    "ci_high",
    "t_ci_low",
    "t_ci_high",
    "sd_diff",
    "t",
    "df",
    "p_ttest",
    "p_holm",
    "p_wilcoxon",
    "d_z",
    "note",
]


def paired_test(a: np.ndarray, b: np.ndarray, boot: Bootstrap = DEFAULT) -> dict[str, Any]:
    """Mean, CIs, paired t-test, Wilcoxon test and d_z of ``a - b``; what ``n`` cannot support is NaN, in ``note``."""
    # Accuracies are k / n_test: differences equal on paper differ in their last bits, which would
    # turn a constant shift into t ~ 1e14 and hide ties from Wilcoxon. Rounded, they are equal again.
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d, n = np.round(a - b, 12), a.size
    res = dict.fromkeys(
        [
            "mean_config",
            "mean_baseline",
            "mean_diff",
            "ci_low",
            "ci_high",
            "t_ci_low",
            "t_ci_high",
            "sd_diff",
            "t",
            "p_ttest",
            "p_wilcoxon",
            "d_z",
        ],
        math.nan,
    )
    res |= {"n_pairs": n, "df": max(n - 1, 0)}
    if n == 0:
        return res | {"note": "no paired seeds"}
    res |= {"mean_config": a.mean(), "mean_baseline": b.mean(), "mean_diff": d.mean()}
    if n < 2:
        return res | {"note": "one pair: no CI, sd, t-test, Wilcoxon or d_z"}
    res |= {k: v for k, v in estimate(d, boot).items() if "ci_" in k}
    sd = res["sd_diff"] = 0.0 if np.all(d == d[0]) else float(d.std(ddof=1))  # equal values can give 1e-17
    nonzero = int(np.count_nonzero(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if sd > 0:
            t = st.ttest_1samp(d, 0.0)  # = ttest_rel(a, b), on the rounded differences
            res |= {"t": float(t.statistic), "p_ttest": float(t.pvalue), "d_z": res["mean_diff"] / sd}
        if nonzero >= WILCOXON_MIN_N:
            res["p_wilcoxon"] = float(st.wilcoxon(d, zero_method="wilcox").pvalue)
    wilcoxon = next(
        (
            f"Wilcoxon: {why}"
            for bad, why in (
                (nonzero == 0, "all differences zero"),
                (n < WILCOXON_MIN_N, f"n < {WILCOXON_MIN_N} pairs"),
                (nonzero < WILCOXON_MIN_N, f"fewer than {WILCOXON_MIN_N} non-zero differences"),
                (nonzero < n, f"{n - nonzero} zero difference(s) dropped"),
            )
            if bad
        ),
        "",
    )
    return res | {
        "note": "; ".join(
            filter(None, ["all differences equal (sd 0): t-test and d_z undefined" * (sd == 0), wilcoxon])
        )
    }


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN): the i-th smallest of m is max_{j<=i} min(1, (m-j+1) p_j)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    out[order] = np.minimum(1.0, np.maximum.accumulate((order.size - np.arange(order.size)) * p[order]))
    return out


def equal_flops(a: Optional[tuple], b: Optional[tuple]) -> tuple[float, float]:
    """Both runs' test metric at the cheaper one's total FLOPs, interpolated on the (FLOPs, metric) curves; NaN before
    a run's first epoch, where nothing was evaluated yet."""
    if a is None or b is None:
        return math.nan, math.nan
    budget = min(a[0][-1], b[0][-1])
    return tuple(float(np.interp(budget, x, y)) if budget > 0 and x[0] <= budget else math.nan for x, y in (a, b))


def baselines(configs: pd.DataFrame) -> dict[str, dict]:
    """config_id -> the standard configuration of the same context, for every other configuration."""
    std = configs[configs["strategy"] == "standard"].drop_duplicates("context_id").set_index("context_id", drop=False)
    return {
        c["config_id"]: std.loc[c["context_id"]].to_dict()
        for c in configs.to_dict("records")
        if c["strategy"] != "standard" and c["context_id"] in std.index
    }


def pair_values(
    runs: pd.DataFrame,
    curves: Optional[pd.DataFrame] = None,
    metrics: Optional[Sequence[str]] = None,
    configs: Optional[pd.DataFrame] = None,
) -> pd.DataFrame:
    """Every pair (configuration, metric, seed in both arms): both values, ``diff``, why it is ``left_out`` if so.
    ``configs``: ``configurations(runs)`` where the caller has it already; ``metrics``: by default those of the runs'
    objective (``measures.paired_metrics``)."""
    metrics = paired_metrics(of_runs(runs)) if metrics is None else metrics
    done, at_flops = runs[runs["in_stats"]], next((m for m in metrics if m in CURVE_OF), None)
    points = (
        {}
        if curves is None or at_flops is None
        else {
            rid: (g["train_flops"].to_numpy(float), g[CURVE_OF[at_flops]].to_numpy(float))
            for rid, g in curves[curves["in_stats"]].groupby("run_id", sort=False)
        }
    )
    rows = []
    for cid, base in baselines(configurations(runs) if configs is None else configs).items():
        mine, theirs = (done[done["config_id"] == c].set_index("seed") for c in (cid, base["config_id"]))
        for seed in sorted(set(mine.index) & set(theirs.index)):
            a, b = mine.loc[seed], theirs.loc[seed]
            for metric in (m for m in metrics if m not in CURVE_OF or curves is not None):
                x, y = (
                    equal_flops(points.get(a["run_id"]), points.get(b["run_id"]))
                    if metric in CURVE_OF
                    else tuple(math.nan if pd.isna(v) else float(v) for v in (a[metric], b[metric]))
                )
                why = (
                    "no value"
                    if not (math.isfinite(x) and math.isfinite(y))
                    else "timing"
                    if metric in TIMED and not (a["timing_ok"] and b["timing_ok"])
                    else ""
                )
                rows.append(
                    {
                        "config_id": cid,
                        "baseline_id": base["config_id"],
                        "metric": metric,
                        "seed": seed,
                        "value": x,
                        "baseline_value": y,
                        "diff": round(x - y, 12),
                        "left_out": why,
                    }
                )
    cols = ["config_id", "baseline_id", "metric", "seed", "value", "baseline_value", "diff", "left_out"]
    return pd.DataFrame.from_records(rows, columns=cols)


def paired_comparison(
    runs: pd.DataFrame,
    curves: Optional[pd.DataFrame] = None,
    metrics: Optional[Sequence[str]] = None,
    boot: Bootstrap = DEFAULT,
    pairs: Optional[pd.DataFrame] = None,
    configs: Optional[pd.DataFrame] = None,
) -> pd.DataFrame:
    """``paired_test`` per configuration and metric over ``pairs`` (``pair_values``), Holm-adjusted per metric."""
    configs = configurations(runs) if configs is None else configs
    metrics = paired_metrics(of_runs(runs)) if metrics is None else metrics
    pairs = pair_values(runs, curves, metrics, configs) if pairs is None else pairs
    metrics = [m for m in metrics if m not in CURVE_OF or curves is not None]
    base, done = baselines(configs), runs[runs["in_stats"]]
    out = []
    for cfg in configs[configs["strategy"] != "standard"].to_dict("records"):
        head = {"config_id": cfg["config_id"], "label": cfg["label"]}
        if cfg["config_id"] not in base:
            out += [
                head | {"metric": m, "n_pairs": 0, "note": "no standard baseline with the same settings"}
                for m in metrics
            ]
            continue
        b = base[cfg["config_id"]]
        mine, theirs = (set(done.loc[done["config_id"] == c, "seed"]) for c in (cfg["config_id"], b["config_id"]))
        head |= {
            "baseline_id": b["config_id"],
            "baseline_label": b["label"],
            "seeds_only_config": seeds_text(mine - theirs),
            "seeds_only_baseline": seeds_text(theirs - mine),
        }
        for metric in metrics:
            p = pairs[(pairs["config_id"] == cfg["config_id"]) & (pairs["metric"] == metric)]
            ok = p[p["left_out"] == ""]
            lost, untimed = p.loc[p["left_out"] == "no value", "seed"], int((p["left_out"] == "timing").sum())
            notes = [
                f"seed(s) {seeds_text(lost)} without a value in both arms" * bool(len(lost)),
                f"{untimed} pair(s) with untrusted timing left out" * bool(untimed),
            ]
            if metric in TIMED and not timing_usable(len(ok), len(p)):
                notes.append(f"wall-clock not compared: {len(ok)} of {len(p)} pairs have trusted timing")
                ok = ok.iloc[0:0]
            res = paired_test(ok["value"].to_numpy(), ok["baseline_value"].to_numpy(), boot)
            out.append(
                head
                | {
                    "metric": metric,
                    "seeds": seeds_text(ok["seed"]),
                    **res,
                    "note": "; ".join(filter(None, [*notes, res["note"]])),
                }
            )
    frame = pd.DataFrame.from_records(out, columns=PAIRED_COLUMNS)
    return frame.assign(p_holm=frame.groupby("metric")["p_ttest"].transform(lambda p: holm(p.to_numpy(float))))
