"""Checks before anything runs: what every job of a run or sweep shares (its output folder, the
launcher, the dataset files), each answered in one line instead of a traceback from deep inside
Hydra or a launcher, and before any job spends time (a missing dataset is a property of the sweep,
not of each of its jobs).

A Hydra callback (``hydra.callbacks.preflight`` in conf/train.yaml): Hydra calls it after composing
the primary config and before it creates any folder or launches any job.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from .contract import CONFIG_FILE, LOG_FILE, OVERRIDES_FILE
from .errors import ConfigError

HYDRA_FILES = (CONFIG_FILE, OVERRIDES_FILE, ".hydra/hydra.yaml", LOG_FILE)  # written by Hydra before the job


def writable_folder(key: str, folder: str) -> None:
    """The folder exists or can be made, is a folder, and takes a new file."""
    if not str(folder).strip():
        raise ConfigError(key, folder, "an output folder (empty would write into the current folder)")
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ConfigError(key, folder, "is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise ConfigError(key, folder, f"cannot be written ({e.strerror or e})") from None


def no_links(job_dir: Path) -> None:
    """Hydra writes .hydra/*.yaml and train.log through whatever is at those paths: a link planted
    there would have it overwrite the link's target, so such a folder is refused."""
    for name in (".hydra", *HYDRA_FILES):
        if (Path(job_dir) / name).is_symlink():
            raise ConfigError(
                "hydra.run.dir",
                str(job_dir),
                f"{name} is a symbolic link; results are never written through links: remove it or use another folder",
            )


def no_linked_folders(sweep_dir: Path) -> None:
    """A job folder that is a link would have Hydra and the job write everything into the link's target."""
    for root, dirs, _ in os.walk(sweep_dir):
        for name in dirs:
            if (Path(root) / name).is_symlink():
                raise ConfigError(
                    "hydra.sweep.dir",
                    str(sweep_dir),
                    f"{Path(root, name).relative_to(sweep_dir)} is a symbolic link to a folder; results are never "
                    "written through links: remove it or use another folder",
                )


def launcher_available(launcher: DictConfig) -> None:
    target = str(launcher.get("_target_", ""))
    if target.endswith("JoblibLauncher") and launcher.get("n_jobs") == 0:
        raise ConfigError("hydra.launcher.n_jobs", 0, "a number of parallel jobs >= 1, or -1 for one per core")
    if target.endswith("SlurmLauncher"):
        slurm_ready(launcher)
    elif target.endswith("BatchedLauncher") and launcher.get("slurm") is not None:  # hydra/launcher=batched_slurm
        slurm_ready(launcher.slurm, "hydra.launcher.slurm")


# SLURM sends the signal of ``--signal=USR2@delay`` up to this many seconds before ``delay`` (sbatch(1): "due
# to the resolution of event handling"), and a job needs about this long to start and install submitit's
# handler: a signal before the handler exists kills the job instead of requeueing it.
SLURM_SIGNAL_EARLY_S = 60
JOB_START_S = 30
SLURM_COMMAND_TIMEOUT_S = 20  # a controller that does not answer within this is reported, not waited for


def slurm_signal_fits(launcher: DictConfig, prefix: str = "hydra.launcher") -> None:
    """The time limit leaves room for the pre-timeout signal to reach a started job."""
    timeout_min, delay = launcher.get("timeout_min"), launcher.get("signal_delay_s")
    if timeout_min is None or delay is None:
        return
    need_s = int(delay) + SLURM_SIGNAL_EARLY_S + JOB_START_S
    if int(timeout_min) * 60 < need_s:
        raise ConfigError(
            f"{prefix}.timeout_min",
            timeout_min,
            f"at least {-(-need_s // 60)} with {prefix}.signal_delay_s={delay} (SLURM signals up "
            f"to {SLURM_SIGNAL_EARLY_S} s before that delay and a job needs ~{JOB_START_S} s to start); "
            f"raise timeout_min or lower signal_delay_s",
        )


def _sinfo(*args: str) -> list[str]:
    """Lines of ``sinfo -h ARGS``; a controller that fails or does not answer is one ConfigError."""
    import subprocess

    try:
        proc = subprocess.run(["sinfo", "-h", *args], capture_output=True, text=True, timeout=SLURM_COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ConfigError(
            "hydra/launcher",
            "slurm",
            f"SLURM's controller did not answer sinfo within "
            f"{SLURM_COMMAND_TIMEOUT_S} s; check the cluster (sinfo, SLURM_CONF) and rerun",
        ) from None
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ConfigError(
            "hydra/launcher",
            "slurm",
            f"SLURM's controller does not answer (sinfo: {said}); check the cluster (sinfo, SLURM_CONF) and rerun",
        )
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def slurm_ready(launcher: DictConfig, prefix: str = "hydra.launcher") -> None:
    """Before any job is submitted: the signal fits the time limit, SLURM's commands are here, the controller
    answers, the partition exists (or the cluster has a default), and a node of it has ``cpus_per_task`` CPUs."""
    slurm_signal_fits(launcher, prefix)
    for command in ("sbatch", "sinfo"):
        if shutil.which(command) is None:
            raise ConfigError(
                "hydra/launcher",
                "slurm",
                f"SLURM's {command} is not on this machine's PATH; "
                "hydra/launcher=submitit_local runs the same path locally",
            )
    partitions = {}  # name -> is the default, from "debug*"
    for name in _sinfo("-o", "%P"):
        partitions[name.rstrip("*")] = partitions.get(name.rstrip("*"), False) or name.endswith("*")
    partition = launcher.get("partition")
    if partition is None:
        defaults = [p for p, default in partitions.items() if default]
        if not defaults:
            raise ConfigError(
                f"{prefix}.partition",
                None,
                "this cluster has no default partition: name one of "
                f"{', '.join(sorted(partitions)) or '(none listed by sinfo)'}",
            )
        partition = defaults[0]
    else:  # sbatch takes a comma-separated list
        unknown = [p for p in str(partition).split(",") if p.strip() not in partitions]
        if unknown:
            raise ConfigError(
                f"{prefix}.partition",
                partition,
                f"{unknown[0]} is not a partition of this cluster: one of {', '.join(sorted(partitions)) or '(none)'}",
            )
    cpus = launcher.get("cpus_per_task")
    if cpus is not None:
        node_cpus = [
            int(c.rstrip("+")) for c in _sinfo("-N", "-p", str(partition), "-o", "%c") if c.rstrip("+").isdigit()
        ]
        if node_cpus and int(cpus) > max(node_cpus):
            raise ConfigError(
                f"{prefix}.cpus_per_task",
                cpus,
                f"at most {max(node_cpus)}, the most CPUs of a node in partition {partition}",
            )


def datasets_present(config: DictConfig) -> None:
    """Dataset files of the primary config: present, or to be downloaded."""
    from .data import DatasetConfig, check_files

    dataset = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DatasetConfig), config.dataset))
    check_files(dataset)


def warm_start_present(config: DictConfig) -> None:
    """``model.init_from`` of the primary config names a completed run that kept its weights (warmstart.py): one
    line before the sweep, not the same failure in every job. Whether its network fits is each job's check."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .warmstart import KEY, source_summary

    folders = [OmegaConf.select(config, KEY, default=None)]
    task = OmegaConf.select(config, "hydra.overrides.task", default=None) or []
    for o in OverridesParser.create().parse_overrides(list(task)):
        if o.key_or_group == KEY and o.is_sweep_override():  # the primary config holds none of a swept key's values
            folders = list(o.sweep_string_iterator())
    for folder in folders:
        if folder not in (None, "null"):
            source_summary(Path(str(folder)))


class Preflight(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(
            lambda: (
                writable_folder("hydra.run.dir", str(config.hydra.run.dir)),
                no_links(Path(str(config.hydra.run.dir))),
                datasets_present(config),
                warm_start_present(config),
            )
        )

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))

        def checks() -> None:
            writable_folder("hydra.sweep.dir", str(sweep_dir))
            no_linked_folders(sweep_dir)
            for hydra_dir in sweep_dir.rglob(".hydra"):  # job folders of earlier launches
                no_links(hydra_dir.parent)
            launcher_available(config.hydra.launcher)
            datasets_present(config)
            warm_start_present(config)

        self._check(checks)

    @staticmethod
    def _check(checks) -> None:
        """Hydra turns a callback's exception into a warning and carries on: a failed check ends the
        process itself, with the one line and exit status 2 that af-train gives any bad input."""
        try:
            checks()
        except ConfigError as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise SystemExit(2) from e
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
