"""Hydra callback (``hydra.callbacks.analyze``): analyse a sweep as soon as it ends. The sweep's results matter more
than their analysis, so anything that goes wrong is logged as a warning, never raised into Hydra."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class AnalyzeCallback(Callback):
    """Runs ``analysis.analyze`` on ``hydra.sweep.dir`` (into ``out``, default that folder) after a multirun."""

    def __init__(self, enabled: bool = True, out: Optional[str] = None) -> None:
        self.enabled, self.out = enabled, out

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        try:
            from .pipeline import analyze

            sweep = Path(str(config.hydra.sweep.dir))
            command = f"af-analyze {sweep}" + f" --out {self.out}" * bool(self.out)
            result = analyze(
                [sweep],
                self.out or sweep,
                command=f"{command}  (run by analysis.callback.AnalyzeCallback at the end of the sweep)",
            )
            for w in result.warnings:
                log.warning("analysis: %s", w)
            log.info("analysis of %d runs written to %s", len(result.runs), result.files["report_html"])
        except Exception as e:  # noqa: BLE001 - never let the analysis fail the sweep
            log.warning(
                "analysis of the sweep failed (%s: %s); run `af-analyze <sweep dir>` to retry", type(e).__name__, e
            )
