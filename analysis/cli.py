"""``af-analyze SWEEP_DIR [SWEEP_DIR ...] [--out DIR]``: the analysis from the command line."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

EXAMPLES = """examples:
  af-analyze outputs/multirun/frequency/2026-11-25_10-00-00         # into that folder
  af-analyze outputs/multirun/split/* --out outputs/analysis/split   # several sweeps, one report
  af-analyze SWEEP --latex                                          # also tables/*.tex (booktabs)
  af-analyze SWEEP --ci-method bca --confidence 0.9 --alpha 0.01

Docs: docs/analysis.md (every output file, and what each statistic means)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="af-analyze",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Statistics, figures and a report for sweeps of alternating-freeze runs: every configuration "
        "against standard training\non matched seeds, at equal epochs and at equal FLOPs. Reads the run "
        "folders below each SWEEP_DIR, never the training code.",
    )
    p.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR", help="sweep (or run) folder(s) to analyse")
    p.add_argument("--out", help="output folder (default: the folder given, or ./outputs/analysis for several)")
    p.add_argument(
        "--latex",
        action="store_true",
        help="also write tables/*.tex: booktabs LaTeX of the at-a-glance and per-configuration tables",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="level of every confidence interval and band (default 0.95); does not change the tests",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="level of the tests behind every verdict, Holm-adjusted (default 0.05); does not change the intervals",
    )
    given = p.add_mutually_exclusive_group()
    given.add_argument(
        "--target",
        type=float,
        metavar="ACC",
        help="accuracy of the time-to-target view, a fraction "
        "(default: --target-fraction of standard training's mean final validation accuracy, per setting)",
    )
    given.add_argument(
        "--target-loss",
        type=float,
        metavar="NATS",
        help="for runs judged by loss (a text): the validation loss of the time-to-target view, in nats per character "
        "(default: standard training's mean final validation loss / --target-fraction, per setting)",
    )
    p.add_argument(
        "--target-fraction",
        type=float,
        default=0.95,
        metavar="F",
        help="the default target as a fraction of standard training's accuracy (default 0.95)",
    )
    p.add_argument(
        "--ci-method",
        choices=("percentile", "bca"),
        default="percentile",
        help="bootstrap interval method (default percentile; BCa is unstable at few seeds)",
    )
    p.add_argument("--resamples", type=int, default=9999, help="bootstrap resamples per interval (default 9999)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    p.add_argument("--no-figures", action="store_true", help="tables and reports only")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def fail(message: str, code: int = 2) -> int:
    print(f"af-analyze: error: {message}", file=sys.stderr)
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    for name, one in (("confidence", False), ("alpha", False), ("target", True), ("target_fraction", True)):
        value = getattr(args, name)  # a target may be 1 (every prediction right), a level may not
        if value is not None and not (0 < value < 1 or one and value == 1):
            return fail(
                f"--{name.replace('_', '-')}={value}: must lie " + ("in (0, 1]" if one else "strictly between 0 and 1")
            )
    if args.target_loss is not None and not (0 < args.target_loss < math.inf):
        return fail(f"--target-loss={args.target_loss}: must be a positive number of nats per character")
    if args.resamples < 1:
        return fail(f"--resamples={args.resamples}: must be at least 1")
    for folder in args.sweep_dirs:  # before the slow imports: a typo answers at once
        if not Path(folder).is_dir():
            return fail(f"{'not a folder' if Path(folder).exists() else 'no such folder'}: {folder}")
    from .describe import counted
    from .measures import MixedObjectives
    from .pipeline import NoRunsError, OutputError, TargetError, analyze
    from .stats import Bootstrap

    boot = Bootstrap(confidence=args.confidence, method=args.ci_method, n_resamples=args.resamples, seed=args.seed)
    command = " ".join(["af-analyze", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    try:
        result = analyze(
            args.sweep_dirs,
            args.out,
            boot=boot,
            alpha=args.alpha,
            target_acc=args.target,
            target_loss=args.target_loss,
            target_fraction=args.target_fraction,
            figures=not args.no_figures,
            latex=args.latex,
            command=command,
        )
    except (FileNotFoundError, NotADirectoryError, NoRunsError, OutputError, MixedObjectives, TargetError) as e:
        return fail(str(e), 1 if isinstance(e, OutputError) else 2)
    if not args.quiet:
        print(
            f"af-analyze: {len(result.runs)} runs ({counted(result.runs['status'])}), "
            f"{result.runs['config_id'].nunique()} configurations, {len(result.figures)} figures in "
            f"{result.seconds['total']:.1f}s"
        )
        notes = [f"warning: {w}" for w in result.warnings] + [f"figure {n} skipped: {r}" for n, r in result.skipped]
        print("\n".join([*notes, f"report: {result.files['report_html']}"]))
    return 0
