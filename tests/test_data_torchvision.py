"""MNIST, FashionMNIST and CIFAR-10 offline, through the real torchvision readers on tiny files written in their
on-disk formats: official splits, pixel order and scaling, subsets, and corrupt or missing files named."""

import struct

import numpy as np
import pytest
import torch
from helpers import ROOT, write_cifar

from alternating_freeze.data import DatasetConfig, load_dataset
from alternating_freeze.errors import ConfigError

# ------------------------------------------------------------------------ MNIST / FashionMNIST


def write_idx(path, arr):
    """idx format: big-endian magic (0x08 = uint8, then the number of dims), the dims, the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">I", 0x800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())


def write_mnist(root, folder, n_train=50, n_test=20):
    """Image i of the training set is filled with the value i (test: 100 + i), and image 0 has one pixel at 255."""
    raw = root / folder / "raw"
    train = np.repeat(np.arange(n_train, dtype=np.uint8), 28 * 28).reshape(n_train, 28, 28)
    train[0, 3, 5] = 255
    test = np.repeat(np.arange(100, 100 + n_test, dtype=np.uint8), 28 * 28).reshape(n_test, 28, 28)
    write_idx(raw / "train-images-idx3-ubyte", train)
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(n_train, dtype=np.uint8) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", test)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(n_test, dtype=np.uint8) * 3 % 10)
    return raw


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_official_splits(tmp_path, name, folder):
    assert (ROOT / "conf/dataset" / f"{name}.yaml").exists()
    write_mnist(tmp_path, folder)
    d = load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name=name, root=str(tmp_path)))
    assert (d.input_dim, d.num_classes, len(d.y_train), len(d.y_test)) == (784, 10, 50, 20)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.x_train[0, 3 * 28 + 5] == 1.0  # 255 -> 1, row-major flatten
    assert torch.equal(torch.round(d.x_train[:, 0] * 255), torch.arange(50.0))  # /255, order kept
    assert torch.equal(d.y_train, torch.arange(50) % 10)
    assert torch.equal(torch.round(d.x_test[:, 0] * 255), torch.arange(100.0, 120.0))  # the whole official test set
    assert torch.equal(d.y_test, torch.arange(20) * 3 % 10)


def test_mnist_subset_then_split(tmp_path):
    write_mnist(tmp_path, "MNIST")
    d = load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="mnist", root=str(tmp_path), subset=10))
    assert torch.equal(torch.round(d.x_train[:, 1] * 255), torch.arange(10.0)) and len(d.y_test) == 20
    s = load_dataset(DatasetConfig(name="mnist", root=str(tmp_path), subset=40, test_fraction=0.25, val_fraction=0))
    ids = torch.round(torch.cat([s.x_train, s.x_test])[:, 1] * 255)
    assert (len(s.y_train), len(s.y_test)) == (30, 10)
    assert sorted(ids.tolist()) == list(range(40))  # the first 40 training images, none of the official test set
    with pytest.raises(ConfigError, match=r"^dataset\.subset=51: .*50"):
        load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="mnist", root=str(tmp_path), subset=51))


def test_torchvision_files_are_read_once_per_process(tmp_path):
    """The jobs of a sweep in one process share the read (and checksum) of the dataset files."""
    raw = write_mnist(tmp_path, "MNIST")
    first = load_dataset(DatasetConfig(name="mnist", root=str(tmp_path), subset=30, test_fraction=0.5))
    for f in raw.iterdir():
        f.unlink()
    again = load_dataset(DatasetConfig(name="mnist", root=str(tmp_path), subset=30, test_fraction=0.5))
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    with pytest.raises(ConfigError, match="not found"):  # the official test split was never read: not cached
        load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="mnist", root=str(tmp_path)))


def test_missing_dataset_names_root_and_download(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="fashion_mnist", root=str(tmp_path)))
    msg = str(e.value)
    assert e.value.key == "dataset.root" and "\n" not in msg
    assert "fashion_mnist" in msg and str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "dataset.download=true" in msg


@pytest.mark.parametrize("damage", ["truncate", "magic"])
def test_corrupt_idx_file(tmp_path, damage):
    raw = write_mnist(tmp_path, "MNIST")
    f = raw / "train-images-idx3-ubyte"
    blob = f.read_bytes()
    f.write_bytes(blob[:1000] if damage == "truncate" else b"\x00\x00\x09\x09" + blob[4:])
    with pytest.raises(ConfigError) as e:
        load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="mnist", root=str(tmp_path)))
    assert e.value.key == "dataset.root" and "corrupt" in str(e.value) and "re-download" in str(e.value)


def test_label_count_mismatch_is_corrupt(tmp_path):
    raw = write_mnist(tmp_path, "MNIST")
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(49, dtype=np.uint8))
    with pytest.raises(ConfigError, match="corrupt"):
        load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="mnist", root=str(tmp_path)))


# ---------------------------------------------------------------------------------------- CIFAR-10


def test_cifar10_channel_order_and_scaling(tmp_path, monkeypatch):
    write_cifar(tmp_path, monkeypatch)
    d = load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="cifar10", root=str(tmp_path)))
    assert (d.input_dim, d.num_classes, len(d.y_train), len(d.y_test)) == (3072, 10, 20, 3)
    assert d.x_train[0, 1 * 1024 + 2 * 32 + 3] == 1.0  # (C, H, W) flatten: back where CIFAR stored it
    assert (d.x_train[0] == 1.0).sum() == 1
    assert torch.equal(torch.round(d.x_train[:, 0] * 255), torch.arange(20.0))  # batches in order, /255
    assert torch.equal(d.y_train, torch.arange(20) % 10) and d.y_train.dtype == torch.int64
    assert torch.allclose(d.x_test, torch.full((3, 3072), 200 / 255))
    sub = load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path), subset=20, test_fraction=0.5, val_fraction=0))
    assert sorted(torch.round(torch.cat([sub.x_train, sub.x_test])[:, 5] * 255).tolist()) == list(range(20))


def test_cifar10_checksum_mismatch_is_corrupt(tmp_path, monkeypatch):
    folder = write_cifar(tmp_path, monkeypatch)
    with open(folder / "data_batch_3", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(ConfigError) as e:
        load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path), test_fraction=0.2))
    assert e.value.key == "dataset.root" and "corrupt" in str(e.value)


def test_cifar10_missing_file(tmp_path, monkeypatch):
    folder = write_cifar(tmp_path, monkeypatch)
    (folder / "test_batch").unlink()
    with pytest.raises(ConfigError, match=r"^dataset\.root=.*cifar10 not found: .*test_batch.*dataset\.download=true"):
        load_dataset(DatasetConfig(test_fraction=None, val_fraction=0, name="cifar10", root=str(tmp_path)))
