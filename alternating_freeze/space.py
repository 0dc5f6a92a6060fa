"""Search spaces for quasi-random tuning (the Deep Learning Tuning Playbook's recommendation beyond 1-2 keys).

A space maps each tuned key to a distribution written as a string, so that it reads the same in YAML and on
the command line::

    space:
      optimizer.lr: log_uniform(1e-4, 1e-1)
      optimizer.weight_decay: uniform(0, 1e-3)
      optimizer.betas.0: uniform(0.8, 0.99)
      trainer.batch_size: int(32, 256)          # both ends included
      strategy.order: choice(cyclic, reverse)

Points come from one scrambled Halton sequence (scipy.stats.qmc), seeded, so that a resumed sweep plans the
same trials; study ``s`` of ``n`` trials takes the points ``s*n .. s*n+n-1``, so studies never share a point.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from typing import Dict, List, Sequence

from .contract import RANGED, boundary_side
from .errors import ConfigError

DISTRIBUTIONS = ("log_uniform", "uniform", "int", "choice")
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class Dist:
    kind: str  # one of DISTRIBUTIONS
    lo: float = 0.0
    hi: float = 0.0
    options: tuple = ()  # choice only: the values as written

    def value(self, u: float) -> str:
        """The override value at ``u`` in [0, 1): 6 significant digits, so that folder names stay readable."""
        if self.kind == "log_uniform":
            return _fmt(math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo))))
        if self.kind == "uniform":
            return _fmt(self.lo + u * (self.hi - self.lo))
        if self.kind == "int":
            return str(min(int(self.hi), int(self.lo) + math.floor(u * (int(self.hi) - int(self.lo) + 1))))
        return self.options[min(len(self.options) - 1, math.floor(u * len(self.options)))]

    def size(self) -> float:
        """How many distinct values it can give (inf for a continuous one)."""
        return {"int": int(self.hi) - int(self.lo) + 1, "choice": len(self.options)}.get(self.kind, math.inf)

    def ends(self) -> List[str]:
        """The values a config must accept for every trial to be valid: both ends, or every option."""
        if self.kind == "choice":
            return list(self.options)
        return [self.value(0.0), str(int(self.hi)) if self.kind == "int" else _fmt(self.hi)]

    def as_json(self) -> dict:
        if self.kind == "choice":
            return {"distribution": "choice", "options": [_number(o) for o in self.options]}
        return {"distribution": self.kind, "lo": self.lo, "hi": self.hi}

    def side(self, value) -> str | None:
        """ "low" or "high" when ``value`` lies in the outer 5% of the range (contract.boundary_side)."""
        return boundary_side(self.kind, self.lo, self.hi, float(value)) if self.kind in RANGED else None


def parse(key: str, text: str) -> Dist:
    """A distribution from its string; a bad one is a ConfigError naming the key, the string and what is allowed."""
    where = f"hydra.sweeper.tune.space.{key}"
    m = _CALL.match(str(text))
    if not m or m.group(1) not in DISTRIBUTIONS:
        raise ConfigError(where, text, "log_uniform(lo, hi), uniform(lo, hi), int(lo, hi) or choice(a, b, ...)")
    kind, args = m.group(1), [a.strip() for a in m.group(2).strip().strip("[]").split(",") if a.strip()]
    if kind == "choice":
        if not args or len(set(args)) != len(args):
            raise ConfigError(where, text, "choice of at least one value, each once")
        return Dist(kind, options=tuple(args))
    try:
        lo, hi = (float(a) for a in args)
    except ValueError:
        raise ConfigError(where, text, f"{kind}(lo, hi) with two numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ConfigError(where, text, "finite bounds with lo < hi")
    if kind == "log_uniform" and lo <= 0:
        raise ConfigError(where, text, "log_uniform needs bounds > 0")
    if kind == "int" and not (lo.is_integer() and hi.is_integer()):
        raise ConfigError(where, text, "int(lo, hi) with integer bounds")
    return Dist(kind, lo, hi)


def parse_space(space: Dict[str, str]) -> Dict[str, Dist]:
    return {k: parse(k, v) for k, v in space.items()}


def unit_points(n_keys: int, n: int, seed: int):
    """``n`` points of the scrambled Halton sequence in [0, 1)^n_keys, the same for the same seed."""
    from scipy.stats import qmc

    return qmc.Halton(d=n_keys, scramble=True, seed=seed).random(n)


def studies(space: Dict[str, Dist], trials: int, n_studies: int, seed: int) -> List[List[Dict[str, str]]]:
    """Per study its ``trials`` points (tuned key -> override value): consecutive chunks of one sequence."""
    keys = list(space)
    u = unit_points(len(keys), trials * n_studies, seed)
    points = [{k: space[k].value(float(x)) for k, x in zip(keys, row)} for row in u]
    return [points[s * trials : (s + 1) * trials] for s in range(n_studies)]


def check_budget(space: Dict[str, Dist], trials: int, n_studies: int, trials_text: object, studies_text: object):
    """Enough trials to vary every key, and a finite space large enough for disjoint studies."""
    if trials < len(space):
        raise ConfigError(
            "hydra.sweeper.tune.trials", trials_text, f"at least the number of tuned keys ({len(space)}) per study"
        )
    if n_studies < 1:
        raise ConfigError("hydra.sweeper.tune.studies", studies_text, "an integer >= 1")
    size = math.prod(d.size() for d in space.values())
    if trials * n_studies > size:
        raise ConfigError(
            "hydra.sweeper.tune.studies",
            studies_text,
            f"{n_studies} studies x {trials} trials need more points than the space has ({size})",
        )


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def values_tried(points: Sequence[Dict[str, str]], keys: Sequence[str]) -> Dict[str, List[str]]:
    """Per key the distinct values the points use, in ascending order where they are numbers."""
    out = {}
    for k in keys:
        vals = list(dict.fromkeys(p[k] for p in points))
        with contextlib.suppress(ValueError):
            vals.sort(key=float)
        out[k] = vals
    return out
