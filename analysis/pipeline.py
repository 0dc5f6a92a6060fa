"""The whole analysis in one call: read, compute every derived table once, write tables, figures, report."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from .checks import collect_warnings
from .loading import load
from .output import folder, write_bytes
from .paired import pair_values, paired_comparison
from .stats import DEFAULT, Bootstrap, summarize

DEFAULT_MULTI_OUT = Path("outputs") / "analysis"
FIGURE_DIR, TABLE_DIR = "figures", "tables"
ALPHA = 0.05  # the level of every test and verdict; the confidence of the intervals is the Bootstrap's


class NoRunsError(ValueError):
    """The given folders hold no run folder at all."""


@dataclass
class AnalysisResult:
    """What ``analyze`` computed and wrote (tables as DataFrames, paths under ``out``)."""

    out: Path
    inputs: list
    runs: pd.DataFrame
    curves: pd.DataFrame
    stats: pd.DataFrame
    paired: pd.DataFrame
    pairs: pd.DataFrame
    warnings: list
    sweeps: list
    boot: Bootstrap
    alpha: float = ALPHA
    command: Optional[str] = None
    figures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def default_out(paths: Sequence[Path | str]) -> Path:
    """The single folder given, or ``./outputs/analysis`` for several."""
    return Path(paths[0]) if len(paths) == 1 else DEFAULT_MULTI_OUT


def analyze(paths: Sequence[Path | str], out: Optional[Path | str] = None, *, boot: Bootstrap = DEFAULT,
            alpha: float = ALPHA, figures: bool = True, latex: bool = False,
            command: Optional[str] = None) -> AnalysisResult:
    """Analyse every run folder under ``paths`` and write into ``out`` (default: ``default_out``):
    runs.csv, curves.csv, stats.csv, paired.csv, pairs.csv, figures/, report.md, report.html, and
    with ``latex`` tables/*.tex.

    Raises FileNotFoundError/NotADirectoryError for a missing input folder, NoRunsError when there
    is no run folder at all, and output.OutputError (one line) when an output cannot be written;
    anything wrong *inside* a run becomes its status instead.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("no folder given")
    t0 = time.perf_counter()
    loaded = load(paths)
    if loaded.runs.empty:
        raise NoRunsError("no run folders (with .hydra/config.yaml, summary.json or metrics.csv) under "
                          + ", ".join(map(str, paths)))
    out = folder(Path(out) if out is not None else default_out(paths))
    runs, curves = loaded.runs, loaded.curves
    seconds = {"load": time.perf_counter() - t0}

    t = time.perf_counter()
    stats = summarize(runs, boot=boot)
    pairs = pair_values(runs, curves)
    paired = paired_comparison(runs, curves, boot=boot, pairs=pairs)
    result = AnalysisResult(out=out, inputs=[str(Path(p)) for p in paths], runs=runs, curves=curves, stats=stats,
                            paired=paired, pairs=pairs, warnings=collect_warnings(runs, stats, paired),
                            sweeps=loaded.sweeps, boot=boot, alpha=alpha, command=command, seconds=seconds)
    seconds["stats"] = time.perf_counter() - t
    for name in ("runs", "curves", "stats", "paired", "pairs"):
        result.files[name] = write_bytes(out / f"{name}.csv", getattr(result, name).to_csv(index=False).encode())
    if latex:
        from .tables import glance, latex as tex, per_config

        tables = folder(out / TABLE_DIR)
        result.files["latex"] = [
            write_bytes(tables / "glance.tex", tex(*glance(stats, paired), "At a glance: each configuration and its "
                                                   "paired difference from standard training (mean [CI]).").encode()),
            write_bytes(tables / "per_configuration.tex", tex(*per_config(stats), "Per configuration: mean over "
                                                              "seeds [CI].").encode())]
    t = time.perf_counter()
    if figures:
        from .drawing import Inputs
        from .figures import make_figures  # matplotlib and seaborn only when drawing

        inputs = Inputs(runs, curves, stats, paired, pairs, boot)
        result.figures, result.skipped = make_figures(inputs, folder(out / FIGURE_DIR))
    else:
        result.skipped = [("all figures", "figures were turned off")]
    seconds["figures"] = time.perf_counter() - t

    from . import report

    t = time.perf_counter()
    result.files["report_md"], result.files["report_html"] = report.write(result)
    seconds["report"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return result
