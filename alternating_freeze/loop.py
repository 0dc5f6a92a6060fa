"""The training loop: one screen, no per-batch host synchronisation, data already on the device."""
from __future__ import annotations

import contextlib
import math
import re
import time
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .contract import COMPLETED, DIVERGED, trained_label
from .errors import ConfigError
from .optim import reset_state
from .strategies import OptimizerState

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16")


class Progress(str, Enum):
    auto = "auto"  # a bar in an interactive terminal, log lines otherwise
    bar = "bar"
    log = "log"
    none = "none"


def budget_number(text: str) -> Optional[float]:
    """A positive, finite number of FLOPs written as text ("5e11"), or None."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


@dataclass
class TrainerConfig:
    """Schema of the `trainer` config group."""

    epochs: int = 20
    batch_size: int = 128
    eval_batch_size: int = 8192
    device: str = "auto"  # auto | cpu | cuda | mps (also cuda:N)
    num_threads: Optional[int] = None  # torch intra-op threads; null: all cores, or cores / parallel jobs in a sweep
    checkpoint: bool = True  # save checkpoint.pt at every epoch end, so a killed run resumes
    progress: Progress = Progress.auto
    precision: str = "fp32"  # fp32 | bf16: forward and loss under torch.autocast to bfloat16 (weights stay fp32)
    channels_last: bool = True  # convolutional models: NHWC memory layout (faster on CPUs and GPUs); MLPs: no effect
    # A training-FLOP budget instead of an epoch count: as many whole epochs as it buys. "standard":
    # what standard training spends in `epochs` epochs (an equal-compute comparison); or a number of
    # FLOPs, e.g. 5e11. null: train `epochs` epochs.
    budget: Optional[str] = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError("trainer.precision", self.precision, f"allowed: {', '.join(PRECISIONS)}")
        for key in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"trainer.{key}", getattr(self, key), "must be an integer >= 1")
        if self.budget is not None and self.budget != "standard" and not budget_number(self.budget):
            raise ConfigError("trainer.budget", self.budget, "null, standard, or a number of training FLOPs > 0")
        if not re.fullmatch(r"(auto|cpu|mps|cuda(:\d+)?)", self.device):
            raise ConfigError("trainer.device", self.device, f"allowed: {', '.join(DEVICES)} (or cuda:N)")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError("trainer.num_threads", self.num_threads, "must be >= 1 or null")


@dataclass
class TrainState:
    """What a checkpoint must hold, beyond model, optimizer and RNG states, to continue a run exactly.
    Plain values only, so that it is stored as JSON (``to_json``/``from_json``), never pickled."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimizer steps taken
    flops: int = 0  # training FLOPs executed
    elapsed_s: float = 0.0  # wall seconds of training + evaluation so far
    trainable: Optional[frozenset] = None  # blocks training at the last step
    rows: list = field(default_factory=list)  # metrics.csv rows so far
    status: str = COMPLETED  # becomes DIVERGED when the loss stops being finite

    def to_json(self) -> dict:
        # shallow: asdict's deep copy of every row cost 1 ms an epoch, and the dict is serialised at once
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "trainable": None if self.trainable is None else sorted(self.trainable)}

    @classmethod
    def from_json(cls, data: dict) -> "TrainState":
        state = cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        state.trainable = None if state.trainable is None else frozenset(state.trainable)
        return state


def clock(device: torch.device) -> float:
    """Wall time after the device has finished its queued work (CUDA and MPS run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
    return time.perf_counter()


@torch.inference_mode()
def evaluate(model, x: Optional[torch.Tensor], y: Optional[torch.Tensor], batch_size: int) -> tuple[float, float]:
    """Mean loss and accuracy in eval mode; NaN for a split that does not exist."""
    if x is None or not len(x):
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for i in range(0, len(y), batch_size):
        logits = model(x[i:i + batch_size])
        loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum")
        correct += (logits.argmax(1) == y[i:i + batch_size]).sum()
    model.train(was_training)
    return loss.item() / len(y), correct.item() / len(y)


def autocast(trainer: TrainerConfig, device: torch.device):
    """The context of every forward pass: torch.autocast under ``trainer.precision=bf16``, else nothing."""
    if trainer.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fit(*, model, data, strategy, optimizer, trainer: TrainerConfig, gen: torch.Generator, state: TrainState,
        on_epoch: Callable[[TrainState], None] = lambda state: None):
    """Train from ``state`` to ``trainer.epochs`` and return the optimizer; ``state.status`` says how it
    ended. ``strategy`` is bound to this run; ``on_epoch(state)`` runs after each epoch (files, progress).
    Under ``optimizer_state=reset`` the optimizer forgets its state when the trainable blocks change."""
    device = data.x_train.device
    n, bs = len(data.y_train), trainer.batch_size
    flops_per_sample: dict[frozenset, int] = {}
    reset = strategy.optimizer_state == OptimizerState.reset
    precision = autocast(trainer, device)
    if state.trainable is not None:
        model.set_trainable(state.trainable, strategy.freeze_bn_stats)
    started = clock(device) - state.elapsed_s
    for epoch in range(state.epoch, trainer.epochs):
        model.train()
        t0, cpu0 = clock(device), time.process_time()
        perm = torch.randperm(n, generator=gen, device=gen.device).to(device)
        crops = data.draw_augmentation(gen)  # dataset.augment: this epoch's crops and flips, or None
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        trained, flops0 = set(), state.flops
        for start in range(0, n, bs):
            trainable = strategy.trainable(epoch, state.step)
            if trainable != state.trainable:
                if reset and state.trainable is not None:
                    reset_state(optimizer)
                model.set_trainable(trainable, strategy.freeze_bn_stats)
                state.trainable = trainable
            trained.add(trainable)
            idx = perm[start:start + bs]
            x, y = data.x_train[idx], data.y_train[idx]
            if crops is not None:
                x = data.augment_batch(x, crops[start:start + bs])
            with precision:
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                loss_sum += loss * len(idx)
                correct += (logits.argmax(1) == y).sum()
            if trainable not in flops_per_sample:
                flops_per_sample[trainable] = model.train_flops_per_sample(trainable)
            state.flops += flops_per_sample[trainable] * len(idx)
            state.step += 1
        epoch_s, epoch_cpu_s = clock(device) - t0, time.process_time() - cpu0
        with precision:
            val_loss, val_acc = evaluate(model, data.x_val, data.y_val, trainer.eval_batch_size)
            test_loss, test_acc = evaluate(model, data.x_test, data.y_test, trainer.eval_batch_size)
        eval_s = clock(device) - t0 - epoch_s
        train_loss = loss_sum.item() / n
        state.rows.append({
            "epoch": epoch + 1, "step": state.step, "trained": trained_label(trained, model.n_blocks),
            "train_loss": train_loss, "train_acc": correct.item() / n, "val_loss": val_loss, "val_acc": val_acc,
            "test_loss": test_loss, "test_acc": test_acc,
            "epoch_s": epoch_s, "eval_s": eval_s, "elapsed_s": clock(device) - started,
            "train_flops": state.flops, "epoch_cpu_s": epoch_cpu_s, "threads": torch.get_num_threads(),
            "gflops_per_s": (state.flops - flops0) / epoch_s / 1e9 if epoch_s > 0 else math.nan,
        })
        state.epoch, state.elapsed_s = epoch + 1, state.rows[-1]["elapsed_s"]
        if not math.isfinite(train_loss):
            state.status = DIVERGED
        on_epoch(state)
        if state.status == DIVERGED:
            break
    return optimizer
