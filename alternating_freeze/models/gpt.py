"""The GPT family: a decoder-only transformer over tokens (characters of ``dataset=text``), GPT-2's layout.

Pre-LayerNorm layers: ``x + attn(ln1(x))`` then ``x + mlp(ln2(x))``; causal self-attention through
``F.scaled_dot_product_attention(is_causal=True)``; a GELU MLP 4x wide. Weights as GPT-2 initialises them:
normal(0, 0.02), the two projections that write into the residual stream scaled by 1/sqrt(2 n_layer),
biases zero, LayerNorms one and zero; drawn unit by unit after all units are built, so that a seed's
weights do not depend on where the network is split.

Units (what ``model.split``/``model.splits`` index): the token and position embeddings are unit 0, layer
i is unit i (1..n_layer), the final LayerNorm and the head are unit n_layer+1.

``tie_weights``: the head multiplies by the token embedding matrix instead of a matrix of its own. That
matrix belongs to the embeddings' unit (block 0, where ``state_dict`` and the optimizer see it once): it
trains, through both of its uses, exactly when block 0 trains, and is frozen with it; the head's block
then holds only the final LayerNorm.

Inputs are (N, T) token indices, T <= block_size; the logits are (N, vocab, T), the class dimension second
as ``F.cross_entropy`` takes a sequence of targets, so the training loop treats every position as a target.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .blocks import BlockNet, Counted, group


class Embeddings(nn.Module):
    """Unit 0: token plus position embeddings, then dropout."""

    def __init__(self, vocab: int, block_size: int, n_embd: int, dropout: float):
        super().__init__()
        self.tok = nn.Embedding(vocab, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.drop(self.tok(idx) + self.pos.weight[: idx.shape[1]])


class Attention(Counted):
    """Causal scaled dot-product attention of (N, heads, T, head size) queries, keys and values."""

    def __init__(self, dropout: float):
        super().__init__()
        self.p = dropout

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0, is_causal=True)

    def train_flops(self, inputs: tuple, out: torch.Tensor) -> int:
        """q k^T and the weights times v, each 2 N h T T d, counted whole as FlopCounterMode counts them (the
        causal mask skips nothing there); their backward is four such products when q, k or v needs a gradient."""
        q, k, v = inputs
        n, h, t, d = q.shape
        forward = 2 * n * h * t * k.shape[2] * (d + v.shape[3])
        backward = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
        return forward * (1 + 2 * backward)


class Layer(nn.Module):
    """Units 1..n_layer: pre-LayerNorm causal self-attention and a GELU MLP, each added to the residual stream."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, bias: bool):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(n_embd, bias=bias)
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.attn = Attention(dropout)
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)  # writes into the residual stream
        self.drop1 = nn.Dropout(dropout)
        self.ln2 = nn.LayerNorm(n_embd, bias=bias)
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.out = nn.Linear(4 * n_embd, n_embd, bias=bias)  # writes into the residual stream
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(n, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        y = self.attn(q, k, v).transpose(1, 2).reshape(n, t, c)
        x = x + self.drop1(self.proj(y))
        return x + self.drop2(self.out(F.gelu(self.fc(self.ln2(x)))))


class TiedLinear(Counted):
    """The head's output layer with the token embedding's matrix: a reference, not a parameter of its own."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.__dict__["source"] = embedding  # not a submodule: the matrix stays block 0's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.source.weight)

    def train_flops(self, inputs: tuple, out: torch.Tensor) -> int:
        """As a Linear layer's: forward, plus one product each for the weight's and the input's gradient."""
        weight = self.source.weight
        grads = torch.is_grad_enabled() and (inputs[0].requires_grad + weight.requires_grad)
        return 2 * out.numel() * weight.shape[1] * (1 + grads)


class Head(nn.Module):
    """Unit n_layer+1: the final LayerNorm and the linear map to the vocabulary, logits as (N, vocab, T)."""

    def __init__(self, n_embd: int, vocab: int, bias: bool, tied: nn.Embedding | None):
        super().__init__()
        self.ln = nn.LayerNorm(n_embd, bias=bias)
        self.out = nn.Linear(n_embd, vocab, bias=False) if tied is None else TiedLinear(tied)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.ln(x)).transpose(1, 2)


def init_weights(units: Sequence[nn.Module], n_layer: int) -> None:
    """GPT-2's initialisation, unit by unit in order (the same weights for a seed wherever it is split)."""
    for unit in units:
        residual = {id(unit.proj), id(unit.out)} if isinstance(unit, Layer) else set()
        for m in unit.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                std = 0.02 / math.sqrt(2 * n_layer) if id(m) in residual else 0.02
                nn.init.normal_(m.weight, 0.0, std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def build(cfg, input_shape: Sequence[int], num_classes: int) -> BlockNet:
    """``input_shape``: (T,), a window of T tokens; ``num_classes``: the vocabulary's size."""
    if len(input_shape) != 1:
        raise ConfigError(
            "model.name",
            cfg.name,
            f"reads token windows (dataset=text or tiny_shakespeare), but the data are {tuple(input_shape)} images",
        )
    if input_shape[0] > cfg.block_size:
        raise ConfigError("model.block_size", cfg.block_size, f"at least the data's windows of {input_shape[0]}")
    embeddings = Embeddings(num_classes, cfg.block_size, cfg.n_embd, cfg.dropout)
    units: list[nn.Module] = [embeddings]
    units += [Layer(cfg.n_embd, cfg.n_head, cfg.dropout, cfg.bias) for _ in range(cfg.n_layer)]
    units.append(Head(cfg.n_embd, num_classes, cfg.bias, embeddings.tok if cfg.tie_weights else None))
    init_weights(units, cfg.n_layer)
    model = BlockNet(group(units, cfg.block_starts), (cfg.block_size,))
    model.tokens = True
    return model
