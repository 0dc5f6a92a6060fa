"""Time to a target accuracy, AlgoPerf style: the training FLOPs and seconds until validation accuracy first
reaches a target (measured after each epoch). A run that never reaches it is censored: it counts as not
reaching it (its cost is beyond its whole budget), never dropped.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

FRACTION = 0.95  # default target: this fraction of standard training's mean final validation accuracy


def first_reach(accuracy: np.ndarray, cost: np.ndarray, target: float) -> float:
    """The cumulative cost at the first epoch whose accuracy reaches ``target``; inf when none does."""
    hit = np.flatnonzero(np.asarray(accuracy, dtype=float) >= target)
    return float(np.asarray(cost, dtype=float)[hit[0]]) if hit.size else math.inf


def censored_median(costs: np.ndarray) -> float:
    """Median cost to target over runs, the censored ones (inf) ranked above every run that reached it: inf when
    fewer than half reached it (the median is then "not reached"), NaN without runs."""
    costs = np.asarray(costs, dtype=float)
    return float(np.median(costs)) if costs.size and not np.isnan(costs).any() else math.nan


def cost_ratio(cost: float, baseline: float) -> float:
    """Cost to target of a run over its standard partner's: 0 when only it reached the target, inf when only
    the partner did, NaN when neither did."""
    return math.nan if math.isinf(cost) and math.isinf(baseline) else 0.0 if math.isinf(baseline) else cost / baseline


def targets(runs: pd.DataFrame, accuracy: Optional[float] = None, fraction: float = FRACTION) -> dict[str, tuple]:
    """context_id -> (target accuracy, the split it is read on: validation, or test where some run of the context
    has no validation split): ``accuracy`` when given, else ``fraction`` of standard training's mean final accuracy
    on that split in the context (no target in a context without standard training)."""
    out = {}
    for ctx, mine in runs[runs["in_stats"]].groupby("context_id"):
        split, std = "val" if mine["final_val_acc"].notna().all() else "test", mine[mine["strategy"] == "standard"]
        if accuracy is not None or len(std):
            out[ctx] = (fraction * std[f"final_{split}_acc"].mean() if accuracy is None else accuracy, split)
    return out


def reach(runs: pd.DataFrame, curves: pd.DataFrame, goal: dict) -> pd.DataFrame:
    """Per completed run in a context with a target: ``target_acc``, ``flops_to_target`` and ``s_to_target``
    (inf: not reached; seconds NaN where the run's timing is not trusted)."""
    rows = []
    for run in runs[runs["in_stats"] & runs["context_id"].isin(goal)].to_dict("records"):
        target, split = goal[run["context_id"]]
        c = curves[curves["run_id"] == run["run_id"]]
        acc = c[f"{split}_acc"].to_numpy(float)
        rows.append({"run_id": run["run_id"], "target_acc": target, "target_on": split,
                     "flops_to_target": first_reach(acc, c["train_flops"], target),
                     "s_to_target": first_reach(acc, c["train_s_cum"], target) if run["timing_ok"] else math.nan})
    return pd.DataFrame(rows, columns=["run_id", "target_acc", "target_on", "flops_to_target", "s_to_target"])


def summary(runs: pd.DataFrame, configs: pd.DataFrame, baselines: dict) -> pd.DataFrame:
    """Per configuration (``runs`` with ``reach``'s columns): runs, how many reached the target, the censored
    median FLOPs and seconds to it; against standard training, on seeds both completed: how often each reached
    it with fewer FLOPs, how often neither reached it, and the median FLOPs ratio (``cost_ratio``)."""
    done = runs[runs["in_stats"] & runs["target_acc"].notna()]
    out = []
    for cfg in configs[configs["config_id"].isin(done["config_id"])].to_dict("records"):
        mine = done[done["config_id"] == cfg["config_id"]]
        timed = mine["s_to_target"].dropna()
        row = {"config_id": cfg["config_id"], "label": cfg["label"], "target_acc": mine["target_acc"].iloc[0],
               "target_on": mine["target_on"].iloc[0], "runs": len(mine),
               "reached": int(np.isfinite(mine["flops_to_target"]).sum()),
               "median_flops": censored_median(mine["flops_to_target"]), "median_s": censored_median(timed)}
        if base := baselines.get(cfg["config_id"]):
            theirs = done[done["config_id"] == base["config_id"]].set_index("seed")["flops_to_target"]
            pairs = mine.set_index("seed")["flops_to_target"].to_frame("a").join(theirs.rename("b"), how="inner")
            ratio = np.array([cost_ratio(a, b) for a, b in zip(pairs["a"], pairs["b"])])
            row |= {"baseline_label": base["label"], "pairs": len(pairs), "sooner": int((ratio < 1).sum()),
                    "later": int((ratio > 1).sum()), "neither": int(np.isnan(ratio).sum()),
                    "median_flops_ratio": float(np.median(ratio[~np.isnan(ratio)])) if (~np.isnan(ratio)).any()
                    else math.nan}
        out.append(row)
    return pd.DataFrame(out)
