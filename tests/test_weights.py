"""A completed run keeps its final weights (weights.pt, the checkpoint format): they load into a fresh model
and reproduce the run's final test accuracy; trainer.keep_weights=false leaves them out."""

import json
import time

import pytest
import torch
from helpers import ROOT
from hydra import compose, initialize_config_dir

from alternating_freeze import records
from alternating_freeze.contract import CHECKPOINT_FILE, WEIGHTS_FILE
from alternating_freeze.data import DatasetConfig, load_dataset
from alternating_freeze.loop import evaluate
from alternating_freeze.models import ModelConfig, build_model
from alternating_freeze.train import execute


def run(out, *overrides):
    out.mkdir(parents=True, exist_ok=True)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "trainer.epochs=2",
                "trainer.progress=none",
                "trainer.num_threads=1",
                "model.width=16",
                "strategy=alternating",
                *overrides,
            ],
        )
    assert execute(cfg, out, None, time.perf_counter(), "now") == "completed"
    return json.loads((out / "summary.json").read_text())


def test_kept_weights_reproduce_the_final_test_accuracy(tmp_path):
    summary = run(tmp_path)
    assert (tmp_path / WEIGHTS_FILE).exists() and not (tmp_path / CHECKPOINT_FILE).exists()
    config = summary["config"]
    data = load_dataset(DatasetConfig(**config["dataset"]))
    model = build_model(ModelConfig(**config["model"]), data.input_shape, data.num_classes)
    model.load_state_dict(records.load_weights(tmp_path))
    _, acc = evaluate(model, data.x_test, data.y_test, 8192)
    assert acc == pytest.approx(summary["final_test_acc"], abs=1e-9)


def test_weights_of_another_run_are_refused_and_none_when_turned_off(tmp_path):
    run(tmp_path / "a")
    run(tmp_path / "b", "seed=1", "trainer.keep_weights=false")
    assert not (tmp_path / "b" / WEIGHTS_FILE).exists()
    (tmp_path / "b" / WEIGHTS_FILE).write_bytes((tmp_path / "a" / WEIGHTS_FILE).read_bytes())
    with pytest.raises(records.ForeignCheckpoint):
        records.load_weights(tmp_path / "b")
    weights = records.load_weights(tmp_path / "a")
    assert weights and all(isinstance(t, torch.Tensor) for t in weights.values())
