"""Regressions of issue #24 (adversarial round): planted links, secrets, corrupt results, bad input. In-process:
each test calls the functions a sweep calls, so the whole file runs in seconds."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from alternating_freeze import contract, joblock, policy, preflight, progress
from alternating_freeze.errors import ConfigError


def precious(tmp_path: Path) -> Path:
    target = tmp_path / "outside" / "precious.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("precious")
    return target


def test_planted_links_in_a_sweep_are_never_written_through(tmp_path):
    """#24.2: .lock (even when the job would be skipped), .progress.json, multirun.yaml, a job folder, tensorboard/."""
    target, sweep = precious(tmp_path), tmp_path / "sweep"
    job = sweep / "seed=0"
    job.mkdir(parents=True)
    contract.write_json(job / contract.SUMMARY_FILE, {"status": "completed"})  # a job a resume would skip
    (job / contract.LOCK_FILE).symlink_to(target)
    counter = target.with_name("counter.txt")  # its own file: two flocks of one file by one process would wait
    counter.write_text("precious")
    (sweep / progress.PROGRESS_FILE).symlink_to(counter)
    with policy.claim(job, OmegaConf.create({"seed": 0}), sweep) as claimed:
        assert claimed.status == policy.FAILED and "symbolic link" in str(claimed.error)
    with pytest.raises(OSError, match="symbolic link"), joblock.hold(job):
        pass
    assert joblock.owner(job) is None

    progress.launch(sweep, 3)
    progress.ended(sweep, 1.0, ran=True)
    assert progress.started(sweep) is None

    (sweep / contract.MULTIRUN_FILE).symlink_to(target)  # the arms sweeper writes it with write_atomic
    contract.write_atomic(sweep / contract.MULTIRUN_FILE, b"hydra: {}\n")
    assert not (sweep / contract.MULTIRUN_FILE).is_symlink()

    elsewhere = tmp_path / "outside" / "folder"
    elsewhere.mkdir()
    (sweep / "seed=1").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError, match="seed=1 is a symbolic link"):
        preflight.no_linked_folders(sweep)
    with policy.claim(sweep / "seed=1", OmegaConf.create({"seed": 1}), None) as claimed:
        assert claimed.status == policy.FAILED
    assert list(elsewhere.iterdir()) == []

    from alternating_freeze.loggers.base import RunInfo
    from alternating_freeze.loggers.tensorboard import TensorBoardConfig, TensorBoardTracker

    (job / "tensorboard").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError, match="symbolic link"):
        TensorBoardTracker(TensorBoardConfig(), RunInfo(job, {}, str(sweep), job.name, "standard", 0))
    assert list(elsewhere.iterdir()) == [] and target.read_text() == counter.read_text() == "precious"


SECRET = "hunter2-the-secret-token"


def composed(*overrides):
    from helpers import ROOT
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def failed_job(tmp_path, cfg, error=None):
    """A job whose run raised ``error`` (the schema's own error by default), through the policy's failure path."""
    from alternating_freeze.config import validate

    out = tmp_path / "job"
    out.mkdir()
    job = policy.Claim(out, cfg, None, 0.0, "now")
    if error is None:
        with pytest.raises(Exception) as raised:
            validate(cfg)
        error = raised.value
    policy.fail(job, error)
    return job, out


def test_a_secret_from_an_interpolation_never_leaves_in_a_record_or_a_message(tmp_path, monkeypatch, capsys):
    """#24.4: the error line (terminal, train.log), error.txt and summary.json say ${oc.env:...}, not its value; the
    config as recorded or sent keeps interpolations unresolved, and a config without any records what it did."""
    from alternating_freeze.config import config_hash, recorded

    monkeypatch.setenv("AF_SECRET", SECRET)
    cfg = composed("strategy=alternating_epoch", "strategy.start=${oc.env:AF_SECRET}")
    job, out = failed_job(tmp_path, cfg)
    line = capsys.readouterr().err  # a single run's configuration error: one plain line on the terminal
    said = line + (out / contract.ERROR_FILE).read_text() + (out / contract.SUMMARY_FILE).read_text()
    assert "strategy.start" in line and "${oc.env:AF_SECRET}" in line and SECRET not in said

    with_root = composed("dataset.root=${oc.env:AF_SECRET}")
    assert recorded(with_root)["dataset"]["root"] == "${oc.env:AF_SECRET}" and SECRET not in str(recorded(with_root))
    plain = composed("optimizer.lr=0.01")
    assert recorded(plain) == OmegaConf.to_container(plain, resolve=True, enum_to_str=True)
    assert config_hash(composed()) == config_hash(composed("dataset.root=${oc.env:AF_SECRET}"))


