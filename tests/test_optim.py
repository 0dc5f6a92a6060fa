"""The fused optimizer is torch.optim's fused arithmetic, bit for bit, and skips parameters without a gradient."""

import pytest
import torch

from alternating_freeze.errors import ConfigError
from alternating_freeze.optim import FusedOptimizer, OptimizerConfig, build_optimizer

CONFIGS = {
    "adam": OptimizerConfig(name="adam", lr=1e-2),
    "adam_decay": OptimizerConfig(name="adam", lr=1e-2, betas=[0.8, 0.99], eps=1e-6, weight_decay=0.1),
    "adamw": OptimizerConfig(name="adamw", lr=1e-2, weight_decay=0.1),
    "sgd": OptimizerConfig(name="sgd", lr=0.1),
    "sgd_momentum": OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True),
}


def torch_optim(cfg, params):
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay, fused=True
        )
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True)


def params_pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(5, 3), (5,), (2, 5), (2,)]
    a = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    return a, [torch.nn.Parameter(p.detach().clone()) for p in a]


# which parameters get a gradient at each step: all, then alternating halves (the frozen half's grad is None)
SCHEDULE = [{0, 1, 2, 3}, {0, 1}, {0, 1}, {2, 3}, {0, 1}, {2, 3}, {0, 1, 2, 3}]


@pytest.mark.parametrize("name", CONFIGS)
def test_bit_identical_to_torch_fused_and_frozen_untouched(name):
    cfg = CONFIGS[name]
    ours_p, ref_p = params_pair()
    ours, ref = FusedOptimizer(cfg, ours_p), torch_optim(cfg, ref_p)
    g = torch.Generator().manual_seed(1)
    for trained in SCHEDULE:
        before = [p.detach().clone() for p in ours_p]
        for i, (a, b) in enumerate(zip(ours_p, ref_p)):
            grad = torch.randn(a.shape, generator=g)
            a.grad, b.grad = (grad.clone(), grad.clone()) if i in trained else (None, None)
        ours.step()
        ref.step()
        ours.zero_grad()
        ref.zero_grad()
        for i, (a, b) in enumerate(zip(ours_p, ref_p)):
            assert torch.equal(a, b), f"parameter {i} differs from torch.optim"
            assert torch.equal(a, before[i]) is (i not in trained), f"parameter {i}"
            assert a.grad is None


def test_state_dict_resumes_exactly():
    cfg = CONFIGS["adam_decay"]
    (a, b), g = params_pair(), torch.Generator().manual_seed(2)
    grads = [[torch.randn(p.shape, generator=g) for p in a] for _ in range(4)]

    def steps(opt, params, todo):
        for gs in todo:
            for p, grad in zip(params, gs):
                p.grad = grad.clone()
            opt.step()

    full = FusedOptimizer(cfg, a)
    steps(full, a, grads)
    first = FusedOptimizer(cfg, b)
    steps(first, b, grads[:2])
    saved = first.state_dict()
    resumed = FusedOptimizer(cfg, b)
    resumed.load_state_dict(saved)
    steps(resumed, b, grads[2:])
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="sgd"):
        FusedOptimizer(CONFIGS["sgd"], b).load_state_dict(saved)


def test_build_optimizer_is_fused_on_cpu():
    assert isinstance(build_optimizer(CONFIGS["adam"], params_pair()[0]), FusedOptimizer)


def test_nesterov_needs_momentum():
    with pytest.raises(ConfigError, match=r"^optimizer\.nesterov=True: needs optimizer\.momentum > 0$"):
        OptimizerConfig(name="sgd", nesterov=True)
