"""A run's job: everything it trains with, built from its validated config (``build``) and restored from its
checkpoint (``resume``). ``train.execute`` runs it; a batched group builds and resumes each member the same way."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import progress, records
from .budget import budget_epochs, check_schedule
from .config import RunConfig, changed_keys, config_hash
from .contract import strategy_label
from .data import Data, load_dataset
from .epoch import TrainState
from .errors import ForeignFolder
from .loop import TrainerConfig, epoch_size, fit
from .machine import load_average, resolve_device, resolve_threads
from .models import BlockNet, build_model
from .optim import build_optimizer
from .schedule import Rates
from .strategies import Run
from .warmstart import initialise, source_vocabulary

log = logging.getLogger("alternating_freeze.train")  # one logger name for a job's lines, as train.log shows them


@dataclass
class Job:
    """Everything a run trains with, built from its validated config."""

    run: RunConfig
    cfg: DictConfig  # as composed: its hash identifies the results, its keys explain a refusal
    device: torch.device
    data: Data
    model: BlockNet
    optimizer: Any
    strategy: Any
    gen: torch.Generator  # batch order; on the CPU so that every device sees the same
    load_avg_start: float | None  # the machine's 1-minute load average when the run started
    trainer: TrainerConfig  # run.trainer, with the epochs a FLOP budget buys (trainer.budget)
    budget_flops: int | None = None
    threads_why: str = ""  # how the thread count was chosen
    notes: list = field(default_factory=list)  # what a reader of the results should know (summary.json)
    batched_with: int | None = None  # runs trained together in one vectorized process (hydra/launcher=batched)
    rates: Rates | None = None  # the learning rate of every parameter at each step (scheduler, strategy)

    def fit(self, state: TrainState, on_epoch: Callable[[TrainState], None] = lambda state: None):
        """Train this job from ``state`` (loop.fit with the job's parts); returns the optimizer."""
        return fit(
            model=self.model,
            data=self.data,
            strategy=self.strategy,
            optimizer=self.optimizer,
            trainer=self.trainer,
            gen=self.gen,
            state=state,
            on_epoch=on_epoch,
            rates=self.rates,
        )


def build(run: RunConfig, launcher: DictConfig | None, cfg: DictConfig, data: Data | None = None) -> Job:
    """The run's job; ``data``: the run's dataset already loaded (a batched group loads it once for its members)."""
    device = resolve_device(run.trainer.device)
    torch.manual_seed(run.seed)  # before the model is built: every strategy starts from the same weights
    vocabulary = source_vocabulary(run.model)  # a text run from model.init_from keeps the source's tokens
    data = load_dataset(run.dataset, device, run.model.block_size, vocabulary) if data is None else data
    model = build_model(run.model, data.input_shape, data.num_classes).to(device)
    if run.model.init_from is not None:  # the final weights of another run (warmstart.py)
        initialise(model, run.model, data)
    if run.trainer.channels_last:  # 4-D (convolution) weights only: an MLP is untouched
        model = model.to(memory_format=torch.channels_last)
    n, trainer, budget = epoch_size(data, run.trainer), run.trainer, None  # samples an epoch trains on
    step_flops = model.train_flops_per_sample(range(model.n_blocks)) * min(trainer.batch_size, n)
    threads, threads_why, clamped = resolve_threads(trainer.num_threads, launcher, step_flops)
    notes = [threads_why] if clamped else []
    if vocabulary is not None and data.vocabulary != vocabulary:
        new = data.vocabulary[len(vocabulary) :]
        notes.append(f"{len(new)} characters the source run never saw became new tokens: {new!r}")
    if clamped:
        log.warning("%s", threads_why)
    torch.set_num_threads(threads)
    schedule = Run(model.n_blocks, -(-n // trainer.batch_size), trainer.epochs, run.seed)
    strategy = run.strategy.bind(schedule)
    if trainer.budget is not None:
        epochs, budget = budget_epochs(model, strategy, schedule, n, trainer.batch_size, trainer.budget)
        trainer = replace(trainer, epochs=epochs)
    if not trainer.allow_untrained:
        ran = Run(model.n_blocks, schedule.steps_per_epoch, trainer.epochs, run.seed)
        check_schedule(
            strategy,
            ran,
            n,
            trainer.batch_size,
            strategy_label(OmegaConf.to_container(cfg.strategy, resolve=True, enum_to_str=True))[0],
        )
    # the schedule spans the run as trained: the epochs a budget bought, if any
    param_blocks = [i for i, block in enumerate(model.blocks) for _ in block.parameters()]
    rates = Rates(run.scheduler, run.optimizer.lr, trainer.epochs * schedule.steps_per_epoch, strategy, param_blocks)
    return Job(
        run,
        cfg,
        device,
        data,
        model,
        build_optimizer(run.optimizer, model.parameters()),
        strategy,
        torch.Generator().manual_seed(run.seed),
        load_average(),
        trainer,
        budget,
        threads_why,
        notes,
        rates=rates,
    )


def resume(path: Path, job: Job) -> TrainState:
    """Restore model, optimizer and RNGs from the checkpoint and return its state; a fresh state without one."""
    if not path.exists():
        return TrainState()
    written = path.stat().st_mtime
    try:  # tensors on the CPU: RNG states must stay there; model and optimizer copy to their device when loaded
        header, tensors = records.load_checkpoint(path, config_hash(job.cfg))
    except records.ForeignCheckpoint as e:
        raise ForeignFolder(
            *folder_key(path.parent),
            f"holds a checkpoint of a different config "
            f"({changed_keys(e.args[1] if len(e.args) > 1 else None, job.cfg)}); use a new folder",
        ) from None
    except Exception as e:  # cut short by a crash of the machine (per-epoch writes skip the fsync), or not ours
        log.warning("ignoring unreadable checkpoint %s (%s: %s); starting over", path, type(e).__name__, e)
        return TrainState()
    job.model.load_state_dict(tensors["model"])
    job.optimizer.load_state_dict(tensors["optimizer"])
    job.gen.set_state(tensors["gen"])
    torch.set_rng_state(tensors["torch_rng"])
    if job.device.type == "cuda" and tensors.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(tensors["cuda_rng"], job.device)
    state = TrainState.from_json(header["state"])
    log.info("resuming from %s after epoch %d", path, state.epoch)
    # the epoch a kill (or a group's out-of-memory split) cut short has no line of its own: say it here
    log.info(
        "epoch %d/%d  interrupted: runs again from the checkpoint of epoch %d, written %s before this resume",
        state.epoch + 1,
        job.trainer.epochs,
        state.epoch,
        progress.duration(max(0.0, time.time() - written)),
    )
    return state


def folder_key(out: Path) -> tuple[str, str]:
    """The key and value a user sets to choose this job's folder, for error messages."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return "hydra.sweep.dir", str(out.parent)
    return "hydra.run.dir", str(out)
