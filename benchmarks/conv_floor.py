"""The convolution floor of ``benchmarks.cnn``: every convolution (forward and backward) and matrix product of one
real training step, recorded with its arguments' sizes, strides and dtype (a TorchDispatchMode sees each aten
call), then replayed alone on fresh tensors, back to back."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from .floor import clock

aten = torch.ops.aten
COUNTED = (aten.convolution.default, aten.convolution_backward.default, aten.mm.default, aten.addmm.default)


@dataclass(frozen=True)
class Call:
    """One recorded op: each argument as (size, stride, dtype) or a plain value, and its FLOPs."""

    op: torch._ops.OpOverload
    args: tuple
    kwargs: tuple
    flops: int


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls: list[Call] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.utils.flop_counter import flop_registry

        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in COUNTED:
            spec = tuple(
                (tuple(a.shape), tuple(a.stride()), a.dtype) if isinstance(a, torch.Tensor) else a for a in args
            )
            flops = flop_registry[func._overloadpacket](*args, **kwargs, out_val=out)
            self.calls.append(Call(func, spec, tuple(sorted(kwargs.items())), flops))
        return out


def record_step(model, x, y, trainable: frozenset, precision) -> list[Call]:
    """The counted ops of one forward + loss + backward with only ``trainable`` blocks training."""
    model.set_trainable(trainable)
    recorder = _Recorder()
    with recorder:
        with precision:
            loss = F.cross_entropy(model(x), y)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return recorder.calls


class Replay:
    """Recorded ops on fresh tensors of the same sizes, strides and dtypes, run back to back."""

    def __init__(self, calls: list[Call], device: torch.device):
        self.device, self.flops = device, sum(c.flops for c in calls)
        self.items = [(c.op, [self._tensor(a) for a in c.args], dict(c.kwargs)) for c in calls]

    def _tensor(self, spec):
        if isinstance(spec, tuple) and len(spec) == 3 and isinstance(spec[2], torch.dtype):
            size, stride, dtype = spec
            return torch.empty_strided(size, stride, dtype=dtype, device=self.device).normal_()
        return spec

    def seconds(self, reps: int) -> float:
        t0 = clock(self.device)
        for _ in range(reps):
            for op, args, kwargs in self.items:
                op(*args, **kwargs)
        return (clock(self.device) - t0) / reps
