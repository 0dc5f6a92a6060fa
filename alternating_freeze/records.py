"""Results on disk: the contract the analysis reads (see README, "Results on disk").

Every file is written atomically (temporary file in the same folder, then ``os.replace``), so a
killed run never leaves a file that looks complete. The per-epoch writes (checkpoint, metrics so
far) skip the fsync: a rename is already atomic against a killed process, the next epoch rewrites
them anyway, and an fsync per epoch costs more than a small model's epoch of evaluation. What a run
leaves when it ends is written durably.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

METRICS_COLUMNS = (
    "epoch", "step", "trained", "train_loss", "train_acc", "test_loss", "test_acc",
    "epoch_s", "eval_s", "elapsed_s", "train_flops",
)
SUMMARY_FILE, METRICS_FILE, CHECKPOINT_FILE, ERROR_FILE = "summary.json", "metrics.csv", "checkpoint.pt", "error.txt"
TERMINAL = ("completed", "diverged")  # statuses a resumed sweep does not run again


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """``durable``: fsync the file before the rename and the folder after it, so that the file
    survives a crash of the machine too. Permissions follow the umask, as for any new file
    (mkstemp's 0600 would hide results from collaborators on a shared filesystem)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        try:  # the rename itself; some filesystems cannot open or fsync a folder, and the file is in place
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError:
            pass


def _finite(obj: Any) -> Any:
    """NaN and inf are not JSON: a diverged run's losses become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(_finite(obj), indent=2, default=str) + "\n").encode())


def write_metrics(path: Path, rows: Sequence[Mapping[str, Any]], durable: bool = True) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue().encode(), durable)


def read_summary(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None


def epochs_to_fraction(accs: Iterable[float], fraction: float = 0.9) -> int | None:
    """First 1-based epoch whose accuracy reaches ``fraction`` of the final accuracy (the notebook's measure)."""
    accs = list(accs)
    if not accs:
        return None
    target = fraction * accs[-1]
    return next(i + 1 for i, a in enumerate(accs) if a >= target)


def summarize_metrics(rows: Sequence[Mapping[str, Any]]) -> dict:
    """The per-run numbers of summary.json that derive from metrics.csv."""
    test_accs = [r["test_acc"] for r in rows if not math.isnan(r["test_acc"])]
    losses = [r["train_loss"] for r in rows if math.isfinite(r["train_loss"])]
    train_s = sum(r["epoch_s"] for r in rows)
    flops = rows[-1]["train_flops"] if rows else 0
    return {
        "epochs_completed": len(rows),
        "final_test_acc": test_accs[-1] if test_accs else None,
        "best_test_acc": max(test_accs) if test_accs else None,
        "final_train_loss": rows[-1]["train_loss"] if rows else None,
        "epochs_to_90pct": epochs_to_fraction(test_accs),
        "loss_std": statistics.pstdev(losses) if len(losses) > 1 else None,
        "train_s": train_s,
        "eval_s": sum(r["eval_s"] for r in rows),
        "train_flops": flops,
        "train_gflops_per_s": flops / train_s / 1e9 if train_s > 0 else None,
    }


def save_checkpoint(path: Path, obj: Any, durable: bool = True) -> None:
    import torch  # records stays importable without torch for readers of the files

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getvalue(), durable)
