"""``model.init_from``: start a run from the final weights another run kept (its ``weights.pt``).

The source must be a completed run of a compatible network: the same family and every key that decides the
shapes (``model.*`` but where blocks begin and dropout), trained on data of the same shape. A text keeps the
source's vocabulary (summary.json records it): its characters keep their tokens, and a character the source never
saw becomes a new token after them, whose embedding and output rows start from this run's initialisation (as a
fine-tuned language model's added tokens do). Where the source split its network does not matter: weights are
matched unit by unit. The file is read as the project's checkpoint format only (a JSON header, then tensors
loaded with ``weights_only=True``): a pickle planted in its place is refused and never runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

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


def source_vocabulary(model_cfg) -> str | None:
    """The vocabulary a text run starting from ``model.init_from`` extends: the source run's; None without one."""
    if model_cfg.init_from is None:
        return None
    vocabulary = source_summary(Path(model_cfg.init_from)).get("resolved", {}).get("vocabulary")
    return vocabulary if isinstance(vocabulary, str) else None


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
    if ours is not None and not ours.startswith(str(resolved.get("vocabulary"))):
        raise ConfigError(KEY, model_cfg.init_from, "a run on a text (its summary.json records no vocabulary)")
    for key, value in (("input_dim", data.input_dim), ("num_classes", None if ours else data.num_classes)):
        if value is not None and resolved.get(key) != value:
            raise ConfigError(
                KEY,
                model_cfg.init_from,
                f"a run on data of the same shape: its {key} is {resolved.get(key)}, here {value}",
            )


def fits(source, target, data) -> bool:
    """The source tensor has the target's shape, or a text's added tokens make the target's first dimension
    (its rows, one a token) longer by their number."""
    if source.shape == target.shape:
        return True
    added = data.num_classes - source.shape[0] if getattr(data, "vocabulary", None) else 0
    return added > 0 and source.shape[1:] == target.shape[1:] and target.shape[0] == source.shape[0] + added


def extended(source, target):
    """The source's rows, then the target's own (freshly initialised) rows of the tokens the source never saw."""
    return source if source.shape == target.shape else torch.cat([source, target[source.shape[0] :]])


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
    if set(source) != set(target) or any(not fits(source[k], target[k], data) for k in target):
        raise ConfigError(KEY, str(folder), "weights of the same network (its units' weights differ from this one's)")
    source = {k: extended(source[k], target[k]) for k in target}
    firsts = [0, *model_cfg.block_starts]
    block_of = {u: max(b for b, f in enumerate(firsts) if f <= u) for u, _ in target}
    model.load_state_dict(
        {f"blocks.{block_of[u]}.{u - firsts[block_of[u]]}.{rest}": source[(u, rest)] for u, rest in target}
    )
