"""Datasets as whole tensors on the target device.

The datasets are small, so a whole one fits in memory and a DataLoader would only add per-batch
Python overhead: the loop indexes these tensors directly. Images are stored flattened in (C, H, W)
order, as MLPs read them; ``Data.shape`` says how a convolutional network views them, and the
optional augmentation (random crops and flips) runs per batch on the device. torchvision is
imported only when one of its datasets is asked for, so that runs on the bundled digits start in
a second.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import text
from .errors import ConfigError, integer, number, one_of, require


@dataclass
class DatasetConfig:
    """Schema of the `dataset` config group."""

    name: str = "digits"  # digits | mnist | fashion_mnist | cifar10 | text | tiny_shakespeare (text.py)
    root: str = "data"  # folder for torchvision datasets (relative to the cwd)
    download: bool = False  # torchvision download when files are missing
    subset: Optional[int] = None  # keep only the first N images of the official *training* set
    test_fraction: Optional[float] = 0.2  # split off the (subset of the) training set; null: the official test set
    val_fraction: float = 0.1  # of the training split, held out for selection (best epoch, tuning, targets); 0: none
    split_seed: int = 0  # independent of the run seed so that every seed sees the same splits
    standardize: bool = False  # per-feature mean/std of the training split (else just scaled to [0,1])
    augment: str = "none"  # none | crop_flip: random 4-pixel-padded crops and horizontal flips of training batches
    path: Optional[str] = None  # dataset=text: a UTF-8 text file to read; null: Python's bundled documentation

    def __post_init__(self) -> None:
        one_of("dataset.name", self.name, DATASETS)
        one_of("dataset.augment", self.augment, AUGMENTATIONS)
        require(
            self.test_fraction is not None or self.name != "digits",
            "dataset.test_fraction",
            None,
            "digits has no official test split: a number in (0, 1), e.g. 0.2",
        )
        if self.test_fraction is not None:
            number(
                "dataset.test_fraction",
                self.test_fraction,
                0,
                1,
                True,
                True,
                "a number in (0, 1), or null for the official test set",
            )
        number(
            "dataset.val_fraction",
            self.val_fraction,
            0,
            1,
            high_open=True,
            allowed="a number in [0, 1): the share of the training split held out for validation (0: none)",
        )
        integer("dataset.subset", self.subset, null=True)
        integer("dataset.split_seed", self.split_seed, 0, 2**63 - 1)
        if self.name in text.DATASETS:
            text.check_options(self)
            return
        smallest = min(SHAPES[self.name][1:])
        require(
            self.augment == "none" or smallest >= MIN_CROP_SIDE,
            "dataset.augment",
            self.augment,
            f"none for {self.name}: its {smallest}x{smallest} images are smaller than {MIN_CROP_SIDE} pixels, "
            f"so {PAD}-pixel-padded crops would shift them by up to half their width",
        )


@dataclass(frozen=True)
class Data:
    x_train: torch.Tensor  # float32 (N, D), images flattened in (C, H, W) order, on the target device
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    name: str
    x_val: Optional[torch.Tensor] = None  # held out of the training split; None without a validation split
    y_val: Optional[torch.Tensor] = None
    shape: Optional[tuple] = None  # (C, H, W) of an image; None: plain feature vectors
    augment: str = "none"  # dataset.augment, applied to training batches by the loop

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def input_shape(self) -> tuple:
        """What one sample is: (C, H, W) for images, (D,) for feature vectors."""
        return tuple(self.shape) if self.shape is not None else (self.input_dim,)

    def draw_augmentation(self, gen: torch.Generator) -> Optional[torch.Tensor]:
        """This epoch's crops and flips, one row (dy, dx, flip) per position of the epoch's batch
        order, or None without augmentation. Drawn once an epoch from the batch-order generator
        (saved in every checkpoint: a resumed run draws the same), and moved to the device in one
        copy: nothing per batch waits for the host."""
        if self.augment == "none":
            return None
        n = len(self.y_train)
        shifts = torch.randint(0, 2 * PAD + 1, (n, 2), generator=gen, device=gen.device)
        flips = torch.randint(0, 2, (n, 1), generator=gen, device=gen.device)
        return torch.cat([shifts, flips], 1).to(self.x_train.device)

    def augment_batch(self, x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """The standard CIFAR augmentation of a batch (N, D) on its device: zero-pad by 4 pixels,
        crop back to H x W at (dy, dx), flip horizontally where ``flip``; one gather for all three.
        Returns (N, C, H, W), which every model takes."""
        c, h, w = self.input_shape
        padded = F.pad(x.view(len(x), c, h, w), (PAD, PAD, PAD, PAD))
        dy, dx, flip = draws[:, 0, None], draws[:, 1, None], draws[:, 2, None].bool()
        rows = dy + torch.arange(h, device=x.device)  # (N, H)
        cols = torch.arange(w, device=x.device)
        cols = dx + torch.where(flip, w - 1 - cols, cols)  # (N, W): crop, then flip the crop
        n_idx = torch.arange(len(x), device=x.device)[:, None, None, None]
        c_idx = torch.arange(c, device=x.device)[None, :, None, None]
        return padded[n_idx, c_idx, rows[:, None, :, None], cols[:, None, None, :]]


_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
DATASETS = ("digits", *_TORCHVISION, *text.DATASETS)
TRAIN_SIZES = {"digits": 1797, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}  # official training sets
SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}  # (C, H, W)
AUGMENTATIONS = ("none", "crop_flip")
PAD = 4  # pixels of zero padding around a random crop (the CIFAR standard of He et al. 2016)
MIN_CROP_SIDE = 4 * PAD  # crop_flip on smaller images (digits' 8x8) would shift them by half their side
# The fewest training samples a run may have: one per class (NUM_CLASSES). Fewer cannot learn every class, and a
# split that leaves fewer (dataset.subset=5, dataset.val_fraction=0.999) is refused rather than trained.
MIN_TRAIN = 10
NUM_CLASSES = 10  # all four; fixed, not read from the labels, so a subset missing a class keeps the same model


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (data float64 (1797, 64), target int), equal to ``load_digits()``.
    Cached like the torchvision datasets: 17 ms a job in a sweep's process. Callers never modify it."""
    # Read sklearn's bundled file directly: `import sklearn.datasets` takes seconds, this takes ~30 ms.
    path = os.path.join(
        importlib.util.find_spec("sklearn").submodule_search_locations[0], "datasets", "data", "digits.csv.gz"
    )
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


