"""``trainer.compile``: the forward and loss of a training step (and, through AOTAutograd, its backward) compiled
with ``torch.compile``, one graph per set of trainable blocks; and ``Graphs``, the same for any step function (a
batched group's, one graph per signature of its members' sets: batched/net.py).

Why per set: freezing changes the graph (the frozen prefix runs under ``no_grad``, frozen weights need no
gradient, a frozen BatchNorm stops tracking statistics), so a strategy's switch would make torch recompile. Each
set gets its own compiled function, built on the first step that trains that set and kept in ``Step.graphs``:
switching back reuses it. Each is compiled from its own copy of the step's code object, because dynamo keeps its
cache (and its limit of recompilations, 8 by default) per code object: a strategy with many sets never falls
back to eager. Shapes are static (``dynamic=False``); the last partial batch of an epoch runs eagerly instead of
compiling a graph of its size. Random ops (dropout) draw from torch's own generators (``fallback_random``), so
compiled and eager runs draw the same masks and agree within float tolerance (tests/test_compiled.py).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import types
import weakref
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .errors import ConfigError

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "none", "default", "cudagraphs")
AUTO = {"cuda": "cudagraphs"}  # what auto picks per device type; elsewhere none (on CPUs compiling gained nothing)
GROUP_AUTO: dict = {}  # what auto picks for a batched group's step: none everywhere until a GPU has measured it
CXX = ("g++", "c++", "clang++")  # inductor's CPU code needs one of these (or $CXX)


def _unavailable(device: torch.device) -> Optional[str]:
    """Why inductor cannot compile for ``device`` here, or None."""
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile does not support this Python"
    if device.type == "cuda":
        return None if importlib.util.find_spec("triton") else "triton is not installed"
    if device.type == "cpu":
        found = any(shutil.which(c) for c in (os.environ.get("CXX", ""), *CXX) if c)
        return None if found else "no C++ compiler on PATH (g++, c++, clang++ or $CXX)"
    return f"torch.compile's default backend does not target {device.type}"


def resolve(mode: str, device: torch.device, auto: Optional[dict] = None) -> str:
    """The mode a run on ``device`` uses for ``trainer.compile=mode``: auto picks (from ``auto``, by device type;
    None: ``AUTO``); cudagraphs off CUDA is refused; a backend that cannot compile here falls back to none, with one
    line in the log."""
    used = (AUTO if auto is None else auto).get(device.type, "none") if mode == "auto" else mode
    if used == "cudagraphs" and device.type != "cuda":
        raise ConfigError(
            "trainer.compile", mode, f"cudagraphs needs a CUDA device (this run's is {device}); none or default"
        )
    if used != "none":
        why = _unavailable(device)
        if why is not None:
            log.warning("trainer.compile=%s: %s; training eagerly (not compiled)", mode, why)
            return "none"
    return used


def forward_loss(model, x: torch.Tensor, y: torch.Tensor, dtype: Optional[torch.dtype]):
    """The logits and mean cross-entropy of a batch, under autocast to ``dtype`` (None: as the weights are)."""
    if dtype is None:
        logits = model(x)
        return logits, F.cross_entropy(logits, y)
    with torch.autocast(x.device.type, dtype=dtype):
        logits = model(x)
        return logits, F.cross_entropy(logits, y)


def _own_copy(fn: Callable) -> Callable:
    """``fn`` with a code object of its own: dynamo caches compiled frames per code object."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def torch_compile(fn: Callable, mode: str) -> Callable:
    """``fn`` compiled by inductor: plain (``default``) or with CUDA graphs (``cudagraphs``, torch's reduce-overhead)."""
    options = {"fallback_random": True}
    if mode == "cudagraphs":
        options["triton.cudagraphs"] = True
    return torch.compile(fn, dynamic=False, options=options)


class Graphs:
    """``fn`` compiled under ``mode``, once per key: ``graphs.run(key, *args)`` calls the key's compiled copy of
    ``fn`` (built at its first call, from a code object of its own). The caller's key names what changes the
    graph (a set of trainable blocks; a group's sets). ``compile_fn(fn, mode)``: how a key's function is compiled
    (None: ``torch_compile``, looked up at each key's first call, so that tests can stand in for it)."""

    def __init__(self, fn: Callable, mode: str, compile_fn: Optional[Callable] = None):
        self.fn, self.mode, self.compile_fn = fn, mode, compile_fn
        self.graphs: dict = {}  # key -> its compiled function

    def run(self, key, *args):
        compiled = self.graphs.get(key)
        if compiled is None:
            compiled = self.graphs[key] = (self.compile_fn or torch_compile)(_own_copy(self.fn), self.mode)
        if self.mode == "cudagraphs":  # the optimizer ran outside the graph: a new step begins
            torch.compiler.cudagraph_mark_step_begin()
        return compiled(*args)


class Step(Graphs):
    """``step(x, y)`` -> (logits, loss) of ``model`` at its current trainable set (``model.trainable``), compiled
    once per set under ``mode`` (``resolve``'s); a batch of another size than ``batch_size`` runs eagerly."""

    def __init__(
        self,
        model,
        mode: str,
        batch_size: int,
        dtype: Optional[torch.dtype] = None,
        compile_fn: Optional[Callable] = None,
    ):
        super().__init__(forward_loss, mode, compile_fn)
        self._model = weakref.ref(model)  # the model's entry in STEPS must not keep it alive
        self.batch_size, self.dtype = batch_size, dtype

    @property
    def model(self):
        return self._model()

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        if self.mode == "none" or len(x) != self.batch_size:
            return forward_loss(self.model, x, y, self.dtype)
        return self.run(self.model.trainable, self.model, x, y, self.dtype)


# model -> {(mode, batch size, dtype): Step}: a fit that continues a model (a benchmark's epoch at a time, a
# resume in the same process) keeps its compiled graphs
STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def build_step(model, mode: str, device: torch.device, batch_size: int, precision: str) -> Step:
    """The training step of ``loop.fit`` for ``trainer.compile=mode`` and ``trainer.precision``: the model's own
    from an earlier fit of it, if any."""
    used, dtype = resolve(mode, device), torch.bfloat16 if precision == "bf16" else None
    steps = STEPS.setdefault(model, {})
    if (used, batch_size, dtype) not in steps:
        steps[used, batch_size, dtype] = Step(model, used, batch_size, dtype)
    return steps[used, batch_size, dtype]
