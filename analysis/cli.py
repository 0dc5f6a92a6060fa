"""``af-analyze SWEEP_DIR [SWEEP_DIR ...] [--out DIR]``: the analysis from the command line."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="af-analyze",
        description="Statistics, figures and a report for sweeps of alternating-freeze runs. Searches each "
                    "folder recursively for run folders and writes runs.csv, curves.csv, stats.csv, paired.csv, "
                    "figures/ and report.md/report.html.")
    p.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR", help="sweep (or run) folder(s) to analyse")
    p.add_argument("--out", help="output folder (default: the folder given, or ./outputs/analysis for several)")
    p.add_argument("--ci-method", choices=("percentile", "bca"), default="percentile",
                   help="bootstrap confidence interval method (default: percentile)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (0.95)")
    p.add_argument("--resamples", type=int, default=9999, help="bootstrap resamples per interval (9999)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (0)")
    p.add_argument("--no-figures", action="store_true", help="tables and reports only")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    if not 0 < args.confidence < 1:
        print(f"af-analyze: error: --confidence={args.confidence}: must lie strictly between 0 and 1", file=sys.stderr)
        return 2
    if args.resamples < 1:
        print(f"af-analyze: error: --resamples={args.resamples}: must be at least 1", file=sys.stderr)
        return 2
    for folder in args.sweep_dirs:  # before the slow imports: a typo answers at once
        if not Path(folder).is_dir():
            why = "not a folder" if Path(folder).exists() else "no such folder"
            print(f"af-analyze: error: {why}: {folder}", file=sys.stderr)
            return 2
    from .pipeline import NoRunsError, analyze
    from .stats import Bootstrap

    boot = Bootstrap(confidence=args.confidence, method=args.ci_method, n_resamples=args.resamples, seed=args.seed)
    command = " ".join(["af-analyze", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    try:
        result = analyze(args.sweep_dirs, args.out, boot=boot, figures=not args.no_figures, command=command)
    except (FileNotFoundError, NotADirectoryError, NoRunsError) as e:
        print(f"af-analyze: error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        counts = result.runs["status"].value_counts()
        print(f"af-analyze: {len(result.runs)} runs (" + ", ".join(f"{n} {s}" for s, n in counts.items())
              + f"), {result.runs['config_id'].nunique()} configurations, {len(result.figures)} figures "
              f"in {result.seconds['total']:.1f}s")
        for w in result.warnings:
            print(f"warning: {w}")
        for name, reason in result.skipped:
            print(f"figure {name} skipped: {reason}")
        print(f"report: {result.files['report_html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
