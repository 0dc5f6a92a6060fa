"""What a reader must know before trusting the numbers, as sentences for the report and the log: excluded,
duplicate and missing runs, too few seeds, missing baselines or partners, mixed hardware or threads, timing."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .describe import MAX_LISTED, listing, seeds_text
from .stats import MIN_SEEDS


def missing_runs(runs: pd.DataFrame) -> list[str]:
    """Seeds some configurations of a sweep folder have and others have no folder for (never launched, or
    removed): invisible in every table unless said. One sentence per set of missing seeds."""
    notes = []
    for sweep, group in runs[runs["config_id"].notna() & runs["seed"].notna()].groupby("sweep_dir", sort=True):
        lost = group.groupby("config_id")["seed"].agg(lambda s: tuple(sorted(set(group["seed"]) - set(s))))
        labels = group.drop_duplicates("config_id").set_index("config_id")["label"]
        for seeds, ids in sorted(lost[lost.map(len) > 0].groupby(lost).groups.items(), key=lambda kv: (len(kv[0]), kv)):
            notes.append(f"No run folder for seed(s) {seeds_text(seeds)} in {len(ids)} configuration(s) of "
                         f"{Path(str(sweep)).name}, though other configurations there have them (never launched, or "
                         f"removed): {listing(sorted(labels[ids]))}.")
    return notes


def few_seeds(stats: pd.DataFrame) -> list[str]:
    """One sentence per seed count below MIN_SEEDS, naming the configurations."""
    acc, notes = stats[stats["metric"] == "final_test_acc"], []
    for n, group in acc[acc["n"] < MIN_SEEDS].groupby("n", sort=True):
        who = f"every configuration ({len(group)})" if len(group) == len(acc) > 1 else listing(group["label"])
        notes.append(f"No completed runs: {who}." if n == 0 else f"One completed seed only: {who}. No standard "
                     f"deviation, confidence interval or test is possible (shown as '–')." if n == 1 else
                     f"Only {n} completed seeds (< {MIN_SEEDS}): {who}. Intervals are wide, bootstrap intervals are "
                     f"too narrow at this n (the t-intervals are the honest ones), and a test that finds no "
                     f"difference says little.")
    return notes


def pairing(paired: pd.DataFrame) -> list[str]:
    """Configurations without a baseline, and seeds completed in one arm only."""
    notes = []
    for r in paired.drop_duplicates("config_id").to_dict("records"):
        parts = [f"seed(s) {s} only in {who}" for s, who in ((r["seeds_only_config"], r["label"]),
                                                            (r["seeds_only_baseline"], r["baseline_label"])) if s]
        if pd.isna(r["baseline_id"]):
            notes.append(f"{r['label']}: no standard run with the same dataset, model, optimizer and trainer settings: "
                         f"no paired comparison.")
        elif parts:
            notes.append(f"{r['label']} vs {r['baseline_label']}: unpaired {' and '.join(parts)}, dropped from the "
                         f"paired comparison.")
    return notes


def timing(done: pd.DataFrame) -> list[str]:
    """Completed runs whose seconds cannot be compared (``speed``), counted by reason; mixed thread counts."""
    flagged = done.loc[done["timing_flag"] != "", "timing_flag"]
    kinds = ", ".join(f"{n} {k}" for k in ("batch", "throughput", "starved", "resumed", "too few")
                      if (n := int(flagged.str.contains(k).sum())))
    mixed = done[done["thread_counts"].fillna("").str.contains(",")]
    which = listing(mixed["run_id"] + " (" + mixed["thread_counts"] + " threads)")
    notes = [f"Timing: the seconds of {len(flagged)} of {len(done)} completed runs cannot be compared ({kinds}; "
             f"runs.csv's timing_flag says which and why): every wall-clock statistic leaves them out (see 'Speed')."]
    mixed_note = [f"{len(mixed)} run(s) ran under more than one thread count (resumed under another; the low bits "
                  f"of their results may differ): {which}."]
    return notes * bool(len(flagged)) + mixed_note * bool(len(mixed))


def collect_warnings(runs: pd.DataFrame, stats: pd.DataFrame, paired: pd.DataFrame) -> list[str]:
    """Everything a reader must know before trusting the numbers, as sentences."""
    runs = runs[runs["role"].ne("trial")]  # a tuned sweep's trials are reported with the tuning
    done, bad, unknown, dups = (runs[m] for m in (runs["in_stats"], runs["status"] != "completed",
                                                  runs["config_id"].isna(), runs["note"].notna()))
    notes = ["No completed runs: there is nothing to compute statistics on."] * done.empty
    notes += [f"{len(bad)} of {len(runs)} runs excluded from the statistics: " + ", ".join(f"{n} {s}" for s, n in bad[
        "status"].value_counts().items()) + " (see the table of problem runs)."] * bool(len(bad))
    notes += [f"{len(unknown)} run(s) without a readable config cannot be assigned to a configuration: "
              f"{listing(unknown['run_id'])}."] * bool(len(unknown))
    notes += [f"{len(dups)} completed run(s) repeat a configuration and seed already counted: " + listing(
        f"{r} is a {n}" for r, n in zip(dups["run_id"], dups["note"])) + "."] * bool(len(dups))
    notes += missing_runs(runs)
    for r in stats.drop_duplicates("config_id").to_dict("records"):
        lost = runs.loc[(runs["config_id"] == r["config_id"]) & runs["status"].isin(["diverged", "failed"]), "status"]
        notes += [f"{r['label']}: {', '.join(f'{k} {s}' for s, k in lost.value_counts().items())} of {r['n_runs']} "
                  f"runs excluded; its statistics describe only the completed runs, which flatters it if failures are "
                  f"part of its behaviour."] * bool(len(lost))
    notes += few_seeds(stats) + timing(done) + pairing(paired)
    for col, what in (("device", "devices"), ("num_threads", "thread counts")):
        if done[col].nunique(dropna=True) > 1:
            values = ", ".join(sorted(map(str, done[col].dropna().unique())))
            notes.append(f"Completed runs ran on different {what} ({values}): train_s comparisons mix hardware.")
    said = done[done["notes"].fillna("") != ""]
    return notes + [f"{r}: {n}" for r, n in zip(said["run_id"][:MAX_LISTED], said["notes"])]
