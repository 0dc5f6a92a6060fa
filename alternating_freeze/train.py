"""Entrypoint: one configured run, from config to results on disk (``uv run af-train``)."""
from __future__ import annotations

import logging
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import records, sweep
from .config import RunConfig, config_hash, validate
from .contract import (CHECKPOINT_FILE, DIVERGED, ERROR_FILE, METRICS_FILE, SUMMARY_FILE, TERMINAL, read_summary,
                       write_atomic, write_json)
from .data import Data, load_dataset
from .errors import ConfigError, ForeignFolder
from .loop import Progress, TrainState, fit
from .models import BlockNet, build_model
from .optim import build_optimizer
from .strategies import Run

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict:
    try:
        own = version("alternating-freeze")
    except PackageNotFoundError:  # running from a source tree that is not installed
        own = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "alternating_freeze": own}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    kind = name.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", name, "CUDA is not available on this machine; use auto or cpu")
    if kind == "cuda" and torch.device(name).index is not None and torch.device(name).index >= torch.cuda.device_count():
        raise ConfigError("trainer.device", name, f"this machine has {torch.cuda.device_count()} CUDA device(s): "
                          f"cuda:0..cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("trainer.device", name, "MPS is not available on this machine; use auto or cpu")
    return torch.device(name)


def available_cores() -> int:
    """The cores this process may run on (its affinity: a cgroup or taskset can give fewer than the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_threads(requested: int | None, launcher: DictConfig | None) -> int:
    """Parallel jobs share the cores: each gets cores / jobs threads unless told otherwise."""
    if requested:
        return requested
    cores = available_cores()
    launcher = launcher or {}
    if launcher.get("cpus_per_task"):  # submitit: the scheduler gave this job its own cores
        return int(launcher["cpus_per_task"])
    jobs = launcher.get("n_jobs")  # joblib
    if jobs:
        jobs = cores if jobs < 0 else jobs
        return max(1, cores // jobs)
    return torch.get_num_threads()


def _use_bar(progress: Progress) -> bool:
    return progress == Progress.bar or (progress == Progress.auto and sys.stderr.isatty())


@dataclass
class Job:
    """Everything a run trains with, built from its validated config."""

    run: RunConfig
    config_hash: str
    device: torch.device
    data: Data
    model: BlockNet
    optimizer: Any
    strategy: Any
    gen: torch.Generator  # batch order; on the CPU so that every device sees the same
    load_avg_start: float | None  # the machine's 1-minute load average when the run started


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def build(run: RunConfig, launcher: DictConfig | None, h: str) -> Job:
    device = resolve_device(run.trainer.device)
    torch.set_num_threads(resolve_threads(run.trainer.num_threads, launcher))
    torch.manual_seed(run.seed)  # before the model is built: every strategy starts from the same weights
    data = load_dataset(run.dataset, device)
    model = build_model(run.model, data.input_shape, data.num_classes).to(device)
    if run.trainer.channels_last:  # 4-D (convolution) weights only: an MLP is untouched
        model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = -(-len(data.y_train) // run.trainer.batch_size)
    strategy = run.strategy.bind(Run(model.n_blocks, steps_per_epoch, run.trainer.epochs, run.seed))
    return Job(run, h, device, data, model, build_optimizer(run.optimizer, model.parameters()), strategy,
               torch.Generator().manual_seed(run.seed), load_average())


def resume(path: Path, job: Job) -> TrainState:
    """Restore model, optimizer and RNGs from the checkpoint and return its state; a fresh state without one."""
    if not path.exists():
        return TrainState()
    try:  # tensors on the CPU: RNG states must stay there; model and optimizer copy to their device when loaded
        header, tensors = records.load_checkpoint(path, job.config_hash)
    except records.ForeignCheckpoint:
        raise ForeignFolder(*_folder(path.parent), "holds a checkpoint of a different config; use a new folder")
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
    return state


def epoch_writer(out: Path, job: Job, bar) -> Callable[[TrainState], None]:
    """What happens after each epoch: the checkpoint, metrics.csv so far, and progress."""
    trainer = job.run.trainer

    def on_epoch(state: TrainState) -> None:
        # checkpoint first: metrics.csv never shows an epoch that a resumed run would have to redo;
        # none after the last epoch, whose results are written (durably) right after fit returns
        if trainer.checkpoint and state.epoch < trainer.epochs:
            records.save_checkpoint(out / CHECKPOINT_FILE, {"config_hash": job.config_hash, "state": state.to_json()}, {
                "model": job.model.state_dict(), "optimizer": job.optimizer.state_dict(),
                "gen": job.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(job.device) if job.device.type == "cuda" else None,
            }, durable=False)
        records.write_metrics(out / METRICS_FILE, state.rows, durable=False)
        r = state.rows[-1]
        if bar is not None:
            bar.set_postfix(loss=f"{r['train_loss']:.4f}", acc=f"{r['test_acc']:.4f}", trained=r["trained"])
            bar.update(1)
        elif trainer.progress != Progress.none:
            log.info("epoch %d/%d  trained=%s  train_loss=%.4f  test_acc=%.4f  %.2fs",
                     r["epoch"], trainer.epochs, r["trained"], r["train_loss"], r["test_acc"], r["epoch_s"])

    return on_epoch


def finish(out: Path, cfg: DictConfig, job: Job, state: TrainState, t_start: float, started_at: str) -> str:
    """Write the run's final metrics.csv and summary.json (durably) and remove the checkpoint."""
    run, data = job.run, job.data
    splits = run.model.block_starts
    schedule = job.strategy.resolved()
    summary = {
        "status": state.status,
        "error": "loss became NaN or infinite" if state.status == DIVERGED else None,
        **records.summarize_metrics(state.rows),
        "total_s": time.perf_counter() - t_start,
        "load_avg_start": job.load_avg_start,
        "load_avg_end": load_average(),
        "seed": run.seed,
        "device": str(job.device),
        "resolved": {
            "split": splits[0] if len(splits) == 1 else None, "splits": splits, "n_blocks": job.model.n_blocks,
            "steps": schedule.get("steps"), "schedule": schedule, "device": str(job.device),
            "num_threads": torch.get_num_threads(), "input_dim": data.input_dim, "num_classes": data.num_classes,
            "n_train": len(data.y_train), "n_val": 0 if data.y_val is None else len(data.y_val),
            "n_test": len(data.y_test), "cores": available_cores(),
            "n_params": sum(p.numel() for p in job.model.parameters()),
        },
    }
    records.write_metrics(out / METRICS_FILE, state.rows)
    _write_summary(out, cfg, summary, started_at)
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)  # the run is over: its results are in metrics.csv and summary.json
    (out / ERROR_FILE).unlink(missing_ok=True)  # an earlier attempt's failure, if any
    log.info("%s: final test acc %.4f, best %.4f, train %.1fs, %.1f GFLOP/s -> %s", state.status,
             summary["final_test_acc"] or float("nan"), summary["best_test_acc"] or float("nan"),
             summary["train_s"], summary["train_gflops_per_s"] or 0.0, out)
    return state.status


