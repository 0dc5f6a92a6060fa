"""The objective of the runs analysed (contract.objective) as the analysis names it: which summary key heads the
verdict, which metrics.csv column the curves and the equal-FLOPs comparison read, which metrics the statistics and the
paired tests cover, and the words and units of each. Classification runs are judged by test accuracy (in %), text runs
by test loss (nats per character, lower is better, also shown in bits per character)."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from alternating_freeze.contract import ACCURACY, LEGACY_OBJECTIVE, OBJECTIVES, Objective

EQUAL_FLOPS_OF = {o.name: f"test_{o.measure}_at_equal_flops" for o in OBJECTIVES.values()}
CURVE_OF = {EQUAL_FLOPS_OF[o.name]: f"test_{o.measure}" for o in OBJECTIVES.values()}  # what each interpolates
EQUAL_FLOPS = EQUAL_FLOPS_OF[ACCURACY.name]  # the equal-FLOPs comparison of a classification (paired.EQUAL_FLOPS)
COSTS = ("train_s", "train_flops")


class MixedObjectives(ValueError):
    """Runs judged by different objectives (accuracy and loss) in one analysis."""


class Unit(NamedTuple):
    name: str  # "test accuracy", "test loss"
    unit: str  # "%", "nats/char"
    scale: float  # what a value is multiplied by for display
    digits: int
    diff_unit: str  # the unit of a difference: "pp", "nats/char"


UNITS = {"acc": Unit("test accuracy", "%", 100.0, 2, "pp"), "loss": Unit("test loss", "nats/char", 1.0, 3, "nats/char")}


def unit(objective: Objective) -> Unit:
    return UNITS[objective.measure]


def unit_words(objective: Objective) -> str:
    """The unit a tuning table writes ``objective``'s values in: % for an accuracy, nats per character for a loss."""
    return "%" if objective.measure == "acc" else "nats per character, lower is better"


def headline_metric(objective: Objective) -> str:
    """The summary key the verdict compares: final_test_acc, or final_test_loss."""
    return objective.key("final_test")


def equal_flops(objective: Objective) -> str:
    return EQUAL_FLOPS_OF[objective.name]


def curve(objective: Objective) -> str:
    """The metrics.csv column of the test split's value at each epoch."""
    return CURVE_OF[equal_flops(objective)]


def stats_metrics(objective: Objective) -> tuple:
    """The metrics summarised per configuration, the headline first (a classification's list is as it always was)."""
    acc = ("final_test_acc", "best_test_acc", "test_acc_at_best_val", "best_val_acc")
    rest = ("epochs_to_90pct", "loss_std")
    if objective.measure == "acc":
        return (*acc, *COSTS, *rest)
    own = tuple(objective.key(w) for w in ("final_test", "best_test", "at_best", "best_val"))
    return (*own, *acc, *COSTS, *rest)


def paired_metrics(objective: Objective) -> tuple:
    return (headline_metric(objective), equal_flops(objective), *COSTS)


def of_runs(runs: pd.DataFrame) -> Objective:
    """The one objective the runs record (LEGACY_OBJECTIVE for runs from before objectives were recorded); a mix of
    two raises MixedObjectives, in one line."""
    column = runs["objective"] if "objective" in runs else pd.Series(dtype=object)
    counts = column.dropna().value_counts()
    if len(counts) > 1:
        raise MixedObjectives(
            "these runs are judged by different objectives ("
            + ", ".join(f"{n} by {name}" for name, n in counts.items())
            + "): a text's loss and a classification's accuracy cannot share a verdict; analyse them in separate "
            "af-analyze calls"
        )
    return OBJECTIVES[counts.index[0]] if len(counts) else LEGACY_OBJECTIVE
