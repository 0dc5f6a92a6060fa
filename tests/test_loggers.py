"""Experiment trackers, run for real and offline, read back with their own readers: TensorBoard's
EventAccumulator, MLflow's client on a file store, W&B's offline run file. What they hold must be
what the run wrote (metrics.csv, summary.json, the config), and a tracker must never cost a run."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import CONF, ROOT, af_train, cfg_of
from omegaconf import OmegaConf

from alternating_freeze import loggers
from alternating_freeze.config import config_hash, validate
from alternating_freeze.contract import METRICS_COLUMNS, TEXT_COLUMNS
from alternating_freeze.loggers.base import Logger, Tracker

NUMERIC = [c for c in METRICS_COLUMNS if c not in TEXT_COLUMNS and c != "epoch"]


def cli(args, env, code=None, check=True):
    """af-train in a subprocess; ``code`` runs first in that process (a tracker made to fail)."""
    main = "from alternating_freeze.cli import main\nmain()"
    cmd = af_train(*args) if code is None else [sys.executable, "-c", f"{code}\n{main}", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def flat_config(summary):
    """The config as a tracker should hold it, flattened independently of our code (pandas)."""
    config = {k: v for k, v in summary["config"].items() if k != "logger"}
    return pd.json_normalize(config, sep=".").iloc[0].to_dict()


def as_text(value):
    return value if isinstance(value, str) else json.dumps(value)


def fake_rows(n, offset=0.0):
    return [
        {
            "epoch": e,
            "step": 10 * e,
            "trained": "all",
            "train_loss": 2.0 / e + offset,
            "test_acc": 0.5 + e / 100 + offset,
            "val_acc": float("nan"),
        }
        for e in range(1, n + 1)
    ]


# ---------------------------------------------------------------- TensorBoard


@pytest.mark.slow
def test_tensorboard_holds_every_epoch_and_the_config_as_hparams(tmp_path, cli_env):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, metadata

    cli(
        [
            f"hydra.run.dir={tmp_path}",
            "trainer.epochs=3",
            "trainer.progress=none",
            "logger=tensorboard",
            "strategy=alternating",
            "strategy.unit=epoch",
        ],
        cli_env,
    )
    rows, summary = pd.read_csv(tmp_path / "metrics.csv"), json.loads((tmp_path / "summary.json").read_text())
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    for column in NUMERIC:
        scalars = events.Scalars(column)
        assert [s.step for s in scalars] == rows["epoch"].tolist()
        assert [s.value for s in scalars] == pytest.approx(rows[column].tolist(), rel=1e-6)  # stored as float32
    hp = events.PluginTagToContent("hparams")
    start = metadata.parse_session_start_info_plugin_data(hp[metadata.SESSION_START_INFO_TAG])
    expected = flat_config(summary)
    assert set(start.hparams) == set(expected)
    for key, value in expected.items():
        held = start.hparams[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert held.number_value == value, key
        else:  # text: strings as they are, the rest (booleans, null, lists) as JSON
            assert held.string_value == as_text(value), key
    experiment = metadata.parse_experiment_plugin_data(hp[metadata.EXPERIMENT_TAG])
    finals = [m.name.tag for m in experiment.metric_infos]
    assert "summary/final_test_acc" in finals and "summary/best_val_acc" in finals
    assert events.Scalars("summary/final_test_acc")[-1].value == pytest.approx(summary["final_test_acc"], rel=1e-6)
    end = metadata.parse_session_end_info_plugin_data(hp[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_SUCCESS


def test_tensorboard_shows_each_epoch_once_after_a_run_started_over(tmp_path):
    """A run without a checkpoint that failed after epoch 3 starts over: TensorBoard shows the new values only."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = validate(cfg_of("logger=tensorboard"))
    config = OmegaConf.to_container(cfg_of(), resolve=True)
    first = loggers.open_logger(cfg.logger, tmp_path, config, None, "job")
    for row in fake_rows(3):
        first.log_epoch(row)
    first.close()
    second = loggers.open_logger(cfg.logger, tmp_path, config, None, "job", start_epoch=0)
    for row in fake_rows(4, offset=0.1):
        second.log_epoch(row)
    second.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(s.step, round(s.value, 5)) for s in events.Scalars("test_acc")] == [
        (r["epoch"], round(r["test_acc"], 5)) for r in fake_rows(4, offset=0.1)
    ]


# ---------------------------------------------------------------- MLflow


@pytest.fixture
def file_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    return store, lambda: MlflowClient(store.as_uri())


