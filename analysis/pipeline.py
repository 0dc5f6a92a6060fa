"""The whole analysis in one call: read, judge, compute every derived table once, write tables, figures, report."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from . import target, tuning
from .checks import collect_warnings
from .loading import load
from .output import folder, write_bytes
from .paired import baselines, pair_values, paired_comparison
from .stats import DEFAULT, Bootstrap, configurations, summarize
from .timing import judge_timing

ALPHA = 0.05  # the level of every test and verdict; the confidence of the intervals is the Bootstrap's


class NoRunsError(ValueError):
    """The given folders hold no run folder at all."""


@dataclass
class AnalysisResult:
    """What ``analyze`` computed and wrote: tables as DataFrames, paths under ``out``."""

    out: Path
    inputs: list
    runs: pd.DataFrame
    curves: pd.DataFrame
    stats: pd.DataFrame
    paired: pd.DataFrame
    pairs: pd.DataFrame
    target: pd.DataFrame
    tuning: pd.DataFrame
    warnings: list
    sweeps: list
    boot: Bootstrap
    alpha: float = ALPHA
    target_rule: str = ""  # what the time-to-target target is, in words
    command: Optional[str] = None
    figures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def analyze(paths: Sequence[Path | str], out: Optional[Path | str] = None, *, boot: Bootstrap = DEFAULT,
            alpha: float = ALPHA, target_acc: Optional[float] = None, target_fraction: float = target.FRACTION,
            figures: bool = True, latex: bool = False, command: Optional[str] = None) -> AnalysisResult:
    """Analyse every run folder under ``paths`` into ``out`` (default: the one folder given, or
    ./outputs/analysis for several): runs, curves, stats, paired, pairs, target (and tuning) .csv, figures/,
    report.md|html, and with ``latex`` tables/*.tex. ``target_acc``: the accuracy of time to target (default
    ``target_fraction`` of standard training's). Raises FileNotFoundError/NotADirectoryError for a missing
    folder, NoRunsError without any run folder, output.OutputError when an output cannot be written; anything
    wrong *inside* a run becomes its status instead."""
    t0 = time.perf_counter()
    loaded = load(paths)
    if loaded.runs.empty:
        raise NoRunsError(f"no run folders (with .hydra/config.yaml, summary.json or metrics.csv) under "
                          f"{', '.join(map(str, paths))}")
    out = folder(Path(out) if out is not None else Path(paths[0]) if len(paths) == 1 else Path("outputs/analysis"))
    runs, curves, tuned = judge_timing(loaded.runs), loaded.curves, [s.tuning for s in loaded.sweeps if s.tuning]
    runs = runs.merge(target.reach(runs, curves, target.targets(runs, target_acc, target_fraction)), "left", "run_id")
    seconds = {"load": time.perf_counter() - t0}
    stats, pairs = summarize(runs, boot=boot), pair_values(runs, curves)
    paired, configs = paired_comparison(runs, curves, boot=boot, pairs=pairs), configurations(runs)
    result = AnalysisResult(
        out, [str(p) for p in paths], runs, curves, stats, paired, pairs,
        target.summary(runs, configs, baselines(configs)),
        pd.concat([tuning.grid(t) for t in tuned], ignore_index=True) if tuned else pd.DataFrame(),
        collect_warnings(runs, stats, paired) + [w for t in tuned for w in tuning.warnings(t)], loaded.sweeps, boot,
        alpha, f"{target_acc:.1%} accuracy (given)" if target_acc is not None else f"{target_fraction:.0%} of standard "
        f"training's mean final accuracy in the same setting", command, seconds=seconds)
    seconds["stats"] = time.perf_counter() - t0 - seconds["load"]
    for name in ("runs", "curves", "stats", "paired", "pairs", "target", "tuning"):
        if len(frame := getattr(result, name)) or name in ("runs", "curves", "stats", "paired"):
            result.files[name] = write_bytes(out / f"{name}.csv", frame.to_csv(index=False).encode())
    if latex:
        from .tables import glance, latex as tex, per_config

        result.files["latex"] = [write_bytes(folder(out / "tables") / f"{name}.tex", tex(*table, caption).encode())
                                 for name, table, caption in (
            ("glance", glance(stats, paired), "Each configuration and its paired difference from standard training "
                                              "(mean [CI])."),
            ("per_configuration", per_config(stats), "Per configuration: mean over seeds [CI]."))]
    t = time.perf_counter()
    if figures:
        from .drawing import Inputs
        from .figures import make_figures  # matplotlib and seaborn only when drawing

        inputs = Inputs(runs, curves, stats, paired, pairs, boot, {"tuning": result.tuning})
        result.figures, result.skipped = make_figures(inputs, folder(out / "figures"))
    else:
        result.skipped = [("all figures", "figures were turned off")]
    seconds["figures"] = time.perf_counter() - t

    from . import report

    t = time.perf_counter()
    result.files["report_md"], result.files["report_html"] = report.write(result)
    seconds["report"], seconds["total"] = time.perf_counter() - t, time.perf_counter() - t0
    return result
