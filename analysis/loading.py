"""Run folders on disk (the README's "Results on disk" contract) into tidy tables.

Reads only ``summary.json``, ``metrics.csv``, ``.hydra/config.yaml``, ``.hydra/overrides.yaml`` and
the sweep's ``multirun.yaml``; never the training code. A broken or unfinished run becomes a row
with a status and an error, never an exception: the other runs' results must still be analysed.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import pandas as pd

from alternating_freeze import contract
from alternating_freeze.contract import (ERROR_FILE, EXECUTION_KEYS, METRICS_COLUMNS, METRICS_FILE, MULTIRUN_FILE,
                                         REQUIRED_COLUMNS, SUMMARY_FILE)

from .describe import LABEL_BASE_COLUMNS, fmt_value, is_missing, strategy_label

CONFIG_FILE, OVERRIDES_FILE = Path(contract.CONFIG_FILE), Path(contract.OVERRIDES_FILE)
NUMERIC_METRICS = tuple(c for c in METRICS_COLUMNS if c not in contract.TEXT_COLUMNS)

STATUSES = ("completed", "diverged", "failed", "incomplete", "corrupt")
"""Every status a run can have here: the first three come from summary.json; ``incomplete`` (no
summary.json: killed or still running) and ``corrupt`` (a file that cannot be read, or that
contradicts another) are the analysis' own. Only ``completed`` runs enter the statistics."""

# Config leaves and the column names they get; any other leaf keeps its dotted path
# (e.g. ``strategy.warmup``), so a strategy's new keys show up without code changes here.
ALIASES = {
    "dataset.name": "dataset", "dataset.subset": "subset", "dataset.test_fraction": "test_fraction",
    "dataset.split_seed": "split_seed", "dataset.standardize": "standardize",
    "model.name": "model", "model.depth": "depth", "model.width": "width", "model.batchnorm": "batchnorm",
    "model.dropout": "dropout", "model.split": "split", "model.splits": "splits",
    "strategy.name": "strategy", "strategy.unit": "unit", "strategy.every": "every", "strategy.steps": "steps",
    "strategy.order": "order", "strategy.start": "start", "strategy.t_0": "t_0", "strategy.schedule": "schedule",
    "strategy.seed": "strategy_seed", "strategy.optimizer_state": "optimizer_state",
    "strategy.freeze_bn_stats": "freeze_bn_stats",
    "optimizer.name": "optimizer", "optimizer.lr": "lr", "optimizer.betas": "betas", "optimizer.eps": "eps",
    "optimizer.weight_decay": "weight_decay", "optimizer.momentum": "momentum", "optimizer.nesterov": "nesterov",
    "trainer.epochs": "epochs", "trainer.batch_size": "batch_size",
    "seed": "seed",
}
GROUPS = ("dataset", "model", "strategy", "optimizer", "trainer")
RESULT_KEYS = ("final_test_acc", "best_test_acc", "final_train_loss", "epochs_to_90pct", "loss_std",
               "train_s", "eval_s", "total_s", "train_flops", "train_gflops_per_s")
RESOLVED_KEYS = ("n_params", "n_train", "n_test", "input_dim", "num_classes")


def config_columns(frame: pd.DataFrame) -> list[str]:
    """The result-affecting config columns of a runs table (seed included), in table order."""
    known = set(ALIASES.values())
    return [c for c in frame.columns
            if c in known or ("." in c and (c.split(".")[0] in GROUPS or c.startswith("config.")))]


def strategy_columns(columns: Iterable[str]) -> list[str]:
    """Columns that only describe how a strategy trains (standard training has none of them)."""
    fixed = {ALIASES[k] for k in ALIASES if k.startswith("strategy.")}
    return [c for c in columns if c in fixed or c.startswith("strategy.")]


def key_columns(columns: Iterable[str]) -> list[str]:
    """What makes a configuration: every result-affecting config column except the seed."""
    return [c for c in columns if c != "seed"]


