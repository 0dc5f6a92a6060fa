"""dataset=text and tiny_shakespeare: characters of a text as random training windows for model=gpt."""

import copy
import csv
import hashlib
import json
import math
import subprocess
import sys

import pytest
import torch
from helpers import ROOT, TINY_GPT, af_train, cli_env, run_sweep

from alternating_freeze import text
from alternating_freeze.data import DatasetConfig, check_files, load_dataset
from alternating_freeze.epoch import TrainState
from alternating_freeze.errors import ConfigError
from alternating_freeze.loop import TrainerConfig, epoch_size, fit
from alternating_freeze.models import ModelConfig, build_model
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.standard import Standard

T = 8
SAMPLE = "".join(chr(97 + (i * 7 + i // 13) % 17) for i in range(600))  # 17 letters, a pattern with some structure


def corpus(tmp_path, content: str | bytes = SAMPLE):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return DatasetConfig(name="text", path=str(path), test_fraction=0.1, val_fraction=0.1)


def gpt(**kw):
    return ModelConfig(
        **{**dict(name="gpt", n_layer=1, n_head=2, n_embd=32, block_size=T, bias=False, tie_weights=False), **kw}
    )


def test_vocabulary_spans_and_windows(tmp_path):
    data = load_dataset(corpus(tmp_path), "cpu", T)
    assert data.vocabulary == "".join(sorted(set(SAMPLE))) and data.num_classes == 17
    ids = torch.tensor([data.vocabulary.index(c) for c in SAMPLE])
    # contiguous spans: test the last 60 characters, validation the last 54 of the other 540, training the rest
    assert torch.equal(data.x_train[0], ids[:T]) and torch.equal(data.y_train[-1], ids[486 - T : 486])
    assert len(data.x_train) == 486 - T and data.natural_epoch == (486 - 1) // T
    assert torch.equal(data.x_val[1], ids[486 + T : 486 + 2 * T]) and torch.equal(
        data.y_val[1], ids[487 + T : 487 + 2 * T]
    )
    assert len(data.x_test) == (60 - 1) // T and torch.equal(data.y_test[0], ids[541 : 541 + T])


def test_the_default_corpus_is_pythons_bundled_documentation():
    data = load_dataset(DatasetConfig(name="text", test_fraction=0.05, val_fraction=0.05, subset=5000), "cpu", T)
    assert set(data.vocabulary) == set(text.bundled()[:5000])  # offline, from pydoc_data
    assert data.text_sha256 == hashlib.sha256(text.bundled()[:5000].encode()).hexdigest()


def train(data, model_cfg, epochs, state=None, model=None, optimizer=None, gen=None, strategy=None, steps=20):
    torch.manual_seed(0)
    model = model or build_model(model_cfg, data.input_shape, data.num_classes)
    optimizer = optimizer or build_optimizer(OptimizerConfig(name="adamw", lr=3e-3), model.parameters())
    trainer = TrainerConfig(epochs=epochs, batch_size=16, steps_per_epoch=steps)
    strategy = strategy or Alternating().bind(Run(model.n_blocks, steps, epochs, 0))
    gen = gen or torch.Generator().manual_seed(0)
    state = state or TrainState()
    fit(model=model, data=data, strategy=strategy, optimizer=optimizer, trainer=trainer, gen=gen, state=state)
    return model, optimizer, gen, state


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    data = load_dataset(corpus(tmp_path), "cpu", T)
    whole, *_, full = train(data, gpt(), 2)
    first, opt, gen, state = train(data, gpt(), 1)
    again = build_model(gpt(), data.input_shape, data.num_classes)  # a new process: what the checkpoint restores
    again.load_state_dict(first.state_dict())
    opt2 = build_optimizer(OptimizerConfig(name="adamw", lr=3e-3), again.parameters())
    opt2.load_state_dict(opt.state_dict())
    gen2 = torch.Generator()
    gen2.set_state(gen.get_state())
    resumed, *_, state = train(data, gpt(), 2, TrainState.from_json(copy.deepcopy(state.to_json())), again, opt2, gen2)
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))
    assert [r["val_loss"] for r in state.rows] == [r["val_loss"] for r in full.rows]
    assert state.step == 40 and full.rows[0]["val_loss"] != full.rows[1]["val_loss"]
    # batches come from the seeded generator: another seed draws other windows
    a, b = data.draw(torch.Generator().manual_seed(0), 16), data.draw(torch.Generator().manual_seed(0), 16)
    assert torch.equal(a, b) and not torch.equal(a, data.draw(torch.Generator().manual_seed(1), 16))


def test_a_tiny_model_overfits_a_tiny_text_and_metrics_are_per_character(tmp_path):
    data = load_dataset(corpus(tmp_path, SAMPLE[:200]), "cpu", T)
    model, _, _, state = train(data, gpt(n_embd=32), 1, steps=300, strategy=Standard().bind(Run(2, 300, 1, 0)))
    row = state.rows[-1]
    assert row["train_loss"] < 0.3 * math.log(17) and row["train_acc"] > 0.8, row
    assert 0 <= row["test_acc"] <= 1 and 0 <= row["val_acc"] <= 1  # shares of characters, not of windows


def test_steps_per_epoch_and_the_natural_epoch(tmp_path):
    data = load_dataset(corpus(tmp_path), "cpu", T)
    assert epoch_size(data, TrainerConfig(batch_size=16, steps_per_epoch=7)) == 112
    assert epoch_size(data, TrainerConfig(batch_size=16)) == data.natural_epoch
    digits = load_dataset(DatasetConfig(), "cpu")
    with pytest.raises(ConfigError, match="trainer.steps_per_epoch=7: null for digits"):
        epoch_size(digits, TrainerConfig(steps_per_epoch=7))


@pytest.mark.parametrize(
    "content, key, match",
    [
        (b"", "dataset.path", "this one is empty"),
        (b"caf\xe9 latin-1", "dataset.path", "byte 0xe9 at offset 3 is not UTF-8"),
        ("abc" * 10, "model.block_size", "characters of the validation span"),
        (SAMPLE[:150], "model.block_size", "holds one window"),
    ],
)
def test_bad_texts_are_refused_in_one_line(tmp_path, content, key, match):
    opt = corpus(tmp_path, content)
    with pytest.raises(ConfigError, match=match) as e:
        check_files(opt)  # the sweep's preflight reads the file
        load_dataset(opt, "cpu", 16)
    assert e.value.key == key and "\n" not in str(e.value)


def test_text_options_that_do_not_apply_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="dataset.standardize"):
        DatasetConfig(name="text", standardize=True)
    with pytest.raises(ConfigError, match="dataset.path"):
        DatasetConfig(name="tiny_shakespeare", path="x.txt")
    with pytest.raises(ConfigError, match="this model reads images"):
        load_dataset(corpus(tmp_path), "cpu", None)  # model=mlp on a text
    with pytest.raises(ConfigError, match="missing.txt"):
        check_files(DatasetConfig(name="text", path=str(tmp_path / "missing.txt")))