@pytest.mark.slow
def test_mlflow_sweep_is_one_experiment_with_a_run_per_job(tmp_path, cli_env, file_store):
    store, client = file_store
    sweep = tmp_path / "sweep"
    cli(
        [
            "-m",
            f"hydra.sweep.dir={sweep}",
            "trainer.epochs=3",
            "trainer.progress=none",
            "seed=0,1",
            "logger=mlflow",
            f"logger.tracking_uri={store}",
        ],
        cli_env,
    )
    client = client()
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    assert [e.name for e in experiments] == [sweep.as_posix()]  # the sweep is the group
    runs = client.search_runs([experiments[0].experiment_id])
    jobs = sorted(p.parent.name for p in sweep.glob("*/summary.json"))
    # one run per job, named after its folder; logger keys stay out of folder names
    assert sorted(r.info.run_name for r in runs) == jobs == ["seed=0,trainer.epochs=3", "seed=1,trainer.epochs=3"]
    for run in runs:
        job = sweep / run.info.run_name
        summary, rows = json.loads((job / "summary.json").read_text()), pd.read_csv(job / "metrics.csv")
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "completed"
        assert run.data.params == {k: as_text(v) for k, v in flat_config(summary).items()}
        for column in NUMERIC:
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, column))
            assert history == list(zip(rows["epoch"], rows[column]))  # full precision, step = epoch
        assert run.data.metrics["summary/final_test_acc"] == summary["final_test_acc"]
        assert run.data.tags["configuration"] == "standard" and run.data.tags["config_hash"] == summary["config_hash"]
        artifact = client.download_artifacts(run.info.run_id, "summary.json", str(tmp_path))
        assert json.loads(Path(artifact).read_text()) == summary


def test_mlflow_run_of_a_resumed_job_goes_on(tmp_path, file_store):
    store, client = file_store
    cfg = validate(cfg_of("logger=mlflow", f"logger.tracking_uri={store}"))
    config = OmegaConf.to_container(cfg_of(), resolve=True)
    rows = fake_rows(3)
    killed = loggers.open_logger(cfg.logger, tmp_path, config, tmp_path, "job")
    killed.log_epoch(rows[0])
    killed.log_epoch(rows[1])
    killed.close()  # stopped after its checkpoint of epoch 2
    assert client().search_runs(client().search_experiments()[0].experiment_id)[0].info.status == "FAILED"
    resumed = loggers.open_logger(cfg.logger, tmp_path, config, tmp_path, "job", start_epoch=2)
    resumed.log_epoch(rows[2])
    resumed.finish({"status": "completed", "final_test_acc": rows[2]["test_acc"]})
    (experiment,) = [e for e in client().search_experiments() if e.name != "Default"]
    (run,) = client().search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert sorted((m.step, m.value) for m in client().get_metric_history(run.info.run_id, "test_acc")) == [
        (r["epoch"], r["test_acc"]) for r in rows
    ]


# ---------------------------------------------------------------- W&B (offline)


def wandb_records(run_dir):
    """The records of a W&B offline run file: a 7-byte header, then LevelDB-log chunks in 32 KiB blocks."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data, pos, chunk = path.read_bytes(), 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = chunk + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            yield record
            chunk = b""


def test_wandb_offline_run_holds_group_configuration_config_epochs_and_summary(tmp_path, monkeypatch):
    import wandb

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "sweep" / "seed=0,strategy.unit=epoch,strategy=alternating"
    run_dir.mkdir(parents=True)
    composed = cfg_of("logger=wandb", "strategy=alternating", "strategy.unit=epoch", "strategy.every=2")
    config = OmegaConf.to_container(composed, resolve=True, enum_to_str=True)
    logger = loggers.open_logger(validate(composed).logger, run_dir, config, tmp_path / "sweep", run_dir.name)
    rows = fake_rows(3)
    for row in rows:
        logger.log_epoch(row)
    summary = {"status": "completed", "final_test_acc": rows[-1]["test_acc"], "config": config}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    logger.finish(summary)
    assert logger.notes == []
    wandb.teardown()  # its service process writes the file; this waits for it (af-train's exit does the same)
    records = list(wandb_records(run_dir))
    key = lambda item: item.key or "/".join(item.nested_key)  # noqa: E731
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.run_group, run.job_type, run.display_name) == ("sweep", "alternating/epoch every 2", run_dir.name)
    held = {key(u): json.loads(u.value_json) for u in run.config.update if key(u) != "_wandb"}
    assert held == flat_config(summary)
    history = [
        {key(i): json.loads(i.value_json) for i in r.history.item}
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    assert [(h["_step"], h["test_acc"], h["train_loss"], "val_acc" in h) for h in history] == [
        (r["epoch"], r["test_acc"], r["train_loss"], False) for r in rows
    ]  # NaN (no split) is not logged
    final = {
        key(u): json.loads(u.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for u in r.summary.update
        if key(u) in ("final_test_acc", "status")
    }
    assert final == {"final_test_acc": rows[-1]["test_acc"], "status": "completed"}


# ---------------------------------------------------------------- failures never cost a run


FAIL_AT_EPOCH_2 = """
from alternating_freeze.loggers.tensorboard import TensorBoardTracker
log_epoch = TensorBoardTracker.log_epoch
def failing(self, row):
    if row["epoch"] == 2:
        raise OSError("disk full")
    log_epoch(self, row)
