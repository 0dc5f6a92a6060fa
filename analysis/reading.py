"""The files of a run folder (a row of runs.csv, its metrics) or a sweep folder (its launch record), strictly: never
the training code, never an interpolation resolved; anything unreadable or impossible makes a run ``corrupt``."""

from __future__ import annotations

import io
import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from alternating_freeze import contract as c

from . import tuning
from .columns import ACCURACIES, RESOLVED_KEYS, RESULT_KEYS, flatten_config, is_int
from .describe import is_missing

LOWEST = {"best_val_epoch": 1, "epochs_to_90pct": 1, "batched_with": 1}  # all others: 0 (accuracies at most 1)
NAN_TEXT = ["nan", "NaN", "-nan"]  # a value that does not exist, as Python's csv module writes it


def read_yaml(path: Path) -> Any:
    from omegaconf import OmegaConf  # Hydra's YAML reading (1e-3 is a float); loading runs no resolver

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def read_metrics(path: Path) -> pd.DataFrame:
    """metrics.csv typed; ValueError naming a missing column, a line cut short, a non-number or an epoch skipped."""
    text = path.read_bytes().decode("utf-8")
    header = text.split("\n", 1)[0].strip().split(",") if text.strip() else []
    if not header:
        raise ValueError("empty file")
    if missing := [col for col in c.REQUIRED_COLUMNS if col not in header]:
        raise ValueError(f"missing columns {', '.join(missing)}")
    if not text.endswith("\n"):
        raise ValueError("the last line has no end (truncated?)")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as e:
        raise ValueError(str(e).replace("Error tokenizing data. C error: ", "")) from None
    numeric = [col for col in header if col in c.METRICS_COLUMNS and col not in c.TEXT_COLUMNS]
    for col in numeric:  # name the first cell that is not a number
        if (bad := pd.to_numeric(raw[col], errors="coerce").isna() & ~raw[col].isin(NAN_TEXT)).any():
            raise ValueError(f"line {bad.argmax() + 2}: {col}={raw[col][bad.argmax()]!r} is not a number")
    types = dict.fromkeys(numeric, "float64") | dict.fromkeys(c.TEXT_COLUMNS, str) | {"epoch": "int64", "step": "int64"}
    frame = pd.read_csv(io.StringIO(text), dtype=types, keep_default_na=False, na_values=NAN_TEXT)
    if (wrong := frame["epoch"].to_numpy() != range(1, len(frame) + 1)).any():
        i = int(wrong.argmax())
        raise ValueError(f"line {i + 2}: epoch {frame['epoch'][i]}, expected {i + 1}")
    return frame.reindex(columns=[*c.METRICS_COLUMNS, *(col for col in frame if col not in c.METRICS_COLUMNS)])