def test_a_run_whose_execution_key_is_interpolated_is_analysed(tmp_path, monkeypatch):
    """#24.4, last sentence: dataset.root from ${oc.env:...} leaves the key out of the row, not the run out."""
    from alternating_freeze.train import execute
    from analysis.reading import read_run

    monkeypatch.setenv("AF_SECRET", str(tmp_path / "data"))
    cfg = composed(
        "dataset.root=${oc.env:AF_SECRET}",
        "trainer.epochs=1",
        "trainer.progress=none",
        "trainer.num_threads=1",
        "dataset.subset=300",
        "logger=tensorboard",
    )
    out = tmp_path / "run"
    out.mkdir()
    assert execute(cfg, out, None, 0.0, "now") == contract.COMPLETED
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any("tensorboard" in str(p) for p in files)
    assert not [p for p in files if str(tmp_path / "data").encode() in p.read_bytes()]  # trackers too
    row, _ = read_run(out)
    assert row["status"] == contract.COMPLETED, row.get("error")


def test_an_uncastable_seed_is_recorded_as_a_failure(tmp_path, monkeypatch):
    """#24.7: seed=${oc.env:HOME} made record_failure itself raise; now a failed summary (seed null) is written."""
    monkeypatch.setenv("HOME", "/home/someone")
    cfg = composed("seed=${oc.env:HOME}")
    job, out = failed_job(tmp_path, cfg)
    summary = contract.read_summary(out)
    assert summary["status"] == "failed" and summary["seed"] is None and job.status == policy.FAILED


def test_an_override_without_a_key_is_named_as_such():
    """#24.11: ``af-train =5`` said "error: ='5': allowed: train"."""
    from alternating_freeze.cli import check_group_choices

    with pytest.raises(ConfigError) as e:
        check_group_choices(["=5"])
    assert "no key" in str(e.value) and "train" not in str(e.value)


def test_a_job_left_to_another_launch_is_not_reported_as_computed(tmp_path):
    """#24.11: a job found "running elsewhere" that the other launch completed is said to be done elsewhere."""
    from alternating_freeze import sweep as table

    sweep, job = tmp_path / "sweep", tmp_path / "sweep" / "seed=0"
    (job / ".hydra").mkdir(parents=True)
    (job / contract.CONFIG_FILE).write_text("seed: 0\n")
    progress.launch(sweep, 1)
    claimed = policy.Claim(job, OmegaConf.create({"seed": 0}), sweep, 0.0, "now", status=table.RUNNING_ELSEWHERE)
    claimed.end()
    contract.write_atomic(job / contract.METRICS_FILE, contract.metrics_csv([]))  # the other launch finishes it
    contract.write_json(job / contract.SUMMARY_FILE, {"status": "completed", "epochs_completed": 0})
    counts, problems, _ = table.report(sweep, 0.0)
    assert counts["completed"] == 0 and counts[table.DONE_ELSEWHERE] == 1
    assert problems[0][:2] == (table.DONE_ELSEWHERE, "seed=0") and "not computed by this one" in problems[0][2]


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optimizer.momentum=0.9"], "optimizer.momentum"),  # adam: unused, yet it changed the config hash
        (["optimizer=adamw", "optimizer.nesterov=true"], "optimizer.nesterov"),
        (["optimizer=sgd", "optimizer.momentum=5"], "optimizer.momentum"),
        (["optimizer=sgd", "optimizer.momentum=1"], "optimizer.momentum"),
        (["dataset.augment=crop_flip"], "dataset.augment"),  # digits' 8x8 images
        (["dataset.split_seed=-1"], "dataset.split_seed"),
        (["strategy=alternating", "strategy.seed=-5"], "strategy.seed"),
        (["strategy=random_block", "strategy.seed=-5"], "strategy.seed"),
        (["trainer.epochs=9999999999999"], "trainer.epochs"),
    ],
)
def test_nonsense_is_refused_by_name(overrides, key):
    """#24.10: each gets one line naming the key, the value and what is allowed."""
    from alternating_freeze.config import validate

    with pytest.raises(ConfigError) as e:
        validate(composed(*overrides), overrides)
    assert e.value.key == key and str(e.value).startswith(f"{key}=") and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["dataset.val_fraction=0.999"], "dataset.val_fraction"),
        (["dataset.subset=5"], "dataset.subset"),
        (["trainer.budget=1e300"], "trainer.budget"),
    ],
)
def test_splits_and_budgets_that_cannot_train_are_refused(overrides, key):
    """#24.10: a split leaving fewer training samples than classes, a budget buying more epochs than the bound."""
    from alternating_freeze.config import validate
    from alternating_freeze.train import build

    cfg = composed("trainer.num_threads=1", *overrides)
    with pytest.raises(ConfigError) as e:
        build(validate(cfg), None, cfg)
    assert e.value.key == key and "\n" not in str(e.value)


