"""What a reader must know before trusting the numbers, as sentences for the report and the log.

Excluded, duplicate and missing runs, too few seeds, missing baselines or partners, mixed hardware:
each is a way the statistics can mislead without being wrong.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .describe import is_missing, seeds_text
from .stats import MIN_SEEDS

MAX_LISTED = 10  # longer lists of runs or configurations end in "..."
NOISY_TIME_CV = 0.5  # training seconds varying more than this (sd / mean) across seeds: the timing was disturbed


def _listing(items: list[str]) -> str:
    """Items joined by "; " (labels contain commas), the first MAX_LISTED of them."""
    return "; ".join(items[:MAX_LISTED]) + ("; ..." if len(items) > MAX_LISTED else "")


def missing_runs(runs: pd.DataFrame) -> list[str]:
    """Seeds that some configurations of a sweep folder have and others have no folder for at all
    (a job never launched, or its folder removed): invisible in every table unless said. One
    sentence per sweep folder and set of missing seeds."""
    notes = []
    known = runs[runs["config_id"].notna() & runs["seed"].notna()]
    for sweep, group in known.groupby("sweep_dir", sort=True):
        if group["config_id"].nunique() < 2:
            continue
        every_seed = set(group["seed"])
        by_missing: dict[tuple, list[str]] = {}
        for _, mine in group.groupby("config_id", sort=False):
            lost = tuple(sorted(every_seed - set(mine["seed"])))
            if lost:
                by_missing.setdefault(lost, []).append(str(mine["label"].iloc[0]))
        for lost, labels in sorted(by_missing.items(), key=lambda kv: (len(kv[0]), kv[0])):
            notes.append(f"No run folder for seed(s) {seeds_text(lost)} in {len(labels)} configuration(s) of "
                         f"{Path(str(sweep)).name}, though other configurations there have them (never launched, "
                         f"or removed): {_listing(sorted(labels))}.")
    return notes


def _few_seeds(stats: pd.DataFrame) -> list[str]:
    """One sentence per seed count below MIN_SEEDS, naming the configurations (not one per configuration)."""
    acc = stats[stats["metric"] == "final_test_acc"] if "final_test_acc" in set(stats["metric"]) else \
        stats.drop_duplicates("config_id")
    n_configs = acc["config_id"].nunique()
    notes = []
    for n, group in acc.groupby("n", sort=True):
        n = int(n)
        if n >= MIN_SEEDS:
            continue
        labels = list(group["label"])
        who = (f"every configuration ({len(labels)})" if len(labels) == n_configs and n_configs > 1
               else _listing(labels))
        if n == 0:
            notes.append(f"No completed runs: {who}.")
        elif n == 1:
            notes.append(f"One completed seed only: {who}. No standard deviation, confidence interval or test "
                         f"is possible (shown as '–').")
        else:
            notes.append(f"Only {n} completed seeds (< {MIN_SEEDS}): {who}. Intervals are wide, bootstrap "
                         f"intervals are too narrow at this n (the t-intervals are the honest ones), and a test "
                         f"that finds no difference says little.")
    return notes


def noisy_timing(stats: pd.DataFrame) -> list[str]:
    """Seeds of one configuration do the same work, so training seconds that vary a lot between them
    measure the machine's other load, not the strategy."""
    t = stats[(stats["metric"] == "train_s") & (stats["n"] >= 2) & (stats["mean"] > 0)]
    noisy = t[t["std"] / t["mean"] > NOISY_TIME_CV]
    if noisy.empty:
        return []
    return [f"Training time varies by more than {NOISY_TIME_CV:.0%} (sd / mean) between the seeds of "
            f"{len(noisy)} of {len(t)} configuration(s) ({_listing(list(noisy['label']))}): the machine was "
            f"probably busy with other work, so compare cost in FLOPs rather than seconds."]


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
                     + _listing(list(unknown["run_id"].astype(str))) + ".")
    dups = runs[runs["note"].notna()]
    if len(dups):
        listed = _listing([f"{r} is a {n}" for r, n in zip(dups["run_id"], dups["note"])])
        notes.append(f"{len(dups)} completed run(s) repeat a configuration and seed already counted: {listed}.")
    notes.extend(missing_runs(runs))
    if len(stats):
        for r in stats.drop_duplicates("config_id").to_dict("records"):
            lost = runs[(runs["config_id"] == r["config_id"]) & runs["status"].isin(["diverged", "failed"])]
            if len(lost):
                kinds = ", ".join(f"{k} {s}" for s, k in lost["status"].value_counts().items())
                notes.append(f"{r['label']}: {kinds} of {r['n_runs']} runs excluded; its statistics describe only "
                             f"the completed runs, which flatters it if failures are part of its behaviour.")
        notes.extend(_few_seeds(stats))
        notes.extend(noisy_timing(stats))
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


__all__ = ["collect_warnings", "missing_runs", "noisy_timing"]
