"""The whole analysis in one call: read, judge, compute every table once, then write the tables, figures and report,
each atomically and never through a link (a shared results folder may hold one planted where an output goes)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import pandas as pd

from alternating_freeze.contract import ACCURACY, Objective, write_atomic

from . import speed, tuning
from .checks import close_call_warnings, collect_warnings, off_choice, same_epoch
from .loading import load, unread_tuning
from .measures import of_runs, unit
from .paired import baselines, pair_values, paired_comparison
from .stats import DEFAULT, Bootstrap, configurations, summarize

ALPHA = 0.05  # the level of every test and verdict; the confidence of the intervals is the Bootstrap's
TABLES = ("runs", "curves", "stats", "paired", "pairs", "target", "tuning")  # the last three only when not empty


class NoRunsError(ValueError):
    """The given folders hold no run folder at all."""


TARGET_OPTIONS = {"acc": ("--target", "an accuracy"), "loss": ("--target-loss", "a loss")}  # af-analyze's, per measure


class TargetError(ValueError):
    """A target accuracy given for runs judged by another objective."""


class OutputError(OSError):
    """An output could not be written; the message names it and why (e.g. a full disk)."""


class FigureFile(NamedTuple):
    name: str
    title: str
    png: Path
    svg: Path
    pdf: Path


@dataclass
class AnalysisResult:
    """Every table ``compute`` derived, each once (``configs``: one row per configuration, in reading order), and
    the paths ``analyze`` wrote them to, under ``out``."""

    inputs: list
    runs: pd.DataFrame
    curves: pd.DataFrame
    configs: pd.DataFrame
    stats: pd.DataFrame
    paired: pd.DataFrame
    pairs: pd.DataFrame
    target: pd.DataFrame
    tuning: pd.DataFrame
    warnings: list
    sweeps: list
    boot: Bootstrap = DEFAULT
    alpha: float = ALPHA
    target_rule: str = ""  # what the time-to-target target is, in words
    objective: Objective = ACCURACY  # what the runs are judged by (contract.objective): the verdict's metric
    command: Optional[str] = None
    out: Optional[Path] = None
    figures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    @property
    def done(self) -> pd.DataFrame:
        """The runs the statistics count."""
        return self.runs[self.runs["in_stats"]]


def compute(
    paths: Sequence[Path | str],
    *,
    boot: Bootstrap = DEFAULT,
    alpha: float = ALPHA,
    target_acc: Optional[float] = None,
    target_loss: Optional[float] = None,
    target_fraction: float = speed.FRACTION,
) -> AnalysisResult:
    """Every table of the analysis of the run folders under ``paths``, nothing written. A missing folder or none
    with runs raises (FileNotFoundError, NotADirectoryError, NoRunsError); what is wrong inside a run is its status."""
    loaded = load(paths)
    if loaded.runs.empty:
        raise NoRunsError(
            f"no run folders (with .hydra/config.yaml, summary.json or metrics.csv) under {', '.join(map(str, paths))}"
        )
    objective = of_runs(loaded.runs)  # MixedObjectives: accuracy and loss share no verdict
    given = {"acc": target_acc, "loss": target_loss}  # a target is given in its own measure's option
    for measure, value in given.items():
        if value is not None and measure != objective.measure:
            (flag, what), use = TARGET_OPTIONS[measure], TARGET_OPTIONS[objective.measure][0]
            raise TargetError(f"{flag}={value} is {what}; these runs are judged by {objective.name}: use {use}")
    goal = speed.targets(loaded.runs, given[objective.measure], target_fraction, objective)
    runs = loaded.runs.merge(speed.reach(loaded.runs, loaded.curves, goal, objective), "left", "run_id")
    curves, configs = loaded.curves, configurations(runs)  # every table below reads this one
    stats, pairs = summarize(runs, boot=boot, configs=configs), pair_values(runs, curves, configs=configs)
    paired = paired_comparison(runs, curves, boot=boot, pairs=pairs, configs=configs)
    tuned = [s.tuning for s in loaded.sweeps if s.tuning]
    rule = (
        f"{target_acc:.1%} accuracy (given)"
        if target_acc is not None
        else f"{objective.show(target_loss)} (given; lower is better: reached at or below it)"
        if target_loss is not None
        else f"{target_fraction:.0%} of standard training's mean final accuracy in the same setting"
        if objective.measure == "acc"
        else f"standard training's mean final validation {objective.words} in the same setting / {target_fraction:g}"
        f" ({unit(objective).unit}, lower is better: reached at or below it)"
    )
    target = speed.summary(runs, configs, baselines(configs))
    return AnalysisResult(
        [str(p) for p in paths],
        runs,
        curves,
        configs,
        stats,
        paired,
        pairs,
        target,
        pd.concat([tuning.grid(t) for t in tuned], ignore_index=True) if tuned else pd.DataFrame(),
        unread_warnings(loaded.sweeps)
        + collect_warnings(runs, stats, paired, curves, objective)
        + same_epoch(target)
        + [w for t in tuned for w in tuning.warnings(t)]
        + [w for s in loaded.sweeps if s.tuning for w in close_call_warnings(s.tuning, runs, s.path)]
        + off_choice(runs, loaded.sweeps),
        loaded.sweeps,
        boot,
        alpha,
        rule,
        objective,
    )


def unread_warnings(sweeps: list) -> list[str]:
    """A tuned sweep without a readable tuning.json: said first, and at the top of the report."""
    seeds = unread_tuning(sweeps)
    return [
        f"UNREADABLE TUNING: {s.path}: tuning.json cannot be read ({s.error or 'missing'}); runs with its tuning seeds "
        f"({', '.join(map(str, sorted(seeds[s.path]))) or 'none'}) are treated as trials and kept out of the "
        "statistics, and the tuning choice is not reported"
        for s in sweeps
        if s.path in seeds
    ]


def folder(path: Path) -> Path:
    """``path`` as a real folder: a symlink planted there is removed first."""
    try:
        if path.is_symlink():
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {path}: {e.strerror or e}") from None
    return path


def write(path: Path, data: str | bytes) -> Path:
    """Into a real folder, through a temporary file and ``os.replace``: a link at ``path`` is replaced, not followed."""
    folder(path.parent)
    try:
        write_atomic(path, data.encode() if isinstance(data, str) else data, durable=False)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def analyze(
    paths: Sequence[Path | str],
    out: Optional[Path | str] = None,
    *,
    figures: bool = True,
    latex: bool = False,
    command: Optional[str] = None,
    **settings,
) -> AnalysisResult:
    """``compute`` (``settings``: its keywords) written into ``out`` (default: the one folder given, or
    ./outputs/analysis for several): the tables as .csv, figures/, report.md|html, with ``latex`` tables/*.tex."""
    t0 = time.perf_counter()
    result = compute(paths, **settings)
    result.command, result.seconds["compute"] = command, time.perf_counter() - t0
    out = result.out = Path(out) if out is not None else Path(paths[0]) if len(paths) == 1 else Path("outputs/analysis")
    out = out.resolve()  # a folder the user names through a link is written into, not replaced (links inside are)
    for name in TABLES:
        if len(frame := getattr(result, name)) or name in TABLES[:4]:
            result.files[name] = write(out / f"{name}.csv", frame.to_csv(index=False))
    if latex:
        from .tables import latex_tables

        result.files["latex"] = [write(out / "tables" / f"{name}.tex", text) for name, text in latex_tables(result)]
    t, result.skipped = time.perf_counter(), [("all figures", "figures were turned off")]
    if figures:
        from .figures import FORMATS, heading, render  # matplotlib and seaborn only when drawing

        drawn, result.skipped = render(result)
        result.figures = [
            FigureFile(
                name,
                heading(name, result.objective),
                *(write(out / "figures" / f"{name}.{fmt}", files[fmt]) for fmt in FORMATS),
            )
            for name, files in drawn.items()
        ]
        for name, fmt in ((n, f) for n, _ in result.skipped for f in FORMATS):  # no stale file of a figure not drawn
            (folder(out / "figures") / f"{name}.{fmt}").unlink(missing_ok=True)
    result.seconds["figures"] = time.perf_counter() - t
    from . import page, report

    md = report.build(result)
    result.files["report_md"] = write(out / "report.md", md)
    result.files["report_html"] = write(out / "report.html", page.to_html(md, out))
    result.seconds["total"] = time.perf_counter() - t0
    return result
