"""Every config option composes through Hydra's compose API, validates, and bad values fail early."""

import pytest
from helpers import CONF, cfg_of
from hydra.errors import ConfigCompositionException

import alternating_freeze.config  # noqa: F401  registers the schemas
from alternating_freeze.config import config_hash, validate
from alternating_freeze.errors import ConfigError
from alternating_freeze.models import build_model
from alternating_freeze.strategies.alternating import Alternating
from alternating_freeze.strategies.standard import Standard


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


# Options whose defaults do not fit the default network (two blocks): composed with one that they fit.
FITS = {"strategy=lisa": ["model.depth=5", "model.splits=[1,2,3,4]"]}  # the first and last, and 2 of 3 others


@pytest.mark.parametrize("group", ["dataset", "model", "strategy", "optimizer", "scheduler", "trainer"])
def test_every_group_option_composes_and_validates(group):
    assert options(group), f"conf/{group} is empty"
    for option in options(group):
        run = validate(cfg_of(f"{group}={option}", *FITS.get(f"{group}={option}", [])))
        assert getattr(run, group) is not None


def test_model_presets_build_the_reference_networks():
    notebook = build_model(validate(cfg_of("model=mlp_notebook")).model, 784, 10)
    assert [m.out_features for _, m in notebook.linear_layers()] == [256, 256, 256, 10]
    assert [len(block) for block in notebook.blocks] == [2, 2]  # fc1 fc2 | fc3 fc4
    repo = validate(cfg_of("model=mlp_repo")).model
    net = build_model(repo, 3072, 10)
    assert [(m.in_features, m.out_features) for _, m in net.linear_layers()] == [(3072, 512), (512, 512), (512, 10)]
    assert repo.batchnorm and repo.dropout == 0.3 and repo.block_starts == [1]
    for option in options("model"):
        model = validate(cfg_of(f"model={option}")).model
        build_model(model, (model.block_size,) if option == "gpt" else (1, 8, 8), 10)  # gpt reads token windows


def test_strategy_configs_become_strategy_objects():
    assert isinstance(validate(cfg_of()).strategy, Standard)
    s = validate(cfg_of("strategy=alternating_epoch", "strategy.steps=[2,1]")).strategy
    assert isinstance(s, Alternating) and s.unit == "epoch" and s.units(2) == [2, 1]
    k = validate(cfg_of("model.depth=4", "model.splits=[1,2,3]", "strategy=alternating", "strategy.steps=[1,2,3,4]"))
    assert k.model.n_blocks == 4 and k.strategy.units(4) == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "override", ["model.depth=three", "model.nonsense=1", "strategy=nope", "strategy=alternating", "strategy.unit=week"]
)
def test_wrong_type_or_unknown_key_fails_at_compose(override):
    overrides = [override]
    if override == "strategy=alternating":
        overrides.append("strategy.unit=week")
    with pytest.raises(ConfigCompositionException):
        cfg_of(*overrides)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model.split=4", "model.depth=4"], "model.split"),
        (["model.split=0"], "model.split"),
        (["model.splits=[2,1]", "model.depth=4"], "model.splits"),
        (["model.splits=[1,4]", "model.depth=4"], "model.splits"),
        (["model.splits=[]"], "model.splits"),
        (["model.splits=[1]", "model.split=1"], "model.splits"),
        (["model.depth=4", "model.splits=[1,2]", "strategy=alternating", "strategy.steps=[1,1]"], "strategy.steps"),
        (["strategy=alternating", "strategy.start=2"], "strategy.start"),
        (["strategy=alternating", "strategy.steps=[2,1]", "strategy.every=2"], "strategy.every"),
        (["strategy=progressive", "strategy.t_0=0"], "strategy.t_0"),
        (["strategy=random_block", "strategy.every=0"], "strategy.every"),
        (["strategy=lisa", "strategy.count=0"], "strategy.count"),
        (["strategy=lisa", "model.depth=4", "model.splits=[1,2,3]", "strategy.count=3"], "strategy.count"),
        (["strategy=lisa", "model.depth=4", "model.splits=[1,2,3]", "strategy.always=[0,4]"], "strategy.always"),
        (["strategy=lisa", "model.depth=4", "model.splits=[1,2,3]", "strategy.always=[3,-1]"], "strategy.always"),
        (["strategy=lisa", "model.depth=4", "model.splits=[2]", "strategy.always=[0,1]"], "strategy.always"),
        (["model.depth=1"], "model.depth"),
        (["strategy=alternating", "strategy.every=0"], "strategy.every"),
        (["optimizer.lr=0"], "optimizer.lr"),
        (["optimizer.lr=-0.1"], "optimizer.lr"),
        (["optimizer.eps=0"], "optimizer.eps"),
        (["trainer.device=tpu"], "trainer.device"),
        (["trainer.device=cpu:x"], "trainer.device"),
        (["trainer.device=cuda:-1"], "trainer.device"),
        (["trainer.epochs=0"], "trainer.epochs"),
    ],
)
def test_bad_values_name_key_value_and_allowed(overrides, key):
    with pytest.raises(ConfigError) as err:
        validate(cfg_of(*overrides))
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}=") and "\n" not in str(err.value)


def test_config_hash_ignores_execution_keys_only():
    base = config_hash(cfg_of())
    assert config_hash(cfg_of("trainer.device=cpu", "trainer.num_threads=1", "trainer.progress=none")) == base
    assert config_hash(cfg_of("seed=1")) != base
    assert config_hash(cfg_of("strategy=alternating")) != base


