"""Schema of the `model` config group: one family, its size, and where its blocks begin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from ..errors import integer, number, one_of, require

MODELS = ("mlp", "cnn", "resnet", "gpt")
GPT_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "tie_weights")  # gpt only; null for the others


@dataclass
class ModelConfig:
    """Schema of the `model` config group."""

    name: str = "mlp"  # mlp | cnn | resnet | gpt
    depth: int = 3  # mlp: Linear layers; cnn: conv layers (a linear head follows); resnet: 6n+2 (8, 14, 20, ...)
    width: int = 128  # mlp: hidden width; cnn, resnet: channels of the first stage (doubling at each stage)
    batchnorm: bool = False
    dropout: float = 0.0  # mlp: after each hidden ReLU; cnn, resnet: before the linear head; gpt: GPT-2's places
    # gpt only (conf/model/gpt.yaml sets them; null for the other families; depth and width are not read by gpt):
    n_layer: Optional[int] = None  # transformer layers: units 1..n_layer (unit 0 the embeddings, n_layer+1 the head)
    n_head: Optional[int] = None  # attention heads; n_embd must be a multiple
    n_embd: Optional[int] = None  # width of the residual stream
    block_size: Optional[int] = None  # context length in tokens: the text windows are this long
    bias: Optional[bool] = None  # biases in the Linear and LayerNorm layers
    tie_weights: Optional[bool] = None  # the head reuses the token embedding matrix, which belongs to block 0
    # A completed run's folder: start from its final weights (weights.pt) instead of a fresh initialisation; its
    # network must be this one (warmstart.py). null: initialise from the seed.
    init_from: Optional[str] = None
    stages: Optional[int] = None  # cnn only: stages, 2x2 max-pooling between them; null: ceil(depth / 2)
    split: Optional[int] = None  # two blocks: index of the first unit of the second; null: units // 2
    splits: Optional[List[int]] = None  # K blocks: the unit indices where blocks 1..K-1 begin, e.g. [1, 2, 3]

    def __post_init__(self) -> None:
        one_of("model.name", self.name, MODELS)
        low = {
            "mlp": (2, "must be >= 2 (two blocks need two layers)"),
            "cnn": (1, "must be >= 1 (conv layers; the head is a unit of its own)"),
        }.get(self.name)
        if low:
            require(self.depth >= low[0], "model.depth", self.depth, low[1])
        require(
            self.name != "resnet" or (self.depth >= 8 and (self.depth - 2) % 6 == 0),
            "model.depth",
            self.depth,
            "the CIFAR ResNet has 6n+2 layers, n >= 1: 8, 14, 20, 26, 32, 44, 56, 110, ...",
        )
        integer("model.width", self.width)
        self._check_gpt()
        number("model.dropout", self.dropout, 0, 1, high_open=True)
        require(
            self.stages is None or self.name == "cnn",
            "model.stages",
            self.stages,
            f"only model=cnn has a number of stages ({self.name}: null)",
        )
        require(
            self.stages is None or 1 <= self.stages <= self.depth,
            "model.stages",
            self.stages,
            f"between 1 and depth={self.depth} (each stage has a conv layer at least), or null",
        )
        require(
            self.split is None or 1 <= self.split <= self.units - 1,
            "model.split",
            self.split,
            f"must be between 1 and {self._last_unit()}, or null",
        )
        if self.splits is not None:
            s = list(self.splits)
            require(
                self.split is None, "model.splits", s, "set either model.split (two blocks) or model.splits, not both"
            )
            require(
                bool(s) and s == sorted(set(s)) and 1 <= s[0] <= s[-1] <= self.units - 1,
                "model.splits",
                s,
                f"a non-empty increasing list of the unit indices where blocks 1, 2, ... begin, each between 1 "
                f"and {self._last_unit()}",
            )

    def _check_gpt(self) -> None:
        """The gpt keys: set (and consistent) for gpt, null for every other family."""
        if self.name != "gpt":
            for key in GPT_KEYS:
                value = getattr(self, key)
                require(value is None, f"model.{key}", value, f"only model=gpt has it ({self.name}: null)")
            return
        for key in ("n_layer", "n_head", "n_embd", "block_size"):
            integer(f"model.{key}", getattr(self, key))
        for key in ("bias", "tie_weights"):
            value = getattr(self, key)
            require(isinstance(value, bool), f"model.{key}", value, "true or false")
        require(
            self.n_embd % self.n_head == 0,
            "model.n_embd",
            self.n_embd,
            f"a multiple of model.n_head={self.n_head} (each head has n_embd / n_head channels)",
        )
        require(not self.batchnorm, "model.batchnorm", self.batchnorm, "false for gpt (it normalises with LayerNorm)")

    def _last_unit(self) -> str:
        """The highest index a block may begin at, and what the indices count, for error messages."""
        last = self.units - 1
        if self.name == "cnn":
            return f"{last} (units 0..{last - 1} are the conv layers, {last} the head)"
        if self.name == "resnet":
            return f"{last} (unit 0 is the stem, 1..{last - 1} the residual blocks, {last} the head)"
        if self.name == "gpt":
            return f"{last} (unit 0 is the embeddings, 1..{last - 1} the layers, {last} the final LayerNorm and head)"
        return f"depth-1={last}"

    @property
    def units(self) -> int:
        """How many units the network is built of; blocks begin at unit indices 1..units-1."""
        if self.name == "cnn":
            return self.depth + 1
        if self.name == "resnet":
            return 3 * ((self.depth - 2) // 6) + 2
        if self.name == "gpt":
            return self.n_layer + 2
        return self.depth

    @property
    def n_stages(self) -> int:
        """cnn: stages of conv layers; resnet: 3; mlp: 1."""
        if self.name == "cnn":
            return self.stages if self.stages is not None else -(-self.depth // 2)
        return 3 if self.name == "resnet" else 1

    @property
    def block_starts(self) -> List[int]:
        """Unit indices where blocks 1..K-1 begin (block 0 begins at unit 0)."""
        if self.splits is not None:
            return list(self.splits)
        return [self.units // 2 if self.split is None else self.split]

    @property
    def n_blocks(self) -> int:
        return len(self.block_starts) + 1
