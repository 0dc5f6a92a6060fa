"""`logger=mlflow`: one MLflow run per job, one MLflow experiment per sweep.

Grouping by experiment rather than by parent run: every job opens its run on its own, in whatever
process or machine the launcher put it, with nothing to coordinate (a parent run would need one
job to create it and someone to end it, and its status would say nothing about its jobs). In
``mlflow ui`` each sweep is then an entry of the experiment list whose runs table holds exactly
that sweep's jobs (run name = job folder), to sort, filter, compare and chart; resuming the sweep
lands in the same experiment. Runs carry the tag ``configuration`` (the strategy and its options)
to group the seeds of one configuration by, and ``config_hash`` and ``run_dir`` to find the results.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..contract import COMPLETED, SUMMARY_FILE
from .base import LoggerConfig, RunInfo, Tracker, numbers, recall, remember, text

DEFAULT_STORE = "outputs/mlruns"  # beside outputs/multirun and outputs/runs
BATCH = 100  # params per log_batch call (MLflow's limit)


@dataclass
class MLflowConfig(LoggerConfig):
    name: str = "mlflow"
    # a folder (a file store) or any MLflow URI; null: $MLFLOW_TRACKING_URI, else outputs/mlruns
    tracking_uri: Optional[str] = None
    experiment: Optional[str] = None  # null: the sweep folder (a single run: the folder holding it, outputs/runs)
    package = "mlflow"


def store_uri(tracking_uri: Optional[str]) -> str:
    """A URI MLflow can open; a plain path becomes an absolute file: URI (jobs may run elsewhere)."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    return uri if "://" in uri or uri.startswith("file:") else Path(uri).resolve().as_uri()


class MLflowTracker(Tracker):
    def __init__(self, cfg: MLflowConfig, info: RunInfo):
        uri = store_uri(cfg.tracking_uri)
        if uri.startswith("file:"):
            # MLflow 3 refuses the file store (in maintenance mode) unless asked: it is the one that
            # needs no server and no database, and that parallel jobs can write at once
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        # a server that is down costs one short wait, not MLflow's minutes of retries, before tracking is off
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        self.Metric, self.RunTag, self.client = Metric, RunTag, MlflowClient(uri)
        self.run_dir, self.epoch = info.run_dir, info.start_epoch
        previous = recall(info.run_dir, "mlflow")
        if info.start_epoch and previous and previous.get("tracking_uri") == uri:
            self.run_id = previous["run_id"]  # a resumed job: its run goes on (params are logged already)
            self.client.update_run(self.run_id, status="RUNNING")
            return
        run = self.client.create_run(
            self._experiment(cfg.experiment or info.group),
            run_name=info.job_name,
            tags={
                "configuration": info.configuration,
                "sweep": info.group,
                "run_dir": str(info.run_dir.resolve()),
                "mlflow.source.name": "af-train",
            },
        )
        self.run_id = run.info.run_id
        remember(info.run_dir, "mlflow", {"tracking_uri": uri, "run_id": self.run_id})
        params = [Param(k, text(v)) for k, v in info.config.items()]
        for i in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + BATCH])

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:  # the kind MLflow 3 records for model training (its UI otherwise assumes a GenAI experiment)
            return self.client.create_experiment(name, tags={"mlflow.experimentKind": "custom_model_development"})
        except Exception:  # another job of the sweep created it meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _log(self, values: dict, step: int, tags: Optional[dict] = None) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id,
            metrics=[self.Metric(k, v, now, step) for k, v in values.items()],
            tags=[self.RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items() if v is not None],
        )

    def log_epoch(self, row: dict) -> None:
        self.epoch = row["epoch"]
        self._log(numbers(row), self.epoch)

    def finish(self, summary: dict) -> None:
        # summary/ keeps the final numbers apart from the per-epoch series of the same name (train_flops)
        status = summary.get("status")
        self._log(
            {f"summary/{k}": v for k, v in numbers(summary, skip=("seed",)).items()},
            self.epoch,
            tags={"status": status, "config_hash": summary.get("config_hash"), "error": summary.get("error")},
        )
        if (self.run_dir / SUMMARY_FILE).exists():
            self.client.log_artifact(self.run_id, str(self.run_dir / SUMMARY_FILE))
        self.client.set_terminated(self.run_id, "FINISHED" if status == COMPLETED else "FAILED")

    def abort(self) -> None:
        self.client.set_terminated(self.run_id, "FAILED")


TRACKER = MLflowTracker
