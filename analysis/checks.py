"""What a reader must know before trusting the numbers, as the template's sentences (``warn_*``) for the report and
the log: excluded, duplicate and missing runs, too few seeds, missing partners, mixed hardware or threads, timing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from alternating_freeze.contract import ACCURACY, Objective

from .columns import element
from .describe import counted, fmt_value, listing, say, seeds_text
from .measures import headline_metric
from .stats import MIN_SEEDS
from .tuning import OUTSIDE_VERDICT, final_jobs, final_values


def missing_runs(runs: pd.DataFrame) -> list[str]:
    """Seeds some configurations of a sweep folder have and others lack (never launched, or removed)."""
    notes = []
    for sweep, group in runs[runs["config_id"].notna() & runs["seed"].notna()].groupby("sweep_dir", sort=True):
        every = set(group["seed"])
        lost = group.groupby("config_id")["seed"].agg(lambda s, every=every: tuple(sorted(every - set(s))))
        labels = group.drop_duplicates("config_id").set_index("config_id")["label"]
        for seeds, ids in sorted(lost[lost.map(len) > 0].groupby(lost).groups.items(), key=lambda kv: (len(kv[0]), kv)):
            notes.append(
                say(
                    "warn_missing",
                    seeds=seeds_text(seeds),
                    n=len(ids),
                    sweep=Path(str(sweep)).name,
                    which=listing(sorted(labels[ids])),
                )
            )
    return notes


def few_seeds(stats: pd.DataFrame, objective: Objective = ACCURACY) -> list[str]:
    """One sentence per seed count below MIN_SEEDS (of the headline metric), naming the configurations."""
    acc, notes = stats[stats["metric"] == headline_metric(objective)], []
    for n, group in acc[acc["n"] < MIN_SEEDS].groupby("n", sort=True):
        who = f"every configuration ({len(group)})" if len(group) == len(acc) > 1 else listing(group["label"])
        section = "warn_no_seed" if n == 0 else "warn_one_seed" if n == 1 else "warn_few_seeds"
        notes.append(say(section, n=n, min=MIN_SEEDS, who=who))
    return notes


def pairing(paired: pd.DataFrame) -> list[str]:
    """Configurations without a baseline, and seeds completed in one arm only."""
    notes = []
    for r in paired.drop_duplicates("config_id").to_dict("records"):
        parts = [
            f"seed(s) {s} only in {who}"
            for s, who in ((r["seeds_only_config"], r["label"]), (r["seeds_only_baseline"], r["baseline_label"]))
            if s
        ]
        if pd.isna(r["baseline_id"]):
            notes.append(say("warn_no_baseline", label=r["label"]))
        elif parts:
            notes.append(
                say("warn_unpaired", label=r["label"], baseline=r["baseline_label"], parts=" and ".join(parts))
            )
    return notes


def timing(done: pd.DataFrame) -> list[str]:
    """Completed runs whose seconds cannot be compared (``speed``), counted by reason; mixed thread counts."""
    flagged = done.loc[done["timing_flag"] != "", "timing_flag"]
    kinds = ", ".join(
        f"{n} {k}"
        for k in ("batch", "throughput", "starved", "resumed", "too few")
        if (n := int(flagged.str.contains(k).sum()))
    )
    mixed = done[done["thread_counts"].fillna("").str.contains(",")]
    which = listing(mixed["run_id"] + " (" + mixed["thread_counts"] + " threads)")
    return [say("warn_timing", n=len(flagged), of=len(done), kinds=kinds)] * bool(len(flagged)) + [
        say("warn_threads", n=len(mixed), which=which)
    ] * bool(len(mixed))


def off_choice(runs: pd.DataFrame, sweeps: list) -> list[str]:
    """Final runs of a tuned sweep whose tuned values are not their arm's recorded choice (a job folder reused or
    edited by hand): the verdict would compare other settings than the protocol says."""
    chosen = {path: choice for path, _, choice in final_jobs(sweeps)}
    off = [
        f"{r['run_id']} ({key}={fmt_value(element(r, key))}, chosen {fmt_value(value)})"
        for r in runs[runs["config_id"].notna()].to_dict("records")
        for key, value in chosen.get(Path(r["run_dir"]), {}).items()
        if fmt_value(element(r, key)) != fmt_value(value)
    ]
    return [say("warn_tuning_off", n=len(off), which=listing(off))] * bool(off)


def same_epoch(target: pd.DataFrame) -> list[str]:
    """Configurations counted as reaching the target sooner than standard training in pairs where both reached it
    in the same epoch: the target is read once an epoch, so the ratio is only what an epoch of each costs."""
    if "same_epoch" not in target:
        return []
    hits = target[target["same_epoch"] > 0]
    which = [f"{r['label']} ({int(r['same_epoch'])} of {int(r['sooner'])})" for r in hits.to_dict("records")]
    return [say("warn_target_epoch", which=listing(which))] * bool(which)


def close_calls(tuning: dict, runs: pd.DataFrame, path: Path) -> list[tuple]:
    """(arm, chosen, its mean, runner-up, its mean, standard error) of each grid-tuned arm whose choice beat the
    next best setting by less than one standard error of the difference of their mean tuning scores: the seed SD of
    the tuning metric over the arm's final runs x sqrt(1/n1 + 1/n2), n the tuning seeds behind each mean. The means
    are the chooser's own (tuning.json's ``scores``); a setting with a failed trial scored the worst and is not a
    contender. Other tuning seeds might have chosen the runner-up."""
    if tuning.get("method", "grid") != "grid" or (metric := tuning.get("metric")) not in runs:
        return []
    sign = 1 if tuning.get("mode", "max") == "max" else -1
    out = []
    for arm, spec in tuning["arms"].items():
        points = [
            p
            for p in spec.get("scores") or []
            if not p.get("n_failed")
            and p.get("n")
            and isinstance(p.get("mean"), (int, float))
            and math.isfinite(p["mean"])
        ]
        mine = [p for p in points if p["values"] == spec.get("chosen")]
        others = sorted((p for p in points if p["values"] != spec.get("chosen")), key=lambda p: -sign * p["mean"])
        finals = final_values(runs, path, spec.get("final_jobs") or [], metric)
        if len(mine) != 1 or not others or len(finals) < 2:
            continue
        (a,), b = mine, others[0]
        se = float(np.std(finals, ddof=1)) * math.sqrt(1 / a["n"] + 1 / b["n"])
        if abs(a["mean"] - b["mean"]) < se:
            out.append((arm, a["values"], a["mean"], b["values"], b["mean"], se))
    return out


def close_call_warnings(tuning: dict, runs: pd.DataFrame, path: Path) -> list[str]:
    def setting(values: dict) -> str:
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in values.items())

    close = [
        f"{arm}: {setting(a)} {m:.4f} against {setting(b)} {n:.4f}, standard error {se:.2g}"
        for arm, a, m, b, n, se in close_calls(tuning, runs, path)
    ]
    seeds = len(tuning.get("tuning_seeds") or [])
    return [say("warn_tuning_close", which=listing(close), seeds=f"{seeds} seed{'s' * (seeds != 1)}")] * bool(close)


def untrained(runs: pd.DataFrame, curves: pd.DataFrame) -> dict[str, str]:
    """Configuration id -> label of the configurations some completed run of which never trained some block
    (metrics.csv's ``trained`` column, over the whole run): the arm is not what its name says."""
    from alternating_freeze.contract import parse_trained

    done = curves[curves["status"].eq("completed") & curves["config_id"].notna()]
    blocks = runs.drop_duplicates("run_id").set_index("run_id")["n_blocks"]
    found = {}
    for (run_id, config_id, label), trained in done.groupby(["run_id", "config_id", "label"])["trained"]:
        sets = [parse_trained(str(t)) for t in trained.dropna()]
        k = blocks.get(run_id)
        if sets and None not in sets and not pd.isna(k) and len(frozenset().union(*sets)) < int(k):
            found[config_id] = label
    return found


SAME_COLUMNS = ("train_loss", "test_loss", "test_acc", "val_acc", "trained")


def same_runs(curves: pd.DataFrame) -> list[list[str]]:
    """Groups of configuration labels whose completed runs are the same runs: identical per-epoch metrics
    (timings aside) for every seed, and the same seeds."""
    done = curves[curves["status"].eq("completed") & curves["config_id"].notna()]
    cols = [c for c in SAME_COLUMNS if c in done]
    prints: dict = {}
    for (_, label), group in done.groupby(["config_id", "label"]):
        key = tuple(
            (seed, tuple(map(tuple, g[cols].astype(str).to_numpy()))) for seed, g in group.groupby("seed", sort=True)
        )
        prints.setdefault(key, []).append(label)
    return [sorted(labels) for labels in prints.values() if len(labels) > 1]


def schedule(runs: pd.DataFrame, curves: pd.DataFrame) -> list[str]:
    """Arms that never trained some block, and arms that are provably the same run, each said once."""
    never = untrained(runs, curves)
    notes = [say("warn_untrained", n=len(never), which=listing(sorted(never.values())))] * bool(never)
    return notes + [say("warn_same_runs", which=" = ".join(group)) for group in same_runs(curves)]


def run_notes(done: pd.DataFrame) -> list[str]:
    """Each run's note once, with the number of runs that have it (a batched sweep's group note is every run's)."""
    said = done[done["notes"].fillna("") != ""]
    by_note = said.groupby("notes", sort=False)["run_id"].agg(list)
    return [
        f"{ids[0]}: {note}"
        if len(ids) == 1
        else f"every completed run ({len(ids)}): {note}"
        if len(ids) == len(done) > 1
        else f"{len(ids)} runs ({listing(ids)}): {note}"
        for note, ids in by_note.items()
    ]


def collect_warnings(
    runs: pd.DataFrame,
    stats: pd.DataFrame,
    paired: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    objective: Objective = ACCURACY,
) -> list[str]:
    """Everything a reader must know before trusting the numbers, as sentences."""
    runs = runs[~runs["role"].isin(OUTSIDE_VERDICT)]  # a tuned sweep's trials are reported with the tuning
    done, bad, unknown, dups = (
        runs[m]
        for m in (runs["in_stats"], runs["status"] != "completed", runs["config_id"].isna(), runs["note"].notna())
    )
    notes = [say("warn_no_runs")] * done.empty
    notes += [say("warn_excluded", n=len(bad), of=len(runs), counts=counted(bad["status"]))] * bool(len(bad))
    notes += [say("warn_unknown", n=len(unknown), which=listing(unknown["run_id"]))] * bool(len(unknown))
    notes += [
        say(
            "warn_duplicates", n=len(dups), which=listing(f"{r} is a {n}" for r, n in zip(dups["run_id"], dups["note"]))
        )
    ] * bool(len(dups))
    notes += missing_runs(runs)
    for r in stats.drop_duplicates("config_id").to_dict("records"):
        lost = runs.loc[(runs["config_id"] == r["config_id"]) & runs["status"].isin(["diverged", "failed"]), "status"]
        notes += [say("warn_lost", label=r["label"], lost=counted(lost), n=r["n_runs"])] * bool(len(lost))
    notes += few_seeds(stats, objective) + timing(done) + pairing(paired)
    notes += schedule(runs, curves) if curves is not None and len(curves) else []
    for col, what in (("device", "devices"), ("num_threads", "thread counts")):
        if done[col].nunique(dropna=True) > 1:
            values = ", ".join(sorted(map(str, done[col].dropna().unique())))
            notes.append(say("warn_mixed", what=what, values=values))
    return notes + run_notes(done)
