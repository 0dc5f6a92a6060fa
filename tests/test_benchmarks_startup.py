"""benchmarks/startup.py: its phases from a child's timings, by hand, and every wrapped function exists."""

import importlib

import pytest

from benchmarks import startup


def test_phases_add_up_to_the_wall_by_hand():
    t = {
        "t_up": 100.5,
        "t_imported": 102.5,
        "t_plugins": 102.6,
        "t_end": 115.0,
        "sweeper": {"first": 103.0, "s": 8.0},
        "arm_checks": {"s": 1.0},
        "launch": {"s": 6.5},
        "compose": {"s": 0.5},
        "folders": {"s": 2.0},
        "group": {"s": 3.5},
        "members": {"s": 0.5},
        "fit": {"s": 2.5},
        "job_ends": {"s": 0.25},
        "sweep_report": {"s": 0.25},
        "analysis": {"s": 3.5},
    }
    p = startup.phases(100.0, 16.0, t)
    assert p["interpreter"] == 0.5 and p["imports"] == 2.0 and p["exit"] == 1.0
    assert p["hydra_plugins"] == pytest.approx(0.1) and p["hydra_setup"] == pytest.approx(0.4)
    assert p["sweeper"] == 0.5 and p["group_other"] == 0.5 and p["launch_other"] == 0.25
    assert p["hydra_other"] == pytest.approx(0.25)  # 115 - (103 + 8) - 0.25 - 3.5
    assert sum(v for k, v in p.items() if k != "wall") == pytest.approx(p["wall"])


def test_every_wrapped_function_is_where_its_caller_finds_it():
    from hydra.core.plugins import Plugins

    Plugins.instance()  # as the child does: the plugin modules as Hydra's scan leaves them
    for module, path in startup.WRAPPED.values():
        owner = importlib.import_module(module)
        for name in path.split("."):
            owner = getattr(owner, name)
        assert callable(owner), (module, path)
