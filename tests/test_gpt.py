"""model=gpt: a causal decoder-only transformer whose units freeze like every other family's."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import Recorder, block_state, changed

from alternating_freeze.errors import ConfigError
from alternating_freeze.models import ModelConfig, build_model, measure_train_flops
from alternating_freeze.models.blocks import traced_train_flops
from alternating_freeze.optim import OptimizerConfig, build_optimizer
from alternating_freeze.strategies import Run
from alternating_freeze.strategies.alternating import Alternating

VOCAB, T = 11, 8


def gpt(**kw) -> ModelConfig:
    opts = dict(name="gpt", n_layer=2, n_head=2, n_embd=16, block_size=T, bias=False, tie_weights=False)
    return ModelConfig(**{**opts, **kw})


def net(cfg=None, seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(cfg or gpt(**kw), (T,), VOCAB)


def test_units_are_embeddings_layers_and_head_and_splits_cut_them():
    cfg = gpt(n_layer=3, splits=[1, 4])
    assert cfg.units == 5 and gpt(n_layer=4).block_starts == [3]  # the default halves [emb L1 L2] [L3 L4 head]
    model = net(cfg)
    assert [len(b) for b in model.blocks] == [1, 3, 1]  # embeddings | all layers | head
    assert model(torch.randint(0, VOCAB, (3, T))).shape == (3, VOCAB, T)  # logits (N, vocab, T)


def test_a_later_character_never_changes_an_earlier_prediction():
    model = net(dropout=0.0).eval()
    x = torch.randint(0, VOCAB, (4, T), generator=torch.Generator().manual_seed(1))
    base = model(x)
    for t in range(T):
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % VOCAB
        out = model(y)
        assert torch.equal(out[:, :, :t], base[:, :, :t]), t  # positions before t: bit for bit
        assert not torch.equal(out[:, :, t:], base[:, :, t:])  # the changed position and after do see it


def test_loss_at_initialisation_is_about_ln_vocab():
    model = net(n_embd=32, n_head=4)
    x = torch.randint(0, VOCAB, (64, T), generator=torch.Generator().manual_seed(2))
    loss = F.cross_entropy(model(x), x).item()
    assert abs(loss - math.log(VOCAB)) < 0.05, loss


def test_gpt2_initialisation_and_it_does_not_depend_on_the_split():
    weights = [
        torch.cat([p.flatten() for p in net(gpt(n_layer=4, splits=s), seed=3).parameters()])
        for s in ([3], [1, 5], [1, 2, 3, 4, 5])
    ]
    assert torch.equal(weights[0], weights[1]) and torch.equal(weights[0], weights[2])
    model = net(gpt(n_layer=8, n_embd=64, n_head=4))
    layer = model.blocks[0][1]
    assert abs(layer.qkv.weight.std().item() - 0.02) < 0.002
    assert abs(layer.proj.weight.std().item() - 0.02 / math.sqrt(16)) < 0.0005  # residual projections: /sqrt(2 n_layer)


@pytest.mark.parametrize("tie", [False, True])
def test_flops_equal_torch_counter_for_every_trainable_set(tie):
    model = net(gpt(splits=[1, 2, 3], tie_weights=tie, bias=True, dropout=0.1))
    for k in range(1, 5):
        for trainable in itertools.combinations(range(4), k):
            counted = measure_train_flops(model, trainable)
            assert traced_train_flops(model, trainable) == counted == model.train_flops_per_sample(trainable)
    c, v = 16, VOCAB
    per_layer = 2 * T * (3 * c * c + c * c + 8 * c * c) + 4 * T * T * c  # linear layers + attention, forward
    # only the head's block trains: its product needs a weight gradient unless the matrix is block 0's (tied)
    assert model.train_flops_per_sample({3}) == 2 * per_layer + (3 - tie) * 2 * T * c * v


@pytest.mark.parametrize("tie", [False, True])
def test_frozen_blocks_are_bit_identical_under_alternating(tie):
    model = net(gpt(splits=[1, 3], tie_weights=tie, dropout=0.1))
    strategy = Recorder(Alternating().bind(Run(3, 6, 1, 0)), model)
    opt = build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.1), model.parameters())
    g = torch.Generator().manual_seed(0)
    for step in range(6):
        model.set_trainable(strategy.trainable(0, step))
        x = torch.randint(0, VOCAB, (8, T + 1), generator=g)
        F.cross_entropy(model(x[:, :-1]), x[:, 1:]).backward()
        opt.step(1e-2)
        opt.zero_grad(set_to_none=True)
    strategy.snaps.append([block_state(model, b) for b in range(3)])
    for step, trainable in enumerate(strategy.sets):
        for b in range(3):
            assert bool(changed(strategy.snaps[step][b], strategy.snaps[step + 1][b])) == (b in trainable), (step, b)
    if tie:  # the tied matrix is block 0's: the head's block holds only its LayerNorm
        assert [k for k in model.blocks[2].state_dict()] == ["0.ln.weight"]


@pytest.mark.parametrize(
    "kw, key",
    [
        (dict(n_embd=10, n_head=4), "model.n_embd"),
        (dict(block_size=0), "model.block_size"),
        (dict(n_layer=0), "model.n_layer"),
        (dict(bias=None), "model.bias"),
        (dict(batchnorm=True), "model.batchnorm"),
        (dict(n_layer=2, split=4), "model.split"),
    ],
)
def test_bad_values_name_their_key(kw, key):
    with pytest.raises(ConfigError) as e:
        gpt(**kw)
    assert e.value.key == key and "\n" not in str(e.value)


def test_gpt_keys_belong_to_gpt_and_gpt_reads_tokens():
    with pytest.raises(ConfigError, match="only model=gpt"):
        ModelConfig(name="mlp", n_layer=3)
    with pytest.raises(ConfigError, match="token windows"):
        build_model(gpt(), (1, 8, 8), 10)
