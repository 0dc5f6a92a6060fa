"""The training loop: one screen, no per-batch host synchronisation, data already on the device."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

from .compiled import COMPILE_MODES, build_step
from .contract import DIVERGED
from .epoch import TrainState, clock, close_epoch, switch
from .epoch import evaluate as evaluate_splits
from .errors import integer, one_of, require
from .machine import AUTO, DEVICES, valid_device
from .optim import reset_state
from .schedule import Rates, fixed

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


MAX_EPOCHS = 100_000  # far beyond any sweep here; more (or a budget that buys more) is a typo that would run forever


@dataclass
class TrainerConfig:
    """Schema of the `trainer` config group."""

    epochs: int = 20
    batch_size: int = 128
    eval_batch_size: int = 8192
    device: str = "auto"  # auto | cpu | cuda | mps (also cuda:N)
    # torch intra-op threads, or auto: one for a step too small to gain from more (machine.PARALLEL_STEP_FLOPS),
    # else the cores this process may use / the jobs its launcher runs at once (null: auto, as older configs say)
    num_threads: Any = AUTO
    checkpoint: bool = True  # save checkpoint.pt at every epoch end, so a killed run resumes
    progress: Progress = Progress.auto
    precision: str = "fp32"  # fp32 | bf16: forward and loss under torch.autocast to bfloat16 (weights stay fp32)
    channels_last: bool = True  # convolutional models: NHWC memory layout (faster on CPUs and GPUs); MLPs: no effect
    # A training-FLOP budget instead of an epoch count: as many whole epochs as it buys. "standard":
    # what standard training spends in `epochs` epochs (an equal-compute comparison); or a number of
    # FLOPs, e.g. 5e11. null: train `epochs` epochs.
    budget: Optional[str] = None
    # A strategy whose schedule never trains some block within the run is refused (budget.check_schedule);
    # true: run it anyway, e.g. to show what a frozen block costs.
    allow_untrained: bool = False
    keep_weights: bool = True  # a completed run keeps its final weights in weights.pt (records.load_weights)
    # auto | none | default | cudagraphs: the step's forward, loss and backward compiled by torch.compile, one graph
    # per set of trainable blocks (compiled.py); auto: cudagraphs on CUDA, none elsewhere (no gain on CPUs). A batched
    # group's step: one graph per signature of its members' sets (batched/net.py), and auto leaves it eager
    compile: str = "auto"
    # Batches an epoch trains on; null: the dataset's natural epoch (a pass over the training split). Text datasets
    # only (text.py: random windows), whose natural epoch is every training character a target once on average.
    steps_per_epoch: Optional[int] = None

    def __post_init__(self) -> None:
        one_of("trainer.precision", self.precision, PRECISIONS)
        one_of("trainer.compile", self.compile, COMPILE_MODES)
        for key in ("epochs", "batch_size", "eval_batch_size"):
            integer(f"trainer.{key}", getattr(self, key), high=MAX_EPOCHS if key == "epochs" else None)
        integer("trainer.steps_per_epoch", self.steps_per_epoch, null=True)
        require(
            self.budget in (None, "standard") or budget_number(self.budget) is not None,
            "trainer.budget",
            self.budget,
            "null, standard, or a number of training FLOPs > 0",
        )
        require(valid_device(self.device), "trainer.device", self.device, f"allowed: {', '.join(DEVICES)} (or cuda:N)")
        if self.num_threads not in (None, AUTO):
            require(
                isinstance(self.num_threads, int) and not isinstance(self.num_threads, bool) and self.num_threads >= 1,
                "trainer.num_threads",
                self.num_threads,
                "auto, or a number of threads >= 1",
            )


def epoch_size(data, trainer: TrainerConfig) -> int:
    """Samples one epoch trains on: ``trainer.steps_per_epoch`` batches, or the data's natural epoch. Data that draw
    their own samples (``draw``, ``natural_epoch``: text.TextData) may have any; image datasets make one pass."""
    if not hasattr(data, "draw"):
        require(
            trainer.steps_per_epoch is None,
            "trainer.steps_per_epoch",
            trainer.steps_per_epoch,
            f"null for {data.name}: an epoch is one pass over its training split (text datasets draw batches)",
        )
        return len(data.y_train)
    if trainer.steps_per_epoch is None:
        return data.natural_epoch
    return trainer.steps_per_epoch * trainer.batch_size


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
        logits = model(x[i : i + batch_size])  # a sequence's targets are (N, T), its logits (N, classes, T)
        loss += F.cross_entropy(logits, y[i : i + batch_size], reduction="sum")
        correct += (logits.argmax(1) == y[i : i + batch_size]).sum()
    model.train(was_training)
    return loss.item() / y.numel(), correct.item() / y.numel()


def autocast(trainer: TrainerConfig, device: torch.device):
    """The context of every forward pass: torch.autocast under ``trainer.precision=bf16``, else nothing."""
    if trainer.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fit(
    *,
    model,
    data,
    strategy,
    optimizer,
    trainer: TrainerConfig,
    gen: torch.Generator,
    state: TrainState,
    on_epoch: Callable[[TrainState], None] = lambda state: None,
    rates: Optional[Rates] = None,
):
    """Train from ``state`` to ``trainer.epochs`` and return the optimizer; ``state.status`` says how it
    ended. ``strategy`` is bound to this run; ``on_epoch(state)`` runs after each epoch (files, progress);
    ``rates``: the learning rates at each step (``job.build``'s; None: the optimizer's own, constant)."""
    if rates is None:
        rates = fixed(optimizer.cfg.lr if hasattr(optimizer, "cfg") else optimizer.param_groups[0]["lr"])
    device = data.x_train.device
    n, bs = epoch_size(data, trainer), trainer.batch_size
    precision = autocast(trainer, device)
    forward_loss = build_step(model, trainer.compile, device, bs, trainer.precision)  # compiled or eager
    flops_per_sample: dict[frozenset, int] = {}
    if state.trainable is not None:
        model.set_trainable(state.trainable, strategy.freeze_bn_stats)
    started = clock(device) - state.elapsed_s
    for epoch in range(state.epoch, trainer.epochs):
        model.train()
        t0, cpu0 = clock(device), time.process_time()
        if hasattr(data, "draw"):  # random windows of a text (text.TextData)
            perm = data.draw(gen, n)
        else:
            perm = torch.randperm(n, generator=gen, device=gen.device).to(device)
        crops = data.draw_augmentation(gen)  # dataset.augment: this epoch's crops and flips, or None
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        targets = 0  # one a sample; a window of text has one a position
        trained, flops0 = set(), state.flops
        for start in range(0, n, bs):
            changed, reset = switch(state, strategy, epoch)
            if reset:
                reset_state(optimizer)
            if changed:
                model.set_trainable(state.trainable, strategy.freeze_bn_stats)
            trained.add(state.trainable)
            idx = perm[start : start + bs]
            x, y = data.x_train[idx], data.y_train[idx]
            if crops is not None:
                x = data.augment_batch(x, crops[start : start + bs])
            logits, loss = forward_loss(x, y)
            loss.backward()
            optimizer.step(rates.at(epoch, state.step))
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                loss_sum += loss * y.numel()
                correct += (logits.argmax(1) == y).sum()
            targets += y.numel()
            if state.trainable not in flops_per_sample:
                flops_per_sample[state.trainable] = model.train_flops_per_sample(state.trainable)
            state.flops += flops_per_sample[state.trainable] * len(idx)
            state.step += 1
        epoch_s, epoch_cpu_s = clock(device) - t0, time.process_time() - cpu0
        with precision:
            evals = evaluate_splits(lambda x, y: evaluate(model, x, y, trainer.eval_batch_size), data)
        now = clock(device)
        close_epoch(
            state,
            trained=trained,
            n_blocks=model.n_blocks,
            loss_sum=loss_sum.item(),
            correct=correct.item(),
            n=targets,
            evals=evals,
            epoch_s=epoch_s,
            eval_s=now - t0 - epoch_s,
            epoch_cpu_s=epoch_cpu_s,
            elapsed_s=now - started,
            flops0=flops0,
            rate=rates.record(epoch, state.step - 1),
        )
        on_epoch(state)
        if state.status == DIVERGED:
            break
    return optimizer
