"""What a run writes while it trains and when it ends: metrics.csv, summary.json numbers, checkpoints.

File names, columns and the atomic write are the results contract (``contract``). The per-epoch
writes (checkpoint, metrics so far) skip the fsync: a rename is already atomic against a killed
process, the next epoch rewrites them anyway, and an fsync per epoch costs more than a small
model's epoch of evaluation. What a run leaves when it ends is written durably.
"""

from __future__ import annotations

import io
import json
import math
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .contract import ACCURACY, LOSS, WEIGHTS_FILE, Objective, bits, metrics_csv, read_summary, write_atomic

# A checkpoint is this line, one line of JSON (the config hash and the plain-valued training
# state), then torch.save's bytes of tensors only. The header is read and the hash checked before
# any tensor is deserialised, and tensors load with weights_only=True: a planted file runs no code.
CHECKPOINT_MAGIC = b"alternating-freeze checkpoint 2\n"


class ForeignCheckpoint(Exception):
    """The checkpoint belongs to a run of another config."""


def write_metrics(path: Path, rows: Sequence[Mapping[str, Any]], durable: bool = True) -> None:
    write_atomic(path, metrics_csv(rows), durable)


def epochs_to_fraction(accs: Iterable[float], fraction: float = 0.9) -> int | None:
    """First 1-based epoch whose accuracy reaches ``fraction`` of the final accuracy (the notebook's measure)."""
    accs = list(accs)
    if not accs:
        return None
    target = fraction * accs[-1]
    return next(i + 1 for i, a in enumerate(accs) if a >= target)


def _finite(rows, key) -> list:
    return [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]


def summarize_metrics(rows: Sequence[Mapping[str, Any]], objective: Objective = ACCURACY) -> dict:
    """The per-run numbers of summary.json that derive from metrics.csv.

    Selection (the best epoch) reads the validation split by the task's ``objective`` (highest accuracy, or lowest
    loss for a text); a run without one reads the test split, as versions before the validation split did, and says
    so in ``selection``. ``best_*`` of each measure is its own best over the epochs; ``*_at_best_val`` is the value at
    the objective's best epoch. Epochs to 90% is the notebook's accuracy measure whatever the objective."""
    test_accs, val_accs = [r["test_acc"] for r in rows if not math.isnan(r["test_acc"])], _finite(rows, "val_acc")
    losses = _finite(rows, "train_loss")
    train_s = sum(r["epoch_s"] for r in rows)
    flops = rows[-1]["train_flops"] if rows else 0
    col = objective.name
    with_val = [i for i, r in enumerate(rows) if isinstance(r.get(col), (int, float)) and math.isfinite(r[col])]
    best = with_val[objective.best_index([rows[i][col] for i in with_val])] if with_val else None  # first of the best
    out = {
        "objective": objective.name,
        "epochs_completed": len(rows),
        "final_test_acc": test_accs[-1] if test_accs else None,
        "best_test_acc": max(test_accs) if test_accs else None,
        "final_val_acc": val_accs[-1] if val_accs else None,
        "best_val_acc": max(val_accs) if val_accs else None,
        "best_val_epoch": best + 1 if best is not None else None,
        "test_acc_at_best_val": rows[best]["test_acc"] if best is not None else None,
        "selection": "val" if with_val else "test",
        "final_train_loss": rows[-1]["train_loss"] if rows else None,
        "epochs_to_90pct": epochs_to_fraction(val_accs or test_accs),
        "loss_std": statistics.pstdev(losses) if len(losses) > 1 else None,
        "train_s": train_s,
        "train_cpu_s": sum(_finite(rows, "epoch_cpu_s")),
        "eval_s": sum(r["eval_s"] for r in rows),
        "train_flops": flops,
        "train_gflops_per_s": flops / train_s / 1e9 if train_s > 0 else None,
        "thread_counts": sorted({r["threads"] for r in rows if r.get("threads") is not None}),
    }
    test_losses, val_losses = _finite(rows, "test_loss"), _finite(rows, "val_loss")
    at_best = rows[best].get("test_loss") if best is not None else None
    out |= {
        "final_test_loss": test_losses[-1] if test_losses else None,
        "best_test_loss": min(test_losses) if test_losses else None,
        "final_val_loss": val_losses[-1] if val_losses else None,
        "best_val_loss": min(val_losses) if val_losses else None,
        "test_loss_at_best_val": at_best if isinstance(at_best, (int, float)) and math.isfinite(at_best) else None,
    }
    if objective is LOSS:  # a text's loss is nats per character: also in bits
        out |= {k.replace("_loss", "_bpc"): bits(out[k]) for k in LOSS.keys if out[k] is not None}
    return out


def save_checkpoint(path: Path, header: dict, tensors: dict, durable: bool = True) -> None:
    import torch  # records stays importable without torch

    buf = io.BytesIO()
    torch.save(tensors, buf)
    write_atomic(path, CHECKPOINT_MAGIC + json.dumps(header).encode() + b"\n" + buf.getvalue(), durable)


def load_checkpoint(path: Path, config_hash: str) -> tuple[dict, dict]:
    """(header, tensors) of a checkpoint of the config ``config_hash``. Raises ForeignCheckpoint for
    another config's (nothing of it deserialised), and ValueError or torch's errors for a file that
    is not a readable checkpoint of this version."""
    import torch

    data = Path(path).read_bytes()
    header, end = _header(data)
    if header.get("config_hash") != config_hash:
        raise ForeignCheckpoint(header.get("config_hash"), header.get("config"))
    return header, torch.load(io.BytesIO(data[end + 1 :]), map_location="cpu", weights_only=True)


def _header(data: bytes) -> tuple[dict, int]:
    """A checkpoint's JSON header and where it ends."""
    if not data.startswith(CHECKPOINT_MAGIC):
        raise ValueError("not a checkpoint of this version")
    end = data.find(b"\n", len(CHECKPOINT_MAGIC))
    header = json.loads(data[len(CHECKPOINT_MAGIC) : end])
    if not isinstance(header, dict):
        raise ValueError("malformed header")
    return header, end


def save_weights(run_dir: Path, header: dict, final: dict) -> None:
    """A completed run's final weights (``model.state_dict()``) in the checkpoint format, with its config hash."""
    save_checkpoint(Path(run_dir) / WEIGHTS_FILE, {**header, "kind": "weights"}, {"final": final})


def load_weights(run_dir: Path | str, which: str = "final") -> dict:
    """The state dict a completed run kept in ``run_dir/weights.pt``, for ``build_model(...).load_state_dict``.
    Tensors only (weights_only=True: the file runs no code); the file must belong to the run whose
    summary.json sits beside it (its config hash), when there is one."""
    path = Path(run_dir) / WEIGHTS_FILE
    summary = read_summary(run_dir) or {}
    expected = summary.get("config_hash") or _header(path.read_bytes())[0].get("config_hash")
    return load_checkpoint(path, expected)[1][which]
