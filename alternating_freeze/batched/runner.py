"""A launch's jobs, trained in groups: what ``task.run_job`` does for one job, done for many at once.

Each job keeps the run policy of a separate run (``policy``: its lock, a finished job skipped, a failure recorded
and the others going on), and its files (checkpoint.pt at every epoch end, metrics.csv, summary.json) are written
by the same code as a separate run's (``train.epoch_writer``, ``finish.finish``); a member that diverges leaves the
group. A killed group resumes every unfinished member from its own checkpoint, in whatever group it lands in next
(or alone). This module only groups: out of device memory, a group is split in halves and retried from its
members' checkpoints; a group of one trains as a separate run.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, ContextManager, Optional

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .. import loggers, policy
from ..config import RunConfig, recorded, validate
from ..contract import CHECKPOINT_FILE, EXECUTION_KEYS
from ..data import load_dataset
from ..finish import finish, overrides_of
from ..job import build, resume
from ..loop import Progress
from ..machine import resolve_device
from ..task import run_job
from ..train import epoch_lines_in_file_only, epoch_writer, execute, use_bar
from .fit import Group, Member, fit_group
from .net import Unsupported

log = logging.getLogger(__name__)
NOTE = (
    "trained in a group of up to {n} runs in one vectorized process (hydra/launcher=batched): train_s, eval_s and "
    "every epoch_s are the group's seconds, not this run's, and cannot be compared with other runs' seconds; "
    "compare FLOPs"
)
# What the batched step reproduces, by name, besides the execution keys: a key added to these groups later (mixed
# precision, augmentation, ...) makes a run train separately unless it is left at its default, until the batched
# step learns it. (trainer.channels_last only lays out convolutions, which train separately.)
REPRODUCED = {
    "trainer": {"epochs", "batch_size", "budget"},
    "dataset": {"name", "subset", "test_fraction", "val_fraction", "split_seed", "standardize"},
    "": {"seed", "dataset", "model", "strategy", "optimizer", "trainer", "logger"},
}
KNOWN = {
    group: keys | {k.split(".")[1] for k in EXECUTION_KEYS if k.startswith(f"{group}.")}
    for group, keys in REPRODUCED.items()
}


@dataclass
class Task:
    """One job of a launch, prepared by the launcher (composed; its folder and .hydra/ written)."""

    cfg: DictConfig  # the job's config without its hydra node: what the task function receives
    out: Path
    launcher: Optional[DictConfig]  # hydra.launcher (thread counts)
    act: Callable[[], ContextManager]  # run code as this job: its HydraConfig, its train.log
    run: Optional[RunConfig] = field(default=None, repr=False)
    release: Callable[[], None] = lambda: None  # close what the job holds open (its log file) once it is done
    job: Optional[policy.Claim] = None  # its claim, while the runner trains it in a group
    outcome: Optional[str] = None  # what task.run_job returned, for a job trained as a separate run

    @property
    def status(self) -> Optional[str]:
        return self.job.status if self.job is not None else self.outcome


def _unknown(name: str, obj, known: set) -> Optional[str]:
    default = type(obj)()
    for f in fields(obj):
        if f.name not in known and getattr(obj, f.name) != getattr(default, f.name):
            return f"{name}.{f.name} is not reproduced by the batched step"
    return None


def group_key(run: RunConfig) -> tuple:
    """Runs with equal keys can train in one group: same data, network shape (the split aside), optimizer
    kind, batch size, device, threads and compilation. A string instead: why the run must train separately."""
    if run.model.name == "gpt":  # its text windows and layers are not what the batched step stacks
        return ("model=gpt is not stacked by the batched step",)
    for name, obj in (("trainer", run.trainer), ("dataset", run.dataset), ("", run)):
        known = KNOWN[name]
        reason = _unknown(name, obj, known)
        if reason:
            return (reason.lstrip("."),)
    dataset = {k: v for k, v in asdict(run.dataset).items() if k != "download"}
    model = {k: v for k, v in asdict(run.model).items() if k not in ("split", "splits")}
    t = run.trainer
    return (
        "group",
        json.dumps([dataset, model], sort_keys=True, default=str),
        run.optimizer.name,
        t.batch_size,
        t.device,
        t.num_threads,
        t.compile,
    )


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and "not enough memory" in str(e))


def _sweep_dir() -> Optional[Path]:
    """The sweep folder of the job whose Hydra config is current (``Task.act``)."""
    hc = HydraConfig.get() if HydraConfig.initialized() else None
    return Path(hc.sweep.dir) if hc is not None and hc.mode == RunMode.MULTIRUN else None


def by_key(tasks: list[Task]) -> dict[tuple, list[Task]]:
    """The tasks by group key, in order (each task's ``run`` set); a task that trains separately has its own key."""
    groups: dict[tuple, list[Task]] = {}
    for t in tasks:
        with t.act():
            try:
                t.run = validate(t.cfg, overrides_of(HydraConfig.get() if HydraConfig.initialized() else None))
                key = group_key(t.run)
            except Exception:  # noqa: BLE001 - its separate run records the failure as run_job does
                key = ("separately",)
        groups.setdefault(key if key[0] == "group" else ("separately", id(t)), []).append(t)
        if key[0] != "group" and t.run is not None:
            log.info("%s: %s; it trains separately", t.out.name, key[0])
    return groups


class Runner:
    def __init__(self, max_members: int):
        self.max_members = max_members
        self._data: dict = {}
        self._sizes: dict[int, int] = {}  # id(task) -> the largest group it has trained in
        self._trackers: dict[int, loggers.Logger] = {}  # id(task) -> its experiment tracker (logger group)

    def run(self, tasks: list[Task]) -> None:
        """Train every task and set its status."""
        for key, members in by_key(tasks).items():
            if key[0] == "group":
                self._in_chunks(members)
            else:
                for t in members:
                    with t.act():
                        t.outcome = run_job(t.cfg)
                    t.release()

    def _in_chunks(self, tasks: list[Task]) -> None:
        """Claim each job (``policy.claim``: skip what is done) and train the rest in groups of max_members."""
        with contextlib.ExitStack() as held:
            chunk = []
            for t in tasks:
                lock = contextlib.ExitStack()
                with t.act():
                    t.job = lock.enter_context(policy.claim(t.out, t.cfg, _sweep_dir(), announce=False))
                    if t.job.status is not None:  # running elsewhere, done, or another config's folder
                        lock.close()
                        t.release()
                        continue
                held.callback(lock.close)
                chunk.append(t)
                if len(chunk) == self.max_members:
                    self._train(chunk)
                    held.close()
                    for done in chunk:
                        done.release()
                    chunk = []
            if chunk:
                self._train(chunk)
        for t in chunk:
            t.release()

    # ------------------------------------------------------------------ one group

    def _separately(self, t: Task) -> None:
        """A separate run under the claim already held: task.run_job's body."""
        with t.act():
            hc = HydraConfig.get() if HydraConfig.initialized() else None
            policy.attempt(t.job, lambda: execute(t.cfg, t.out, hc, t.job.t_start, t.job.started_at))
            t.job.end()

    def _dataset(self, run: RunConfig):
        """The group's data, loaded once for its members (and kept for the next group of the same data)."""
        key = (json.dumps(asdict(run.dataset), sort_keys=True, default=str), str(resolve_device(run.trainer.device)))
        if key not in self._data:
            self._data = {key: load_dataset(run.dataset, torch.device(key[1]))}
        return self._data[key]

    def _member(self, t: Task) -> Member:
        job = build(t.run, t.launcher, t.cfg, data=self._dataset(t.run))
        state = resume(t.out / CHECKPOINT_FILE, job)
        cpu = torch.get_rng_state()  # the run's global stream, after its model was built (and resumed)
        if job.device.type == "cuda":
            rng = torch.Generator(device=job.device)
            rng.set_state(torch.cuda.get_rng_state(job.device))
        else:
            rng = torch.Generator()
            rng.set_state(cpu)
        return Member(job, state, rng, cpu)

    def _train(self, tasks: list[Task]) -> None:
        """One group. A run that has not trained in a group trains alone as a separate run; one that has (a
        half of a split) goes on as a group of one, so that all its epochs were batched, as its files say."""
        if len(tasks) == 1 and id(tasks[0]) not in self._sizes:
            self._separately(tasks[0])
            return
        built = []
        for t in tasks:
            with t.act():
                try:
                    built.append((t, self._member(t)))
                except Exception as e:  # noqa: BLE001 - recorded; the others go on
                    policy.fail(t.job, e)
                    t.job.end()
        if len(built) == 1 and id(built[0][0]) not in self._sizes:
            self._separately(built[0][0])
            return
        if not built:
            return
        try:
            group = Group([m for _, m in built])
        except Unsupported as e:
            log.info("%s: each trains separately", e)
            for t, _ in built:
                self._separately(t)
            return
        if self._fit(group, built):  # out of memory
            del group, built
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            left = [t for t in tasks if t.status is None]
            log.warning(
                "out of memory with %d runs in one group: splitting it in halves (each resumes from its "
                "last checkpoint)",
                len(left),
            )
            half = (len(left) + 1) // 2
            for part in (left[:half], left[half:]):
                if part:
                    self._train(part)

    def _fit(self, group: Group, built: list) -> bool:
        """Train the group; True when it ran out of device memory (its members' files are as after a kill)."""
        task = {id(m): t for t, m in built}
        size = len(built)
        for t, _ in built:
            self._sizes[id(t)] = max(self._sizes.get(id(t), 0), size)
        progress = built[0][1].job.trainer.progress
        bar = None
        if use_bar(progress):
            from tqdm import tqdm

            bar = tqdm(
                total=max(m.job.trainer.epochs - m.state.epoch for _, m in built),
                unit="epoch",
                desc=f"{size} runs batched",
            )
        for t, m in built:  # opened once the group stands: a member that trains separately opens its own
            self._trackers[id(t)] = loggers.open_logger(
                m.job.run.logger,
                t.out,
                recorded(t.cfg),  # interpolated values unresolved, as the single-run path sends them
                *loggers.hydra_job(t.out),
                start_epoch=m.state.epoch,
            )
        writers = {id(m): epoch_writer(t.out, m.job, None, self._trackers[id(t)]) for t, m in built}

        def on_epoch(m: Member) -> None:
            with task[id(m)].act():
                writers[id(m)](m.state)

        def on_leave(m: Member) -> None:
            t = task[id(m)]
            with t.act():
                m.job.batched_with = self._sizes[id(t)]
                m.job.notes.append(NOTE.format(n=m.job.batched_with))
                tracker = self._trackers.pop(id(t))
                ended = policy.attempt(
                    t.job, lambda: finish(t.out, t.cfg, m.job, m.state, t.job.t_start, t.job.started_at, tracker)
                )
                if ended == policy.FAILED:
                    tracker.close()  # ends as failed, like the run
                t.job.end()

        epochs_done = 0

        def on_group_epoch() -> None:
            nonlocal epochs_done
            epochs_done += 1
            if bar is not None:
                bar.update(1)
            elif progress != Progress.none:
                r = group.members[0].state.rows[-1]
                log.info(
                    "batched: epoch %d, %d of %d runs training, %.2fs",
                    epochs_done,
                    len(group.members),
                    size,
                    r["epoch_s"],
                )

        try:
            with epoch_lines_in_file_only(bar is not None or progress == Progress.none):  # the group's bar or lines
                fit_group(group, on_epoch, on_leave, on_group_epoch)
        except Exception as e:  # noqa: BLE001
            if _is_oom(e):
                return True
            for t, _ in built:
                if t.status is None:
                    with t.act():
                        policy.fail(t.job, e)
                        t.job.end()
        finally:
            if bar is not None:
                bar.close()
            for t, _ in built:  # members cut short (out of memory, a failure): their tracker runs end here
                if (tracker := self._trackers.pop(id(t), None)) is not None:
                    tracker.close()
        return False
