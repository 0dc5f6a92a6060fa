"""The command line a researcher lives in: help, progress, messages that lead somewhere."""

import json
import re
import subprocess
import sys

import pytest
from helpers import ROOT, af_train

from alternating_freeze import progress
from alternating_freeze.cli import check_strategy_keys, groups_help
from alternating_freeze.errors import ConfigError


@pytest.mark.slow
def test_help_explains_the_tool_and_lists_every_group_but_the_internal_ones(cli_env):
    proc = subprocess.run(af_train("--help"), cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    out = proc.stdout
    assert out.startswith("af-train: train a network in blocks") and "powered by Hydra" not in out
    assert "schema" not in out.split("== Commands ==")[0]
    for group, option in (("dataset", "digits*"), ("strategy", "progressive"), ("experiment", "frequency_tuned")):
        assert any(line.split()[:1] == [group] and option in line for line in out.splitlines()), group
    assert "af-analyze SWEEP_DIR" in out and "docs/configuration.md" in out
    assert groups_help().count("\n") + 1 == len(
        [p for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name not in ("hydra", "schema")]
    )
    footer = "\nDocs:" + out.rsplit("\nDocs:", 1)[1].rstrip()
    pages = re.findall(r"docs/[\w-]+\.md", footer)
    assert pages and all((ROOT / page).is_file() for page in pages), f"the help points to missing pages: {pages}"
    quoted = (ROOT / "docs" / "configuration.md").read_text().split("`af-train --help`:\n\n```\n", 1)[1]
    head = out.split("== Config (override", 1)[0]  # the page quotes all but the composed config
    assert quoted.startswith(head), "docs/configuration.md's af-train --help is stale: paste the current output"
    assert quoted.split("```", 1)[0].rstrip().endswith(footer), "docs/configuration.md's help footer is stale"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["strategy.unit=week"],
            "strategy.unit='week': strategy=standard has no unit; it belongs to strategy=alternating",
        ),
        (["strategy=progressive", "strategy.every=3"], "strategy=progressive has no every"),
        (["strategy=alternating", "strategy.nope=1"], "not a key of any strategy"),
    ],
)
def test_a_key_of_another_strategy_names_the_strategies_that_have_it(args, message):
    with pytest.raises(ConfigError, match=message):
        check_strategy_keys(args)


def test_keys_of_the_chosen_strategy_and_presets_pass():
    check_strategy_keys(["strategy=alternating", "strategy.unit=epoch"])
    check_strategy_keys(["strategy=alternating_batch", "strategy.order=random"])
    check_strategy_keys(["-m", "experiment=frequency", "strategy.unit=epoch"])


@pytest.mark.slow
def test_a_refused_resume_names_what_changed(tmp_path, cli_env):
    run = ["trainer.epochs=1", "trainer.progress=none", "trainer.num_threads=1"]
    subprocess.run(
        af_train("-m", f"hydra.sweep.dir={tmp_path}", "seed=0", *run),
        cwd=ROOT,
        env=cli_env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    summary = next(tmp_path.glob("*/summary.json"))
    data = json.loads(summary.read_text())
    data["config"]["optimizer"]["lr"], data["config_hash"] = 0.5, "edited since"
    summary.write_text(json.dumps(data))
    proc = subprocess.run(
        af_train("-m", f"hydra.sweep.dir={tmp_path}", "seed=0", *run),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and "refused" in proc.stdout
    assert "(optimizer.lr 0.5 -> 0.001)" in proc.stdout


def test_sweep_progress_counts_jobs_and_estimates_the_rest(tmp_path):
    progress.launch(tmp_path, 5)
    assert progress.started(tmp_path) == "job 1/5"
    progress.ended(tmp_path, 0.01, ran=False)
    progress.ended(tmp_path, 10.0, ran=True)
    progress.ended(tmp_path, 20.0, ran=True)
    # 3 ended, one skipped; 2 left at the mean 15 s of the jobs that ran, over 2 parallel jobs
    assert progress.started(tmp_path, parallel=2) == "job 4/5, 1 skipped, ETA 15s"
    assert progress.started(tmp_path / "elsewhere") is None


@pytest.mark.slow
def test_every_job_says_how_far_the_sweep_is_and_logs_epochs_to_file_in_bar_mode(tmp_path, cli_env):
    proc = subprocess.run(
        af_train(
            "-m",
            f"hydra.sweep.dir={tmp_path}",
            "seed=0,1",
            "trainer.epochs=2",
            "trainer.progress=bar",
            "trainer.num_threads=1",
        ),
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0
    out = proc.stdout + proc.stderr
    assert "job 1/2: seed=0,trainer.epochs=2" in out and "job 2/2, ETA" in out
    assert "epoch 1/2" not in out  # the bar shows them in the terminal
    logs = sorted(tmp_path.glob("*/train.log"))
    assert len(logs) == 2
    for log in logs:
        text = log.read_text()
        assert "epoch 1/2" in text and "epoch 2/2" in text and "val_acc=" in text and "test_acc=" in text


@pytest.mark.slow
def test_the_old_module_entry_still_runs_with_a_note(tmp_path):
    """`python -m alternating_freeze` is the module entry; the old `python -m alternating_freeze.train` still works."""
    proc = subprocess.run(
        [sys.executable, "-m", "alternating_freeze.train", "--cfg", "job"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "strategy:" in proc.stdout, proc.stderr[-2000:]
    assert "now `python -m alternating_freeze`" in proc.stderr