def read_summary(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(data, dict) or data.get("status") not in c.RUN_STATUSES:
        raise ValueError(
            f"status={short(data.get('status') if isinstance(data, dict) else data)} is not one of "
            f"{', '.join(c.RUN_STATUSES)}"
        )
    return data


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def interpolations(tree: dict) -> dict[str, str]:
    """Dotted key -> text of every value that needs an interpolation resolved (``${...}``)."""
    texts = {k: v if isinstance(v, str) else json.dumps(v) for k, v in c.flatten(tree).items()}
    return {k: t for k, t in texts.items() if "${" in t}


def value_problems(summary: dict) -> list[str]:
    """summary.json values that are malformed or impossible (a NaN or an accuracy of 5 is not a result)."""
    out = []
    for key, v in ((k, summary.get(k)) for k in RESULT_KEYS if summary.get(k) is not None):
        low, high = LOWEST.get(key, 0), 1 if key in ACCURACIES else math.inf
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            out.append(f"{key}={short(v)} is not a number")
        elif not (math.isfinite(v) and low <= v <= high):
            out.append(f"{key}={v} is outside [{low}, {high}]" if math.isfinite(v) else f"{key}={v} is not finite")
    if summary.get("objective") is not None and summary["objective"] not in c.OBJECTIVES:
        out.append(f"objective={short(summary['objective'])} is not one of {', '.join(c.OBJECTIVES)}")
    if summary.get("selection") not in (None, "val", "test"):
        out.append(f"selection={short(summary['selection'])} is not val or test")
    if "epochs_completed" in summary and not is_int(summary["epochs_completed"], 0):
        out.append(f"epochs_completed={short(summary['epochs_completed'])} is not a count")
    for key, kind in (("thread_counts", int), ("notes", str)):
        if summary.get(key) is not None and not (
            isinstance(summary[key], list)
            and all(isinstance(x, kind) and not isinstance(x, bool) for x in summary[key])
        ):
            out.append(f"{key}={short(summary[key])} is not a list of {kind.__name__}")
    return [f"summary.json: {p}" for p in out]


def trained_problems(metrics: pd.DataFrame, n_blocks: Any) -> list[str]:
    """``trained`` labels that are not blocks of this network (``0+7`` in a two-block net, ``banana``)."""
    for i, label in enumerate(metrics["trained"]):
        try:
            blocks = c.parse_trained(str(label))
        except ValueError:
            return [f"metrics.csv: trained={short(label)} at epoch {i + 1} is not all or blocks joined by +"]
        if blocks is not None and is_int(n_blocks, 1) and not all(0 <= b < n_blocks for b in blocks):
            return [f"metrics.csv: trained={short(label)} at epoch {i + 1} names blocks the net has not ({n_blocks})"]
    return []


def metric_problems(metrics: pd.DataFrame, completed: bool) -> list[str]:
    """Accuracies outside [0, 1] (or a missing test accuracy in a completed run), impossible FLOPs."""
    for col in ("train_acc", "val_acc", "test_acc"):
        acc = metrics[col].to_numpy(dtype=float)
        if (bad := (acc < 0) | (acc > 1) | (pd.isna(acc) & completed & (col == "test_acc"))).any():
            return [f"metrics.csv: {col}={acc[bad.argmax()]} at epoch {bad.argmax() + 1} is not an accuracy in [0, 1]"]
    flops = metrics["train_flops"].to_numpy(dtype=float)
    return [] if ((flops >= 0) & (flops < math.inf)).all() else ["metrics.csv: train_flops negative or not finite"]


def last_line(text: Any) -> Optional[str]:
    text = "" if is_missing(text) else str(text).strip()
    return text.splitlines()[-1] if text else None


def attempt(problems: list, read, path: Path) -> Any:
    """``read(path)``, or None with the reason in ``problems`` (None too when there is no such file)."""
    try:
        return read(path) if path.exists() else None
    except UnicodeDecodeError as e:
        problems.append(f"{path.name}: not UTF-8 text ({e.reason})")
    except Exception as e:  # OSError, ValueError, and OmegaConf's own error types for bad YAML
        problems.append(f"{path.name}: {e if isinstance(e, (OSError, ValueError)) else type(e).__name__}")


def read_run(run_dir: Path) -> tuple[dict, Optional[pd.DataFrame]]:
    """One run folder as (row of runs.csv, its metrics or None). Never raises for bad contents."""
    problems: list[str] = []
    summary = attempt(problems, read_summary, run_dir / c.SUMMARY_FILE)
    metrics = attempt(problems, read_metrics, run_dir / c.METRICS_FILE)
    on_disk = attempt(problems, read_yaml, run_dir / c.CONFIG_FILE)
    s = summary or {}
    config = next((t for t in (s.get("config"), on_disk) if isinstance(t, dict)), None)
    # a value that needs an interpolation resolved is never read (an environment variable must not reach a table or
    # a report); one that can change the results makes the run unreadable, an execution key is only left out
    hidden = tuple(sorted({k for t in (config, on_disk) if isinstance(t, dict) for k in interpolations(t)}))
    if unknown := [k for k in hidden if c.affects_results(k)]:
        problems.append(f"config: {', '.join(unknown)} need(s) an interpolation resolved (value not read)")
    elif isinstance(config, dict) and (kinds := c.config_problems(config)):
        problems += kinds
        config = None  # a value of the wrong kind never reaches a column
    overrides = s.get("overrides") or attempt([], read_yaml, run_dir / c.OVERRIDES_FILE)
    resolved = s["resolved"] if isinstance(s.get("resolved"), dict) else {}
    row = {
        "run_dir": str(run_dir),
        "overrides": " ".join(map(str, overrides)) if isinstance(overrides, list) else None,
        **(flatten_config(config, resolved, hidden) if config else {}),
    }
    seed = next((v for v in ((config or {}).get("seed"), s.get("seed")) if v is not None), None)
    row["seed"] = seed if is_int(seed) else None  # as read, before flattening made a list text
    if seed is not None and not is_int(seed):
        problems.append(f"seed={short(seed)} is not an integer")
    n = 0 if metrics is None else len(metrics)
    status, counts = s.get("status", "incomplete"), s.get("thread_counts")
    if summary is not None:
        problems += value_problems(summary)
        row |= {k: s[k] if isinstance(s.get(k), (int, float)) else math.nan for k in RESULT_KEYS}
        row |= {k: resolved.get(k) for k in (*RESOLVED_KEYS, "num_threads")}
        row |= {k: s.get(k) for k in ("config_hash", "started_at", "finished_at")} | {
            "error": last_line(s.get("error")),
            "planned_epochs": resolved.get("epochs"),
            "epochs_completed": s["epochs_completed"] if is_int(s.get("epochs_completed"), 0) else n,
            "selection": s.get("selection") or "test",
            "objective": s["objective"] if s.get("objective") in c.OBJECTIVES else c.LEGACY_OBJECTIVE.name,
            "device": resolved.get("device") or s.get("device"),
            "notes": "; ".join(map(str, s["notes"])) if isinstance(s.get("notes"), list) else "",
        }
    else:
        of = f" of {row['epochs']}" if is_int(row.get("epochs")) else ""
        row |= {
            "epochs_completed": n,
            "error": f"no summary.json: killed or still running ({n}{of} epochs in metrics.csv)",
        }
    if metrics is not None:
        problems += metric_problems(metrics, status == c.COMPLETED)
        problems += trained_problems(metrics, resolved.get("n_blocks") or row.get("n_blocks"))
        counts = counts if isinstance(counts, list) else sorted(metrics["threads"].dropna().astype(int).unique())
    row["thread_counts"] = ",".join(map(str, counts)) if isinstance(counts, list) and counts else None
    if status == c.COMPLETED and not problems:
        problems += [
            why
            for bad, why in (
                (metrics is None, "metrics.csv missing for a completed run"),
                (
                    metrics is not None and n != row["epochs_completed"],
                    f"metrics.csv has {n} epochs, summary.json says {row['epochs_completed']}",
                ),
                (math.isnan(row["final_test_acc"]), "summary.json: completed without final_test_acc"),
                (config is None, "no config (neither summary.json config nor .hydra/config.yaml)"),
                (
                    config is not None and is_missing(row.get("seed")),
                    "no seed (config and summary.json lack one): cannot be paired or counted",
                ),
                (
                    isinstance(s.get("config"), dict)
                    and isinstance(s.get("config_hash"), str)
                    and not hidden
                    and c.config_hash(s["config"]) != s["config_hash"],
                    "summary.json: config_hash does not match its config (edited after the run?)",
                ),
            )
            if bad
        ]
    if problems:
        status, row["error"] = "corrupt", "; ".join(problems)
    if status == c.FAILED and not row.get("error"):
        row["error"] = attempt([], lambda p: last_line(p.read_text(errors="replace")), run_dir / c.ERROR_FILE)
    return row | {"status": status}, metrics


@dataclass
class SweepInfo:
    """A sweep folder's launch record (``multirun.yaml``) and, if tuned, its ``tuning.json``."""

    path: str
    command: Optional[str] = None
    sweeper: Optional[dict] = None
    config: Optional[dict] = None
    tuning: Optional[dict] = None
    error: Optional[str] = None


def read_sweep(folder: Path) -> SweepInfo:
    info = SweepInfo(path=str(folder))
    try:
        if (folder / c.MULTIRUN_FILE).is_file():
            tree = read_yaml(folder / c.MULTIRUN_FILE) or {}
            hydra = tree.get("hydra") or {}
            given = hydra.get("overrides") or {}
            task = [o for o in given.get("hydra") or [] if not str(o).startswith("hydra.mode")] + list(
                given.get("task") or []
            )
            info.command = " ".join(["af-train", "--multirun", *map(shlex.quote, map(str, task))])
            info.sweeper = {
                k: v for k, v in (hydra.get("sweeper") or {}).items() if k != "_target_" and v not in (None, {}, [])
            } or None
            info.config = {k: v for k, v in tree.items() if k != "hydra"} or None
        if (folder / c.TUNING_FILE).is_file():
            info.tuning = json.loads((folder / c.TUNING_FILE).read_text(encoding="utf-8"))
            if not tuning.layout(info.tuning):
                raise ValueError("tuning.json: not the documented layout (grid, arms with trials and chosen)")
    except Exception as e:  # noqa: BLE001 - a launch record is context, never a reason to stop
        info.tuning, info.error = None, f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[-1]}"
    return info
