"""Each strategy's block sequence against a hand-written expectation, and across a resume."""

import pytest

from alternating_freeze.errors import ConfigError
from alternating_freeze.strategies import STRATEGIES, Run
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.lisa import Lisa
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
    assert set(STRATEGIES) == {"standard", "alternating", "progressive", "freezeout", "random_block", "lisa"}


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


def lisa_sets(strategy, n, n_blocks, seed, steps_per_epoch=4):
    s = bound(strategy, n_blocks=n_blocks, seed=seed)
    return [s.trainable(i // steps_per_epoch, i) for i in range(n)]


def test_lisa_draws_count_others_besides_the_always_blocks_and_hold_for_every_units():
    sets = lisa_sets(Lisa(every=4, count=2, always=[0, -1]), 4000, n_blocks=6, seed=3)
    assert all(len(t) == 4 and {0, 5} <= t for t in sets)
    changes = [i for i in range(1, 4000) if sets[i] != sets[i - 1]]
    assert changes and all(i % 4 == 0 for i in changes)
    draws = [tuple(sorted(t - {0, 5})) for t in sets[::4]]
    assert len(set(draws)) == 6  # every pair of the 4 middle blocks is drawn
    # uniform over the 6 pairs: 1000 draws, about 167 each (sd about 12)
    assert all(abs(draws.count(p) - 1000 / 6) < 50 for p in set(draws)), [draws.count(p) for p in set(draws)]
    assert sets == lisa_sets(Lisa(every=4, count=2, always=[0, -1]), 4000, n_blocks=6, seed=3)
    assert sets != lisa_sets(Lisa(every=4, count=2, always=[0, -1]), 4000, n_blocks=6, seed=4)
    assert sets == lisa_sets(Lisa(every=4, count=2, always=[0, -1], seed=3), 4000, n_blocks=6, seed=9)


def test_lisa_always_list_counts_from_the_end_and_may_be_empty():
    sets = lisa_sets(Lisa(count=1, always=[-2]), 200, n_blocks=5, seed=0)
    assert all(len(t) == 2 and 3 in t for t in sets) and set().union(*sets) == {0, 1, 2, 3, 4}
    assert bound(Lisa(always=[-2]), n_blocks=5).resolved() == {"always": [3]}
    sets = lisa_sets(Lisa(count=2, always=[], unit="epoch"), 40, n_blocks=4, seed=0)
    assert all(len(t) == 2 for t in sets) and all(len(set(sets[e * 4 : e * 4 + 4])) == 1 for e in range(10))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Alternating(order="random"),
        lambda: RandomBlock(),
        lambda: Lisa(count=1),
        lambda: Lisa(count=2, always=[1], every=3),
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
        (lambda: Lisa(every=0), "strategy.every"),
        (lambda: Lisa(count=0), "strategy.count"),
        (lambda: Lisa(always=[True]), "strategy.always"),
        (lambda: Lisa(always=[0.5]), "strategy.always"),
        (lambda: Lisa(seed=-1), "strategy.seed"),
        (lambda: Progressive(t_0=0), "strategy.t_0"),
        (lambda: Progressive(t_0=1.5), "strategy.t_0"),
    ],
)
def test_bad_values(make, key):
    with pytest.raises(ConfigError, match=f"^{key}="):
        make()


@pytest.mark.parametrize(
    "strategy, key",
    [
        (Alternating(steps=[1, 1]), "strategy.steps"),
        (Alternating(start="3"), "strategy.start"),
        (Lisa(count=2), "strategy.count"),  # one block outside [0, -1]
        (Lisa(always=[0, 3]), "strategy.always"),
        (Lisa(always=[-4]), "strategy.always"),
        (Lisa(always=[2, -1]), "strategy.always"),  # block 2 twice
        (Lisa(always=[0, 1, 2], count=1), "strategy.always"),  # nothing left to draw
    ],
)
def test_options_that_do_not_fit_the_blocks(strategy, key):
    with pytest.raises(ConfigError, match=f"^{key}=.*3 blocks"):
        strategy.check(3)


def test_lisa_fits_where_count_is_at_most_the_other_blocks():
    Lisa(count=2).check(4)  # two middle blocks: both train, as standard training
    Lisa(count=1, always=[]).check(1)
    assert lisa_sets(Lisa(count=2), 8, n_blocks=4, seed=0) == [{0, 1, 2, 3}] * 8
