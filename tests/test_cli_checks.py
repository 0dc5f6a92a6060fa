"""Configuration mistakes caught before Hydra composes: key typos with the closest key, sweep presets run
without -m; each one line ``error: ...`` and exit status 2."""

import subprocess
import sys

import pytest
from helpers import ROOT

from alternating_freeze.cli import CONF, check_keys, check_sweep_presets
from alternating_freeze.errors import ConfigError


@pytest.mark.parametrize(
    "args, message",
    [
        (["trainer.epoch=5"], "trainer.epoch='5': not a key of trainer: did you mean trainer.epochs?"),
        (["seeds=3"], "seeds='3': not a key of the config: did you mean seed?"),
        (["model.depht=3"], "did you mean model.depth?"),
        (["-m", "trainer.epoch=1,2"], "trainer.epoch='1,2': not a key of trainer: did you mean trainer.epochs?"),
        (["optimizer.learning_rate=0.1"], "not a key of optimizer (keys: name, lr,"),
    ],
)
def test_a_key_typo_names_the_closest_key(args, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        check_keys(args)


@pytest.mark.parametrize(
    "args",
    [
        ["trainer.epochs=5", "seed=1", "model=cnn", "strategy=alternating", "strategy.every=3"],
        ["+trainer.extra=1", "hydra.run.dir=/tmp/x", "logger=tensorboard", "logger.log_dir=tb", "experiment=frequency"],
        ["dataset.val_fraction=0.2", "optimizer.lr=1e-3", "trainer.allow_untrained=true"],
    ],
)
def test_known_keys_groups_and_added_keys_pass(args):
    check_keys(args)


def sweeps():
    from omegaconf import OmegaConf

    for path in sorted((CONF / "experiment").glob("*.yaml")):
        sweeper = OmegaConf.select(OmegaConf.load(path), "hydra.sweeper") or {}
        yield path.stem, bool(sweeper.get("params") or sweeper.get("arms"))


@pytest.mark.parametrize("preset, is_sweep", list(sweeps()))
def test_a_sweep_preset_without_multirun_is_refused(preset, is_sweep):
    if is_sweep:
        with pytest.raises(ConfigError, match=f"experiment='{preset}': a sweep: run it with -m"):
            check_sweep_presets([f"experiment={preset}"])
    else:
        check_sweep_presets([f"experiment={preset}"])
    check_sweep_presets(["-m", f"experiment={preset}"])
    check_sweep_presets([f"experiment={preset}", "--multirun"])


def test_frequency_is_a_sweep():
    assert dict(sweeps())["frequency"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, start",
    [
        (["trainer.epoch=5"], "error: trainer.epoch='5': not a key of trainer: did you mean trainer.epochs?"),
        (["experiment=frequency"], "error: experiment='frequency': a sweep: run it with -m"),
    ],
)
def test_the_entrypoint_says_one_line_and_exits_2(args, start, cli_env, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "alternating_freeze", *args, f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(start)
