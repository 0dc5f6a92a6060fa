"""Character-level text for ``model=gpt``: ``dataset=text`` (Python's bundled documentation, or any UTF-8 file
given as ``dataset.path``) and ``dataset=tiny_shakespeare`` (downloaded once into ``dataset.root``, checked
against its SHA-256).

The vocabulary is the text's sorted characters (a run that starts from another's weights, ``model.init_from``,
keeps that run's tokens and adds the new text's other characters after them). The text is cut into contiguous
spans, training | validation | test: the test span is the last ``dataset.test_fraction`` of the text (``dataset.subset``: of its first N
characters), the validation span the last ``dataset.val_fraction`` of the rest. A training batch is
``trainer.batch_size`` windows of ``model.block_size`` + 1 characters at random starts, drawn from the run's
batch-order generator (saved in every checkpoint, so a resumed run draws what an uninterrupted one draws);
validation and test read a fixed set of windows, the span's consecutive ``block_size``-character stretches.
Every position of a window is a target: losses are nats per character, accuracy the share of next characters
predicted (bits per character = loss / ln 2).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .contract import ACCURACY, LOSS, Objective
from .errors import ConfigError, require

DATASETS = ("text", "tiny_shakespeare")


def objective(dataset: str) -> Objective:
    """What the task of the dataset named ``dataset`` is judged by (contract.objective): a text's validation loss
    (nats per character, lower is better), any other dataset's validation accuracy (a classification's)."""
    return LOSS if dataset in DATASETS else ACCURACY


SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # 1115394 bytes
SHAKESPEARE_FILE = "tiny_shakespeare/input.txt"  # under dataset.root


def check_options(opt) -> None:
    """The dataset options a text cannot use (DatasetConfig's own check calls this for text names)."""
    require(
        opt.test_fraction is not None, "dataset.test_fraction", None, "a text has no official test split: e.g. 0.05"
    )
    require(not opt.standardize, "dataset.standardize", opt.standardize, "false for a text (it has no features)")
    require(opt.augment == "none", "dataset.augment", opt.augment, "none for a text")
    require(
        opt.path is None or opt.name == "text",
        "dataset.path",
        opt.path,
        f"null for {opt.name} (dataset=text reads a file of your own)",
    )


def source(opt) -> Optional[Path]:
    """The file a text dataset reads; None: Python's bundled documentation."""
    if opt.name == "tiny_shakespeare":
        return Path(opt.root) / SHAKESPEARE_FILE
    return None if opt.path is None else Path(opt.path)


def bundled() -> str:
    """The English text of the topics of Python's own documentation, in sorted topic order (~465 KB, offline)."""
    from pydoc_data.topics import topics

    return "".join(topics[k] for k in sorted(topics))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(path: Path, url: str = SHAKESPEARE_URL, digest: str = SHAKESPEARE_SHA256) -> None:
    """Download ``url`` to ``path`` (atomically) unless it is there; refuse a file whose SHA-256 is not ``digest``."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + f".part{os.getpid()}")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                part.write_bytes(response.read())
            os.replace(part, path)
        except OSError as e:
            part.unlink(missing_ok=True)
            raise ConfigError("dataset.download", True, f"could not fetch {url} into {path} ({e})") from e
    if sha256(path) != digest:
        raise ConfigError(
            "dataset.root",
            str(path.parent.parent),
            f"{path} is not tiny_shakespeare (its SHA-256 is not {digest[:12]}...); delete it to download it again",
        )


def check_files(opt) -> None:
    """A sweep's preflight: the file a text dataset reads is there (or will be downloaded) and is UTF-8 text;
    tiny_shakespeare's is the one its checksum names."""
    path = source(opt)
    if path is None:
        return
    if opt.name == "tiny_shakespeare":
        if not path.exists() and not opt.download:
            raise ConfigError(
                "dataset.root", opt.root, f"tiny_shakespeare not found: no {path}; dataset.download=true fetches it"
            )
        if path.exists():
            fetch(path)  # only checks it
        return
    read(str(path))


@functools.lru_cache(maxsize=2)
def read(path: str) -> str:
    """A UTF-8 text file's text, or the one line that says why it cannot be read as one."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError("dataset.path", path, f"a readable UTF-8 text file ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            "dataset.path", path, f"a UTF-8 text file (byte 0x{raw[e.start]:02x} at offset {e.start} is not UTF-8)"
        ) from None
    require(bool(text), "dataset.path", path, "a non-empty UTF-8 text file (this one is empty)")
    return text


def text_of(opt) -> str:
    """The dataset's whole text, downloaded first where it must be."""
    path = source(opt)
    if path is None:
        return bundled()
    if opt.name == "tiny_shakespeare":
        check_files(opt)
        fetch(path)  # downloads it when missing; refuses a file that is not tiny_shakespeare
    return read(str(path))


@dataclass(frozen=True)
class TextData:
    """A text as the training loop reads data: windows of token indices (int64) on the device. ``x_train`` and
    ``y_train`` are views of every window of the training span (a window at every start, nothing copied);
    ``draw`` chooses an epoch's windows."""

    x_train: torch.Tensor  # (starts, T): characters t..t+T-1 of the training span
    y_train: torch.Tensor  # (starts, T): the characters that follow each, t+1..t+T
    x_test: torch.Tensor  # (windows, T): the test span's consecutive windows
    y_test: torch.Tensor
    num_classes: int  # the vocabulary's size
    name: str
    x_val: Optional[torch.Tensor]
    y_val: Optional[torch.Tensor]
    vocabulary: str  # the characters, in token order
    natural_epoch: int  # windows in an epoch with trainer.steps_per_epoch=null: each training character once
    text_sha256: str  # of the text the splits were cut from (dataset.subset applied)
    shape = None
    augment = "none"

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def input_shape(self) -> tuple:
        return (self.input_dim,)

    def draw_augmentation(self, gen: torch.Generator) -> None:
        return None

    def draw(self, gen: torch.Generator, n: int) -> torch.Tensor:
        """The starts of ``n`` windows of the training span, uniformly at random from the batch-order generator."""
        return torch.randint(len(self.x_train), (n,), generator=gen, device=gen.device).to(self.x_train.device)


def spans(n: int, opt) -> tuple[int, int]:
    """Where the validation and the test span begin in a text of ``n`` characters."""
    test = n - math.ceil(opt.test_fraction * n)
    return test - math.ceil(opt.val_fraction * test), test


def consecutive(ids: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A span's fixed windows: its consecutive stretches of ``t`` targets, each with the ``t`` characters before."""
    m = (len(ids) - 1) // t
    windows = ids[torch.arange(m)[:, None] * t + torch.arange(t + 1)]
    return windows[:, :-1], windows[:, 1:]


def vocabulary_of(text: str, base: Optional[str] = None) -> str:
    """The tokens, in order: the text's sorted characters; after ``base`` (a source run's vocabulary, for
    model.init_from) its characters keep their tokens and the text's new ones follow, sorted, as new tokens."""
    if base is None:
        return "".join(sorted(set(text)))
    return base + "".join(sorted(set(text) - set(base)))


def load(opt, device="cpu", block_size: Optional[int] = None, base: Optional[str] = None) -> TextData:
    """The text, its vocabulary (``vocabulary_of``) and its three spans as windows of ``block_size`` (the model's
    context)."""
    require(
        block_size is not None,
        "dataset.name",
        opt.name,
        "a text trains model=gpt (model.block_size sets its windows); this model reads images",
    )
    text = text_of(opt)
    if opt.subset is not None:
        text = text[: opt.subset]
    vocabulary = vocabulary_of(text, base)
    lookup = {c: i for i, c in enumerate(vocabulary)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    val, test = spans(len(ids), opt)
    parts = {"training": ids[:val], "validation": ids[val:test], "test": ids[test:]}
    for split, part in parts.items():
        if split == "validation" and opt.val_fraction == 0:
            continue
        require(
            len(part) > block_size,
            "model.block_size",
            block_size,
            f"less than the {len(part)} characters of the {split} span of {len(text)} "
            f"(dataset.subset/test_fraction/val_fraction), so that it holds one window",
        )
    windows = parts["training"].to(device).unfold(0, block_size + 1, 1)
    x_test, y_test = consecutive(parts["test"], block_size)
    x_val = y_val = None
    if opt.val_fraction > 0:
        x_val, y_val = (w.to(device) for w in consecutive(parts["validation"], block_size))
    return TextData(
        windows[:, :-1],
        windows[:, 1:],
        x_test.to(device),
        y_test.to(device),
        len(vocabulary),
        opt.name,
        x_val,
        y_val,
        vocabulary,
        max(1, (len(parts["training"]) - 1) // block_size),
        hashlib.sha256(text.encode()).hexdigest(),
    )


def text_record(data) -> dict:
    """What summary.json's ``resolved`` records of a text (its vocabulary, which model.init_from checks, and the
    text's SHA-256); nothing for other data."""
    if not isinstance(data, TextData):
        return {}
    return {"vocabulary": data.vocabulary, "text_sha256": data.text_sha256}
