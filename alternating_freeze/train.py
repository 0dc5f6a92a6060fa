"""One configured run, from config to results on disk: build, resume, fit, finish.

``execute`` trains a job; ``task.run_job`` puts the run policy (``policy``) around it for Hydra, and
``cli.main`` is af-train.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Callable, Iterator

import torch
from omegaconf import DictConfig

from . import loggers, progress, records
from .config import config_hash, recorded, validate
from .contract import CHECKPOINT_FILE, METRICS_FILE
from .epoch import TrainState
from .finish import finish, overrides_of
from .job import Job, build, log, resume
from .loop import Progress
from .text import objective


def use_bar(progress: Progress) -> bool:
    return progress == Progress.bar or (progress == Progress.auto and sys.stderr.isatty())


def epoch_writer(out: Path, job: Job, bar, tracker: loggers.Logger | None = None) -> Callable[[TrainState], None]:
    """What happens after each epoch: the checkpoint, metrics.csv so far, and progress."""
    trainer = job.trainer
    config, h = recorded(job.cfg), config_hash(job.cfg)
    m = objective(job.cfg.dataset.name).measure  # the line shows what the run is judged by: accuracy, or a text's loss

    def on_epoch(state: TrainState) -> None:
        r = state.rows[-1]
        # the epoch's line first: every epoch a checkpoint holds has its line in train.log, whenever a kill lands
        log.info(
            f"epoch %d/%d  trained=%s  train_loss=%.4f  val_{m}=%.4f  test_{m}=%.4f  %.2fs",
            r["epoch"],
            trainer.epochs,
            r["trained"],
            r["train_loss"],
            r[f"val_{m}"],
            r[f"test_{m}"],
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
                **{f"val_{m}": f"{r[f'val_{m}']:.4f}", f"test_{m}": f"{r[f'test_{m}']:.4f}"},
                trained=r["trained"],
            )
            bar.update(1)

    return on_epoch


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
                job.optimizer = job.fit(state, on_epoch=epoch_writer(out, job, bar, tracker))
        finally:
            if bar is not None:
                bar.close()
        return finish(out, cfg, job, state, t_start, started_at, tracker)
    except BaseException:
        tracker.close()  # the run stops without a summary (or its summary failed): its tracker run ends as failed
        raise


if __name__ == "__main__":  # the module entry was `python -m alternating_freeze.train`: still accepted
    import runpy

    print(
        "note: `python -m alternating_freeze.train` is now `python -m alternating_freeze` (or af-train)",
        file=sys.stderr,
    )
    runpy.run_module("alternating_freeze", run_name="__main__")
