"""One configured run, from config to results on disk: build, resume, fit, finish.

``execute`` trains a job; ``task.run_job`` puts the run policy (``policy``) around it for Hydra, and
``cli.main`` is af-train.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import loggers, progress, records
from .budget import budget_epochs, check_schedule
from .config import RunConfig, changed_keys, config_hash, recorded, validate
from .contract import CHECKPOINT_FILE, DIVERGED, ERROR_FILE, METRICS_FILE, SUMMARY_FILE, strategy_label, write_json
from .data import Data, load_dataset
from .epoch import TrainState
from .errors import ForeignFolder
from .loop import Progress, TrainerConfig, epoch_size, fit
from .machine import available_cores, load_average, resolve_device, resolve_threads, starved
from .models import BlockNet, build_model
from .optim import build_optimizer
from .schedule import Rates
from .strategies import Run
from .text import text_record
from .warmstart import initialise

log = logging.getLogger(__name__)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict:
    try:
        own = version("alternating-freeze")
    except PackageNotFoundError:  # running from a source tree that is not installed
        own = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "alternating_freeze": own}


def use_bar(progress: Progress) -> bool:
    return progress == Progress.bar or (progress == Progress.auto and sys.stderr.isatty())


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


def build(run: RunConfig, launcher: DictConfig | None, cfg: DictConfig, data: Data | None = None) -> Job:
    """The run's job; ``data``: the run's dataset already loaded (a batched group loads it once for its members)."""
    device = resolve_device(run.trainer.device)
    torch.manual_seed(run.seed)  # before the model is built: every strategy starts from the same weights
    data = load_dataset(run.dataset, device, run.model.block_size) if data is None else data
    model = build_model(run.model, data.input_shape, data.num_classes).to(device)
    if run.model.init_from is not None:  # the final weights of another run (warmstart.py)
        initialise(model, run.model, data)
    if run.trainer.channels_last:  # 4-D (convolution) weights only: an MLP is untouched
        model = model.to(memory_format=torch.channels_last)
    n, trainer, budget = epoch_size(data, run.trainer), run.trainer, None  # samples an epoch trains on
    step_flops = model.train_flops_per_sample(range(model.n_blocks)) * min(trainer.batch_size, n)
    threads, threads_why, clamped = resolve_threads(trainer.num_threads, launcher, step_flops)
    notes = [threads_why] if clamped else []
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


def epoch_writer(out: Path, job: Job, bar, tracker: loggers.Logger | None = None) -> Callable[[TrainState], None]:
    """What happens after each epoch: the checkpoint, metrics.csv so far, and progress."""
    trainer = job.trainer
    config, h = recorded(job.cfg), config_hash(job.cfg)

    def on_epoch(state: TrainState) -> None:
        r = state.rows[-1]
        # the epoch's line first: every epoch a checkpoint holds has its line in train.log, whenever a kill lands
        log.info(
            "epoch %d/%d  trained=%s  train_loss=%.4f  val_acc=%.4f  test_acc=%.4f  %.2fs",
            r["epoch"],
            trainer.epochs,
            r["trained"],
            r["train_loss"],
            r["val_acc"],
            r["test_acc"],
            r["epoch_s"],
            extra={EPOCH_LINE: True},
        )
        # then the checkpoint: metrics.csv never shows an epoch that a resumed run would have to redo;
        # none after the last epoch, whose results are written (durably) right after fit returns
        if trainer.checkpoint and state.epoch < trainer.epochs:
            records.save_checkpoint(
                out / CHECKPOINT_FILE,
                {"config_hash": h, "config": config, "state": state.to_json()},
                {
                    "model": job.model.state_dict(),
                    "optimizer": job.optimizer.state_dict(),
                    "gen": job.gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(job.device) if job.device.type == "cuda" else None,
                },
                durable=False,
            )
        records.write_metrics(out / METRICS_FILE, state.rows, durable=False)
        if tracker is not None:
            tracker.log_epoch(r)
        if bar is not None:
            bar.set_postfix(
                train_loss=f"{r['train_loss']:.4f}",
                val_acc=f"{r['val_acc']:.4f}",
                test_acc=f"{r['test_acc']:.4f}",
                trained=r["trained"],
            )
            bar.update(1)

    return on_epoch


def finish(
    out: Path,
    cfg: DictConfig,
    job: Job,
    state: TrainState,
    t_start: float,
    started_at: str,
    tracker: loggers.Logger | None = None,
) -> str:
    """Write the run's final metrics.csv and summary.json (durably) and remove the checkpoint."""
    run, data = job.run, job.data
    splits = run.model.block_starts
    schedule = job.strategy.resolved()
    summary = {
        "status": state.status,
        "error": "loss became NaN or infinite" if state.status == DIVERGED else None,
        **records.summarize_metrics(state.rows),
        "total_s": time.perf_counter() - t_start,
        "budget_flops": job.budget_flops,
        "load_avg_start": job.load_avg_start,
        "load_avg_end": load_average(),
        "seed": run.seed,
        "device": str(job.device),
        "resolved": {
            "epochs": job.trainer.epochs,
            "split": splits[0] if len(splits) == 1 else None,
            "splits": splits,
            "n_blocks": job.model.n_blocks,
            "steps": schedule.get("steps"),
            "schedule": schedule,
            "device": str(job.device),
            "num_threads": torch.get_num_threads(),
            "threads_chosen_by": job.threads_why,
            "input_dim": data.input_dim,
            "num_classes": data.num_classes,
            "n_train": len(data.y_train),
            "n_val": 0 if data.y_val is None else len(data.y_val),
            "n_test": len(data.y_test),
            "cores": available_cores(),
            "n_params": sum(p.numel() for p in job.model.parameters()),
            **text_record(data),
        },
    }
    if len(summary["thread_counts"]) > 1:  # resumed under another thread count: low bits may differ
        job.notes.append(
            f"epochs ran under different thread counts ({', '.join(map(str, summary['thread_counts']))})"
            f": a resume under another thread count; results may differ in their last bits from an "
            f"uninterrupted run"
        )
    summary["notes"] = job.notes
    if job.batched_with:
        summary["batched_with"] = job.batched_with
    records.write_metrics(out / METRICS_FILE, state.rows)
    if job.trainer.keep_weights and state.status != DIVERGED:  # before the summary that says the run is done
        config, h = _config_record(cfg)
        records.save_weights(out, {"config_hash": h, "config": config, "epochs": state.epoch}, job.model.state_dict())
    write_summary(out, cfg, summary, started_at)
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)  # the run is over: its results are in metrics.csv and summary.json
    (out / ERROR_FILE).unlink(missing_ok=True)  # an earlier attempt's failure, if any
    if tracker is not None:
        tracker.finish(summary)
    log.info(
        "%s: final test acc %.4f, best %.4f, train %.1fs, %.1f GFLOP/s -> %s%s",
        state.status,
        summary["final_test_acc"] or float("nan"),
        summary["best_test_acc"] or float("nan"),
        summary["train_s"],
        summary["train_gflops_per_s"] or 0.0,
        out,
        "" if job.batched_with else starved(summary["train_cpu_s"], summary["train_s"], torch.get_num_threads()),
    )
    return state.status


