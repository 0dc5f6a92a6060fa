"""The transformer presets: pre-train once, then fine-tune every arm on another text from those weights, tuned on
validation loss; and a fine-tuning sweep without its pre-trained run refused before any job."""

import json
import subprocess

import pytest
from helpers import ROOT, af_train, run_sweep
from hydra import compose, initialize_config_dir

from alternating_freeze.errors import ConfigError
from alternating_freeze.preflight import warm_start_present


def preset(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_a_fine_tuning_sweep_without_its_pre_trained_run_is_refused_before_any_job(tmp_path):
    for name in ("charlm_finetune", "charlm_finetune_quick"):
        with pytest.raises(ConfigError, match="model.init_from='<a pre-trained run>': a completed run's folder"):
            warm_start_present(preset(f"experiment={name}"))
    with pytest.raises(ConfigError, match=f"model.init_from='{tmp_path}': .*no summary.json of a completed run"):
        warm_start_present(preset("experiment=charlm_finetune", f"model.init_from={tmp_path}"))
    warm_start_present(preset("experiment=charlm_quick"))  # no init_from: nothing to check


@pytest.mark.slow
def test_charlm_finetune_quick_fine_tunes_every_arm_from_one_pre_trained_run(tmp_path):
    pre = tmp_path / "pre"
    small = ["model.n_embd=16", "model.n_head=2", "model.block_size=16"]  # the presets' 4 layers, narrower
    pretrain = [
        "experiment=charlm_pretrain",
        "trainer.epochs=1",
        "trainer.steps_per_epoch=5",
        *small,
        f"hydra.run.dir={pre}",
    ]
    subprocess.run(af_train(*pretrain), cwd=ROOT, check=True, capture_output=True, timeout=300)
    text = tmp_path / "other.txt"
    text.write_text("A text with a $ and a ` the documentation never had.\n" * 300, encoding="utf-8")
    sweep = tmp_path / "ft"
    proc = run_sweep(
        sweep, "experiment=charlm_finetune_quick", f"model.init_from={pre}", f"dataset.path={text}", *small
    )
    assert "16 completed" in proc.stdout + proc.stderr  # 4 arms x 2 rates, then 4 arms x 2 seeds
    summaries = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]  # paths in names: one folder deep
    assert len(summaries) == 16
    vocabulary = json.loads((pre / "summary.json").read_text())["resolved"]["vocabulary"]
    assert {s["resolved"]["vocabulary"] for s in summaries} == {vocabulary + "$`"}
    assert {s["config"]["strategy"]["name"] for s in summaries} == {"standard", "alternating", "lisa"}
    tuning = json.loads((sweep / "tuning.json").read_text())
    assert set(tuning["arms"]) == {"standard", "halves", "lisa", "badam"}
