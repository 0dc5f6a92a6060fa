"""What-if contenders: how far the floor is reachable on this machine, measured next to ours.

They answer "what would reach the target", not "how fast is the project": no target key uses them.

  manual step               a plain Linear/ReLU MLP trained with a hand-written backward into
                            preallocated buffers (no autograd, no allocation per step) and the
                            project's fused Adam: about the least an eager PyTorch step can add
                            to its matmuls
  K seeds in one step       K seeds' networks trained together, weights stacked and multiplied
                            with batched matmuls: what batching the seeds of a sweep into one
                            process would buy (the harness runs one seed a process)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from alternating_freeze.optim import OptimizerConfig, build_optimizer

from .floor import clock


class ManualStep:
    """Standard training of the project's model (Linear layers with ReLU between, no BatchNorm or
    Dropout) with the backward written out: per layer ``dW = g.T @ h``, ``db = g.sum(0)``,
    ``g = (g @ W) * (h > 0)``; logits' gradient ``(softmax - onehot) / B``. Batches are gathered
    as in ``fit``. Gradients are checked against autograd once, at construction."""

    def __init__(self, name, data, model, batch_size: int, lr: float, flops_per_sample: int, seed: int = 0):
        self.name, self.data, self.bs, self.flops_per_sample = name, data, batch_size, flops_per_sample
        self.layers = [m for _, m in model.linear_layers()]
        self.gen = torch.Generator().manual_seed(seed)
        self.buffers = {}
        self._check_gradients(model)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)  # written in place by every step
        self.optimizer = build_optimizer(OptimizerConfig(name="adam", lr=lr), model.parameters())

    def _buffer(self, key, shape, like):
        t = self.buffers.get(key)
        if t is None or t.shape != shape:
            t = self.buffers[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return t

    @torch.no_grad()
    def _gradients(self, x, y) -> None:
        hs = [x]
        for i, layer in enumerate(self.layers):
            z = torch.addmm(
                layer.bias, hs[-1], layer.weight.t(), out=self._buffer(("z", i), (len(x), layer.out_features), x)
            )
            if i < len(self.layers) - 1:
                z.relu_()
            hs.append(z)
        g = torch.softmax(hs[-1], 1)
        g[torch.arange(len(y), device=y.device), y] -= 1
        g.div_(len(y))
        for i in reversed(range(len(self.layers))):
            layer, h = self.layers[i], hs[i]
            torch.mm(g.t(), h, out=layer.weight.grad)
            torch.sum(g, 0, out=layer.bias.grad)
            if i > 0:
                g = torch.mm(g, layer.weight, out=self._buffer(("g", i), (len(x), layer.in_features), x)).mul_(h > 0)

    def _check_gradients(self, model) -> None:
        x, y = self.data.x_train[: self.bs], self.data.y_train[: self.bs]
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        expected = [p.grad.clone() for p in model.parameters()]
        self._gradients(x, y)
        for p, e in zip(model.parameters(), expected):
            assert torch.allclose(p.grad, e, rtol=1e-4, atol=1e-6), "manual backward disagrees with autograd"

    def epoch(self) -> dict:
        x_train, y_train = self.data.x_train, self.data.y_train
        n, device = len(y_train), x_train.device
        t0 = clock(device)
        perm = torch.randperm(n, generator=self.gen).to(device)
        for start in range(0, n, self.bs):
            idx = perm[start : start + self.bs]
            self._gradients(x_train[idx], y_train[idx])
            self.optimizer.step()
        return {"train_s": clock(device) - t0, "eval_s": 0.0, "phase": "all", "flops": self.flops_per_sample * n}


class BatchedSeeds:
    """K independent runs of standard training in one step: layer j's weights of every seed stacked
    into one (K, out, in) tensor, each seed with its own initial weights and batch order, and one
    ``baddbmm`` a layer for all K. The loss is the sum of the seeds' mean losses, so each seed's
    gradient is its own; Adam is elementwise, so one fused Adam over the stacked tensors does what K
    separate ones would. Gradients are checked against the K separate models once, at construction.

    Per-step fixed costs (Python, autograd, kernel launches, the optimizer call) are paid once for K
    seeds and the matmuls are K times larger: the gain over K separate runs is what a GPU, where a
    small MLP's step is all fixed cost, would gain most from.
    """

    def __init__(self, name, data, models: list, batch_size: int, lr: float, flops_per_sample: int, seed: int = 0):
        self.name, self.data, self.bs, self.k = name, data, batch_size, len(models)
        self.flops_per_sample = flops_per_sample
        layers = [[m for _, m in model.linear_layers()] for model in models]
        self.weights = [
            torch.nn.Parameter(torch.stack([ls[j].weight.detach() for ls in layers])) for j in range(len(layers[0]))
        ]
        self.biases = [
            torch.nn.Parameter(torch.stack([ls[j].bias.detach() for ls in layers]).unsqueeze(1))
            for j in range(len(layers[0]))
        ]
        self.gens = [torch.Generator().manual_seed(seed + i) for i in range(self.k)]
        self._check_gradients(models)
        self.optimizer = build_optimizer(OptimizerConfig(name="adam", lr=lr), [*self.weights, *self.biases])

    def _loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x`` (K, B, in), ``y`` (K, B): the sum over seeds of each seed's mean cross-entropy."""
        h = x
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w.transpose(1, 2))
            if j < len(self.weights) - 1:
                h = F.relu(h)
        return F.cross_entropy(h.reshape(-1, h.shape[-1]), y.reshape(-1)) * self.k

    def _check_gradients(self, models) -> None:
        x, y = self.data.x_train[: self.bs], self.data.y_train[: self.bs]
        self._loss(x.expand(self.k, *x.shape), y.expand(self.k, *y.shape)).backward()
        for i, model in enumerate(models):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            for j, (_, layer) in enumerate(model.linear_layers()):
                for batched, own in (
                    (self.weights[j].grad[i], layer.weight.grad),
                    (self.biases[j].grad[i, 0], layer.bias.grad),
                ):
                    assert torch.allclose(batched, own, rtol=1e-4, atol=1e-6), (
                        "batched seeds disagree with the separate models"
                    )
        for p in (*self.weights, *self.biases):
            p.grad = None

    def epoch(self) -> dict:
        x_train, y_train = self.data.x_train, self.data.y_train
        n, device = len(y_train), x_train.device
        t0 = clock(device)
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.gens]).to(device)
        for start in range(0, n, self.bs):
            idx = perms[:, start : start + self.bs]
            self._loss(x_train[idx], y_train[idx]).backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return {
            "train_s": clock(device) - t0,
            "eval_s": 0.0,
            "phase": "all",
            "flops": self.k * self.flops_per_sample * n,
            "seeds": self.k,
        }
