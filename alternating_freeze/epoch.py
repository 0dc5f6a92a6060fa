"""What every training loop does around its steps, written once for ``loop.fit`` (one run) and ``batched.fit``
(a group): the state a checkpoint holds, the switch of trainable blocks (and the optimizer's reset), the
evaluation of the validation and test splits, and the epoch's metrics row with its divergence check."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Callable, Optional

import torch

from .contract import COMPLETED, DIVERGED, METRICS_COLUMNS, trained_label
from .strategies import OptimizerState


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
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "trainable": None if self.trainable is None else sorted(self.trainable),
        }

    @classmethod
    def from_json(cls, data: dict) -> TrainState:
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


def switch(state: TrainState, strategy, epoch: int) -> tuple[bool, bool]:
    """The blocks that train at the next step, from the strategy, into ``state.trainable``: (whether they changed,
    whether the optimizer must forget its state: ``optimizer_state=reset`` at a change after the first step)."""
    trainable = strategy.trainable(epoch, state.step)
    if trainable == state.trainable:
        return False, False
    reset = strategy.optimizer_state == OptimizerState.reset and state.trainable is not None
    state.trainable = trainable
    return True, reset


def evaluate(split: Callable, data) -> dict:
    """``split(x, y)`` -> (losses, accuracies) of the validation and test splits, as metrics.csv's columns."""
    (val_loss, val_acc), (test_loss, test_acc) = split(data.x_val, data.y_val), split(data.x_test, data.y_test)
    return {"val_loss": val_loss, "val_acc": val_acc, "test_loss": test_loss, "test_acc": test_acc}


def close_epoch(
    state: TrainState,
    *,
    trained: set,
    n_blocks: int,
    loss_sum: float,
    correct: int,
    n: int,
    evals: dict,
    epoch_s: float,
    eval_s: float,
    epoch_cpu_s: float,
    elapsed_s: float,
    flops0: int,
    rate: dict,
) -> dict:
    """Append the epoch's row (metrics.csv's columns, ``contract.METRICS_COLUMNS``, each named here once) to
    ``state``, advance its epoch, and mark it diverged when the training loss stopped being finite."""
    train_loss = loss_sum / n
    values = {
        "epoch": state.epoch + 1,
        "step": state.step,
        "trained": trained_label(trained, n_blocks),
        "train_loss": train_loss,
        "train_acc": correct / n,
        **evals,
        "epoch_s": epoch_s,
        "eval_s": eval_s,
        "elapsed_s": elapsed_s,
        "train_flops": state.flops,
        "epoch_cpu_s": epoch_cpu_s,
        "threads": torch.get_num_threads(),
        "gflops_per_s": (state.flops - flops0) / epoch_s / 1e9 if epoch_s > 0 else math.nan,
        **rate,  # lr and block_lrs at the epoch's last step (schedule.Rates.record)
    }
    row = {c: values[c] for c in METRICS_COLUMNS}
    state.rows.append(row)
    state.epoch, state.elapsed_s = state.epoch + 1, elapsed_s
    if not math.isfinite(train_loss):
        state.status = DIVERGED
    return row
