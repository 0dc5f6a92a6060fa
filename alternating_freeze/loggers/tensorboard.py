"""`logger=tensorboard`: event files in the run folder (``<run>/tensorboard/``).

``tensorboard --logdir <sweep folder>`` then shows every job as a run: a scalar per numeric
metrics.csv column at step = epoch, and in the HParams tab the flattened config against the final
metrics (the hparams plugin's three summaries written into the run's own event file, rather than
``add_hparams``, which writes them to a new timestamped folder that TensorBoard lists as a run).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contract import COMPLETED, refuse_link
from .base import LoggerConfig, RunInfo, Tracker, numbers, text


@dataclass
class TensorBoardConfig(LoggerConfig):
    name: str = "tensorboard"
    log_dir: str = "tensorboard"  # inside the run folder
    package = "tensorboard"  # torch.utils.tensorboard writes with it


class TensorBoardTracker(Tracker):
    def __init__(self, cfg: TensorBoardConfig, info: RunInfo):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: TensorBoard drops what an earlier attempt of this job logged from this epoch on
        # (a resumed run continues after its checkpoint; a run started over starts at epoch 1)
        refuse_link(info.run_dir / cfg.log_dir)  # a planted link would have the event files written outside
        self.writer = SummaryWriter(str(info.run_dir / cfg.log_dir), purge_step=info.start_epoch + 1)
        # numbers as numbers; the rest as text, booleans too (torch's hparams would make them 1.0 and 0.0)
        self.hparams = {
            k: v if isinstance(v, (int, float)) and not isinstance(v, bool) else text(v) for k, v in info.config.items()
        }
        self.epoch = info.start_epoch

    def log_epoch(self, row: dict) -> None:
        self.epoch = row["epoch"]
        for key, value in numbers(row).items():
            self.writer.add_scalar(key, value, self.epoch)

    def finish(self, summary: dict) -> None:
        from torch.utils.tensorboard.summary import hparams

        final = {f"summary/{k}": v for k, v in numbers(summary, skip=("seed",)).items()}
        for key, value in final.items():
            self.writer.add_scalar(key, value, self.epoch)
        experiment, start, _ = hparams(self.hparams, final)
        for pb in (experiment, start, session_end(summary.get("status") == COMPLETED)):
            self.writer.file_writer.add_summary(pb, self.epoch)
        self.writer.close()

    def abort(self) -> None:
        self.writer.close()


def session_end(ok: bool):
    """The hparams plugin's end-of-session summary with the run's status (torch's is always a success)."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS if ok else api_pb2.STATUS_FAILURE)
    data = plugin_data_pb2.HParamsPluginData(session_end_info=end, version=metadata.PLUGIN_DATA_VERSION)
    return Summary(
        value=[Summary.Value(tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(data))]
    )


TRACKER = TensorBoardTracker
