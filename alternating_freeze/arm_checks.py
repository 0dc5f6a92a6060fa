"""What the arms sweeper checks before any job of a sweep runs: every arm trains every block within its
run, and every tuned key and value fits every configuration. Each refusal is one ConfigError line; the
sweeper (hydra_plugins/af_arms_sweeper) holds only the order of the sweep and calls these."""

from __future__ import annotations

from typing import Any, Dict, List

from omegaconf import DictConfig, OmegaConf, open_dict

from .budget import ALLOW_HINT, schedule_problem
from .compose import shared
from .config import validate
from .contract import RANGED, strategy_label
from .errors import ConfigError


def _composed(loader: Any, config: DictConfig, job: List[str]) -> DictConfig:
    """A job's config as a plain run sees it (Hydra's own node removed); composed through the sweep's shared
    Composer, which the batched launcher then reuses (each set of group options composed in full once)."""
    cfg = shared(loader, config)(list(job))
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def epoch_samples(run) -> int:
    """Samples an epoch of ``run`` trains on, counted without loading images (a text is small: read, it is
    counted as training counts it, loop.epoch_size)."""
    from . import text
    from .data import load_dataset, train_count
    from .loop import epoch_size

    if run.dataset.name not in text.DATASETS:
        return train_count(run.dataset)
    return epoch_size(load_dataset(run.dataset, "cpu", run.model.block_size), run.trainer)


def check_schedules(loader: Any, config: DictConfig, configs: Dict[str, List[str]], seeds: List[str]) -> None:
    """Every arm's strategy trains every block within its run, for every seed of the sweep (tuning seeds
    included); an arm that cannot do what its name says is refused in one line naming it
    (budget.check_schedule, which trainer.allow_untrained=true turns off), as is an arm whose
    scheduler.warmup leaves no step of its run to decay."""
    from .strategies import Run

    refused = []
    for name, job in configs.items():
        try:
            cfg = _composed(loader, config, [*job, f"seed={seeds[0]}"])
            run = validate(cfg)
        except Exception:  # noqa: BLE001 - a bad config fails its own jobs, recorded, as without this check
            continue
        if run.trainer.allow_untrained or run.trainer.budget is not None:
            continue  # a budget's epochs need the model's FLOPs: each job checks itself (job.build)
        n = epoch_samples(run)
        steps = -(-n // run.trainer.batch_size)
        if run.scheduler.warmup:  # an over-long warmup: refused here, not by each job of the arm
            try:
                run.scheduler.warmup_steps(run.trainer.epochs * steps)
            except ConfigError as e:
                raise ConfigError(e.key, e.value, f"{e.allowed} (arm {name!r})") from None
        label = strategy_label(OmegaConf.to_container(cfg.strategy, resolve=True, enum_to_str=True))[0]
        for seed in dict.fromkeys(seeds):
            schedule = Run(run.model.n_blocks, steps, run.trainer.epochs, int(seed))
            problem = schedule_problem(run.strategy, schedule, n, run.trainer.batch_size)
            if problem is not None:
                refused.append((name, f"arm {name!r} ({label}) {problem}"))
                break
    if refused:
        more = f" (so do arms {', '.join(repr(n) for n, _ in refused[1:])})" if len(refused) > 1 else ""
        raise ConfigError(
            "trainer.epochs",
            OmegaConf.select(config, "trainer.epochs"),
            f"too short: {refused[0][1]}{more}; {ALLOW_HINT}",
        )


def check_tuned_keys(
    loader: Any,
    config: DictConfig,
    configs: Dict[str, List[str]],
    tuned: Dict[str, Any],
    space: Dict[str, Any],
    space_text: Dict[str, str],
) -> None:
    """Every tuned key exists in every configuration (a number where its distribution is numeric), which
    has a validation split to select on. ``space``: the parsed distributions ({} for a grid), ``space_text``:
    them as the user wrote them."""
    missing = object()
    where = "hydra.sweeper.tune.space" if space else "hydra.sweeper.tune.grid"
    for name, job in configs.items():
        cfg = shared(loader, config)(list(job))
        for key in tuned:
            value = OmegaConf.select(cfg, key, default=missing)
            if value is missing:
                raise ConfigError(
                    where,
                    key,
                    f"not a key of the config of arm {name!r} (tuned keys must exist, e.g. optimizer.lr)",
                )
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if key in space and space[key].kind in RANGED and not numeric:
                raise ConfigError(
                    f"{where}.{key}", space_text[key], f"a numeric distribution for a key holding {value!r}"
                )
        if not OmegaConf.select(cfg, "dataset.val_fraction", default=0):
            raise ConfigError(
                "dataset.val_fraction",
                OmegaConf.select(cfg, "dataset.val_fraction"),
                f"tuning selects on the validation split: arm {name!r} needs a value in (0, 1)",
            )


def check_tuned_values(
    loader: Any, config: DictConfig, job: List[str], values: Dict[str, List[str]], where: str
) -> None:
    """Each tuned value (a grid's, or a space's ends and options) composed into a config and checked as a
    plain run checks its config (config.validate), so that a bad value fails before any trial runs."""
    for key, options in values.items():
        for value in options:
            try:
                validate(_composed(loader, config, [*job, f"{key}={value}"]))
            except ConfigError as e:
                raise ConfigError(f"{where}.{key}", value, str(e)) from None
            except Exception as e:  # Hydra's composition error: OmegaConf's reason is its cause's first line
                lines = [x.strip() for x in str(e.__cause__ or e).splitlines() if x.strip()] or [type(e).__name__]
                raise ConfigError(f"{where}.{key}", value, lines[0]) from None


def task_objectives(loader: Any, config: DictConfig, configs: Dict[str, List[str]]) -> List[str]:
    """The objective each configuration's task declares (text.objective of its dataset), for tune.metric=auto."""
    from .text import objective

    return [
        objective(str(OmegaConf.select(_composed(loader, config, job), "dataset.name"))).name
        for job in configs.values()
    ]
