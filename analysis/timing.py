"""Which runs' seconds can be trusted, per run, configuration and pair. Seeds of one configuration do the same
work, so their throughput (FLOPs per second) should agree: a run far from its configuration's median measured
the machine's other load, not the strategy; one whose threads got much less CPU than wall time was starved.
Batched runs' seconds are their group's. Only trusted pairs compare seconds, and only where enough are."""
from __future__ import annotations

import numpy as np
import pandas as pd

# Identical work on a quiet machine varies by some 10-20% between processes; a load period costs 2-40x.
THROUGHPUT_FACTOR = 1.5  # flagged: throughput above median x 1.5 or below median / 1.5
# An unloaded process keeps its threads busy (torch's spin; measured 0.95-1.03 here); a starved one
# waits for a core: CPU seconds under 60% of wall seconds x threads.
STARVED_SHARE = 0.6
MIN_TIMED_PAIRS = 3  # and more than half of a configuration's pairs: fewer trusted pairs, no wall-clock verdict


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


def _values(runs: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(runs[column], errors="coerce").astype("float64").to_numpy() if column in runs \
        else np.full(len(runs), np.nan)


def judge_timing(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``timing_ok`` (its seconds can be compared) and ``timing_flag`` (why not): each completed
    run against its configuration's median throughput and its own CPU share, then each configuration as a
    whole (``timing_usable`` over its runs)."""
    runs = runs.copy()
    flops, wall = _values(runs, "train_flops"), _values(runs, "train_s")
    speed = np.where(wall > 0, flops / np.where(wall > 0, wall, 1), np.nan)
    batched = _values(runs, "batched_with")
    alone = runs["in_stats"].to_numpy(dtype=bool) & ~(batched > 1)
    far = np.full(len(runs), np.nan)
    for cid in runs.loc[alone, "config_id"].unique():
        mine = alone & (runs["config_id"] == cid).to_numpy()
        far[mine] = departure(speed[mine])
    counts = [str(t).split(",") if isinstance(t, str) and t else [] for t in runs["thread_counts"]]
    threads = np.fmax(_values(runs, "num_threads"), [max(map(float, c), default=np.nan) for c in counts])
    threads[[len(c) > 1 for c in counts]] = np.nan  # resumed under another count: no one number of threads
    share = cpu_share(_values(runs, "train_cpu_s"), wall, threads)
    flags = []
    for i in range(len(runs)):
        why = []
        if batched[i] > 1:
            why.append(f"trained in a batch of {int(batched[i])} runs: its seconds are the group's")
        if far[i] > THROUGHPUT_FACTOR:
            why.append(f"throughput {speed[i] / 1e9:.3g} GFLOP/s, {far[i]:.1f}x from its configuration's median")
        if share[i] < STARVED_SHARE:
            why.append(f"starved of CPU: {share[i]:.0%} of wall time x {int(threads[i])} thread(s) computing")
        if len(counts[i]) > 1:
            why.append(f"ran under {' and '.join(counts[i])} threads (resumed under another count)")
        flags.append("; ".join(why))
    ok = runs["in_stats"].to_numpy(dtype=bool) & (np.array(flags) == "") & np.isfinite(wall)
    for cid in runs.loc[runs["in_stats"], "config_id"].unique():  # a configuration is judged as a whole too
        mine = runs["in_stats"].to_numpy(dtype=bool) & (runs["config_id"] == cid).to_numpy()
        if not timing_usable(n := int(ok[mine].sum()), int(mine.sum())):
            for i in np.flatnonzero(mine & ok):
                flags[i] = f"too few trusted runs in its configuration ({n} of {int(mine.sum())})"
            ok[mine] = False
    return runs.assign(timing_flag=flags, timing_ok=ok)
