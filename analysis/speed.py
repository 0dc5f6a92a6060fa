"""How fast, fairly: whose seconds can be trusted (seeds of one configuration do the same work, so a run whose
throughput is far from theirs measured the machine's other load), and the cost of reaching a target accuracy
(AlgoPerf's time to target; a run that never reaches it is censored, never dropped)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

from alternating_freeze.contract import (
    ACCURACY,
    STARVED_SHARE,
    Objective,
)  # STARVED_SHARE: a run's log line says it too

# Identical work on a quiet machine varies by some 10-20% between processes; a load period costs 2-40x.
THROUGHPUT_FACTOR = 1.5  # flagged: throughput above median x 1.5 or below median / 1.5
MIN_TIMED_PAIRS = 3  # and more than half of a configuration's pairs: fewer trusted pairs, no wall-clock verdict
FRACTION = 0.95  # default target: this fraction of standard training's mean final validation accuracy (of a
# loss: that loss divided by it, 5% above it; in both directions a fraction of 1 is standard training's own result)


def departure(values: np.ndarray) -> np.ndarray:
    """How many times each value is above or below the median of the finite ones (>= 1; NaN stays NaN)."""
    med = np.nanmedian(values) if np.isfinite(values).any() else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(values / med, med / values)


def cpu_share(cpu_s: np.ndarray, wall_s: np.ndarray, threads: np.ndarray) -> np.ndarray:
    """CPU seconds over the seconds the threads had: 1 = every thread busy the whole time."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return cpu_s / (wall_s * threads)


def timing_usable(n_trusted: int, n_pairs: int) -> bool:
    """Wall-clock is compared only with at least MIN_TIMED_PAIRS trusted pairs, and more than half of all."""
    return n_trusted >= MIN_TIMED_PAIRS and n_trusted > n_pairs / 2