EPOCH_LINE = "af_epoch_line"  # a log record's mark: per-epoch lines go to train.log in every display mode


class _NotEpochLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, EPOCH_LINE, False)


@contextlib.contextmanager
def epoch_lines_in_file_only(quiet: bool) -> Iterator[None]:
    """Keep per-epoch lines off the terminal (a bar shows them, or the user asked for none)."""
    consoles = (
        [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]
        if quiet
        else []
    )
    only = _NotEpochLines()
    for h in consoles:
        h.addFilter(only)
    try:
        yield
    finally:
        for h in consoles:
            h.removeFilter(only)


def execute(cfg: DictConfig, out: Path, hc: DictConfig | None, t_start: float, started_at: str) -> str:
    """Train the job in ``out`` to its end; ``hc``: its Hydra config (None: a job run from Python)."""
    job = build(validate(cfg, overrides_of(hc)), hc.launcher if hc else None, cfg)
    state = resume(out / CHECKPOINT_FILE, job)
    tracker = loggers.open_logger(
        job.run.logger,
        out,
        recorded(cfg),  # interpolated values unresolved: a tracker never gets a secret
        *loggers.hydra_job(out),
        start_epoch=state.epoch,
    )
    bar = None
    if use_bar(job.run.trainer.progress):
        from tqdm import tqdm

        label = (hc.job.override_dirname if hc else "") or job.run.strategy.name  # what tells it from the others
        bar = tqdm(total=job.trainer.epochs, initial=state.epoch, desc=progress.bar_label(label), unit="epoch")
    try:
        try:
            with epoch_lines_in_file_only(bar is not None or job.run.trainer.progress == Progress.none):
                job.optimizer = fit(
                    model=job.model,
                    data=job.data,
                    strategy=job.strategy,
                    optimizer=job.optimizer,
                    trainer=job.trainer,
                    gen=job.gen,
                    state=state,
                    on_epoch=epoch_writer(out, job, bar, tracker),
                    rates=job.rates,
                )
        finally:
            if bar is not None:
                bar.close()
        return finish(out, cfg, job, state, t_start, started_at, tracker)
    except BaseException:
        tracker.close()  # the run stops without a summary (or its summary failed): its tracker run ends as failed
        raise


def folder_key(out: Path) -> tuple[str, str]:
    """The key and value a user sets to choose this job's folder, for error messages."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return "hydra.sweep.dir", str(out.parent)
    return "hydra.run.dir", str(out)


def _config_record(cfg: DictConfig) -> tuple[dict, str | None]:
    """The config as run (``config.recorded``) and its hash (of the resolved values); no hash when it cannot be
    resolved."""
    try:
        h = config_hash(cfg)
    except Exception:  # noqa: BLE001 - e.g. ${oc.env:UNSET}: the failure record must still be written
        h = None
    return recorded(cfg), h


def overrides_of(hc) -> list[str]:
    """The job's command-line overrides as written (an override may hold an unresolvable ${...})."""
    return OmegaConf.to_container(hc.overrides.task, resolve=False) if hc else []


def write_summary(out: Path, cfg: DictConfig, summary: dict, started_at: str) -> None:
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    config, h = _config_record(cfg)
    summary.update(
        {
            "config": config,
            "config_hash": h,
            "overrides": overrides_of(hc),
            "versions": _versions(),
            "started_at": started_at,
            "finished_at": now(),
        }
    )
    write_json(out / SUMMARY_FILE, summary)


if __name__ == "__main__":  # the module entry was `python -m alternating_freeze.train`: still accepted
    import runpy

    print(
        "note: `python -m alternating_freeze.train` is now `python -m alternating_freeze` (or af-train)",
        file=sys.stderr,
    )
    runpy.run_module("alternating_freeze", run_name="__main__")
