"""Datasets as whole tensors on the target device.

The models are small MLPs, so a whole dataset fits in memory and a DataLoader would only add
per-batch Python overhead: the loop indexes these tensors directly. torchvision is imported only
when one of its datasets is asked for, so that runs on the bundled digits start in a second.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np
import torch

from .errors import ConfigError


@dataclass
class DatasetConfig:
    name: str = "digits"  # digits | mnist | fashion_mnist | cifar10
    root: str = "data"  # folder for torchvision datasets (relative to the cwd)
    download: bool = False  # torchvision download when files are missing
    subset: Optional[int] = None  # keep only the first N images of the official *training* set
    test_fraction: Optional[float] = None  # None: the official test set; else split the (subset of the) training set
    split_seed: int = 0  # independent of the run seed so that every seed sees the same split
    standardize: bool = False  # per-feature mean/std of the training split (else just scaled to [0,1])


@dataclass(frozen=True)
class Data:
    x_train: torch.Tensor  # float32 (N, D), flattened, on the target device
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    name: str

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]


_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
DATASETS = ("digits", *_TORCHVISION)
NUM_CLASSES = 10  # all four; fixed, not read from the labels, so a subset missing a class keeps the same model


def _options(cfg) -> DatasetConfig:
    """A DatasetConfig from either a DatasetConfig or a DictConfig, so the rest reads one type."""
    if isinstance(cfg, DatasetConfig):
        return cfg
    return DatasetConfig(**{f.name: getattr(cfg, f.name, f.default) for f in fields(DatasetConfig)})


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (data float64 (1797, 64), target int), equal to ``load_digits()``.
    Cached like the torchvision datasets: 17 ms a job in a sweep's process. Callers never modify it."""
    # Read sklearn's bundled file directly: `import sklearn.datasets` takes seconds, this takes ~30 ms.
    path = os.path.join(importlib.util.find_spec("sklearn").submodule_search_locations[0],
                        "datasets", "data", "digits.csv.gz")
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


def _files(cls, root: str) -> tuple[str, list[str]]:
    """The folder and file names torchvision needs, to tell a missing dataset from a corrupt one."""
    if hasattr(cls, "train_list"):  # CIFAR10
        names = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return os.path.join(root, cls.base_folder), names
    return os.path.join(root, cls.__name__, "raw"), [os.path.splitext(f)[0] for f, _ in cls.resources]


@functools.lru_cache(maxsize=4)
def _torchvision(name: str, root: str, download: bool, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One official split as (uint8 images (N, D) in torchvision's channel-first order, int64 labels).

    Cached: the jobs of a sweep that share a process (Hydra's basic launcher, a joblib worker) read
    and checksum the files once, not once per job. Callers never modify the tensors.
    """
    import torchvision.datasets  # ~4 s: paid only by runs that use a torchvision dataset

    cls = getattr(torchvision.datasets, _TORCHVISION[name])
    try:
        ds = cls(root, train=train, download=download)
        x, y = ds.data, ds.targets
        if isinstance(x, np.ndarray):  # CIFAR10: numpy (N, 32, 32, 3) and a list of labels
            x = torch.from_numpy(x).permute(0, 3, 1, 2)
        x, y = x.reshape(len(x), -1), torch.as_tensor(y, dtype=torch.int64)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
    except Exception as e:  # bad files surface as RuntimeError, AssertionError, ValueError, pickle errors...
        folder, names = _files(cls, root)
        folder = os.path.abspath(folder)
        missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if missing and download:
            raise ConfigError("dataset.download", True, f"could not fetch {name} into {folder} ({reason})") from e
        if missing:
            raise ConfigError("dataset.root", root, f"{name} not found: {folder} lacks {', '.join(missing)}; "
                              "dataset.download=true fetches it") from e
        raise ConfigError("dataset.root", root, f"{name} files in {folder} are corrupt or truncated "
                          f"({reason}); delete them and re-download with dataset.download=true") from e
    return x, y


def _check(opt: DatasetConfig) -> None:
    """Fail on bad values before any file is read."""
    if opt.name not in DATASETS:
        raise ConfigError("dataset.name", opt.name, f"allowed: {', '.join(DATASETS)}")
    f = opt.test_fraction
    if f is None and opt.name == "digits":
        raise ConfigError("dataset.test_fraction", f, "digits has no official test split: a number in (0, 1), e.g. 0.2")
    if f is not None and (isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1):
        raise ConfigError("dataset.test_fraction", f, "a number in (0, 1), or null for the official test set")


def load_dataset(cfg, device="cpu") -> Data:
    """Load, subset, split, scale and standardize ``cfg`` (a DatasetConfig or the `dataset` DictConfig)."""
    opt = _options(cfg)
    _check(opt)
    if opt.name == "digits":
        data, target = _digits()
        x, y, scale = torch.from_numpy(data), torch.from_numpy(target).long(), 16.0
    else:
        (x, y), scale = _torchvision(opt.name, opt.root, opt.download, train=True), 255.0

    if opt.subset is not None:
        if isinstance(opt.subset, bool) or not isinstance(opt.subset, int) or not 1 <= opt.subset <= len(x):
            raise ConfigError("dataset.subset", opt.subset,
                              f"an integer from 1 to {len(x)} (the size of the {opt.name} training set), or null")
        x, y = x[:opt.subset], y[:opt.subset]  # the first N, like the reference notebook's X[:10000]

    if opt.test_fraction is None:
        x_test, y_test = _torchvision(opt.name, opt.root, opt.download, train=False)
    else:
        # ceil like sklearn's train_test_split, so sizes match the reference notebook's 80/20 split
        n_test = math.ceil(opt.test_fraction * len(x))
        if not 0 < n_test < len(x):
            raise ConfigError("dataset.test_fraction", opt.test_fraction,
                              f"leaves an empty train or test split of the {len(x)} samples")
        # a CPU generator of its own: the same split for every run seed and every device
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(opt.split_seed))
        x_test, y_test, x, y = x[perm[:n_test]], y[perm[:n_test]], x[perm[n_test:]], y[perm[n_test:]]

    x, x_test = x.float() / scale, x_test.float() / scale
    if opt.standardize:
        mean, std = x.mean(0), x.std(0, unbiased=False)
        std = torch.where(std < 1e-6, torch.ones_like(std), std)  # a constant feature is only centred
        x, x_test = (x - mean) / std, (x_test - mean) / std

    return Data(x.to(device), y.to(device), x_test.to(device), y_test.to(device), NUM_CLASSES, opt.name)
