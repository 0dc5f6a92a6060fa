"""The whole analysis in one call: read, compute, write tables, figures and reports."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from .checks import collect_warnings
from .loading import load
from .paired import paired_comparison
from .stats import DEFAULT, Bootstrap, summarize

DEFAULT_MULTI_OUT = Path("outputs") / "analysis"
FIGURE_DIR = "figures"


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
    warnings: list
    sweeps: list
    boot: Bootstrap
    command: Optional[str] = None
    figures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def default_out(paths: Sequence[Path | str]) -> Path:
    """The single folder given, or ``./outputs/analysis`` for several."""
    return Path(paths[0]) if len(paths) == 1 else DEFAULT_MULTI_OUT


def analyze(paths: Sequence[Path | str], out: Optional[Path | str] = None, *, boot: Bootstrap = DEFAULT,
            figures: bool = True, command: Optional[str] = None) -> AnalysisResult:
    """Analyse every run folder under ``paths`` and write into ``out`` (default: ``default_out``):
    runs.csv, curves.csv, stats.csv, paired.csv, figures/*.png|svg, report.md, report.html.

    Raises FileNotFoundError/NotADirectoryError for a missing input folder and NoRunsError when
    there is no run folder at all; anything wrong *inside* a run becomes its status instead.
    ``command`` is recorded in the report as what produced it.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("no folder given")
    t0 = time.perf_counter()
    loaded = load(paths)
    if loaded.runs.empty:
        raise NoRunsError("no run folders (with .hydra/config.yaml, summary.json or metrics.csv) under "
                          + ", ".join(map(str, paths)))
    out = Path(out) if out is not None else default_out(paths)
    out.mkdir(parents=True, exist_ok=True)
    seconds = {"load": time.perf_counter() - t0}

    t = time.perf_counter()
    stats = summarize(loaded.runs, boot=boot)
    paired = paired_comparison(loaded.runs, loaded.curves, boot=boot)
    notes = collect_warnings(loaded.runs, stats, paired)
    seconds["stats"] = time.perf_counter() - t

    result = AnalysisResult(out=out, inputs=[str(Path(p)) for p in paths], runs=loaded.runs, curves=loaded.curves,
                            stats=stats, paired=paired, warnings=notes, sweeps=loaded.sweeps, boot=boot,
                            command=command, seconds=seconds)
    for name, frame in (("runs", loaded.runs), ("curves", loaded.curves), ("stats", stats), ("paired", paired)):
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        result.files[name] = path

    t = time.perf_counter()
    if figures:
        from .figures import FIGURES, make_figures  # matplotlib and seaborn only when drawing

        fig_dir = out / FIGURE_DIR
        result.figures, result.skipped = make_figures(loaded.runs, loaded.curves, stats, paired, fig_dir, boot)
        for name, _ in result.skipped:  # no stale figure from an earlier analysis of other data
            if name in FIGURES:
                for ext in ("png", "svg"):
                    (fig_dir / f"{name}.{ext}").unlink(missing_ok=True)
    else:
        result.skipped = [("all figures", "figures were turned off")]
    seconds["figures"] = time.perf_counter() - t

    from . import report

    t = time.perf_counter()
    result.files["report_md"], result.files["report_html"] = report.write(result)
    seconds["report"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return result
