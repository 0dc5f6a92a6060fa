"""Datasets: the bundled digits (splits, standardization, subsets), bad values named before any work, and the
import that reads no torchvision (MNIST, FashionMNIST, CIFAR-10 on tiny files: test_data_torchvision.py)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from alternating_freeze.data import DATASETS, DatasetConfig, _digits, load_dataset
from alternating_freeze.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def digits(**kw):
    return load_dataset(DatasetConfig(**{"test_fraction": 0.2, "val_fraction": 0, **kw}))


def row_ids(x):
    """Index of each row in the full digits table (the 1797 rows are all distinct)."""
    index = {row.tobytes(): i for i, row in enumerate(_digits()[0])}
    return {index[row.tobytes()] for row in (x.double() * 16).numpy()}


# ---------------------------------------------------------------------------------------- digits


def test_digits_shapes_values_and_split_sizes():
    d = digits()
    assert (d.name, d.num_classes, d.input_dim) == ("digits", 10, 64)
    assert (len(d.y_train), len(d.y_test)) == (1437, 360)  # ceil(0.2 * 1797) test samples, like sklearn
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    for x in (d.x_train, d.x_test):
        assert x.min() == 0 and x.max() == 1  # pixel values 0..16 scaled by 1/16
    assert set(torch.cat([d.y_train, d.y_test]).tolist()) == set(range(10))
    half = digits(test_fraction=0.5)
    assert (len(half.y_train), len(half.y_test)) == (898, 899)


def test_digits_split_is_disjoint_and_covers_everything():
    d = digits()
    train, test = row_ids(d.x_train), row_ids(d.x_test)
    assert len(train) == 1437 and len(test) == 360
    assert not train & test
    assert train | test == set(range(1797))


def test_split_depends_on_split_seed_only():
    torch.manual_seed(1)
    a = digits(split_seed=3)
    torch.manual_seed(2)  # a different run seed must not move the split
    b = digits(split_seed=3)
    c = digits(split_seed=4)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert row_ids(a.x_test) != row_ids(c.x_test)


def test_standardize_uses_training_statistics():
    plain, std = digits(), digits(standardize=True)
    varying = plain.x_train.std(0) > 0
    assert std.x_train.mean(0).abs().max() < 1e-5
    assert torch.allclose(std.x_train.std(0, unbiased=False)[varying], torch.ones(int(varying.sum())), atol=1e-4)
    assert (std.x_train[:, ~varying] == 0).all()  # constant features are centred, not blown up
    # the test split is transformed with the training split's mean and std, not its own
    mean, sd = plain.x_train.mean(0), plain.x_train.std(0, unbiased=False)
    expect = (plain.x_test[:, varying] - mean[varying]) / sd[varying]
    assert torch.allclose(std.x_test[:, varying], expect, atol=1e-4)


def test_the_shipped_yaml_through_the_schema():
    cfg = OmegaConf.merge(OmegaConf.structured(DatasetConfig), OmegaConf.load(ROOT / "conf/dataset/digits.yaml"))
    d = load_dataset(OmegaConf.to_object(cfg), device=torch.device("cpu"))
    assert d.x_train.device.type == "cpu" and len(d.y_val) == 144
    assert torch.equal(d.x_test, digits().x_test)


def test_validation_split_is_held_out_of_training_and_the_same_for_every_run_seed():
    plain, d = digits(), digits(val_fraction=0.1)
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1293, 144, 360)  # ceil(0.1 * 1437) held out
    assert torch.equal(d.x_test, plain.x_test)  # the test split does not move
    train, val = row_ids(d.x_train), row_ids(d.x_val)
    assert not train & val and train | val == row_ids(plain.x_train)
    torch.manual_seed(5)
    again = digits(val_fraction=0.1)
    assert torch.equal(again.x_val, d.x_val) and torch.equal(again.y_train, d.y_train)
    assert row_ids(digits(val_fraction=0.1, split_seed=1).x_val) != val
    assert plain.x_val is None and plain.y_val is None


def test_standardize_leaves_validation_out_of_the_statistics():
    d = digits(val_fraction=0.2, standardize=True)
    assert d.x_train.mean(0).abs().max() < 1e-5 and d.x_val.mean(0).abs().max() > 1e-3


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"name": "imagenet"}, "dataset.name"),
        ({"test_fraction": None}, "dataset.test_fraction"),  # digits has no official test split
        ({"test_fraction": 0.0}, "dataset.test_fraction"),
        ({"test_fraction": 1.0}, "dataset.test_fraction"),
        ({"test_fraction": 1.5}, "dataset.test_fraction"),
        ({"subset": 0}, "dataset.subset"),
        ({"subset": 1798}, "dataset.subset"),
        ({"subset": 1, "test_fraction": 0.5}, "dataset.test_fraction"),  # nothing left to train on
        ({"val_fraction": -0.1}, "dataset.val_fraction"),
        ({"val_fraction": 1.0}, "dataset.val_fraction"),
        ({"val_fraction": float("nan")}, "dataset.val_fraction"),
        (
            {"subset": 3, "test_fraction": 0.5, "val_fraction": 0.5},
            "dataset.val_fraction",
        ),  # one left: no room for both
    ],
)
def test_bad_values_name_their_key(kw, key):
    with pytest.raises(ConfigError) as e:
        load_dataset(DatasetConfig(**{"test_fraction": 0.2, "val_fraction": 0, **kw}))
    assert e.value.key == key and str(e.value).startswith(f"{key}=")
    if key == "dataset.name":
        assert all(n in str(e.value) for n in DATASETS)
    if key == "dataset.subset" and kw["subset"] > 1:  # known only once the dataset is read
        assert "1797" in str(e.value)


def test_subset_takes_the_first_images():
    d = digits(subset=100, test_fraction=0.25)
    assert row_ids(torch.cat([d.x_train, d.x_test])) == set(range(100))


# ------------------------------------------------------------------------------ fresh interpreter

FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import alternating_freeze.data as d
    heavy = lambda: sorted(m for m in ("torchvision", "sklearn.datasets") if m in sys.modules)
    out = {"on_import": heavy()}
    d.load_dataset(d.DatasetConfig(test_fraction=0.2))
    out["after_digits"] = heavy()
    from sklearn.datasets import load_digits
    data, target = d._digits()
    ref = load_digits()
    out["equals_load_digits"] = [np.array_equal(data, ref.data), np.array_equal(target, ref.target)]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module", autouse=True)
def fresh():
    """Checks that need a fresh interpreter (and `import sklearn.datasets`, seconds): started with the first test
    of this file so that they run beside the others; the tests at the end read the result."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FRESH], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    result = {}

    def get():
        if not result:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            result.update(json.loads(out))
        return result

    yield get
    if proc.poll() is None:  # a selection that never asked for the result
        proc.kill()
        proc.communicate()


@pytest.mark.slow
def test_import_and_digits_load_skip_torchvision_and_sklearn_datasets(fresh):
    assert fresh()["on_import"] == []
    assert fresh()["after_digits"] == []


@pytest.mark.slow
def test_digits_file_equals_sklearn_load_digits(fresh):
    assert fresh()["equals_load_digits"] == [True, True]