def test_folder_names_leave_out_the_execution_keys():
    """Keys that do not change results (contract.EXECUTION_KEYS, trackers and their options) stay out of sweep
    folder names, as out of the config hash: composed as Hydra names a job's folder."""
    from hydra import compose, initialize_config_dir

    from alternating_freeze import contract

    unnamed = [
        f"{k}={v}"
        for k, v in (
            ("trainer.device", "cpu"),
            ("trainer.num_threads", 1),
            ("trainer.progress", "none"),
            ("trainer.checkpoint", False),
            ("trainer.eval_batch_size", 64),
            ("trainer.channels_last", False),
            ("trainer.compile", "none"),
            ("trainer.allow_untrained", True),
            ("trainer.keep_weights", False),
            ("dataset.root", "elsewhere"),
            ("dataset.download", True),
            ("logger", "tensorboard"),
            ("logger.log_dir", "tb"),
        )
    ]
    assert {o.split("=")[0] for o in unnamed} >= set(contract.EXECUTION_KEYS)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["seed=3", *unnamed, "optimizer.lr=0.01"], return_hydra_config=True)
    assert cfg.hydra.job.override_dirname == "optimizer.lr=0.01,seed=3"


def test_a_cuda_index_beyond_the_machine_is_a_config_error(monkeypatch):
    import torch

    from alternating_freeze.machine import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match=r"^trainer.device='cuda:2': .*cuda:0..cuda:1$"):
        resolve_device("cuda:2")


def test_keys_added_later_hash_as_absent_at_their_neutral_value():
    """Runs written before trainer.precision, dataset.augment and model.stages existed computed exactly what the
    defaults compute: their folders must not be refused on resume (5ba8c9c90b5bf076: the default config's hash
    then). A value that changes the computation changes the hash."""
    assert config_hash(cfg_of()) == "5ba8c9c90b5bf076"
    for changed in ("trainer.precision=bf16", "dataset.augment=crop_flip", "model=cnn"):
        assert config_hash(cfg_of(changed)) != "5ba8c9c90b5bf076", changed


def test_option_files_hold_only_what_differs_from_their_schema():
    """A default lives once, in its schema: a conf/<group>/*.yaml key set to the schema's default is a second home."""
    import dataclasses

    from omegaconf import OmegaConf

    from alternating_freeze.data import DatasetConfig
    from alternating_freeze.loggers import LOGGERS
    from alternating_freeze.loop import TrainerConfig
    from alternating_freeze.models import ModelConfig
    from alternating_freeze.optim import OptimizerConfig
    from alternating_freeze.schedule import SchedulerConfig
    from alternating_freeze.strategies import STRATEGIES

    fixed = {
        "dataset": DatasetConfig,
        "model": ModelConfig,
        "optimizer": OptimizerConfig,
        "trainer": TrainerConfig,
        "scheduler": SchedulerConfig,
    }

    def schema(group: str, path):
        for entry in OmegaConf.load(path).get("defaults", []):
            if isinstance(entry, str) and entry != "_self_":
                return schema(group, path.parent / f"{entry}.yaml")
            for key, value in entry.items() if hasattr(entry, "items") else ():
                if str(key).startswith(f"/schema/{group}"):
                    return (STRATEGIES if group == "strategy" else LOGGERS)[value]
        return fixed[group]

    repeated = []
    for group in (*fixed, "strategy", "logger"):
        for path in sorted((CONF / group).glob("*.yaml")):
            defaults = {
                f.name: getattr(d, "value", d)
                for f in dataclasses.fields(schema(group, path))
                for d in [f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default]
            }
            values = OmegaConf.to_container(OmegaConf.load(path))
            repeated += [f"{path.relative_to(CONF)}: {k}" for k, v in values.items() if defaults.get(k, object()) == v]
    assert repeated == []


def test_auto_threads_follow_the_step_and_the_jobs_at_once(monkeypatch):
    """#25.2: trainer.num_threads=auto gives a step too small to gain from more threads one thread, and otherwise
    the cores the process may use divided among the jobs its launcher runs at once; a number is kept."""
    from omegaconf import OmegaConf

    from alternating_freeze import machine

    monkeypatch.setattr(machine, "available_cores", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    big, small = machine.PARALLEL_STEP_FLOPS, machine.PARALLEL_STEP_FLOPS - 1
    joblib, basic = OmegaConf.create({"n_jobs": 4}), OmegaConf.create({"_target_": "BasicLauncher"})
    assert machine.resolve_threads("auto", basic, big)[:1] == (8,)
    assert machine.resolve_threads(None, joblib, big)[:1] == (2,)
    assert machine.resolve_threads("auto", OmegaConf.create({"n_jobs": -1}), big)[:1] == (1,)
    threads, why, clamped = machine.resolve_threads("auto", basic, small)
    assert threads == 1 and "below the" in why and not clamped
    assert machine.resolve_threads(3, basic, small)[:1] == (3,)
    slurm = OmegaConf.create({"cpus_per_task": 4})
    assert (
        machine.resolve_threads("auto", slurm, big)[:1] == (4,)
        and machine.resolve_threads("auto", slurm, small)[0] == 1
    )
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert machine.resolve_threads("auto", basic, big)[:2] == (2, "auto: OMP_NUM_THREADS=2")


def test_a_job_folder_name_is_one_folder_and_fits_the_file_system():
    from alternating_freeze.config import NAME_MAX, job_dirname

    assert job_dirname("dataset.path=/data/my.txt,seed=0") == "dataset.path=%2Fdata%2Fmy.txt,seed=0"
    assert job_dirname("seed=0,strategy=standard") == "seed=0,strategy=standard"  # short names as Hydra's
    long = "dataset.path=/" + "d" * 300 + ",seed="
    a, b = job_dirname(long + "0"), job_dirname(long + "1")
    assert len(a.encode()) <= NAME_MAX and "/" not in a and a != b  # distinct jobs, distinct folders
    assert job_dirname(long + "0") == a  # the same job, the same folder (a resumed sweep finds it)
