"""The contenders of the loop benchmark (``benchmarks.loop``), and the sizes and data they share.

Each contender advances one epoch per call and says how long its training took; the floor runs one
round per call. The benchmark interleaves them round by round.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from alternating_freeze.data import Data
from alternating_freeze.epoch import TrainState
from alternating_freeze.loop import Progress, TrainerConfig, fit
from alternating_freeze.models import ModelConfig, build_model
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run

from .floor import Replay, reps_for, square_gemm
from .seed_loop import SeedLoop
from .whatif import BatchedSeeds, ManualStep

PHASE_OF = {"all": "all", "0": "first", "1": "second", "0+1": "first+second"}  # metrics.csv's `trained`
SEEDS_PER_STEP = 4  # the what-if of batching a sweep's seeds into one process


@dataclass
class Sizes:
    n_train: int = 8000
    n_test: int = 2000
    input_dim: int = 784
    width: int = 256
    num_classes: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    epochs: int = 20
    repeats: int = 3


QUICK = Sizes(n_train=512, n_test=128, input_dim=64, width=32, epochs=3, repeats=1)


def random_data(s: Sizes, device: torch.device, seed: int = 0) -> Data:
    """Pixels in [0, 1) and uniform labels: the loop's cost does not depend on what the numbers are."""
    g = torch.Generator().manual_seed(seed)
    return Data(
        x_train=torch.rand(s.n_train, s.input_dim, generator=g).to(device),
        y_train=torch.randint(0, s.num_classes, (s.n_train,), generator=g).to(device),
        x_test=torch.rand(s.n_test, s.input_dim, generator=g).to(device),
        y_test=torch.randint(0, s.num_classes, (s.n_test,), generator=g).to(device),
        num_classes=s.num_classes,
        name="random",
    )


def model_config(s: Sizes) -> ModelConfig:
    return ModelConfig(depth=4, width=s.width)  # conf/model/mlp_notebook.yaml


class Ours:
    """``fit`` driven one epoch per call: fit resumes from its TrainState, exactly as after a checkpoint."""

    def __init__(self, name, data, strategy, s: Sizes, device, seed=0):
        torch.manual_seed(seed)
        self.name, self.data = name, data
        self.model = build_model(model_config(s), data.input_dim, data.num_classes).to(device)
        self.strategy = strategy.bind(Run(self.model.n_blocks, -(-s.n_train // s.batch_size), s.epochs, seed))
        self.optimizer = build_optimizer(OptimizerConfig(name="adam", lr=s.lr), self.model.parameters())
        self.tcfg = TrainerConfig(
            epochs=1, batch_size=s.batch_size, device=str(device), progress=Progress.none, checkpoint=False
        )
        self.gen, self.state = torch.Generator().manual_seed(seed), TrainState()

    def epoch(self) -> dict:
        flops_before = self.state.flops
        cfg = replace(self.tcfg, epochs=self.state.epoch + 1)
        self.optimizer = fit(
            model=self.model,
            data=self.data,
            strategy=self.strategy,
            optimizer=self.optimizer,
            trainer=cfg,
            gen=self.gen,
            state=self.state,
        )
        row = self.state.rows[-1]
        return {
            "train_s": row["epoch_s"],
            "eval_s": row["eval_s"],
            "phase": PHASE_OF[row["trained"]],
            "flops": self.state.flops - flops_before,
        }


class Seed:
    def __init__(self, name, data, alternating: bool, s: Sizes, device, flops_per_sample: dict, seed=0):
        self.name, self.n = name, s.n_train
        self.loop = SeedLoop(data, alternating, s.batch_size, s.lr, s.width, device, seed)
        self.flops_per_sample = flops_per_sample

    def epoch(self) -> dict:
        r = self.loop.epoch()
        return {**r, "flops": self.flops_per_sample[r["phase"]] * self.n}


def manual_step(data, s: Sizes, device, flops_per_sample: int, seed=0) -> ManualStep:
    torch.manual_seed(seed)
    model = build_model(model_config(s), data.input_dim, data.num_classes).to(device)
    return ManualStep("what-if: manual step, fused Adam", data, model, s.batch_size, s.lr, flops_per_sample, seed)


def batched_seeds(data, s: Sizes, device, flops_per_sample: int, k: int = SEEDS_PER_STEP, seed=0) -> BatchedSeeds:
    models = []
    for i in range(k):
        torch.manual_seed(seed + i)
        models.append(build_model(model_config(s), data.input_dim, data.num_classes).to(device))
    return BatchedSeeds(f"what-if: {k} seeds in one step", data, models, s.batch_size, s.lr, flops_per_sample, seed)


class Floor:
    """Each round: the recorded step of each phase replayed ``reps`` times, and one 2048^3 GEMM."""

    name = "floor"

    def __init__(self, steps: dict, device, quick: bool):
        self.replays = {phase: Replay(calls, device) for phase, calls in steps.items()}
        self.gemm = square_gemm(512 if quick else 2048, device)
        self.budget = 4e8 if quick else 4e9  # FLOPs a phase replays per round
        for r in (*self.replays.values(), self.gemm):
            r.seconds(2)  # allocate and warm up

    def round(self) -> dict:
        out = {phase: r.seconds(reps_for(r.flops, self.budget)) for phase, r in self.replays.items()}
        out["gemm"] = self.gemm.seconds(1)
        return out
