"""Run folders into tidy tables: ``runs`` (one row per run, its ``config_id``: what it computed, seed aside, its
``context_id``: what its standard baseline must share, and a ``label``), ``curves`` (per run and epoch), sweeps."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from alternating_freeze.contract import METRICS_COLUMNS, METRICS_FILE, MULTIRUN_FILE, SUMMARY_FILE, TUNING_FILE

from . import tuning
from .columns import ALIASES, GROUPS, RESOLVED_KEYS, RESULT_KEYS, column
from .describe import fmt_value, is_missing
from .reading import read_run, read_sweep
from .speed import judge_timing

# summary.json's three, and the analysis' own: ``incomplete`` (no summary.json: killed or running) and ``corrupt``
# (unreadable, malformed or impossible). Only ``completed`` runs enter the statistics.
STATUSES = ("completed", "diverged", "failed", "incomplete", "corrupt")
STRATEGY = {v for k, v in ALIASES.items() if k.startswith("strategy.")}
RANK = {column: i for i, column in enumerate(ALIASES.values())}  # config columns in the order of ALIASES
BLOCKS = ("split", "splits")  # where blocks begin: standard training does not depend on it
FIRST = (
    "run_id",
    "label",
    "status",
    "in_stats",
    "seed",
    "config_id",
    "context_id",
    "strategy_label",
    "n_blocks",
    "role",
    "arm",
    "error",
    "note",
    "epochs_completed",
)
LAST = (
    *RESULT_KEYS,
    "objective",
    "selection",
    *RESOLVED_KEYS,
    "planned_epochs",
    "device",
    "num_threads",
    "thread_counts",
    "notes",
    "config_hash",
    "started_at",
    "finished_at",
    "overrides",
    "job",
    "sweep_dir",
    "run_dir",
)


def key_columns(columns: Iterable[str]) -> list[str]:
    """What makes a configuration: every result-affecting config column but the seed, in table order."""
    return [
        c
        for c in columns
        if c != "seed" and (c in ALIASES.values() or c.split(".")[0] in (*GROUPS, "config") and "." in c)
    ]


def context_columns(columns: Iterable[str]) -> list[str]:
    """What a configuration shares with its standard baseline: all but the strategy, its blocks and budget rule."""
    return [c for c in key_columns(columns) if not (c.startswith("strategy.") or c in (*STRATEGY, *BLOCKS, "budget"))]


class Loaded(NamedTuple):
    runs: pd.DataFrame
    curves: pd.DataFrame
    sweeps: list


def find_run_dirs(root: Path) -> list[Path]:
    """Every folder under ``root`` (itself included) with .hydra/config.yaml, summary.json or metrics.csv."""
    found = {p.parent for name in (SUMMARY_FILE, METRICS_FILE) for p in root.rglob(name) if p.is_file()}
    found |= {p.parent.parent for p in root.rglob("config.yaml") if p.parent.name == ".hydra" and p.is_file()}
    return sorted(d for d in found if ".hydra" not in d.relative_to(root).parts)


def plain(value: Any) -> Any:
    value = None if is_missing(value) else value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def digest(values: dict) -> str:
    blob = json.dumps({k: plain(v) for k, v in sorted(values.items())}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def blocks_text(row: dict, with_k: bool) -> str:
    """Where blocks begin: "split=2", "splits=1,3", led by "K=3 " when the number of blocks varies."""
    text = (
        f"splits={row['splits']}"
        if not is_missing(row.get("splits"))
        else f"split={fmt_value(row['split'])}"
        if not is_missing(row.get("split"))
        else ""
    )
    return f"K={fmt_value(row.get('n_blocks'))} {text}" if text and with_k else text


def identify(runs: pd.DataFrame, tuned: list[str]) -> None:
    """config_id, context_id, strategy_label and a label of the strategy plus every setting that varies."""
    keys = key_columns(runs)
    known, std = runs["config_id"].notna(), runs["strategy"].eq("standard")
    key = runs[keys].astype(object).where(runs[keys].notna(), None)
    key.loc[std, [b for b in BLOCKS if b in key]] = None  # standard training trains every block at once
    budget = key.pop("budget") if "budget" in key else pd.Series(None, index=key.index, dtype=object)
    key["budget"] = budget.where(~(std & budget.eq("standard")), None)  # the same computation as no budget
    where = key[context_columns(keys)].assign(budget=[b if isinstance(b, (int, float)) else None for b in budget])
    where.loc[runs["role"].eq("final"), [c for c in tuned if c in where]] = None  # tuned per arm: not shared
    runs["context_id"] = [digest(k) if ok else None for k, ok in zip(where.to_dict("records"), known)]
    share_schedule_or_the_only_one(runs, where, known, std)
    said = {
        "steps",
        *",".join(runs.pop("labelled").dropna() if "labelled" in runs else []).split(","),
    }  # what strategy labels already say
    varying = [
        c
        for c in key
        if c not in said
        and key.loc[known, c].dropna().map(plain).astype(str).nunique() > 1
        or c == "budget"
        and key[c].notna().any()
    ]  # a budget is always named
    with_k = runs.loc[known & ~std, "n_blocks"].nunique() > 1
    blocks = next((c for c in varying if c in BLOCKS), None)
    runs["label"] = [
        ", ".join(
            [
                r["strategy_label"],
                *filter(
                    None,
                    (
                        blocks_text(k | {"n_blocks": r["n_blocks"]}, with_k)
                        if c == blocks
                        else f"{c}={fmt_value(k[c])}"
                        for c in varying
                        if c == blocks or c not in BLOCKS and k[c] is not None
                    ),
                ),
            ]
        )
        if ok
        else None
        for r, k, ok in zip(runs.to_dict("records"), key.to_dict("records"), known)
    ]
    first = runs[known].drop_duplicates("config_id")
    clash = runs["config_id"].isin(first.loc[first["label"].duplicated(keep=False), "config_id"])
    runs.loc[clash, "label"] += " [" + runs.loc[clash, "config_id"].str[:6] + "]"


def share_schedule_or_the_only_one(runs: pd.DataFrame, where: pd.DataFrame, known, std) -> None:
    """A configuration's baseline shares its learning-rate schedule (``config.scheduler.*``). A strategy that sets
    its own rates (FreezeOut, with scheduler constant) may have no standard run under its schedule: it is then paired
    with the standard run of its context whatever that one's schedule, where there is exactly one (its label names
    the schedule, which varies)."""
    schedule = [c for c in where if c.startswith("config.scheduler.")]
    if not schedule:
        return
    rest = [digest(k) if ok else None for k, ok in zip(where.drop(columns=schedule).to_dict("records"), known)]
    rest = pd.Series(rest, index=runs.index)
    baselines = runs[std & known].groupby(rest[std & known])["context_id"].unique()
    alone = known & ~std & ~runs["context_id"].isin(runs.loc[std, "context_id"])
    for i in runs.index[alone]:
        found = baselines.get(rest[i])
        if found is not None and len(found) == 1:
            runs.loc[i, "context_id"] = found[0]


def mark_duplicates(runs: pd.DataFrame) -> None:
    """Completed runs of one configuration and seed are one observation: the last finished counts (trials never)."""
    runs["in_stats"] = (
        runs["status"].eq("completed")
        & runs["config_id"].notna()
        & runs["seed"].notna()
        & ~runs["role"].isin(tuning.OUTSIDE_VERDICT)
    )
    done = runs[runs["in_stats"]].assign(f=runs["finished_at"].astype(str)).sort_values(["f", "run_dir"])
    runs["note"] = runs["note"].astype(object)
    for _, group in done.groupby(["config_id", "seed"]):
        runs.loc[group.index[:-1], ["in_stats", "note"]] = [
            False,
            f"duplicate of {group['run_id'].iloc[-1]} (same configuration and seed); not counted",
        ]


def tidy(frame: pd.DataFrame, records: list[dict]) -> pd.DataFrame:
    """Integers stay integers beside missing values (every=4, not 4.0), booleans booleans, as read."""
    for c in frame.columns:
        kinds = {type(v) for v in (r.get(c) for r in records) if not is_missing(v)}
        if kinds and kinds <= {int, float, bool}:
            frame[c] = frame[c].astype("boolean" if kinds == {bool} else "Int64" if kinds == {int} else "float64")
    return frame


def load(paths: Sequence[Path | str]) -> Loaded:
    """Every run folder under ``paths``; NotADirectoryError / FileNotFoundError for a path that is not a folder."""
    roots = [Path(p).expanduser().resolve() for p in paths]
    for p, root in zip(paths, roots):
        if not root.is_dir():
            raise (
                NotADirectoryError(f"not a folder: {p}") if root.exists() else FileNotFoundError(f"no such folder: {p}")
            )
    rows, metrics, sweeps = {}, {}, []
    for root in roots:
        sweeps += [
            read_sweep(f) for f in sorted({p.parent for n in (MULTIRUN_FILE, TUNING_FILE) for p in root.rglob(n)})
        ]
        for run_dir in (d for d in find_run_dirs(root) if str(d) not in rows):
            row, metrics[str(run_dir)] = read_run(run_dir)
            job = run_dir.relative_to(root).as_posix()
            rows[str(run_dir)] = row | {
                "job": run_dir.name if job == "." else job,
                "sweep_dir": str(root),
                "run_id": job if len(roots) == 1 else f"{root.name}/{job}",
            }
    records, arms = list(rows.values()), tuning.roles(sweeps)
    if len({r["run_id"] for r in records}) < len(records):  # hostA/sweep and hostB/sweep: below their common parent
        for r in records:
            r["run_id"] = Path(r["run_dir"]).relative_to(os.path.commonpath(roots)).as_posix()
    trial_seeds = unread_tuning(sweeps)
    for r in records:
        r["arm"], r["role"] = arms.get(Path(r["run_dir"]), (None, None))
        if r["role"] is None and any(
            Path(r["run_dir"]).is_relative_to(path) and r.get("seed") in seeds for path, seeds in trial_seeds.items()
        ):
            r["role"] = "trial"  # a tuned sweep whose tuning.json cannot be read: its trials are known by their seeds
    runs = pd.DataFrame.from_records(records)
    config = sorted({"strategy", *key_columns(runs)}, key=lambda c: (RANK.get(c, len(RANK)), c))
    runs = tidy(
        runs.reindex(columns=[*FIRST, *config, *(c for c in runs if c not in {*FIRST, *config, *LAST}), *LAST]), records
    )
    if len(runs):
        identify(runs, sorted({column(k) for s in sweeps if s.tuning for k in s.tuning["grid"]}))
        mark_duplicates(runs)
    runs = runs.sort_values(["sweep_dir", "job"], kind="stable").reset_index(drop=True)
    runs = judge_timing(runs.assign(in_stats=runs["in_stats"].fillna(False).astype(bool)))
    frames = [m.assign(run_dir=d) for d, m in metrics.items() if m is not None]
    curves = pd.concat(frames) if frames else pd.DataFrame(columns=METRICS_COLUMNS, dtype=float).assign(run_dir="")
    cols = ["run_id", "config_id", "label", "seed", "in_stats", "status", "strategy"]
    curves = runs[[*cols, "run_dir"]].astype({"run_dir": str}).merge(curves, on="run_dir").drop(columns="run_dir")
    return Loaded(runs, curves.assign(train_s_cum=curves.groupby("run_id", sort=False)["epoch_s"].cumsum()), sweeps)


def seed_values(spec: Any) -> set[int]:
    """The seeds of a sweep's seed setting as Hydra writes them: ``range(1000,1003)``, ``1000,1001`` or one."""
    text = str(spec).replace(" ", "")
    if text.startswith("range(") and text.endswith(")"):
        try:
            return set(range(*(int(x) for x in text[6:-1].split(","))))
        except (TypeError, ValueError):
            return set()
    return {int(x) for x in text.split(",") if x.lstrip("-").isdigit()}


DEFAULT_TUNING_SEEDS = "range(1000,1003)"  # alternating_freeze.tuning.TuneConf.seeds


def unread_tuning(sweeps: list) -> dict[str, set[int]]:
    """Sweep folder -> the tuning seeds of a tuned sweep whose tuning.json is unreadable (from its multirun.yaml,
    else the default): its trials must stay out of the verdict whatever tuning.json says."""
    out = {}
    for s in sweeps:
        tune = (s.sweeper or {}).get("tune") if isinstance(s.sweeper, dict) else None
        if s.tuning is None and ((Path(s.path) / TUNING_FILE).exists() or isinstance(tune, dict)):
            out[str(Path(s.path))] = seed_values(
                tune.get("seeds", DEFAULT_TUNING_SEEDS) if isinstance(tune, dict) else DEFAULT_TUNING_SEEDS
            )
    return out


def load_runs(paths: Sequence[Path | str]) -> pd.DataFrame:
    """One row per run folder under ``paths``; see ``load``."""
    return load(paths).runs


def load_curves(paths: Sequence[Path | str]) -> pd.DataFrame:
    """One row per run and epoch under ``paths``; see ``load``."""
    return load(paths).curves
