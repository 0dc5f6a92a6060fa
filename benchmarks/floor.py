"""The floor: how fast this machine runs the matrix products of one training step, alone.

An MLP's training step is, in FLOPs, almost only matrix products (forward ``x @ W.T + b``,
backward ``grad @ W`` and ``grad.T @ x``). No loop can run them faster than torch does in
isolation on the same shapes and memory layouts with warm caches, so that time is the floor;
elementwise work, the optimizer and Python come on top of it.

Rather than guess the shapes, we record the products a real step issues (a TorchDispatchMode sees
every aten call with its arguments' sizes and strides) and replay them on fresh tensors with the
same sizes and strides. A frozen half changes which products run, so each of the phases all, first and second
gets its own recording. torch's FlopCounterMode counts the same step, as a cross-check of the
project's FLOP model (``BlockNet.train_flops_per_sample``).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten
MATMULS = (aten.mm.default, aten.addmm.default)


def clock(device: torch.device) -> float:
    """Wall time after the device has finished its queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@dataclass(frozen=True)
class Matmul:
    """One recorded product: the op and each argument as (size, stride), or a plain value."""

    op: torch._ops.OpOverload
    args: tuple
    kwargs: tuple

    @property
    def mkn(self) -> tuple[int, int, int]:
        a, b = self.args[-2], self.args[-1]  # addmm(bias, a, b) or mm(a, b)
        return a[0][0], a[0][1], b[0][1]

    @property
    def flops(self) -> int:
        m, k, n = self.mkn
        return 2 * m * k * n

    @property
    def name(self) -> str:
        """e.g. ``addmm 128x784 @ 784x256^T``: ``^T`` marks an operand stored transposed (column-major)."""

        def operand(spec):
            (rows, cols), (s0, s1) = spec
            return f"{rows}x{cols}" + ("^T" if s0 == 1 and s1 != 1 else "")

        a, b = self.args[-2], self.args[-1]
        return f"{self.op.__name__.split('.')[0]:5s} {operand(a)} @ {operand(b)}"


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls: list[Matmul] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MATMULS:
            spec = tuple((tuple(a.shape), tuple(a.stride())) if isinstance(a, torch.Tensor) else a for a in args)
            self.calls.append(Matmul(func, spec, tuple(sorted(kwargs.items()))))
        return func(*args, **kwargs)


def _step(model, x, y) -> None:
    F.cross_entropy(model(x), y).backward()


def record_step(model, x: torch.Tensor, y: torch.Tensor, trainable: frozenset) -> tuple[list[Matmul], int]:
    """The products of one forward+backward with only ``trainable`` blocks training, and
    FlopCounterMode's count of that step. Runs on a copy: the caller's model is left untouched."""
    model = copy.deepcopy(model)
    model.set_trainable(trainable)
    recorder = _Recorder()
    with recorder:
        _step(model, x, y)
    counter = FlopCounterMode(display=False)
    with counter:
        _step(model, x, y)
    return recorder.calls, counter.get_total_flops()


class Replay:
    """Recorded products on fresh tensors of the same sizes and strides, run back to back."""

    def __init__(self, calls: list[Matmul], device: torch.device):
        self.device = device
        self.flops = sum(c.flops for c in calls)
        self.items = [(c.op, [self._tensor(a) for a in c.args], dict(c.kwargs)) for c in calls]

    def _tensor(self, spec):
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], tuple)):
            return spec
        size, stride = spec
        return torch.empty_strided(size, stride, device=self.device).normal_()

    def __call__(self) -> None:
        for op, args, kwargs in self.items:
            op(*args, **kwargs)

    def seconds(self, reps: int) -> float:
        """Mean seconds of one replay over ``reps`` back-to-back replays."""
        t0 = clock(self.device)
        for _ in range(reps):
            self()
        return (clock(self.device) - t0) / reps


def reps_for(flops: int, budget_flops: float = 2e9) -> int:
    """Enough repetitions that one timing covers ~budget_flops (tens of ms here): timer noise stays small."""
    return max(2, int(budget_flops // max(flops, 1)))


def square_gemm(n: int, device: torch.device) -> Replay:
    """The textbook peak: an n x n x n float32 product."""
    return Replay([Matmul(aten.mm.default, (((n, n), (n, 1)), ((n, n), (n, 1))), ())], device)


def per_shape_rates(
    calls: list[Matmul], device: torch.device, repeats: int = 5, budget_flops: float = 5e8
) -> list[dict]:
    """GFLOP/s of each distinct recorded product alone (median of ``repeats``), for the table."""
    rows, seen = [], set()
    for c in calls:
        if c.name in seen:
            continue
        seen.add(c.name)
        replay = Replay([c], device)
        replay.seconds(reps_for(c.flops, budget_flops / 2.5))  # warm-up
        times = sorted(replay.seconds(reps_for(c.flops, budget_flops)) for _ in range(repeats))
        rows.append({"matmul": c.name, "mflop": c.flops / 1e6, "gflops": c.flops / times[len(times) // 2] / 1e9})
    return rows
