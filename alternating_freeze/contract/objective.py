"""What a run is judged by, defined once: its objective, the validation column its task declares (classification:
accuracy, higher is better; a text: loss in nats per character, lower is better). The best epoch, the tuning choice,
the verdict, time to target and the figures all read it from here. Standard library only.

summary.json records a run's objective as ``"objective": "val_loss"``; a summary without one was written when every
run was selected on validation accuracy, and is read as ``val_acc`` (what selected it then)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

LN2 = math.log(2)


@dataclass(frozen=True)
class Objective:
    name: str  # summary.json's "objective": the metrics.csv column selected on (validation split)
    measure: str  # "acc" | "loss": the suffix of its metrics.csv columns and summary.json keys
    direction: str  # "max" | "min": which way is better
    worst: float  # a failed tuning trial's score, worse than any valid one (inf is written to JSON as null)
    words: str  # how the report names it: "accuracy", "loss"

    @property
    def sign(self) -> int:
        """+1 where higher is better, -1 where lower is: ``sign * difference > 0`` means better."""
        return 1 if self.direction == "max" else -1

    def key(self, which: str) -> str:
        """summary.json's key of this measure: ``which`` is best_val, final_val, final_test, best_test or at_best
        (the test value at the objective's best validation epoch)."""
        return f"test_{self.measure}_at_best_val" if which == "at_best" else f"{which}_{self.measure}"

    @property
    def keys(self) -> tuple:
        return tuple(self.key(w) for w in ("final_test", "best_test", "final_val", "best_val", "at_best"))

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "max" else a < b

    def best_index(self, values: Sequence[float]) -> Optional[int]:
        """The position of the best value (the first of equals), None for none."""
        best = None
        for i, v in enumerate(values):
            if best is None or self.better(v, values[best]):
                best = i
        return best

    def valid(self, value: Any) -> bool:
        """A value that can be selected on: a finite number (never a bool); an accuracy in [0, 1], a loss >= 0."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return 0.0 <= value <= 1.0 if self.measure == "acc" else value >= 0.0

    def show(self, value: float, digits: int = 2) -> str:
        """A value as the report writes it: an accuracy in %, a loss in nats and bits per character."""
        if self.measure == "acc":
            return f"{value * 100:.{digits}f}%"
        return f"{value:.{digits + 1}f} nats ({bits(value):.{digits + 1}f} bits) per character"

    def show_diff(self, diff: float, digits: int = 2) -> str:
        """A difference as the report writes it: percentage points, or nats and bits per character."""
        if self.measure == "acc":
            return f"{abs(diff) * 100:.{digits}f} pp"
        return f"{abs(diff):.{digits + 1}f} nats ({bits(abs(diff)):.{digits + 1}f} bits) per character"


ACCURACY = Objective("val_acc", "acc", "max", 0.0, "accuracy")
LOSS = Objective("val_loss", "loss", "min", math.inf, "loss")
OBJECTIVES = {o.name: o for o in (ACCURACY, LOSS)}
LEGACY_OBJECTIVE = ACCURACY  # what selected a run whose summary.json names no objective


def bits(nats: float) -> float:
    """A loss in nats per character as bits per character."""
    return nats / LN2


def objective_of(summary: Optional[Mapping]) -> Objective:
    """The objective a summary.json records (``LEGACY_OBJECTIVE`` without one); KeyError for an unknown name."""
    name = (summary or {}).get("objective")
    return LEGACY_OBJECTIVE if name is None else OBJECTIVES[name]


def objective_of_key(key: str) -> Optional[Objective]:
    """The objective whose summary.json keys include ``key`` (``best_val_loss`` -> LOSS), else None."""
    return next((o for o in OBJECTIVES.values() if key in o.keys), None)