def context_columns(columns: Iterable[str]) -> list[str]:
    """What a configuration shares with its standard baseline: all but the strategy and the split
    point (standard training trains every layer, so where the network is split does not matter)."""
    strat = set(strategy_columns(columns))
    return [c for c in key_columns(columns) if c not in strat and c not in ("split", "splits")]


@dataclass
class SweepInfo:
    """What one sweep folder says about how it was launched (from its ``multirun.yaml``)."""

    path: str
    command: Optional[str] = None
    task_overrides: list = field(default_factory=list)
    sweeper: Optional[dict] = None
    launcher: Optional[str] = None
    config: Optional[dict] = None  # the composed config the jobs override (multirun.yaml without ``hydra``)
    error: Optional[str] = None


@dataclass
class Loaded:
    """Everything read from disk: one row per run, one row per run and epoch, and the sweeps."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    sweeps: list


# ---------------------------------------------------------------- discovery


def find_run_dirs(root: Path) -> list[Path]:
    """Every folder under ``root`` (itself included) holding ``.hydra/config.yaml``, ``summary.json``
    or ``metrics.csv``."""
    found = {p.parent for name in (SUMMARY_FILE, METRICS_FILE) for p in root.rglob(name) if p.is_file()}
    found |= {p.parent.parent for p in root.rglob("config.yaml") if p.parent.name == ".hydra" and p.is_file()}
    return sorted(d for d in found if ".hydra" not in d.relative_to(root).parts)


def _check_roots(paths: Sequence[Path | str]) -> list[Path]:
    roots = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no such folder: {p}")
        if not path.is_dir():
            raise NotADirectoryError(f"not a folder: {p}")
        roots.append(path.resolve())
    return roots


# ---------------------------------------------------------------- reading files


def _read_yaml(path: Path, resolve: bool = True) -> Any:
    from omegaconf import OmegaConf  # Hydra's own YAML reading (1e-3 is a float), no training code

    node = OmegaConf.load(path)
    try:
        return OmegaConf.to_container(node, resolve=resolve)
    except Exception:  # an interpolation that only Hydra's runtime can resolve (${now:...})
        return OmegaConf.to_container(node, resolve=False)


def read_metrics(path: Path) -> pd.DataFrame:
    """Parse metrics.csv strictly: a missing column, a short (truncated) line, a non-number or an
    epoch out of sequence raises ValueError. ``nan``/``inf`` are numbers (a diverged run's losses)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text ({e.reason})") from None
    rows = [r for r in csv.reader(text.splitlines()) if r]
    if not rows:
        raise ValueError("empty file")
    header, body = rows[0], rows[1:]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"missing columns {', '.join(missing)}")
    records = []
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"line {i} has {len(row)} fields, expected {len(header)} (truncated?)")
        rec = dict(zip(header, row))
        for c in (c for c in NUMERIC_METRICS if c in rec):
            try:
                rec[c] = float(rec[c])
            except ValueError:
                raise ValueError(f"line {i}: {c}={rec[c]!r} is not a number") from None
        if rec["epoch"] != len(records) + 1:
            raise ValueError(f"line {i}: epoch {fmt_value(rec['epoch'])}, expected {len(records) + 1}")
        records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=header)
    for c in METRICS_COLUMNS:  # added after the first version: absent from older runs' files
        if c not in frame:
            frame[c] = math.nan
    for c in ("epoch", "step"):
        frame[c] = frame[c].astype("int64")
    return frame


