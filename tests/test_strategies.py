import pytest

from alternating_freeze.errors import ConfigError
from alternating_freeze.strategies import ALL, FIRST, SECOND, Alternating, Standard


def schedule(strategy, n, by="step"):
    return [strategy.trainable(epoch=i if by == "epoch" else 0, step=i if by == "step" else 0) for i in range(n)]


def test_standard_trains_all():
    assert set(schedule(Standard(), 5)) == {ALL}


def test_per_batch_switching_every_k():
    s = Alternating(unit="batch", every=2)
    assert schedule(s, 8) == [FIRST, FIRST, SECOND, SECOND] * 2


def test_per_epoch_switching_ignores_steps_within_epoch():
    s = Alternating(unit="epoch", every=1, start="second")
    assert schedule(s, 4, by="epoch") == [SECOND, FIRST, SECOND, FIRST]
    assert s.trainable(epoch=0, step=99) == SECOND


def test_uneven_steps_like_n_critic():
    s = Alternating(unit="batch", steps=[3, 1])
    assert schedule(s, 8) == [FIRST] * 3 + [SECOND] + [FIRST] * 3 + [SECOND]
    assert s.steps_per_half() == [3, 1]
    assert Alternating(every=4).steps_per_half() == [4, 4]


@pytest.mark.parametrize("kwargs, key", [({"every": 0}, "strategy.every"), ({"steps": [1]}, "strategy.steps"),
                                         ({"steps": [0, 2]}, "strategy.steps")])
def test_bad_values(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        Alternating(**kwargs)
