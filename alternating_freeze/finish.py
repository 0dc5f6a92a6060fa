"""A run's end: its final metrics.csv, weights and summary.json, written durably (``finish``), and the summary's
record of the config, versions and times (``write_summary``, which the run policy also uses for a failure)."""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from . import loggers, records
from .config import config_hash, recorded
from .contract import CHECKPOINT_FILE, DIVERGED, ERROR_FILE, METRICS_FILE, SUMMARY_FILE, write_json
from .epoch import TrainState
from .job import Job, log
from .machine import available_cores, load_average, starved
from .text import objective, text_record


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict:
    try:
        own = version("alternating-freeze")
    except PackageNotFoundError:  # running from a source tree that is not installed
        own = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "alternating_freeze": own}


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
        **records.summarize_metrics(state.rows, objective(run.dataset.name)),
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
    m = objective(run.dataset.name).measure  # what the run is judged by: accuracy, or a text's loss
    log.info(
        f"%s: final test {m} %.4f, best %.4f, train %.1fs, %.1f GFLOP/s -> %s%s",
        state.status,
        summary[f"final_test_{m}"] or float("nan"),
        summary[f"best_test_{m}"] or float("nan"),
        summary["train_s"],
        summary["train_gflops_per_s"] or 0.0,
        out,
        "" if job.batched_with else starved(summary["train_cpu_s"], summary["train_s"], torch.get_num_threads()),
    )
    return state.status


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
