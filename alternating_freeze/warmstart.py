"""``model.init_from``: start a run from the final weights another run kept (its ``weights.pt``).

The source must be a completed run of a compatible network: the same family and every key that decides the
shapes (``model.*`` but where blocks begin and dropout), trained on data of the same shape (for a text, the
same vocabulary, which summary.json records). Where the source split its network does not matter: weights are
matched unit by unit. The file is read as the project's checkpoint format only (a JSON header, then tensors
loaded with ``weights_only=True``): a pickle planted in its place is refused and never runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import records
from .contract import COMPLETED, WEIGHTS_FILE, read_summary
from .errors import ConfigError

KEY = "model.init_from"
FREE = ("split", "splits", "dropout", "init_from")  # model keys that leave every weight's shape as it is


def by_unit(state: dict, starts) -> dict:
    """``blocks.<block>.<index>.<rest>`` keys as (unit, rest): the same for every split of one network."""
    firsts = [0, *starts]
    out = {}
    for key, tensor in state.items():
        _, block, index, rest = key.split(".", 3)
        out[(firsts[int(block)] + int(index), rest)] = tensor
    return out


def source_summary(folder: Path) -> dict:
    """The completed source run's summary.json, or the one line that says why the folder cannot be one."""

    def refuse(why: str) -> ConfigError:
        return ConfigError(KEY, str(folder), f"a completed run's folder holding {WEIGHTS_FILE}: {why}")

    if not folder.is_dir():
        raise refuse("no such folder")
    summary = read_summary(folder)
    if not isinstance(summary, dict) or summary.get("status") != COMPLETED:
        raise refuse("no summary.json of a completed run there")
    if not (folder / WEIGHTS_FILE).is_file():
        raise refuse(f"it kept no {WEIGHTS_FILE} (trainer.keep_weights=false)")
    return summary


def check_compatible(summary: dict, model_cfg, data) -> None:
    """The source's network has every weight this one has, of the same shape, for data of the same shape."""
    source = summary.get("config", {}).get("model", {})
    defaults = {f.name: f.default for f in dataclasses.fields(model_cfg)}
    for key, value in dataclasses.asdict(model_cfg).items():
        if key not in FREE and source.get(key, defaults[key]) != value:
            raise ConfigError(
                KEY,
                model_cfg.init_from,
                f"a run of the same network: its model.{key} is {source.get(key, defaults[key])!r}, this run's {value!r}",
            )
    resolved = summary.get("resolved", {})
    ours = getattr(data, "vocabulary", None)
    if ours is not None and resolved.get("vocabulary") != ours:
        raise ConfigError(KEY, model_cfg.init_from, "a run on a text of the same vocabulary (its characters differ)")
    for key, value in (("input_dim", data.input_dim), ("num_classes", data.num_classes)):
        if resolved.get(key) != value:
            raise ConfigError(
                KEY,
                model_cfg.init_from,
                f"a run on data of the same shape: its {key} is {resolved.get(key)}, here {value}",
            )


def initialise(model, model_cfg, data) -> None:
    """Load the source run's final weights into ``model`` (built from ``model_cfg``), or refuse in one line."""
    folder = Path(model_cfg.init_from)
    summary = source_summary(folder)
    check_compatible(summary, model_cfg, data)
    try:
        weights = records.load_weights(folder)
    except Exception as e:  # noqa: BLE001 - a pickle, another run's file, a truncated one: never unpickled
        raise ConfigError(
            KEY, str(folder), f"its {WEIGHTS_FILE} is not a weights file of this project ({type(e).__name__}: {e})"
        ) from None
    source = by_unit(weights, summary.get("resolved", {}).get("splits") or [])
    target = by_unit(model.state_dict(), model_cfg.block_starts)
    if set(source) != set(target) or any(source[k].shape != target[k].shape for k in target):
        raise ConfigError(KEY, str(folder), "weights of the same network (its units' weights differ from this one's)")
    firsts = [0, *model_cfg.block_starts]
    block_of = {u: max(b for b, f in enumerate(firsts) if f <= u) for u, _ in target}
    model.load_state_dict(
        {f"blocks.{block_of[u]}.{u - firsts[block_of[u]]}.{rest}": source[(u, rest)] for u, rest in target}
    )