def edited_run(tmp_path, edit):
    """A completed run of the analysis fixtures whose summary.json (as a dict) ``edit`` changes in place."""
    import json

    from helpers import make_config, write_run

    run = write_run(tmp_path / "sweep", make_config(seed=0))
    summary = json.loads((run / contract.SUMMARY_FILE).read_text())
    edit(summary)
    (run / contract.SUMMARY_FILE).write_text(json.dumps(summary))
    return run


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda s: s.update(notes=5), "notes=5"),
        (lambda s: s["config"]["optimizer"].update(lr="fast"), "optimizer.lr='fast'"),
        (lambda s: s["config"]["model"].update(depth=[3]), "model.depth=[3]"),
    ],
)
def test_corrupt_fields_exclude_the_run_by_name(tmp_path, edit, said):
    """#24.5: af-analyze crashed on these; each field read from disk is type-checked, the run excluded and named."""
    from analysis.reading import read_run

    row, _ = read_run(edited_run(tmp_path, edit))
    assert row["status"] == "corrupt" and said in row["error"]


def test_a_tuning_trial_value_that_is_a_list_is_not_the_layout():
    """#24.5: a list as a trial's value crashed grouping (unhashable); tuning.json is then unreadable, not fatal."""
    from analysis.tuning import layout

    trial = {"values": {"optimizer.lr": [0.1, 0.2]}, "score": 0.5, "job": "x"}
    assert not layout({"grid": {"optimizer.lr": [0.1]}, "arms": {"a": {"trials": [trial], "chosen": None}}})


def test_analysis_excludes_impossible_blocks_and_an_edited_config(tmp_path):
    """#24.10 (analysis): a ``trained`` naming blocks the net has not, a config edited without its hash."""
    from analysis.reading import read_run

    row, _ = read_run(edited_run(tmp_path / "a", lambda s: s["config"]["optimizer"].update(lr=0.5)))
    assert row["status"] == "corrupt" and "config_hash does not match" in row["error"]
    run = edited_run(tmp_path / "b", lambda s: None)
    text = (run / contract.METRICS_FILE).read_text().splitlines()
    head = text[0].split(",").index("trained")
    text[1] = ",".join("0+7" if i == head else v for i, v in enumerate(text[1].split(",")))
    (run / contract.METRICS_FILE).write_text("\n".join(text) + "\n")
    row, _ = read_run(run)
    assert row["status"] == "corrupt" and "trained='0+7'" in row["error"]


