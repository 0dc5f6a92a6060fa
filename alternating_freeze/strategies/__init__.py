"""Strategies: each answers one question, which blocks of the network train at this step.

A strategy is a dataclass that doubles as the schema of its ``conf/strategy/<name>.yaml``. Every
module of this package except ``base`` defines one and names it ``STRATEGY``; a new strategy is
one module here and one YAML there (whose defaults list starts with
``/schema/strategy@_here_: <name>``), found without being registered anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import OptimizerState, Run, Strategy, Unit


def _discover() -> dict[str, type]:
    found = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name != "base":
            cls = importlib.import_module(f".{module.name}", __name__).STRATEGY
            found[cls.name] = cls
    return found


STRATEGIES = _discover()

__all__ = ["STRATEGIES", "OptimizerState", "Run", "Strategy", "Unit"]
