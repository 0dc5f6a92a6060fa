"""Each strategy's block sequence against a hand-written expectation, and across a resume."""

import pytest

from alternating_freeze.errors import ConfigError
from alternating_freeze.strategies import STRATEGIES, Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.progressive import Progressive
from alternating_freeze.strategies.random_block import RandomBlock
from alternating_freeze.strategies.standard import Standard


def bound(strategy, n_blocks=2, steps_per_epoch=4, epochs=10, seed=0):
    return strategy.bind(Run(n_blocks, steps_per_epoch, epochs, seed))


def blocks(strategy, n, by="step", steps_per_epoch=4):
    """The single block (or the set, as a tuple) training at each of the first n units."""
    out = []
    for i in range(n):
        epoch, step = (i, i * steps_per_epoch) if by == "epoch" else (i // steps_per_epoch, i)
        t = strategy.trainable(epoch, step)
        out.append(next(iter(t)) if len(t) == 1 else tuple(sorted(t)))
    return out


def test_registry_finds_every_module():
    assert set(STRATEGIES) == {"standard", "alternating", "progressive", "freezeout", "random_block"}


def test_standard_trains_all_blocks():
    assert blocks(bound(Standard(), n_blocks=3), 3) == [(0, 1, 2)] * 3


def test_two_blocks_every_k():
    assert blocks(bound(Alternating(every=2)), 8) == [0, 0, 1, 1] * 2


def test_per_epoch_switching_ignores_steps_within_epoch():
    s = bound(Alternating(unit="epoch", start="second"))
    assert blocks(s, 4, by="epoch") == [1, 0, 1, 0]
    assert s.trainable(epoch=0, step=3) == {1}


def test_uneven_steps_like_n_critic():
    assert blocks(bound(Alternating(steps=[3, 1])), 8) == [0, 0, 0, 1] * 2
    assert blocks(bound(Alternating(steps=[3, 1], start="second")), 8) == [1, 0, 0, 0] * 2


@pytest.mark.parametrize(
    "order, start, expected",
    [
        ("cyclic", None, [0, 1, 2, 3, 0, 1, 2, 3]),
        ("reverse", None, [3, 2, 1, 0, 3, 2, 1, 0]),
        ("pingpong", None, [0, 1, 2, 3, 2, 1, 0, 1]),
        ("cyclic", "2", [2, 3, 0, 1, 2, 3, 0, 1]),
        ("pingpong", "last", [3, 2, 1, 0, 1, 2, 3, 2]),
    ],
)
def test_orders_over_four_blocks(order, start, expected):
    assert blocks(bound(Alternating(order=order, start=start), n_blocks=4), 8) == expected


def test_steps_per_block_with_a_fixed_order():
    s = bound(Alternating(steps=[2, 1, 3], order="reverse"), n_blocks=3)
    assert blocks(s, 12) == [2, 2, 2, 1, 0, 0] * 2


def test_random_order_visits_each_block_once_per_cycle_and_is_seeded():
    a = blocks(bound(Alternating(order="random", seed=7), n_blocks=4), 40)
    for c in range(10):
        assert sorted(a[4 * c : 4 * c + 4]) == [0, 1, 2, 3]
    assert a == blocks(bound(Alternating(order="random", seed=7), n_blocks=4), 40)
    assert a != blocks(bound(Alternating(order="random", seed=8), n_blocks=4), 40)
    # seed null: the run's seed
    assert blocks(bound(Alternating(order="random"), n_blocks=4, seed=7), 40) == a


def test_random_block_draws_are_seeded_uniform_and_hold_for_every_units():
    s = bound(RandomBlock(every=3), n_blocks=3, seed=1)
    seq = blocks(s, 3000)
    assert all(len(set(seq[i : i + 3])) == 1 for i in range(0, 3000, 3))
    counts = [seq[::3].count(b) for b in range(3)]
    assert all(abs(c - 333) < 60 for c in counts), counts  # 1000 draws: 3 sd is about 45
    assert seq == blocks(bound(RandomBlock(every=3), n_blocks=3, seed=1), 3000)
    assert seq != blocks(bound(RandomBlock(every=3), n_blocks=3, seed=2), 3000)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Alternating(order="random"),
        lambda: RandomBlock(),
        lambda: Progressive(t_0=0.3),
        lambda: Alternating(order="pingpong"),
    ],
)
def test_a_resumed_schedule_continues_the_same_sequence(make):
    """A resumed run builds a fresh strategy and asks from its checkpointed step on."""
    whole = blocks(bound(make(), n_blocks=4, epochs=20), 80)
    resumed = bound(make(), n_blocks=4, epochs=20)
    assert [resumed.trainable(i // 4, i) for i in range(37, 80)] == [
        frozenset({b}) if isinstance(b, int) else frozenset(b) for b in whole[37:]
    ]


def test_progressive_linear_freezes_front_to_back_and_never_thaws():
    # 4 blocks, 10 epochs x 4 steps: blocks freeze at 0.5, 2/3, 5/6 of 40 steps (ceil: 20, 27, 34)
    s = bound(Progressive(t_0=0.5), n_blocks=4)
    seq = blocks(s, 40)
    assert seq[:20] == [(0, 1, 2, 3)] * 20
    assert seq[20:27] == [(1, 2, 3)] * 7
    assert seq[27:34] == [(2, 3)] * 7
    assert seq[34:] == [3] * 6
    assert s.resolved()["train_until"] == [20, 27, 34, 40]


def test_progressive_cubic_as_freezeouts_code_and_per_epoch():
    s = Progressive(t_0=0.8, schedule="cubic")
    assert s.freeze_at(2) == pytest.approx([0.512, 1.0])
    e = bound(Progressive(t_0=0.5, unit="epoch"), n_blocks=2, epochs=5)  # block 0 until epoch ceil(2.5) = 3
    assert blocks(e, 5, by="epoch") == [(0, 1)] * 3 + [1] * 2


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: Alternating(every=0), "strategy.every"),
        (lambda: Alternating(steps=[0, 2]), "strategy.steps"),
        (lambda: Alternating(steps=[2, 1], every=3), "strategy.every"),
        (lambda: Alternating(order="random", start="first"), "strategy.start"),
        (lambda: Alternating(start="middle"), "strategy.start"),
        (lambda: RandomBlock(every=0), "strategy.every"),
        (lambda: Progressive(t_0=0), "strategy.t_0"),
        (lambda: Progressive(t_0=1.5), "strategy.t_0"),
    ],
)
def test_bad_values(make, key):
    with pytest.raises(ConfigError, match=f"^{key}="):
        make()


@pytest.mark.parametrize(
    "strategy, key", [(Alternating(steps=[1, 1]), "strategy.steps"), (Alternating(start="3"), "strategy.start")]
)
def test_options_that_do_not_fit_the_blocks(strategy, key):
    with pytest.raises(ConfigError, match=f"^{key}=.*3 blocks"):
        strategy.check(3)
