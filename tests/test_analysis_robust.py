"""Nothing in a results folder crashes the analysis, falsifies a number, leaks a secret or redirects a write;
the command line explains itself."""

from __future__ import annotations

import base64
import errno
import json
import os
import subprocess
import sys

import pytest
import yaml
from helpers import FAST, ROOT, make_config, write_run

import analysis
from analysis import cli, pipeline


def _with_summary(run, **changes):
    data = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps(data | changes))


@pytest.fixture
def bad(tmp_path):
    """Two good seeds per arm, then runs whose summary.json or metrics.csv holds a malformed or impossible value."""
    root = tmp_path / "sweep"
    for seed in range(2):
        write_run(root, make_config(seed), 0.9)
        write_run(root, make_config(seed, "alternating"), 0.91)
    cases = {
        10: {"seed": "10"},
        11: {"seed": [11]},
        12: {"status": 3},
        13: {"final_test_acc": 5.0},
        14: {"final_test_acc": float("inf")},
        15: {"train_s": "fast"},
        16: {"thread_counts": "2"},
        17: {"best_test_acc": -0.5},
        18: {"notes": [1, 2]},
    }
    for seed, change in cases.items():
        run = write_run(root, make_config(seed, "alternating"), 0.91)
        _with_summary(run, **change)
        if "seed" in change:  # a seed the config does not give either
            cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
            (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg | {"seed": change["seed"]}))
            _with_summary(run, config=cfg | {"seed": change["seed"]})
    nan_test = write_run(root, make_config(19, "alternating"), 0.91)
    text = (nan_test / "metrics.csv").read_text().splitlines()
    text[2] = ",".join(text[2].split(",")[:6] + ["nan"] + text[2].split(",")[7:])  # test_acc of epoch 2: NaN
    (nan_test / "metrics.csv").write_text("\n".join(text) + "\n")
    return root


def test_malformed_and_impossible_values_make_a_run_corrupt_with_the_reason(bad):
    result = analysis.analyze([bad], boot=FAST, figures=False)
    runs = result.runs.set_index("job")
    corrupt = runs[runs["status"] == "corrupt"]
    assert len(corrupt) == 10 and runs["in_stats"].sum() == 4
    why = "\n".join(corrupt["error"])
    for text in (
        "seed='10' is not an integer",
        "seed=[11] is not an integer",
        "status=3 is not one of completed",
        "final_test_acc=5.0 is outside [0, 1]",
        "final_test_acc=inf is not finite",
        "train_s='fast' is not a number",
        "thread_counts='2' is not a list of int",
        "best_test_acc=-0.5 is outside [0, 1]",
        "notes=[1, 2] is not a list of str",
        "metrics.csv: test_acc=nan at epoch 2 is not an accuracy in [0, 1]",
    ):
        assert text in why, text
    md = (bad / "report.md").read_text()
    assert "final_test_acc=5.0 is outside [0, 1]" in md and "10 corrupt" in md
    acc = result.paired[result.paired["metric"] == "final_test_acc"].iloc[0]
    assert acc["n_pairs"] == 2 and acc["mean_diff"] == pytest.approx(0.01)  # the impossible 5.0 is not in it


@pytest.mark.slow
def test_a_config_that_needs_an_interpolation_is_corrupt_and_its_secret_stays_out(tmp_path, monkeypatch):
    secret = "hunter2-not-for-reports"
    monkeypatch.setenv("MY_SECRET", secret)
    for seed in range(2):
        write_run(tmp_path, make_config(seed), 0.9)
    run = write_run(tmp_path, make_config(2), 0.9)
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    cfg["dataset"]["name"] = "${oc.env:MY_SECRET}"
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    _with_summary(run, config=cfg | {"dataset": cfg["dataset"] | {"name": secret}})  # as resolved by training
    result = analysis.analyze([tmp_path], boot=FAST)
    row = result.runs.set_index("seed").loc[2]
    assert row["status"] == "corrupt" and row["error"] == (
        "config: dataset.name need(s) an interpolation resolved (value not read)"
    )
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".md", ".html", ".svg", ".tex") and "summary" not in path.name:
            assert secret not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_outputs_replace_planted_symlinks_instead_of_following_them(tmp_path):
    sweep, victim = tmp_path / "sweep", tmp_path / "victim"
    for seed in range(2):
        write_run(sweep, make_config(seed), 0.9)
        write_run(sweep, make_config(seed, "alternating"), 0.91)
    victim.mkdir()
    for name in ("runs.csv", "report.md"):
        (victim / name).write_text("precious\n")
        (sweep / name).symlink_to(victim / name)
    (sweep / "figures").symlink_to(victim, target_is_directory=True)
    analysis.analyze([sweep], boot=FAST)
    assert [p.read_text() for p in (victim / "runs.csv", victim / "report.md")] == ["precious\n", "precious\n"]
    assert sorted(p.name for p in victim.iterdir()) == ["report.md", "runs.csv"]  # no figure written through the link
    for name in ("runs.csv", "report.md", "figures"):
        assert not (sweep / name).is_symlink() and (sweep / name).exists()
    assert (sweep / "figures" / "final_accuracy.png").is_file()