# The files torchvision reads, per dataset (folder under root, names); equal to what its classes list
# (tests/test_data_torchvision.py), kept here so that a sweep checks them without importing torchvision (4 s).
FILES = {
    "mnist": (
        "MNIST/raw",
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ),
    "fashion_mnist": (
        "FashionMNIST/raw",
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ),
    "cifar10": (
        "cifar-10-batches-py",
        ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"),
    ),
}


def check_files(opt: DatasetConfig) -> None:
    """A torchvision dataset's files are present and readable, or will be downloaded: the one-line
    answer a sweep gives before launching jobs that would each fail the same way."""
    if opt.name in text.DATASETS:
        return text.check_files(opt)
    if opt.name not in FILES or opt.download:
        return
    folder, names = FILES[opt.name]
    folder = os.path.abspath(os.path.join(opt.root, folder))
    missing = [n for n in names if not os.access(os.path.join(folder, n), os.R_OK)]
    if missing:
        raise ConfigError(
            "dataset.root",
            opt.root,
            f"{opt.name} not found: {folder} lacks {', '.join(missing)}; dataset.download=true fetches it",
        )


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
        # torchvision's download errors span lines ("Error downloading x:", then why): keep all of it, on one line
        reason = " ".join(line.strip() for line in str(e).splitlines() if line.strip())[:400] or type(e).__name__
        if missing and download:
            raise ConfigError("dataset.download", True, f"could not fetch {name} into {folder} ({reason})") from e
        if missing:
            raise ConfigError(
                "dataset.root",
                root,
                f"{name} not found: {folder} lacks {', '.join(missing)}; dataset.download=true fetches it",
            ) from e
        raise ConfigError(
            "dataset.root",
            root,
            f"{name} files in {folder} are corrupt or truncated "
            f"({reason}); delete them and re-download with dataset.download=true",
        ) from e
    return x, y