def execute(cfg: DictConfig, out: Path, launcher: DictConfig | None, t_start: float, started_at: str) -> str:
    job = build(validate(cfg), launcher, config_hash(cfg))
    state = resume(out / CHECKPOINT_FILE, job)
    bar = None
    if _use_bar(job.run.trainer.progress):
        from tqdm import tqdm

        bar = tqdm(total=job.run.trainer.epochs, initial=state.epoch, desc=job.run.strategy.name, unit="epoch")
    try:
        job.optimizer = fit(model=job.model, data=job.data, strategy=job.strategy, optimizer=job.optimizer,
                            trainer=job.run.trainer, gen=job.gen, state=state, on_epoch=epoch_writer(out, job, bar))
    finally:
        if bar is not None:
            bar.close()
    return finish(out, cfg, job, state, t_start, started_at)


def _folder(out: Path) -> tuple[str, str]:
    """The key and value a user sets to choose this job's folder, for error messages."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return "hydra.sweep.dir", str(out.parent)
    return "hydra.run.dir", str(out)


def _write_summary(out: Path, cfg: DictConfig, summary: dict, started_at: str) -> None:
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    summary.update({
        "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
        "config_hash": config_hash(cfg),
        "overrides": list(hc.overrides.task) if hc else [],
        "versions": _versions(),
        "started_at": started_at,
        "finished_at": _now(),
    })
    write_json(out / SUMMARY_FILE, summary)


def run_job(cfg: DictConfig) -> str:
    """One job: skip it if already done, run it, and turn any failure into a recorded status."""
    t_start, started_at = time.perf_counter(), _now()
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        previous = read_summary(out)
        if previous and previous.get("status") in TERMINAL:
            if previous.get("config_hash") != config_hash(cfg):
                raise ForeignFolder(*_folder(out), "holds results of a different config for this job; "
                                    "use a new folder or the original overrides")
            log.info("skipping %s: already %s", out, previous["status"])
            return "skipped"
        return execute(cfg, out, hc.launcher, t_start, started_at)
    except Exception as e:  # recorded, so that one bad job never costs a sweep its other results
        if isinstance(e, ForeignFolder):
            message = str(e)  # the other config's results or progress stay as they are
        else:
            message = str(e) if isinstance(e, ConfigError) else f"{type(e).__name__}: {e}"
            write_atomic(out / ERROR_FILE, traceback.format_exc().encode())
            _write_summary(out, cfg, {"status": "failed", "error": message, "seed": cfg.get("seed"),
                                      "total_s": time.perf_counter() - t_start}, started_at)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        log.error("error: %s%s", message, "" if isinstance(e, ConfigError) else f" (traceback: {out / ERROR_FILE})")
        if multirun:
            return "failed"
        sys.exit(2 if isinstance(e, ConfigError) else 1)


_HERE = Path(__file__).resolve().parent
# conf/ at the top of the source tree; a wheel carries the same files inside the package (pyproject.toml)
CONF = _HERE / "conf" if (_HERE / "conf").is_dir() else _HERE.parent / "conf"
_hydra_main = hydra.main(version_base="1.3", config_path=str(CONF), config_name="train")(run_job)


def check_group_choices(args: list[str]) -> None:
    """Hydra reports an unknown option of a config group with its whole search path: say it in one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    except Exception:  # a syntax error: Hydra's own message says where
        return
    for o in overrides:
        folder = CONF / o.key_or_group
        if o.key_or_group.startswith("hydra") or o.package or o.is_delete() or not folder.is_dir():
            continue
        if o.is_sweep_override() and not o.is_discrete_sweep():
            continue
        allowed = sorted(p.stem for p in folder.glob("*.yaml"))
        for value in o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]:
            if value not in allowed and value != "null":
                raise ConfigError(o.key_or_group, value, f"allowed: {', '.join(allowed)}")


def main() -> None:
    try:
        check_group_choices(sys.argv[1:])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()
    sys.exit(sweep.exit_code())


if __name__ == "__main__":
    # `python -m alternating_freeze.train`: run the importable module's main, not this __main__ copy,
    # so that the joblib and submitit launchers can pickle the task function by reference.
    from alternating_freeze.train import main as _main

    _main()
