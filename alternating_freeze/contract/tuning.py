"""Tuning: one rule each for training and analysis (which scores count, when a choice is at its range's edge).
Standard library only."""

from __future__ import annotations

import math
from typing import Any, Optional

from .objective import ACCURACY, Objective, objective_of_key

RANGED = ("log_uniform", "uniform", "int")  # search-space distributions with a range (tuning.json's "space")
BOUNDARY = 0.05  # a choice within this fraction of either end of its range may have a better value beyond it


def metric_objective(metric: str) -> Objective:
    """The objective a tuning metric (a summary.json key) measures; accuracy for a key of none (tuning.json
    files written before objectives named theirs best_val_acc or final_val_acc)."""
    return objective_of_key(str(metric)) or ACCURACY


def valid_score(metric: str, value: Any) -> bool:
    """Whether a trial's score can be selected on: a finite number (never a bool), and for an objective's key within
    its range (``Objective.valid``: an accuracy in [0, 1], a loss >= 0). Anything else counts as a failed trial, at
    the metric's worst value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    objective = objective_of_key(str(metric))
    return objective is None or objective.valid(value)


def boundary_side(distribution: str, lo: float, hi: float, value: float) -> Optional[str]:
    """ "low" or "high" when ``value`` lies within the outer ``BOUNDARY`` of [lo, hi] (on a log scale for
    log_uniform), else None: the Playbook's check that the best point is not at the edge of the search space."""
    if distribution not in RANGED or not hi > lo or (distribution == "log_uniform" and min(lo, value) <= 0):
        return None
    f = math.log if distribution == "log_uniform" else float
    at = (f(value) - f(lo)) / (f(hi) - f(lo))
    return "low" if at < BOUNDARY else "high" if at > 1 - BOUNDARY else None