def _read_summary(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ValueError("no status")
    return data


# ---------------------------------------------------------------- config flattening


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (tree or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _steps_text(steps: Any) -> Any:
    """Units per block as "2:1" (two blocks) or "1:1:1:1"."""
    if isinstance(steps, (list, tuple)) and len(steps) >= 2:
        return ":".join(fmt_value(s) for s in steps)
    return None


def flatten_config(config: dict, resolved: Optional[dict] = None) -> dict[str, Any]:
    """The config tree as columns (see ALIASES), with ``split`` and ``steps`` as the run used them:
    ``resolved`` from summary.json when present, else the code's documented defaults (split
    depth // 2; steps every:every)."""
    flat = _flatten({k: v for k, v in config.items() if k != "hydra"})
    resolved = resolved or {}
    raw_steps = flat.get("strategy.steps")
    cols: dict[str, Any] = {}
    for key, value in flat.items():
        if key in EXECUTION_KEYS:
            continue
        name = ALIASES.get(key) or (key if key.split(".")[0] in GROUPS else f"config.{key}")
        if isinstance(value, (list, tuple)):
            value = json.dumps(value)
        cols[name] = value
    # Where blocks begin: ``split`` for two blocks (model.splits of one entry is the same network),
    # ``splits`` ("1,2,3") for more; as the run resolved them, else the documented default depth // 2.
    starts = resolved.get("splits") or ([resolved["split"]] if resolved.get("split") is not None else None)
    if not isinstance(starts, list):
        raw = config.get("model", {}) if isinstance(config.get("model"), dict) else {}
        starts = raw.get("splits") or ([raw["split"]] if raw.get("split") is not None else None)
        if starts is None and isinstance(cols.get("depth"), int):
            starts = [cols["depth"] // 2]
    if isinstance(starts, list):
        cols["split"] = starts[0] if len(starts) == 1 else None
        cols["splits"] = None if len(starts) == 1 else ",".join(fmt_value(s) for s in starts)
    if "steps" in resolved:
        cols["steps"] = _steps_text(resolved["steps"])
    elif "strategy" in config and isinstance(config["strategy"], dict) and "every" in config["strategy"]:
        every = config["strategy"]["every"]
        n_blocks = len(starts) + 1 if isinstance(starts, list) else 2
        cols["steps"] = _steps_text(raw_steps) or _steps_text([every] * n_blocks)
    elif "steps" in cols:
        cols["steps"] = _steps_text(raw_steps)
    return cols


def _canonical(value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _digest(values: dict) -> str:
    blob = json.dumps({k: _canonical(v) for k, v in sorted(values.items())}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


# ---------------------------------------------------------------- one run


def _error_line(text: Any) -> Optional[str]:
    if is_missing(text) or text == "":
        return None
    return str(text).strip().splitlines()[-1] if str(text).strip() else None


def read_run(run_dir: Path) -> tuple[dict, Optional[pd.DataFrame]]:
    """One run folder as (row of runs.csv, its metrics or None). Never raises for bad contents."""
    row: dict[str, Any] = {"run_dir": str(run_dir)}
    problems: list[str] = []

    summary = None
    if (run_dir / SUMMARY_FILE).exists():
        try:
            summary = _read_summary(run_dir / SUMMARY_FILE)
        except (OSError, ValueError) as e:
            problems.append(f"summary.json: {e}")

    metrics = None
    if (run_dir / METRICS_FILE).exists():
        try:
            metrics = read_metrics(run_dir / METRICS_FILE)
        except (OSError, ValueError) as e:
            problems.append(f"metrics.csv: {e}")

    config = summary.get("config") if summary else None
    if not isinstance(config, dict) and (run_dir / CONFIG_FILE).exists():
        try:
            config = _read_yaml(run_dir / CONFIG_FILE)
        except Exception as e:  # OmegaConf raises its own error types for bad YAML
            problems.append(f".hydra/config.yaml: {type(e).__name__}: {_error_line(e)}")
    if not isinstance(config, dict):
        config = None

    overrides = summary.get("overrides") if summary else None
    if overrides is None and (run_dir / OVERRIDES_FILE).exists():
        try:
            overrides = _read_yaml(run_dir / OVERRIDES_FILE, resolve=False)
        except Exception:
            overrides = None
    row["overrides"] = " ".join(map(str, overrides)) if isinstance(overrides, list) else None

    resolved = summary.get("resolved") if summary and isinstance(summary.get("resolved"), dict) else {}
    if config:
        row.update(flatten_config(config, resolved))
    if "seed" not in row and summary and isinstance(summary.get("seed"), int):
        row["seed"] = summary["seed"]

    n_metrics = len(metrics) if metrics is not None else 0
    if summary is not None:
        status = summary["status"]
        row["error"] = _error_line(summary.get("error"))
        epochs = summary.get("epochs_completed")
        row["epochs_completed"] = epochs if isinstance(epochs, int) else n_metrics
        for k in RESULT_KEYS:
            v = summary.get(k)
            row[k] = v if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
        for k in RESOLVED_KEYS:
            row[k] = resolved.get(k)
        row["device"] = resolved.get("device") or summary.get("device")
        row["num_threads"] = resolved.get("num_threads")
        for k in ("config_hash", "started_at", "finished_at"):
            row[k] = summary.get(k)
        if status not in ("completed", "diverged", "failed"):
            problems.append(f"summary.json: unknown status {status!r}")
    else:
        status = "incomplete"
        row["epochs_completed"] = n_metrics
        epochs = row.get("epochs")
        of = f" of {fmt_value(epochs)}" if isinstance(epochs, int) else ""
        row["error"] = f"no summary.json: killed or still running ({n_metrics}{of} epochs in metrics.csv)"

    if status == "completed" and not problems:
        if metrics is None:
            problems.append("metrics.csv missing for a completed run")
        elif n_metrics != row["epochs_completed"]:
            problems.append(f"metrics.csv has {n_metrics} epochs, summary.json says {row['epochs_completed']}")
        elif math.isnan(row["final_test_acc"]):
            problems.append("summary.json: completed without final_test_acc")
        if config is None:
            problems.append("no config (neither summary.json config nor .hydra/config.yaml)")
        elif is_missing(row.get("seed")):
            problems.append("no seed (config and summary.json lack one): cannot be paired or counted")
    if problems:
        status = "corrupt"
        row["error"] = "; ".join(problems)
    if status == "failed" and (run_dir / ERROR_FILE).exists() and not row.get("error"):
        try:
            row["error"] = _error_line((run_dir / ERROR_FILE).read_text(errors="replace"))
        except OSError:
            pass
    row["status"] = status
    return row, metrics


# ---------------------------------------------------------------- labels and identities


def _assign_identities(rows: list[dict]) -> None:
    """config_id (what is computed, seed aside), context_id (what a baseline must share) and a
    readable label that tells configurations apart: the strategy plus every setting that varies."""
    cols = sorted({c for r in rows for c in r if c in set(ALIASES.values()) or "." in c and
                   (c.split(".")[0] in GROUPS or c.startswith("config."))})
    keys, ctx = key_columns(cols), context_columns(cols)
    for r in rows:
        if r.get("strategy") is None:
            r["config_id"] = r["context_id"] = None
            continue
        key = {c: r.get(c) for c in keys}
        if r["strategy"] == "standard":
            key["split"] = key["splits"] = None  # standard training does not depend on where the net is split
        r["config_id"] = _digest(key)
        r["context_id"] = _digest({c: r.get(c) for c in ctx})
        r["_key"] = key
    known = [r for r in rows if r.get("config_id")]
    varying = [c for c in keys if c not in LABEL_BASE_COLUMNS and
               len({json.dumps(_canonical(r["_key"].get(c)), default=str) for r in known
                    if not is_missing(r["_key"].get(c))}) > 1]
    labels: dict[str, str] = {}
    for r in rows:
        if not r.get("config_id"):
            r["label"] = r["strategy_label"] = None
            continue
        base = strategy_label(r)
        extras = [f"{c}={fmt_value(r['_key'][c])}" for c in varying if not is_missing(r["_key"].get(c))]
        r["strategy_label"] = base
        r["label"] = ", ".join([base, *extras])
        labels.setdefault(r["config_id"], r["label"])
    clash = pd.Series(labels).duplicated(keep=False)
    for r in rows:
        if r.get("config_id") and clash.get(r["config_id"], False):
            r["label"] = f"{r['label']} [{r['config_id'][:6]}]"
        r.pop("_key", None)


def _mark_duplicates(rows: list[dict]) -> None:
    """Two completed runs of one configuration and seed are one observation, not two: keep the
    most recently finished and leave the other out of the statistics (with a note)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        r["in_stats"] = r["status"] == "completed" and bool(r.get("config_id")) and not is_missing(r.get("seed"))
        if r["in_stats"]:
            groups.setdefault((r["config_id"], r["seed"]), []).append(r)
    for group in groups.values():
        if len(group) > 1:
            group.sort(key=lambda r: (str(r.get("finished_at") or ""), r["run_dir"]))
            keep = group[-1]
            for r in group[:-1]:
                r["in_stats"] = False
                r["note"] = f"duplicate of {keep['run_id']} (same configuration and seed); not counted"


# ---------------------------------------------------------------- sweeps


def read_sweep(root: Path) -> list[SweepInfo]:
    """The launch record(s) of a sweep folder: its ``multirun.yaml`` (or those of sweeps below it)."""
    files = [root / MULTIRUN_FILE] if (root / MULTIRUN_FILE).is_file() else sorted(root.rglob(MULTIRUN_FILE))
    infos = []
    for f in files:
        info = SweepInfo(path=str(f.parent))
        try:
            tree = _read_yaml(f, resolve=False) or {}
            hydra = tree.get("hydra") or {}
            task = list(((hydra.get("overrides") or {}).get("task")) or [])
            extra = [o for o in ((hydra.get("overrides") or {}).get("hydra") or [])
                     if not str(o).startswith("hydra.mode")]
            info.task_overrides = task
            info.command = " ".join(["af-train", "--multirun", *map(shlex.quote, map(str, extra + task))])
            sweeper = dict(hydra.get("sweeper") or {})
            sweeper.pop("_target_", None)
            info.sweeper = {k: v for k, v in sweeper.items() if v not in (None, {}, [])} or None
            info.launcher = (hydra.get("launcher") or {}).get("_target_")
            info.config = {k: v for k, v in tree.items() if k != "hydra"} or None
        except Exception as e:
            info.error = f"{f.name}: {type(e).__name__}: {_error_line(e)}"
        infos.append(info)
    return infos


# ---------------------------------------------------------------- everything

RUN_COLUMNS_FIRST = ("run_id", "label", "status", "in_stats", "seed", "config_id", "context_id", "strategy_label",
                     "error", "note", "epochs_completed")
RUN_COLUMNS_LAST = RESULT_KEYS + RESOLVED_KEYS + ("device", "num_threads", "config_hash", "started_at",
                                                  "finished_at", "overrides", "job", "sweep_dir", "run_dir")


def _tidy_dtypes(frame: pd.DataFrame, records: Optional[list[dict]] = None) -> pd.DataFrame:
    """Integers stay integers next to missing values (every=4, not 4.0); booleans stay booleans.
    Types are judged on ``records`` (the values as read) when given, else on the column."""
    for c in frame.columns:
        source = [r.get(c) for r in records] if records is not None else frame[c].tolist()
        vals = [v for v in source if not is_missing(v)]
        if not vals:
            continue
        if all(isinstance(v, bool) for v in vals):
            frame[c] = frame[c].astype("boolean")
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            frame[c] = frame[c].astype("Int64")
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            frame[c] = pd.to_numeric(frame[c]).astype("float64")
    return frame


def load(paths: Sequence[Path | str]) -> Loaded:
    """Read every run folder under ``paths`` (searched recursively).

    ``runs``: one row per run folder with its flattened config (see ALIASES; ``split`` and
    ``steps`` as effective values), summary.json results, ``status`` (one of STATUSES), ``error``,
    ``in_stats`` (completed, known config, not a duplicate), ``config_id``/``label`` (the
    configuration, seed aside) and ``context_id`` (what a standard baseline must share).
    ``curves``: one row per run and finished epoch (metrics.csv plus ``train_s_cum``, the
    cumulative training seconds), for every run whose metrics.csv could be read.
    Raises FileNotFoundError / NotADirectoryError for a path that is not a folder.
    """
    roots = _check_roots(paths)
    rows, curves, sweeps = [], [], []
    seen: set[Path] = set()
    for root in roots:
        sweeps.extend(read_sweep(root))
        for run_dir in find_run_dirs(root):
            if run_dir in seen:  # the same folder reached from two of the given paths
                continue
            seen.add(run_dir)
            row, metrics = read_run(run_dir)
            rel = run_dir.relative_to(root).as_posix()
            row["job"] = rel if rel != "." else run_dir.name
            row["sweep_dir"] = str(root)
            row["run_id"] = row["job"] if len(roots) == 1 else f"{root.name}/{row['job']}"
            rows.append(row)
            if metrics is not None:
                curves.append((row, metrics))
    if len({r["run_id"] for r in rows}) < len(rows):  # same-named inputs (hostA/sweep hostB/sweep): a run id
        base = Path(os.path.commonpath(roots))           # names one run, so take the path below their common parent
        for r in rows:
            r["run_id"] = Path(r["run_dir"]).relative_to(base).as_posix()
    _assign_identities(rows)
    _mark_duplicates(rows)

    runs = pd.DataFrame.from_records(rows)
    for c in (*RUN_COLUMNS_FIRST, "strategy", *RUN_COLUMNS_LAST):
        if c not in runs:
            runs[c] = None
    config = sorted(config_columns(runs), key=_config_order)
    config = [c for c in config if c not in RUN_COLUMNS_FIRST]
    rest = [c for c in runs.columns if c not in (*RUN_COLUMNS_FIRST, *RUN_COLUMNS_LAST, *config)]
    runs = _tidy_dtypes(runs[[*RUN_COLUMNS_FIRST, *config, *rest, *RUN_COLUMNS_LAST]], rows)
    runs = runs.sort_values(["sweep_dir", "job"], kind="stable").reset_index(drop=True)
    runs["in_stats"] = runs["in_stats"].astype(bool)

    frames = []
    for row, metrics in curves:
        m = metrics.copy()
        m.insert(0, "train_s_cum", m["epoch_s"].cumsum())
        for c in ("strategy", "status", "in_stats", "seed", "label", "config_id", "run_id"):
            m.insert(0, c, row.get(c))
        frames.append(m)
    curve_cols = ["run_id", "config_id", "label", "seed", "in_stats", "status", "strategy",
                  *METRICS_COLUMNS, "train_s_cum"]
    curves_df = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=curve_cols))
    extra = [c for c in curves_df.columns if c not in curve_cols]
    curves_df = _tidy_dtypes(curves_df[[*curve_cols, *extra]])
    if len(curves_df) and curves_df["seed"].notna().any():
        curves_df["seed"] = pd.to_numeric(curves_df["seed"]).astype("Int64")
    return Loaded(runs=runs, curves=curves_df, sweeps=sweeps)


def _config_order(column: str) -> tuple:
    order = list(ALIASES.values())
    return (order.index(column), column) if column in order else (len(order), column)


def load_runs(paths: Sequence[Path | str]) -> pd.DataFrame:
    """One row per run folder under ``paths``; see ``load``."""
    return load(paths).runs


def load_curves(paths: Sequence[Path | str]) -> pd.DataFrame:
    """One row per run and epoch under ``paths``; see ``load``."""
    return load(paths).curves
