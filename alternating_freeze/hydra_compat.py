"""Every use of Hydra's internal API, in one place (both plugins import it from here): a Hydra upgrade that moves
one of these breaks this module's import, not a sweep half-way. Checked against hydra-core 1.3."""

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.utils import _flush_loggers as flush_loggers
from hydra.core.utils import _save_config as save_config

__all__ = ["apply_overrides", "flush_loggers", "get_overrides_dirname", "save_config"]  # and BasicSweeper, below


def __getattr__(name: str):
    """``BasicSweeper``, read when asked for: Hydra's plugin scan re-executes its module in place (a new class
    under the same name), and a subclass must derive from the class its ``__init__`` will ``super()`` against."""
    if name == "BasicSweeper":
        from hydra._internal.core_plugins import basic_sweeper

        return basic_sweeper.BasicSweeper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def apply_overrides(overrides: list, cfg) -> None:
    """Set the value overrides (``seed=3``, ``+key=1``, ``~key``) on a composed config, as Hydra does last when it
    composes one: a job derived from a composed base gets exactly Hydra's tree (batched launcher, compose.py)."""
    ConfigLoaderImpl._apply_overrides_to_config(overrides, cfg)
