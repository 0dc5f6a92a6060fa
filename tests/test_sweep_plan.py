"""What a sweep will launch, worked out in process without running a job: every experiment preset's jobs are
distinct valid configs, the pre-launch check composes each new override once, and jobs go out seed-major."""

import pytest
from helpers import ROOT, preset_sweeper
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext, RunMode
from omegaconf import open_dict

from alternating_freeze.config import config_hash, validate


def preset_jobs(name):
    """Every job of an experiment preset, composed as the sweep would compose it."""
    loader, master, _, job_overrides = preset_sweeper(name)
    jobs = []
    for job in job_overrides:
        cfg = loader.load_sweep_config(master, list(job))
        with open_dict(cfg):
            del cfg["hydra"]
        jobs.append(cfg)
    return jobs


SLOW = pytest.mark.slow  # the larger presets take seconds each to compose; two small ones stay in the fast lane


@pytest.mark.parametrize(
    "name, n_jobs",
    [
        pytest.param("frequency", 50, marks=SLOW),
        pytest.param("split", 5 * (4 + 1 + 2 + 3 + 5), marks=SLOW),
        ("seed_notebook", 10),
        pytest.param("seed_repo", 25, marks=SLOW),
        pytest.param("blocks", 5 * (2 + 2 * 3 * 3), marks=SLOW),
        ("digits_cnn", 15),
        pytest.param("cifar_resnet", 25, marks=SLOW),
        pytest.param("freezeout_resnet", 25, marks=SLOW),
        ("freezeout_resnet_quick", 15),
        pytest.param("charlm", 5 * 5, marks=SLOW),  # tuned presets: their final jobs (test_tuning covers trials)
        ("charlm_quick", 4 * 2),
        pytest.param("badam", 4 * 5, marks=SLOW),
        pytest.param("charlm_finetune", 5 * 5, marks=SLOW),
        pytest.param("charlm_finetune_quick", 4 * 2, marks=SLOW),
    ],
)
def test_presets_compose_without_duplicates(name, n_jobs):
    jobs = preset_jobs(name)
    assert len(jobs) == n_jobs
    for cfg in jobs:
        validate(cfg)
    assert len({config_hash(cfg) for cfg in jobs}) == n_jobs


def test_pre_launch_check_composes_each_new_override_once_and_still_refuses_a_bad_one():
    """Hydra composes every job before launching and again at launch; ours composes a job in advance
    only when it brings an override not yet composed under the same group options."""
    loader, master, sweeper, jobs = preset_sweeper("frequency")
    composed = []
    compose = loader.load_sweep_config
    loader.load_sweep_config = lambda master_config, sweep_overrides: (
        composed.append(sweep_overrides),
        compose(master_config, sweep_overrides),
    )[1]
    sweeper.validate_batch_is_legal(jobs)
    assert len(jobs) == 50 and len(composed) < 20, len(composed)
    every_override = {o for job in jobs for o in job}
    assert every_override == {o for job in composed for o in job}
    with pytest.raises(Exception, match="week"):  # a value no composed job had: composed, and refused
        sweeper.validate_batch_is_legal(
            [*jobs, ["strategy=alternating", "strategy.unit=week", "seed=0", "experiment=frequency"]]
        )
    # overrides that interact: only the last job of this 2x2 grid fails, and every pair is in the others
    grid = [[f"+extra={added}", f"extra={merged}"] for added in ("{a:1,b:1}", "{a:1}") for merged in ("{a:5}", "{b:5}")]
    with pytest.raises(Exception, match="extra"):
        loader.load_sweep_config(master, grid[-1])
    sweeper.validate_batch_is_legal(grid[:3])
    with pytest.raises(Exception, match="extra"):
        sweeper.validate_batch_is_legal(grid)


@pytest.mark.parametrize("name", [None, "frequency"])
def test_sweeps_launch_seed_major(name):
    """Every configuration of a seed before the next seed, whatever the order on the command line:
    a slow period of a shared machine then falls on every configuration alike."""
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))
    master = loader.load_configuration(
        "train", overrides=[f"experiment={name}"] if name else [], run_mode=RunMode.MULTIRUN
    )
    assert master.hydra.sweeper._target_.endswith("ArmsSweeper")  # every sweep's default, presets' too
    from hydra_plugins.af_arms_sweeper.arms_sweeper import ArmsSweeper

    sweeper = ArmsSweeper(arms=dict(master.hydra.sweeper.arms or {}))
    sweeper.hydra_context = HydraContext(config_loader=loader, callbacks=None)
    args = ["strategy=standard,alternating", "seed=0,1,2"] if name is None else ["seed=range(3)"]
    jobs = sweeper.split_arguments(OverridesParser.create(config_loader=loader).parse_overrides(args), None)[0]
    seeds = [next(o for o in job if o.startswith("seed=")) for job in jobs]
    n = len(jobs) // 3
    assert seeds == ["seed=0"] * n + ["seed=1"] * n + ["seed=2"] * n
    assert len({tuple(sorted(j)) for j in jobs}) == len(jobs)
