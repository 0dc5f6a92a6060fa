"""``af-train``: Hydra's entrypoint around ``train.run_job``, and the checks that answer a typo in
one line before Hydra composes anything."""
from __future__ import annotations

import sys
from pathlib import Path

import hydra

from . import sweep
from .errors import ConfigError
from .train import run_job

_HERE = Path(__file__).resolve().parent
# conf/ at the top of the source tree; a wheel carries the same files inside the package (pyproject.toml)
CONF = _HERE / "conf" if (_HERE / "conf").is_dir() else _HERE.parent / "conf"
_hydra_main = hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")(run_job)


def check_group_choices(args: list[str]) -> None:
    """Hydra reports an unknown option of a config group with its whole search path: say it in one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    except Exception:  # a syntax error: Hydra's own message says where
        return
    for o in overrides:
        folder = CONF / o.key_or_group
        if o.key_or_group.startswith("hydra") or o.package or o.is_delete() or not folder.is_dir():
            continue
        if o.is_sweep_override() and (not o.is_discrete_sweep() or isinstance(o.value(), Glob)):
            continue  # a glob or range matches what exists: Hydra expands it
        allowed = sorted(p.stem for p in folder.glob("*.yaml"))
        for value in o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]:
            if value not in allowed and value != "null":
                raise ConfigError(o.key_or_group, value, f"allowed: {', '.join(allowed)}")


def main() -> None:
    try:
        check_group_choices(sys.argv[1:])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()
    sys.exit(sweep.exit_code())