def _split(x: torch.Tensor, y: torch.Tensor, fraction: float, gen: torch.Generator, key: str):
    """(held-out x, y, rest x, y): ceil(fraction * N) samples, like sklearn's train_test_split."""
    n_out = math.ceil(fraction * len(x))
    if not 0 < n_out < len(x):
        raise ConfigError(key, fraction, f"leaves an empty split of the {len(x)} samples")
    perm = torch.randperm(len(x), generator=gen)
    return x[perm[:n_out]], y[perm[:n_out]], x[perm[n_out:]], y[perm[n_out:]]


def load_dataset(
    opt: DatasetConfig, device="cpu", block_size: Optional[int] = None, vocabulary: Optional[str] = None
) -> Data:
    """Load, subset, split (test, then validation out of the rest), scale and standardize. A text (text.py) is
    cut into windows of ``block_size`` characters, the model's context, its tokens after ``vocabulary``'s."""
    if opt.name in text.DATASETS:
        return text.load(opt, device, block_size, vocabulary)
    if opt.name == "digits":
        data, target = _digits()
        x, y, scale = torch.from_numpy(data), torch.from_numpy(target).long(), 16.0
    else:
        (x, y), scale = _torchvision(opt.name, opt.root, opt.download, train=True), 255.0

    if opt.subset is not None:
        if opt.subset > len(x):
            raise ConfigError(
                "dataset.subset",
                opt.subset,
                f"an integer from 1 to {len(x)} (the size of the {opt.name} training set), or null",
            )
        x, y = x[: opt.subset], y[: opt.subset]  # the first N, like the reference notebook's X[:10000]

    # A CPU generator of its own: the same splits for every run seed and every device. The test split
    # is drawn first, so that val_fraction=0 leaves exactly the splits of versions without validation.
    gen = torch.Generator().manual_seed(opt.split_seed)
    if opt.test_fraction is None:
        x_test, y_test = _torchvision(opt.name, opt.root, opt.download, train=False)
    else:
        x_test, y_test, x, y = _split(x, y, opt.test_fraction, gen, "dataset.test_fraction")
    x_val = y_val = None
    if opt.val_fraction > 0:
        x_val, y_val, x, y = _split(x, y, opt.val_fraction, gen, "dataset.val_fraction")
    if len(x) < MIN_TRAIN:  # the setting most likely to blame: a subset, else the validation share, else the test's
        key = next(k for k in ("subset", "val_fraction", "test_fraction") if getattr(opt, k))
        raise ConfigError(
            f"dataset.{key}",
            getattr(opt, key),
            f"leaves {len(x)} training samples (test {len(y_test)}, validation {0 if y_val is None else len(y_val)}); "
            f"at least {MIN_TRAIN}, one per class, must remain",
        )

    x, x_test = x.float() / scale, x_test.float() / scale
    x_val = None if x_val is None else x_val.float() / scale
    if opt.standardize:  # with the training split's statistics only
        mean, std = x.mean(0), x.std(0, unbiased=False)
        std = torch.where(std < 1e-6, torch.ones_like(std), std)  # a constant feature is only centred
        x, x_test = (x - mean) / std, (x_test - mean) / std
        x_val = None if x_val is None else (x_val - mean) / std

    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    return Data(
        to(x), to(y), to(x_test), to(y_test), NUM_CLASSES, opt.name, to(x_val), to(y_val), SHAPES[opt.name], opt.augment
    )


def train_count(opt: DatasetConfig) -> int:
    """How many samples ``load_dataset`` leaves in the training split, without loading anything."""
    n = TRAIN_SIZES[opt.name] if opt.subset is None else min(opt.subset, TRAIN_SIZES[opt.name])
    if opt.test_fraction is not None:
        n -= math.ceil(opt.test_fraction * n)
    if opt.val_fraction > 0:
        n -= math.ceil(opt.val_fraction * n)
    return n
