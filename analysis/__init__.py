"""Analysis of alternating-freeze runs: statistics across seeds, paired comparisons with standard
training, figures and a report, from the files each run writes (README, "Results on disk").

Importing this package never imports torch or the training code (only the results contract), and
imports pandas/scipy only when a name below is first used, so the callback and the CLI start fast.

    import analysis
    runs = analysis.load_runs(["outputs/multirun/frequency/2026-11-24_10-00-00"])
    stats = analysis.summarize(runs)                   # per configuration: n, mean, std, CI of the mean
    paired = analysis.paired_comparison(runs, curves)  # vs standard training on matched seeds
    result = analysis.compute([...])                   # every table of the analysis, each computed once
    result = analysis.analyze([...], out="...")        # the same, written to disk (what af-analyze runs)
"""
from __future__ import annotations

import importlib
from typing import Any

_API = {
    "checks": ("collect_warnings",),
    "loading": ("STATUSES", "Loaded", "load", "load_runs", "load_curves"),
    "paired": ("EQUAL_FLOPS", "PAIRED_METRICS", "holm", "pair_values", "paired_comparison", "paired_test"),
    "pipeline": ("AnalysisResult", "NoRunsError", "analyze", "compute"),
    "stats": ("DEFAULT", "METRICS", "Bootstrap", "bootstrap_ci", "configurations", "summarize", "t_interval"),
}
_WHERE = {name: module for module, names in _API.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
