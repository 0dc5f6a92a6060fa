"""model.init_from: a run starts from another completed run's final weights, and refuses what is not one."""

import csv
import json
import pickle
import time

import pytest
import torch
from helpers import ROOT
from hydra import compose, initialize_config_dir

from alternating_freeze import records
from alternating_freeze.config import validate
from alternating_freeze.contract import METRICS_FILE, WEIGHTS_FILE
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import evaluate
from alternating_freeze.train import build, execute

SMALL = [
    "model=gpt",
    "dataset=text",
    "dataset.subset=6000",
    "model.n_layer=2",
    "model.n_embd=16",
    "model.n_head=2",
    "model.block_size=16",
    "trainer.steps_per_epoch=5",
    "trainer.epochs=2",
    "trainer.progress=none",
    "trainer.num_threads=1",
]


def cfg(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[*SMALL, *overrides])


def run(out, *overrides):
    out.mkdir(parents=True, exist_ok=True)
    assert execute(cfg(*overrides), out, None, time.perf_counter(), "now") == "completed"
    return json.loads((out / "summary.json").read_text())


class Planted:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['PLANTED'], 'w').write('ran')",))


def test_init_from_starts_where_the_source_ended_and_refuses_what_does_not_fit(tmp_path, monkeypatch):
    src = tmp_path / "src"
    summary = run(src, "strategy=alternating")
    assert summary["resolved"]["vocabulary"] and summary["resolved"]["text_sha256"]
    final_val = float(list(csv.DictReader((src / METRICS_FILE).open()))[-1]["val_loss"])
    c = cfg(f"model.init_from={src}", "model.splits=[1,3]", "seed=5")  # another split and seed: the same weights
    job = build(validate(c), None, c)
    loss, _ = evaluate(job.model, job.data.x_val, job.data.y_val, 8192)
    assert loss == pytest.approx(final_val, rel=1e-6)

    def refused(*overrides, match):
        c = cfg(*overrides)
        with pytest.raises(ConfigError, match=match) as e:
            build(validate(c), None, c)
        assert e.value.key == "model.init_from" and "\n" not in str(e.value)

    refused(f"model.init_from={src}", "model.n_embd=32", match="its model.n_embd is 16, this run's 32")
    refused(f"model.init_from={tmp_path / 'nowhere'}", match="no such folder")
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "summary.json").write_text((src / "summary.json").read_text())
    marker = tmp_path / "marker"
    monkeypatch.setenv("PLANTED", str(marker))
    (planted / WEIGHTS_FILE).write_bytes(pickle.dumps({"final": Planted()}))
    refused(f"model.init_from={planted}", match="not a weights file of this project")
    torch.save({"final": Planted()}, planted / WEIGHTS_FILE)
    refused(f"model.init_from={planted}", match="not a weights file of this project")
    assert not marker.exists()  # nothing of it ran


def test_a_text_of_other_characters_keeps_the_source_tokens_and_adds_its_own(tmp_path):
    """Fine-tuning on another text: the source's characters keep their tokens and rows, the new ones follow."""
    src = tmp_path / "src"
    vocabulary = run(src, "strategy=standard")["resolved"]["vocabulary"]
    other = tmp_path / "other.txt"
    other.write_text("Some $ text with ~ characters the docs never had. " * 200, encoding="utf-8")
    new = "".join(sorted(set(other.read_text(encoding="utf-8")) - set(vocabulary)))
    assert new  # the test needs characters the source never saw
    c = cfg(f"model.init_from={src}", f"dataset.path={other}", "dataset.subset=null")
    job = build(validate(c), None, c)
    assert job.data.vocabulary == vocabulary + new
    assert any(repr(new) in note for note in job.notes)
    n, mine = len(vocabulary), job.model.state_dict()
    grown = 0
    for key, tensor in records.load_weights(src).items():
        if tensor.shape == mine[key].shape:
            assert torch.equal(mine[key], tensor), key
        else:  # indexed by token: the source's rows, then the new tokens' rows as this run initialised them
            grown += 1
            assert mine[key].shape[0] == n + len(new) and torch.equal(mine[key][:n], tensor), key
            assert mine[key][n:].abs().sum() > 0, key
    assert grown == 2  # the token embedding and the head
    fewer = cfg(f"model.init_from={src}", "dataset.subset=3000")  # fewer characters: the source's tokens, unchanged
    assert build(validate(fewer), None, fewer).data.vocabulary == vocabulary