def test_the_batched_runner_removes_temporaries_of_killed_writes(tmp_path):
    """#24.8: a kill mid-write leaves .metrics.csv.<pid>.<id>.tmp and .checkpoint.pt.<pid>.<id>.tmp; the resumed
    batched launch (policy.claim, as the single-run path) removes them and completes the jobs."""
    import contextlib

    from alternating_freeze.batched.runner import Runner, Task

    cfgs = [
        composed(
            "trainer.epochs=1", "trainer.progress=none", "trainer.num_threads=1", f"seed={s}", "dataset.subset=300"
        )
        for s in (0, 1)
    ]
    ts = []
    for i, cfg in enumerate(cfgs):
        out = tmp_path / f"job{i}"
        out.mkdir()
        for name in (".metrics.csv.4242.0123abcd.tmp", ".checkpoint.pt.4242.89abcdef.tmp"):
            (out / name).write_bytes(b"x" * 1000)
        ts.append(Task(cfg, out, None, contextlib.nullcontext))
    Runner(8).run(ts)
    assert [t.status for t in ts] == ["completed", "completed"]
    assert not [p for t in ts for p in t.out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("garbage", [b"", b'{"arms": ', b"\x00\xff\x00", b"[1, 2]", b'{"grid": "lr", "arms": {}}'])
def test_an_unreadable_tuning_json_keeps_the_trials_out_of_the_verdict(tmp_path, garbage):
    """#24.6: trials are recognised by their tuning seeds whatever tuning.json says; the report warns at its top."""
    from helpers import make_config
    from test_analysis_fair import FAST, write_val_run

    import analysis

    for seed in (1000, 1001):  # tuning trials (the default tuning seeds), better than every final run
        write_val_run(tmp_path, make_config(seed), [0.99] * 3, [0.99] * 3, job=f"tuning/standard/seed={seed}")
    for seed in (0, 1):
        write_val_run(tmp_path, make_config(seed), [0.9] * 3, [0.5] * 3, job=f"final/standard/seed={seed}")
    (tmp_path / contract.TUNING_FILE).write_bytes(garbage)
    result = analysis.analyze([tmp_path], boot=FAST, figures=False)
    runs = result.runs.set_index("seed")
    assert runs.loc[1000, "role"] == runs.loc[1001, "role"] == "trial" and not runs.loc[[1000, 1001], "in_stats"].any()
    assert runs.loc[[0, 1], "in_stats"].all()
    head = (tmp_path / "report.md").read_text().split("\n")[:6]
    assert any("tuning.json cannot be read" in line for line in head)


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path, monkeypatch):
    """#24.9 (part): ``OSError: [Errno 28] No space left on device`` said which file; no temporary is left."""
    import errno
    import os

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # the os module write_atomic fsyncs through
    with pytest.raises(OSError) as e:
        contract.write_atomic(tmp_path / contract.SUMMARY_FILE, b"{}")
    assert e.value.errno == errno.ENOSPC and contract.SUMMARY_FILE in str(e.value) and not list(tmp_path.iterdir())


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=batched"]])
def test_a_full_disk_while_hydra_writes_a_job_fails_that_job_only(tmp_path, monkeypatch, capsys, launcher):
    """#24.9: ENOSPC writing one job's .hydra/overrides.yaml: that job is recorded as failed in one line naming
    the file, the other job completes, the sweep prints its table; no 0-byte .hydra file is left behind."""
    import builtins
    import errno
    import os
    import sys

    from alternating_freeze import cli

    def full(real):
        def open_(path, *args, **kwargs):  # the second job's overrides.yaml (or a temporary of it) cannot be written
            if "seed=1" in str(path) and Path(path).name.lstrip(".").startswith("overrides.yaml"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(path, *args, **kwargs)

        return open_

    monkeypatch.setattr(os, "open", full(os.open))
    monkeypatch.setattr(builtins, "open", full(builtins.open))
    sweep = tmp_path / "sweep"
    fast = ["trainer.epochs=1", "trainer.progress=none", "trainer.num_threads=1", "dataset.subset=300"]
    monkeypatch.setattr(sys, "argv", ["af-train", "-m", f"hydra.sweep.dir={sweep}", *fast, "seed=0,1", *launcher])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    (ok,) = sweep.glob("*seed=0*")
    (failed,) = sweep.glob("*seed=1*")
    assert f"sweep {sweep}: 1 completed, 1 failed" in out
    message = f"OSError: [Errno 28] No space left on device: '{failed / contract.OVERRIDES_FILE}'"
    assert f"failed     {failed.name}  {message}" in out
    assert contract.read_summary(ok)["status"] == "completed"
    assert contract.read_summary(failed) | {"error": message} == contract.read_summary(failed)
    assert contract.read_summary(failed)["status"] == "failed"
    assert not (failed / contract.OVERRIDES_FILE).exists() and not list(failed.glob(".hydra/.*.tmp"))
    assert not [p for p in sweep.rglob("*") if p.is_file() and p.stat().st_size == 0 and p.name != contract.LOCK_FILE]


class Killed(BaseException):
    """A kill -9 as the job sees it: nothing after it runs, not even the run policy's failure record."""


@pytest.mark.parametrize("batched", [False, True])
def test_the_epoch_a_kill_interrupted_has_its_line_in_train_log(tmp_path, monkeypatch, batched):
    """#24.8: killed after epoch 1's checkpoint, mid epoch 2; the resumed run's train.log says epoch 2 was
    interrupted and runs again, with the checkpoint's age: in the single-run path and the batched runner."""
    import sys

    from alternating_freeze import cli, records

    fast = ["trainer.epochs=2", "trainer.progress=log", "trainer.num_threads=1", "dataset.subset=300"]
    where = [f"hydra.run.dir={tmp_path / 'run'}"] if not batched else ["-m", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    real = records.write_metrics

    def killed_after_one(path, rows, durable=True):  # the last write of epoch 1 (after its checkpoint)
        real(path, rows, durable)
        if len(rows) == 1:
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(records, "write_metrics", killed_after_one)
        m.setattr(sys, "argv", ["af-train", *where, *fast, "seed=0"])
        with pytest.raises(Killed):
            cli.main()
    again = ["seed=0,1", "hydra/launcher=batched"] if batched else ["seed=0"]
    monkeypatch.setattr(sys, "argv", ["af-train", *where, *fast, *again])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 0
    (log,) = tmp_path.glob("sweep/*seed=0*/train.log") if batched else [tmp_path / "run" / contract.LOG_FILE]
    lines = log.read_text().splitlines()
    epochs = [line.split(" - ", 1)[1] for line in lines if " - epoch " in line]
    assert [e.split("  ")[0] for e in epochs] == ["epoch 1/2", "epoch 2/2", "epoch 2/2"], lines
    assert epochs[1].startswith("epoch 2/2  interrupted: runs again from the checkpoint of epoch 1, written ")
    assert contract.read_summary(log.parent)["status"] == "completed"
