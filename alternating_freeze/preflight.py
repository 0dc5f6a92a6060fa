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
            raise ConfigError("hydra.run.dir", str(job_dir), f"{name} is a symbolic link; results are never "
                              "written through links: remove it or use another folder")


def launcher_available(launcher: DictConfig) -> None:
    target = str(launcher.get("_target_", ""))
    if target.endswith("JoblibLauncher") and launcher.get("n_jobs") == 0:
        raise ConfigError("hydra.launcher.n_jobs", 0, "a number of parallel jobs >= 1, or -1 for one per core")
    if target.endswith("SlurmLauncher") and shutil.which("sbatch") is None:
        raise ConfigError("hydra/launcher", "slurm", "SLURM's sbatch is not on this machine's PATH; "
                          "hydra/launcher=submitit_local runs the same path locally")


def datasets_present(config: DictConfig) -> None:
    """Dataset files of the primary config: present, or to be downloaded."""
    from .data import DatasetConfig, check_files

    dataset = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DatasetConfig), config.dataset))
    check_files(dataset)


class Preflight(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(lambda: (writable_folder("hydra.run.dir", str(config.hydra.run.dir)),
                             no_links(Path(str(config.hydra.run.dir))), datasets_present(config)))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))

        def checks() -> None:
            writable_folder("hydra.sweep.dir", str(sweep_dir))
            for hydra_dir in sweep_dir.rglob(".hydra"):  # job folders of earlier launches
                no_links(hydra_dir.parent)
            launcher_available(config.hydra.launcher)
            datasets_present(config)

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