def test_a_full_disk_fails_in_one_line_and_keeps_what_was_there(tmp_path, monkeypatch, capsys):
    for seed in range(2):
        write_run(tmp_path, make_config(seed), 0.9)
    analysis.analyze([tmp_path], boot=FAST, figures=False)
    before = (tmp_path / "report.md").read_text()
    real = pipeline.write_atomic

    def full(path, data, durable=True):
        if path.name == "report.md":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data, durable)

    monkeypatch.setattr(pipeline, "write_atomic", full)
    assert cli.main([str(tmp_path), "--no-figures", "--resamples", "99", "-q"]) == 1
    err = capsys.readouterr().err
    assert err == f"af-analyze: error: cannot write {tmp_path / 'report.md'}: No space left on device\n"
    assert (tmp_path / "report.md").read_text() == before and not list(tmp_path.glob(".report.md.*"))


@pytest.mark.parametrize("arm", [{"trials": "x"}, {"trials": [], "final_jobs": 5}, {"trials": [{"score": 0.5}]}])
def test_a_malformed_tuning_json_is_reported_not_fatal(tmp_path, arm):
    for seed in range(2):
        write_run(tmp_path, make_config(seed), 0.9)
        write_run(tmp_path, make_config(seed, "alternating"), 0.91)
    (tmp_path / "tuning.json").write_text(json.dumps({"arms": {"a": arm}, "grid": {"optimizer.lr": [0.1]}}))
    result = analysis.analyze([tmp_path], boot=FAST, figures=False)
    assert result.tuning.empty and "tuning.json: not the documented layout" in (tmp_path / "report.md").read_text()
    assert "The arms were not tuned" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_help_says_what_the_tool_does_and_where_the_docs_are():
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    text = proc.stdout
    assert text.split("\n\n")[1].count("\n") == 1  # what it does, in two lines
    for option in ("--out", "--latex", "--target", "--confidence", "--alpha", "--ci-method", "--no-figures"):
        assert option in text, option
    assert "does not change the tests" in text and "does not change the intervals" in text
    assert "examples:" in text and "Docs: docs/analysis.md" in text and (ROOT / "docs" / "analysis.md").is_file()
    assert cli.main(["x", "--alpha", "1"]) == 2 and cli.main(["x", "--target", "1.5"]) == 2


def test_planted_markdown_in_a_results_folder_embeds_no_file_in_the_html(tmp_path):
    """An override is text from the results folder: one that closes the report's code block and adds an image
    paragraph must stay text, never make report.html embed a file the reader can read (a key, say)."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the reader's private key")
    sweep = tmp_path / "sweep"
    for seed in range(2):
        run = write_run(sweep, make_config(seed), 0.9)
        planted = f"x=```\n\n![k]({secret})\n\n```"
        (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"seed={seed}", planted]))
        summary = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(json.dumps({**summary, "overrides": [f"seed={seed}", planted]}))
    analysis.analyze([sweep], boot=FAST, figures=False)
    page = (sweep / "report.html").read_text()
    assert "<img" not in page and base64.b64encode(secret.read_bytes()).decode() not in page
    assert f"![k]({secret})" in page  # shown as the text it is, inside its code block


def test_a_sweep_named_through_a_link_is_analysed_in_place(tmp_path):
    """``af-analyze outputs/multirun/latest``, a link to the newest sweep: the report goes into the sweep and the
    link stays (only links planted inside the output folder are replaced)."""
    real = tmp_path / "2026-11-29_08-00-00"
    for seed in range(2):
        write_run(real, make_config(seed), 0.9)
        write_run(real, make_config(seed, "alternating"), 0.91)
    (tmp_path / "latest").symlink_to(real, target_is_directory=True)
    analysis.analyze([tmp_path / "latest"], boot=FAST, figures=False)
    assert (tmp_path / "latest").is_symlink() and (real / "report.md").exists() and (real / "runs.csv").exists()
