"""Analysis of alternating-freeze runs from the files each run writes (README, "Results on disk"): statistics across
seeds, paired comparisons with standard training, figures and a report. ``analysis.compute(folders)`` computes every
table once; ``analysis.analyze(folders, out)`` writes them too (what af-analyze runs). Importing the package pulls in
neither torch nor the training code, and pandas/scipy only when a name below is first used: the callback and the
command line start fast."""

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
