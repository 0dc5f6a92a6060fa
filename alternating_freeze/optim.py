"""Optimizers. Built once per run (or once per switch under ``strategy.optimizer_state=reset``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, List, Sequence

import torch

from .errors import number, one_of, require

OPTIMIZERS = ("adam", "adamw", "sgd")
FUSED_DEVICES = ("cpu", "cuda")  # where torch ships the fused kernels for all three


@dataclass
class OptimizerConfig:
    """Schema of the `optimizer` config group."""

    name: str = "adam"
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0  # sgd only
    nesterov: bool = False  # sgd only

    def __post_init__(self) -> None:
        one_of("optimizer.name", self.name, OPTIMIZERS)
        for key, strict in (("lr", True), ("eps", True), ("weight_decay", False)):
            number(
                f"optimizer.{key}",
                getattr(self, key),
                0.0,
                math.inf,
                low_open=strict,
                allowed=f"a finite number {'>' if strict else '>='} 0",
            )
        require(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            "optimizer.betas",
            list(self.betas),
            "[beta1, beta2], each in [0, 1)",
        )
        number("optimizer.momentum", self.momentum, 0.0, 1.0, high_open=True)
        require(
            not self.nesterov or self.momentum > 0, "optimizer.nesterov", self.nesterov, "needs optimizer.momentum > 0"
        )
        if self.name != "sgd":  # unused by Adam(W), yet it would change the config hash: refused, not ignored
            for key, default in (("momentum", 0.0), ("nesterov", False)):
                require(
                    getattr(self, key) == default,
                    f"optimizer.{key}",
                    getattr(self, key),
                    f"{default} with optimizer={self.name} (sgd only; adam's betas play its part)",
                )


class FusedOptimizer:
    """Adam, AdamW or SGD as the fused kernels that ``torch.optim`` runs with ``fused=True``, called directly.

    Why not ``torch.optim`` itself: its ``step`` imports ``torch._dynamo`` (a second of start-up in
    every process) and spends more Python per step than a small MLP's matmuls on a CPU. The
    arithmetic is the same kernels', so the parameters are bit-identical to
    ``torch.optim.X(fused=True)`` (tests/test_optim.py). Parameters whose ``grad`` is None (the
    frozen half) are skipped entirely: no step count, no decay, no momentum.
    """

    def __init__(self, cfg: OptimizerConfig, params: Iterable[torch.nn.Parameter]):
        self.cfg, self.params = cfg, list(params)
        self.state: dict[torch.nn.Parameter, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float | Sequence[float] | None = None) -> None:
        """One step at rate ``lr`` (None: ``cfg.lr``), or at ``lr[i]`` for ``params[i]`` (per-block rates): one
        kernel call per distinct rate, which computes each element as one call over all would (elementwise)."""
        if lr is None or not isinstance(lr, Sequence):
            groups = {self.cfg.lr if lr is None else lr: [p for p in self.params if p.grad is not None]}
        else:
            groups = {}
            for p, rate in zip(self.params, lr, strict=True):
                if p.grad is not None:
                    groups.setdefault(rate, []).append(p)
        for rate, params in groups.items():
            if params:
                (self._sgd if self.cfg.name == "sgd" else self._adam)(params, rate)

    def _adam(self, params: list, lr: float) -> None:
        c = self.cfg
        for p in params:
            if p not in self.state:  # as torch.optim: a float32 step count on the parameter's device
                self.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p),
                    "exp_avg_sq": torch.zeros_like(p),
                }
        states = [self.state[p] for p in params]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        kernel = torch._fused_adamw_ if c.name == "adamw" else torch._fused_adam_
        kernel(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            steps,
            lr=lr,
            beta1=c.betas[0],
            beta2=c.betas[1],
            weight_decay=c.weight_decay,
            eps=c.eps,
            amsgrad=False,
            maximize=False,
        )

    def _sgd(self, params: list, lr: float) -> None:
        c = self.cfg
        kwargs = dict(
            weight_decay=c.weight_decay,
            momentum=c.momentum,
            lr=lr,
            dampening=0.0,
            nesterov=c.nesterov,
            maximize=False,
        )
        if c.momentum == 0:
            torch._fused_sgd_(params, [p.grad for p in params], [], is_first_step=False, **kwargs)
            return
        # a parameter's first step initialises its momentum buffer to its gradient (the kernel's is_first_step)
        old = [p for p in params if p in self.state]
        new = [p for p in params if p not in self.state]
        for p in new:
            self.state[p] = {"momentum_buffer": torch.empty_like(p)}
        for first, group in ((False, old), (True, new)):
            if group:
                bufs = [self.state[p]["momentum_buffer"] for p in group]
                torch._fused_sgd_(group, [p.grad for p in group], bufs, is_first_step=first, **kwargs)

    def state_dict(self) -> dict:
        index = {p: i for i, p in enumerate(self.params)}
        return {"name": self.cfg.name, "state": {index[p]: dict(s) for p, s in self.state.items()}}

    def load_state_dict(self, state_dict: dict) -> None:
        if state_dict.get("name") != self.cfg.name:
            raise ValueError(f"optimizer state of {state_dict.get('name')!r} cannot resume {self.cfg.name!r}")
        self.state = {
            self.params[i]: {k: v.to(self.params[i].device) for k, v in s.items()}
            for i, s in state_dict["state"].items()
        }


def reset_state(optimizer) -> None:
    """Forget every moment and step count, as a freshly built optimizer would (strategy.optimizer_state=reset).
    In place, so that whoever holds the optimizer (the checkpoint) holds the one in use."""
    optimizer.state.clear()


def build_optimizer(cfg: OptimizerConfig, params: Iterable[torch.nn.Parameter]):
    """The fused optimizer on CPU and CUDA; ``torch.optim`` elsewhere (e.g. MPS), same arithmetic, with one
    parameter group per parameter so that ``step(lr)`` sets each one's rate (``_with_rates``)."""
    params = list(params)
    if all(p.device.type in FUSED_DEVICES for p in params):
        return FusedOptimizer(cfg, params)
    return _with_rates(_torch_optimizer(cfg, [{"params": [p]} for p in params]))


def _with_rates(optimizer):
    """``optimizer.step(lr)`` as FusedOptimizer's: a rate, a rate per parameter, or None (the configured one)."""
    plain = optimizer.step
    configured = [g["lr"] for g in optimizer.param_groups]

    def step(lr=None):
        rates = configured if lr is None else lr if isinstance(lr, Sequence) else [lr] * len(configured)
        for group, rate in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = rate
        plain()

    optimizer.step = step
    return optimizer


def _torch_optimizer(cfg: OptimizerConfig, params):
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