def test_tiny_shakespeare_is_fetched_once_and_checked(tmp_path, monkeypatch):
    opt = DatasetConfig(name="tiny_shakespeare", root=str(tmp_path), test_fraction=0.1, val_fraction=0.1)
    with pytest.raises(ConfigError, match="dataset.download=true fetches it"):
        check_files(opt)
    served = tmp_path / "served.txt"
    served.write_text(SAMPLE)
    digest = hashlib.sha256(SAMPLE.encode()).hexdigest()
    calls = []
    real = text.urllib.request.urlopen
    monkeypatch.setattr(text.urllib.request, "urlopen", lambda url, timeout: calls.append(url) or real(served.as_uri()))
    monkeypatch.setattr(text, "SHAKESPEARE_SHA256", digest)
    monkeypatch.setattr(text.fetch, "__defaults__", (text.SHAKESPEARE_URL, digest))
    opt.download = True
    for _ in range(2):
        assert load_dataset(opt, "cpu", T).vocabulary == "".join(sorted(set(SAMPLE)))
    assert calls == [text.SHAKESPEARE_URL]  # fetched once, then read from dataset.root
    (tmp_path / text.SHAKESPEARE_FILE).write_text("not shakespeare")  # a wrong file in its place
    with pytest.raises(ConfigError, match="is not tiny_shakespeare") as e:
        load_dataset(opt, "cpu", T)
    assert e.value.key == "dataset.root"


def test_the_real_checksum_refuses_any_other_file(tmp_path):
    path = tmp_path / text.SHAKESPEARE_FILE
    path.parent.mkdir(parents=True)
    path.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    with pytest.raises(ConfigError, match="its SHA-256 is not 86c4e6aa9db7"):
        check_files(DatasetConfig(name="tiny_shakespeare", root=str(tmp_path)))


@pytest.mark.slow
def test_af_train_gpt_on_text_runs_offline(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        af_train(
            *TINY_GPT,
            "strategy=alternating",
            f"hydra.run.dir={out}",
        ),
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resolved"]["num_classes"] == 86
    assert summary["epochs_completed"] == 2 and summary["final_test_acc"] > 0
    # the epoch line shows what a text is judged by: its loss, not its next-character accuracy
    epoch_lines = [x for x in (out / "train.log").read_text().splitlines() if "epoch 2/2" in x]
    assert len(epoch_lines) == 1 and "val_loss=" in epoch_lines[0] and "val_acc=" not in epoch_lines[0]
    assert f"completed: final test loss {summary['final_test_loss']:.4f}" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_text_sweep_is_judged_by_loss_end_to_end(tmp_path):
    """af-train -m on the text with two strategies, then af-analyze: every summary records the loss objective and
    picks its best epoch by the lowest validation loss, and the report's headline speaks in loss and bits."""
    sweep = tmp_path / "sweep"
    run_sweep(
        sweep,
        *TINY_GPT,
        "strategy=standard,alternating",
        "seed=0,1",
        env=cli_env(),
    )
    runs = [json.loads(p.read_text()) for p in sweep.rglob("summary.json")]
    assert len(runs) == 4 and {s["objective"] for s in runs} == {"val_loss"}
    for path in sweep.rglob("metrics.csv"):
        s = json.loads((path.parent / "summary.json").read_text())
        val = [float(r["val_loss"]) for r in csv.DictReader(path.open())]
        assert s["best_val_epoch"] == val.index(min(val)) + 1 and s["best_val_loss"] == min(val)
        assert s["final_test_bpc"] == pytest.approx(s["final_test_loss"] / math.log(2))
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", str(sweep), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    md = (sweep / "report.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("**") and "standard training" in line)
    assert "test loss" in head and "nats (" in head and "bits) per character" in head, head
    assert "accuracy" not in head
    assert "### Final test loss per configuration" in md and "### Loss against training FLOPs" in md
