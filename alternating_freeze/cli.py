"""``af-train``: Hydra's entrypoint around ``task.run_job``, and the checks that answer a typo in
one line before Hydra composes anything."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra

from . import sweep
from .errors import ConfigError
from .task import run_job

_HERE = Path(__file__).resolve().parent
# conf/ at the top of the source tree; a wheel carries the same files inside the package (pyproject.toml)
CONF = _HERE / "conf" if (_HERE / "conf").is_dir() else _HERE.parent / "conf"
_hydra_main = hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")(run_job)
INTERNAL_GROUPS = ("hydra", "schema")  # Hydra's own, and the strategies' schemas (config.py)


def groups_help() -> str:
    """Every config group of conf/ with its options, the default starred (af-train --help)."""
    from omegaconf import OmegaConf

    defaults = {}
    for entry in OmegaConf.load(CONF / "train.yaml").defaults:
        if hasattr(entry, "items"):
            defaults.update({k: v for k, v in entry.items() if not k.startswith("override")})
    lines = []
    for folder in sorted(p for p in CONF.iterdir() if p.is_dir() and p.name not in INTERNAL_GROUPS):
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        starred = [f"{o}*" if o == defaults.get(folder.name) else o for o in options]
        lines.append(f"  {folder.name:<12} {', '.join(starred)}")
    return "\n".join(lines)


def _register_help() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("af_groups", groups_help, replace=True)


def check_group_choices(args: list[str]) -> None:
    """Hydra reports an unknown option of a config group with its whole search path: say it in one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    except Exception:  # a syntax error: Hydra's own message says where
        return
    for o in overrides:
        if not o.key_or_group:  # ``af-train =5``: CONF itself would be the "group"
            raise ConfigError(f"{o.input_line!r}: an override is key=value and this one has no key (e.g. seed=5)")
        folder = CONF / o.key_or_group
        if o.key_or_group.startswith("hydra") or o.package or o.is_delete() or not folder.is_dir():
            continue
        if o.is_sweep_override() and (not o.is_discrete_sweep() or isinstance(o.value(), Glob)):
            continue  # a glob or range matches what exists: Hydra expands it
        allowed = sorted(p.stem for p in folder.glob("*.yaml"))
        for value in o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]:
            if value not in allowed and value != "null":
                raise ConfigError(o.key_or_group, value, f"allowed: {', '.join(allowed)}")


def strategy_schema(option: str):
    """The schema class a conf/strategy option uses, following its defaults list."""
    from omegaconf import OmegaConf

    from .strategies import STRATEGIES

    for entry in OmegaConf.load(CONF / "strategy" / f"{option}.yaml").get("defaults", []):
        if isinstance(entry, str) and entry != "_self_":
            return strategy_schema(entry)
        if hasattr(entry, "items"):
            for key, value in entry.items():
                if str(key).startswith("/schema/strategy"):
                    return STRATEGIES[value]
    return None


def check_strategy_keys(args: list[str]) -> None:
    """``strategy.unit=week`` with standard training: name the options that have the key, rather
    than Hydra's advice to add it with ``+`` (which the schema would refuse anyway)."""
    from dataclasses import fields

    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    except Exception:  # a syntax error: Hydra's own message says where
        return
    if any(o.key_or_group == "experiment" for o in overrides):
        return  # a preset may choose the strategy (or its arms may)
    chosen = [o for o in overrides if o.key_or_group == "strategy" and not o.is_sweep_override()]
    option = chosen[-1].get_value_element_as_str() if chosen else "standard"
    options = sorted(p.stem for p in (CONF / "strategy").glob("*.yaml"))
    keys = {o: {f.name for f in fields(strategy_schema(o))} for o in options if strategy_schema(o)}
    for o in overrides:
        if not o.key_or_group.startswith("strategy.") or o.is_add() or o.is_force_add() or option not in keys:
            continue
        key = o.key_or_group.split(".", 1)[1]
        if key not in keys[option]:
            having = [name for name in options if key in keys.get(name, ())]
            allowed = (
                f"strategy={option} has no {key}; it belongs to strategy={', '.join(having)}"
                if having
                else f"not a key of any strategy (strategy={option} has {', '.join(sorted(keys[option]))})"
            )
            raise ConfigError(o.key_or_group, o.get_value_element_as_str(), allowed)


MULTIRUN_FLAGS = ("-m", "--multirun")


def check_sweep_presets(args: list[str]) -> None:
    """A preset that is a sweep (its YAML sets ``hydra.sweeper.params`` or ``arms``) run without ``-m``
    would silently train one default job: refused in one line."""
    from omegaconf import OmegaConf

    if any(a in MULTIRUN_FLAGS or a.startswith("hydra.mode=") for a in args):
        return
    for a in args:
        key, _, value = a.partition("=")
        if key != "experiment" or not (CONF / "experiment" / f"{value}.yaml").is_file():
            continue
        sweeper = OmegaConf.select(OmegaConf.load(CONF / "experiment" / f"{value}.yaml"), "hydra.sweeper")
        if sweeper is not None and (sweeper.get("params") or sweeper.get("arms")):
            raise ConfigError("experiment", value, f"a sweep: run it with -m (af-train -m experiment={value})")


def check_keys(args: list[str]) -> None:
    """A typo in a key (``trainer.epoch=5``) of a group with one schema: one line with the closest key,
    rather than Hydra's advice to add it with ``+`` (which the schema would refuse anyway). Strategy keys
    are checked against the chosen strategy (``check_strategy_keys``); trackers' against theirs by Hydra."""
    import difflib
    from dataclasses import asdict

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from . import contract
    from .config import RunConfig

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    except Exception:  # a syntax error: Hydra's own message says where
        return
    known = [k for k in contract.flatten(asdict(RunConfig())) if k.split(".")[0] not in ("strategy", "logger")]
    groups = {k.split(".")[0] for k in known if "." in k}
    for o in overrides:
        key = o.key_or_group
        if o.is_add() or o.is_force_add() or o.is_delete() or o.package or key in known:
            continue
        if key.startswith("hydra") or (CONF / key).is_dir() or ("." in key and key.split(".")[0] not in groups):
            continue  # Hydra's own, a group's option, or a strategy's or tracker's key (checked elsewhere)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
        group = key.split(".")[0] if "." in key else None
        said = f"not a key of {group}" if group in groups else "not a key of the config"
        keys = [k.split(".", 1)[1] for k in known if k.startswith(f"{group}.")]
        raise ConfigError(
            key,
            (o.input_line or "").partition("=")[2],
            f"{said}: did you mean {close[0]}?" if close else f"{said} (keys: {', '.join(keys)})" if keys else said,
        )


def main() -> None:
    _register_help()
    try:
        check_group_choices(sys.argv[1:])
        check_sweep_presets(sys.argv[1:])
        check_strategy_keys(sys.argv[1:])
        check_keys(sys.argv[1:])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sweep.forget_exit_code()
    _hydra_main()
    sys.exit(sweep.exit_code())