TensorBoardTracker.log_epoch = failing
"""


@pytest.mark.slow
def test_a_failing_tracker_leaves_the_run_completed_with_a_note(tmp_path, cli_env):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    proc = cli(
        [f"hydra.run.dir={tmp_path}", "trainer.epochs=3", "trainer.progress=none", "logger=tensorboard"],
        cli_env,
        code=FAIL_AT_EPOCH_2,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert summary["notes"] == ["logger tensorboard failed: OSError: disk full"]
    log = (tmp_path / "train.log").read_text().splitlines()
    warnings = [line for line in log if "logger tensorboard failed" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0]
    assert (proc.stdout + proc.stderr).count("logger tensorboard failed") == 1
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [s.step for s in events.Scalars("test_acc")] == [1]  # off after the failure: nothing more, no hparams
    assert "summary/final_test_acc" not in events.Tags()["scalars"]


class Recorder(Tracker):
    def __init__(self, fail_at=None):
        self.calls, self.fail_at = [], fail_at

    def log_epoch(self, row):
        self.calls.append(("log_epoch", row["epoch"]))
        if row["epoch"] == self.fail_at:
            raise RuntimeError("server said no\nsecond line")

    def finish(self, summary):
        self.calls.append(("finish", summary["status"]))

    def abort(self):
        self.calls.append(("abort",))


def test_logger_stops_calling_a_failed_tracker_and_adds_to_the_notes(tmp_path):
    tracker = Recorder(fail_at=2)
    logger = Logger("mlflow", tmp_path, lambda: tracker)
    for row in fake_rows(3):
        logger.log_epoch(row)
    summary = {"status": "completed", "notes": ["an earlier note"]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    logger.finish(summary)
    logger.close()
    assert tracker.calls == [("log_epoch", 1), ("log_epoch", 2)]
    expected = ["an earlier note", "logger mlflow failed: RuntimeError: server said no second line"]
    assert json.loads((tmp_path / "summary.json").read_text())["notes"] == expected == summary["notes"]

    crashed = Recorder()
    logger = Logger("tensorboard", tmp_path, lambda: crashed)
    logger.close()  # the run raised: its tracker run ends as failed
    logger.finish({"status": "completed"})  # and nothing after that
    assert crashed.calls == [("abort",)]

    def no_such_entity():
        raise ValueError("no such entity")

    assert Logger("wandb", tmp_path, no_such_entity).notes == ["logger wandb failed: ValueError: no such entity"]


@pytest.mark.slow
def test_a_missing_tracker_is_one_line_before_training(tmp_path, cli_env):
    proc = cli(
        [f"hydra.run.dir={tmp_path}", "logger=mlflow"],
        cli_env,
        code="import sys; sys.modules['mlflow'] = None",
        check=False,
    )
    assert proc.returncode == 2
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "error" in line.lower()]
    assert len(errors) == 1
    assert errors[0].endswith("error: logger='mlflow': mlflow is not installed; uv sync --extra tracking")
    assert not (tmp_path / "metrics.csv").exists()


# ---------------------------------------------------------------- config


def test_every_logger_composes_validates_and_leaves_hash_and_folder_names_alone():
    options = sorted(p.stem for p in (CONF / "logger").glob("*.yaml"))
    assert options == sorted(loggers.LOGGERS) == ["mlflow", "none", "tensorboard", "wandb"]
    base = config_hash(cfg_of())
    for option in options:
        cfg = cfg_of(f"logger={option}")
        assert type(validate(cfg).logger) is loggers.LOGGERS[option]
        assert config_hash(cfg) == base
    assert validate(cfg_of("logger=wandb", "logger.mode=online")).logger.mode == "online"
    with pytest.raises(Exception, match="logger.mode='cloud': allowed: offline, online, disabled"):
        validate(cfg_of("logger=wandb", "logger.mode=cloud"))


@pytest.mark.slow
def test_the_default_run_imports_no_tracker(tmp_path):
    code = f"""
import sys
from pathlib import Path
from alternating_freeze import train, loggers
from alternating_freeze.config import validate
from hydra import compose, initialize_config_dir
with initialize_config_dir(config_dir={str(CONF)!r}, version_base="1.3"):
    run = validate(compose(config_name="train"))
logger = loggers.open_logger(run.logger, Path({str(tmp_path)!r}), {{}}, None, "job")
logger.log_epoch({{"epoch": 1, "test_acc": 0.5}})
logger.finish({{"status": "completed"}})
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorboard", "mlflow", "wandb")
             or m.startswith("torch.utils.tensorboard")))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