def judge_timing(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``timing_ok`` (its seconds can be compared) and ``timing_flag`` (why not), run by run, then
    each configuration as a whole."""
    num = (
        runs.reindex(columns=["train_flops", "train_s", "batched_with", "num_threads", "train_cpu_s"])
        .apply(pd.to_numeric, errors="coerce")
        .astype(float)
    )
    done, wall, batched = runs["in_stats"].to_numpy(bool), num["train_s"].to_numpy(), num["batched_with"].to_numpy()
    speed = (num["train_flops"] / num["train_s"].where(num["train_s"] > 0)).to_numpy()
    alone = pd.Series(np.where(done & ~(batched > 1), speed, np.nan))
    far = alone.groupby(runs["config_id"].to_numpy()).transform(lambda s: departure(s.to_numpy())).to_numpy()
    counts = [str(t).split(",") if isinstance(t, str) and t else [] for t in runs["thread_counts"]]
    threads = np.fmax(num["num_threads"].to_numpy(), [max(map(float, c), default=np.nan) for c in counts])
    threads[[len(c) > 1 for c in counts]] = np.nan  # resumed under another count: no one number of threads
    share = cpu_share(num["train_cpu_s"].to_numpy(), wall, threads)
    flags = [
        "; ".join(
            filter(
                None,
                [
                    f"trained in a batch of {int(b)} runs: its seconds are the group's" if b > 1 else "",
                    f"throughput {v / 1e9:.3g} GFLOP/s, {f:.1f}x from its configuration's median"
                    if f > THROUGHPUT_FACTOR
                    else "",
                    f"starved of CPU: {s:.0%} of wall time x {int(t)} thread(s) computing" if s < STARVED_SHARE else "",
                    f"ran under {' and '.join(c)} threads (resumed under another count)" if len(c) > 1 else "",
                ],
            )
        )
        for b, v, f, s, t, c in zip(batched, speed, far, share, threads, counts)
    ]
    ok = done & (np.array(flags) == "") & np.isfinite(wall)
    for cid in runs.loc[done, "config_id"].unique():  # a configuration is judged as a whole too
        mine = done & (runs["config_id"] == cid).to_numpy()
        if not timing_usable(n := int(ok[mine].sum()), int(mine.sum())):
            for i in np.flatnonzero(mine & ok):
                flags[i] = f"too few trusted runs in its configuration ({n} of {int(mine.sum())})"
            ok[mine] = False
    return runs.assign(timing_flag=flags, timing_ok=ok)


def first_reach(values: np.ndarray, cost: np.ndarray, target: float, objective: Objective = ACCURACY) -> float:
    """The cumulative cost at the first epoch whose value reaches ``target`` (an accuracy at or above it, a loss at
    or below it); inf when none does."""
    values = np.asarray(values, dtype=float)
    hit = np.flatnonzero(values >= target if objective.direction == "max" else values <= target)
    return float(np.asarray(cost, dtype=float)[hit[0]]) if hit.size else math.inf


def censored_median(costs: np.ndarray) -> float:
    """Median cost to target, censored runs (inf) ranked last: inf ("not reached") unless more than half got there."""
    costs = np.asarray(costs, dtype=float)
    return float(np.median(costs)) if costs.size and not np.isnan(costs).any() else math.nan


def cost_ratio(cost: float, baseline: float) -> float:
    """Cost to target over the standard partner's: 0 when only the run got there, inf when only the partner did."""
    return math.nan if math.isinf(cost) and math.isinf(baseline) else 0.0 if math.isinf(baseline) else cost / baseline


def targets(
    runs: pd.DataFrame, given: Optional[float] = None, fraction: float = FRACTION, objective: Objective = ACCURACY
) -> dict[str, tuple]:
    """context_id -> (target: ``given`` where given (in the ``objective``'s measure: an accuracy, or a loss), else
    ``fraction`` of standard training's mean final accuracy, or for a loss that loss / ``fraction``; the split it is
    read on: validation, or test where a run of the context has none)."""
    out, m = {}, objective.measure
    for ctx, mine in runs[runs["in_stats"]].groupby("context_id"):
        split, std = "val" if mine[f"final_val_{m}"].notna().all() else "test", mine[mine["strategy"] == "standard"]
        if given is not None or len(std):
            final = std[f"final_{split}_{m}"].mean()
            out[ctx] = (given if given is not None else final * fraction**objective.sign, split)
    return out


def reach(runs: pd.DataFrame, curves: pd.DataFrame, goal: dict, objective: Objective = ACCURACY) -> pd.DataFrame:
    """Per completed run with a target: its FLOPs and seconds to it (inf: not reached; NaN: timing not trusted).
    ``target_acc`` holds the target in the objective's measure (a loss for runs judged by loss)."""
    rows, by_run = [], dict(tuple(curves.groupby("run_id", sort=False)))
    for run in runs[runs["in_stats"] & runs["context_id"].isin(goal)].to_dict("records"):
        (target, split), c = goal[run["context_id"]], by_run[run["run_id"]]
        value = c[f"{split}_{objective.measure}"].to_numpy(float)
        rows.append(
            {
                "run_id": run["run_id"],
                "target_acc": target,
                "target_on": split,
                "flops_to_target": first_reach(value, c["train_flops"], target, objective),
                "epoch_to_target": first_reach(value, c["epoch"], target, objective),
                "s_to_target": first_reach(value, c["train_s_cum"], target, objective)
                if run["timing_ok"]
                else math.nan,
            }
        )
    columns = ["run_id", "target_acc", "target_on", "flops_to_target", "epoch_to_target", "s_to_target"]
    return pd.DataFrame(rows, columns=columns)


def summary(runs: pd.DataFrame, configs: pd.DataFrame, baselines: dict) -> pd.DataFrame:
    """Per configuration: how many runs reached the target, the censored median cost; against standard training
    seed by seed, how often it got there sooner, later or neither did, the median FLOPs ratio, and how many of the
    sooner pairs reached it in the same epoch as their partner (``same_epoch``: their ratio is an epoch's cost, the
    target read once an epoch cannot say which got there first)."""
    done = runs[runs["in_stats"] & runs["target_acc"].notna()]
    out = []
    for cfg in configs[configs["config_id"].isin(done["config_id"])].to_dict("records"):
        mine = done[done["config_id"] == cfg["config_id"]]
        row = {
            "config_id": cfg["config_id"],
            "label": cfg["label"],
            "target_acc": mine["target_acc"].iloc[0],
            "target_on": mine["target_on"].iloc[0],
            "runs": len(mine),
            "reached": int(np.isfinite(mine["flops_to_target"]).sum()),
            "median_flops": censored_median(mine["flops_to_target"]),
            "median_s": censored_median(mine["s_to_target"].dropna()),
        }
        if base := baselines.get(cfg["config_id"]):
            cols = ["seed", "flops_to_target", "epoch_to_target"]
            pairs = mine[cols].merge(done.loc[done["config_id"] == base["config_id"], cols], on="seed")
            ratio = np.array([cost_ratio(a, b) for a, b in zip(pairs["flops_to_target_x"], pairs["flops_to_target_y"])])
            same = (pairs["epoch_to_target_x"] == pairs["epoch_to_target_y"]) & np.isfinite(pairs["epoch_to_target_x"])
            known = ratio[~np.isnan(ratio)]
            row |= {
                "baseline_label": base["label"],
                "pairs": len(pairs),
                "sooner": int((ratio < 1).sum()),
                "later": int((ratio > 1).sum()),
                "neither": int(np.isnan(ratio).sum()),
                "same_epoch": int((same.to_numpy() & (ratio < 1)).sum()),
                "median_flops_ratio": float(np.median(known)) if known.size else math.nan,
            }
        out.append(row)
    return pd.DataFrame(out)
