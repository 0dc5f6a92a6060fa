"""Preflight's SLURM checks against stand-in `sbatch`/`sinfo` commands (a cluster with no default partition,
a controller that fails), so each one-line refusal is exercised on any machine; against the real local
cluster: tests/test_slurm.py."""

import stat

import pytest
from omegaconf import OmegaConf

from alternating_freeze import preflight
from alternating_freeze.errors import ConfigError

SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


def launcher(**keys):
    return OmegaConf.create(
        {"_target_": SLURM, "partition": None, "timeout_min": 60, "signal_delay_s": 120, "cpus_per_task": 1, **keys}
    )


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """A PATH holding only stand-in `sbatch` and `sinfo`; `sinfo` prints what the test writes, or fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def install(partitions: str = "", node_cpus: str = "", fail: str = "", with_sbatch: bool = True):
        script = bin_dir / "sinfo"
        if fail:
            script.write_text(f"#!/bin/sh\necho '{fail}' >&2\nexit 1\n")
        else:  # `sinfo -h -o %P` lists partitions; `sinfo -h -N -p P -o %c` the CPUs of each node
            script.write_text(
                f'#!/bin/sh\ncase "$*" in *-N*) printf "{node_cpus}" ;; *) printf "{partitions}" ;; esac\n'
            )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        sbatch = bin_dir / "sbatch"
        if with_sbatch:
            sbatch.write_text("#!/bin/sh\nexit 1\n")
            sbatch.chmod(0o755)
        elif sbatch.exists():
            sbatch.unlink()
        monkeypatch.setenv("PATH", str(bin_dir))

    return install


@pytest.mark.parametrize(
    "keys, env, message",
    [
        ({"timeout_min": 3}, {}, "hydra.launcher.timeout_min=3: at least 4 with hydra.launcher.signal_delay_s=120"),
        ({"timeout_min": 1, "signal_delay_s": 30}, {}, "hydra.launcher.timeout_min=1: at least 2 with"),
        ({}, {"with_sbatch": False}, "hydra/launcher='slurm': SLURM's sbatch is not on this machine's PATH"),
        (
            {},
            {"fail": "sinfo: error: Unable to contact slurm controller (connect failure)"},
            "hydra/launcher='slurm': SLURM's controller does not answer (sinfo: sinfo: error: Unable to contact slurm controller (connect failure))",
        ),
        (
            {},
            {"partitions": "cpu\\ngpu\\n"},
            "hydra.launcher.partition=None: this cluster has no default partition: name one of cpu, gpu",
        ),
        (
            {"partition": "cpu,big"},
            {"partitions": "cpu*\\ngpu\\n"},
            "hydra.launcher.partition='cpu,big': big is not a partition of this cluster: one of cpu, gpu",
        ),
        (
            {"cpus_per_task": 16},
            {"partitions": "cpu*\\n", "node_cpus": "8\\n12\\n"},
            "hydra.launcher.cpus_per_task=16: at most 12, the most CPUs of a node in partition cpu",
        ),
    ],
)
def test_slurm_preflight_refuses_in_one_line(fake_slurm, keys, env, message):
    fake_slurm(**env)
    with pytest.raises(ConfigError) as e:
        preflight.launcher_available(launcher(**keys))
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "keys", [{}, {"partition": "gpu", "cpus_per_task": 12}, {"timeout_min": 2, "signal_delay_s": 30}]
)
def test_slurm_preflight_passes_what_the_cluster_can_run(fake_slurm, keys):
    fake_slurm(partitions="cpu*\\ngpu\\n", node_cpus="8\\n12+\\n")
    preflight.launcher_available(launcher(**keys))
