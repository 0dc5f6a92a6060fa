"""The run's config schema, registered in Hydra's ConfigStore so that a wrong type or an unknown
key fails when the config is composed, and ``validate`` catches bad values before any training.

Each group's schema lives in the module that reads it (``conf/<group>/`` mirrors the code) and
checks its own values in ``__post_init__``; ``RunConfig`` checks what involves two groups.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict

from . import contract
from .data import DatasetConfig
from .errors import ConfigError
from .loggers import LOGGERS, option_keys
from .loop import TrainerConfig
from .models import ModelConfig
from .optim import OptimizerConfig
from .schedule import SchedulerConfig
from .strategies import STRATEGIES, Strategy


@dataclass
class RunConfig:
    seed: int = 0
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategy: Any = MISSING  # one of STRATEGIES; its YAML names its schema in its defaults list
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)  # the rate over the run (schedule.py)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: Any = None  # one of loggers.LOGGERS (conf/logger/); None: no tracker. Not in the config hash

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not 0 <= self.seed < 2**63:
            raise ConfigError("seed", self.seed, "an integer from 0 to 2**63 - 1")
        if isinstance(self.strategy, Strategy):  # options that depend on the network, e.g. one step count per block
            self.strategy.check(self.model.n_blocks)
        self.scheduler.check(self.optimizer.lr)


def unnamed_keys() -> list[str]:
    """Keys left out of a job folder's name (conf/train.yaml's exclude_keys): what does not change results,
    the experiment preset (its keys name themselves), and every option of every tracker."""
    return ["experiment", *contract.EXECUTION_KEYS, *contract.EXECUTION_GROUPS, *option_keys()]


NAME_MAX = 255  # bytes in one folder name (Linux, macOS)


def job_dirname(overrides: str) -> str:
    """A job folder's name (conf/train.yaml's ``hydra.sweep.subdir``): Hydra's ``override_dirname``, one folder
    deep, a path in a value (``dataset.path``, ``model.init_from``) written with ``%2F`` for each ``/``. A name
    longer than a folder name may be keeps its start and ends in the SHA-1 of the whole: still one name a job."""
    import hashlib

    name = overrides.replace("/", "%2F")
    if len(name.encode()) <= NAME_MAX:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()
    return name.encode()[: NAME_MAX - len(digest) - 1].decode(errors="ignore") + "~" + digest


def register() -> None:
    """The schemas into Hydra's ConfigStore, and the resolvers conf/train.yaml reads ``unnamed_keys`` and
    ``job_dirname`` through."""
    OmegaConf.register_new_resolver("af_unnamed_keys", unnamed_keys, replace=True)
    OmegaConf.register_new_resolver("af_job_dirname", job_dirname, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    for name, schema in STRATEGIES.items():
        cs.store(group="schema/strategy", name=name, node=schema)
    for name, schema in LOGGERS.items():
        cs.store(group="schema/logger", name=name, node=schema)


register()


def validate(cfg: DictConfig, overrides: Sequence[str] = ()) -> RunConfig:
    """Typed, checked config; raises ConfigError naming the first bad key. ``overrides`` (the
    job's command line) are checked for what composition lets through: keys added with ``+`` that
    no schema has, and booleans given as numbers (OmegaConf reads ``2`` as true)."""
    name = OmegaConf.select(cfg, "strategy.name")
    if name not in STRATEGIES:
        raise ConfigError("strategy.name", name, f"allowed: {', '.join(STRATEGIES)}")
    if OmegaConf.get_type(cfg.strategy) is not STRATEGIES[name]:  # a strategy YAML without its schema
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.strategy = OmegaConf.merge(OmegaConf.structured(STRATEGIES[name]), cfg.strategy)
    run = OmegaConf.to_object(cfg)
    known = set(contract.flatten(asdict(run)))
    for key in set(contract.flatten(OmegaConf.to_container(cfg, resolve=False))) - known:
        group = key.rsplit(".", 1)[0] if "." in key else "the config"
        allowed = sorted(k.rsplit(".", 1)[-1] for k in known if k.startswith(group + "."))
        raise ConfigError(
            key,
            OmegaConf.select(cfg, key),
            f"not a key of {group}" + (f" (keys: {', '.join(allowed)})" if allowed else ""),
        )
    for line in overrides:
        key, _, value = line.lstrip("+~").partition("=")
        if isinstance(OmegaConf.select(cfg, key, default=None), bool) and value.lower() not in ("true", "false"):
            raise ConfigError(key, value, "true or false")
    return run


def result_tree(cfg: DictConfig | dict) -> dict:
    """The resolved config without what does not change results (``contract.result_tree``)."""
    return contract.result_tree(
        OmegaConf.to_container(cfg, resolve=True, enum_to_str=True) if isinstance(cfg, DictConfig) else cfg
    )


def config_hash(cfg: DictConfig | dict) -> str:
    """Identity of what a run computes (``contract.config_hash``): equal hashes, the same results."""
    return contract.config_hash(result_tree(cfg))


def recorded(cfg: DictConfig) -> dict:
    """The config as run, wherever it is recorded or sent (summary.json, checkpoint, trackers): its values resolved,
    but an interpolated value as its unresolved text (``${oc.env:TOKEN}`` may hold a secret); all unresolved when
    it cannot be resolved. A config without interpolations records exactly its resolved values."""
    raw = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except Exception:  # noqa: BLE001 - e.g. ${oc.env:UNSET}: the failure record must still be written
        return raw

    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: merge(v, b.get(k)) for k, v in a.items()}
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            return [merge(x, y) for x, y in zip(a, b)]
        return a if isinstance(a, str) and "${" in a else b

    return merge(raw, resolved)


SHORTEST_REDACTED = 3  # a resolved value this short is common text, not worth hiding (a message would be garbled)


def redact(text: str, cfg: DictConfig | None) -> str:
    """``text`` (an error message, a traceback) with every interpolated value of ``cfg`` as its unresolved text."""
    if cfg is None:
        return text
    try:
        raw = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
        plain = OmegaConf.create(raw)  # untyped: a value that fails its schema's type still resolves here
    except Exception:  # noqa: BLE001
        return text
    found = {}
    for key, value in contract.flatten(raw).items():
        if isinstance(value, str) and "${" in value:
            try:
                secret = str(OmegaConf.select(plain, key))
            except Exception:  # noqa: BLE001 - unresolvable: nothing of it can be in the text
                continue
            if len(secret) >= SHORTEST_REDACTED and secret != value:
                found[secret] = value
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, found[secret])
    return text


def changed_keys(old: dict | None, cfg: DictConfig, limit: int = 6) -> str:
    """What differs between a folder's recorded config and this job's: "optimizer.lr 0.001 -> 0.01"."""
    if not isinstance(old, dict):
        return "its config is not recorded"
    fa, fb = contract.flatten(result_tree(old)), contract.flatten(result_tree(cfg))
    diffs = [
        f"{k} {fa.get(k, '(absent)')} -> {fb.get(k, '(absent)')}"
        for k in sorted(set(fa) | set(fb))
        if fa.get(k, "(absent)") != fb.get(k, "(absent)")
    ]
    return (
        ", ".join(diffs[:limit]) + (f", and {len(diffs) - limit} more" if len(diffs) > limit else "")
        if diffs
        else "the same keys and values, from another version (its config hash differs)"
    )
