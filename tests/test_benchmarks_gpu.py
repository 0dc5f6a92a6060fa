"""benchmarks/gpu.py, the one GPU script: its arguments, its targets' arithmetic, and its refusal without CUDA."""

import pytest
import torch

from benchmarks import gpu


def test_arguments():
    args = gpu.parse(["--only", "cnn_fp32,sweep", "--budget-s", "100"])
    assert args.only == ("cnn_fp32", "sweep") and args.budget_s == 100.0
    assert gpu.parse([]).only == gpu.SECTIONS
    with pytest.raises(SystemExit):
        gpu.parse(["--only", "cnn,loop"])


def test_the_group_section_parses_as_benchmarks_compiled_reads_it(monkeypatch):
    """The batched group's section: no single-run models, a group of 32, cudagraphs (CUDA is only parsed for)."""
    from benchmarks import compiled

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    run, argv = gpu.commands(gpu.parse([]))["compiled_group"]
    args = compiled.parse(argv)
    assert run is compiled.main and args.models == [] and args.group == 32 and args.compile == "cudagraphs"


def test_without_cuda_it_exits_at_once_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as e:
        gpu.main([])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: benchmarks.gpu needs a CUDA GPU")


def test_targets_against_hand_computed_values():
    results = {
        "cnn_fp32": {
            "fraction_of_conv_floor": 0.75,
            "step_ms": {"standard": 3.0},
            "alternating_time_ratio": 0.85,
            "alternating_flop_ratio": 0.75,
        },
        "cnn_bf16": {
            "fraction_of_conv_floor": 0.5,
            "step_ms": {"standard": 3.3},
            "alternating_time_ratio": 0.82,
            "alternating_flop_ratio": 0.75,
        },
    }
    t = gpu.targets(results)
    assert t["resnet20_fp32_floor_fraction"]["met"] and not t["resnet20_bf16_floor_fraction"]["met"]
    assert not t["resnet20_fp32_alternating_ratio"]["met"]  # 0.85 > 1.1 x 0.75 = 0.825
    assert t["resnet20_bf16_alternating_ratio"]["met"]  # 0.82 <= 0.825
    assert t["resnet20_bf16_not_slower"]["value"] == pytest.approx(1.1) and not t["resnet20_bf16_not_slower"]["met"]
    assert set(t) <= set(gpu.PROFILED)
    assert gpu.targets({"cnn_fp32": results["cnn_fp32"]}).keys() == {
        "resnet20_fp32_floor_fraction",
        "resnet20_fp32_alternating_ratio",
    }
