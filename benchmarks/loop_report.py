"""What the loop benchmark (``benchmarks.loop``) reports: issue #5's targets, judged on its ratios, and the
printed tables of its results."""

from __future__ import annotations

import math

MNIST_JOB_EPOCHS = 20  # the MNIST-sized job, the yardstick of sweep overhead
FLOP_SLACK = 1.10  # freezing must save the time its FLOPs predict: time ratio <= 1.10 x FLOP ratio (#5, #21)


def judged(t: dict) -> dict:
    """``{name: (value, ">=" or "<=", bound)}`` as the results JSON records targets: value, target, met."""
    return {
        k: {"value": v, "target": f"{op} {bound:.3f}", "met": v >= bound if op == ">=" else v <= bound}
        for k, (v, op, bound) in t.items()
    }


def flop_target(time_ratio: float, flop_ratio: float) -> tuple:
    """The target of a frozen share's time ratio (over training everything), from its FLOP ratio."""
    return (time_ratio, "<=", FLOP_SLACK * flop_ratio)


def targets(out: dict) -> dict:
    """Issue #5's targets; every one is a ratio of things measured side by side in this run."""
    t = {
        "fraction_of_peak": (out["fraction_of_peak"], ">=", 0.70),
        "speedup_vs_seed_loop": (out["speedup_vs_seed_loop"], ">=", 2.2),
        "alternating_time_ratio": flop_target(out["alternating_time_ratio"], out["alternating_flop_ratio"]),
    }
    if "startup_ratio" in out:
        t["startup_ratio"] = (out["startup_ratio"], "<=", 1.5)
        t["sweep_overhead"] = (out["sweep_overhead"], "<=", 0.05)
    return judged(t)


def print_report(out: dict) -> None:
    cfg = out["config"]
    print(f"\nGEMM, float32, {cfg['threads']} threads, {cfg['device']} (median GFLOP/s; ^T: operand stored transposed)")
    print(f"  {'mm ' + str(cfg['gemm_n']) + '^3':44s} {out['gemm_gflops_2048']:7.1f}")
    for r in out["gemm_shapes"]:
        print(f"  {r['matmul']:44s} {r['gflops']:7.1f}   ({r['mflop']:.1f} MFLOP)")
    for ph, g in out["gemm_gflops_per_phase"].items():
        mark = "   <- the peak of fraction_of_peak" if ph == "all" else ""
        print(
            f"  {'step mix, ' + ph + ' trains':44s} {g:7.1f}   ({out['flops_per_step'][ph]['flop_model'] / 1e6:.1f}"
            f" MFLOP/step){mark}"
        )
    fc = out["flops_per_step"]
    print(
        f"\nFLOPs of one training step at batch {cfg['batch_size']} (FlopCounterMode = project FLOP model): "
        + ", ".join(f"{ph} {v['flop_counter'] / 1e6:.1f} M" for ph, v in fc.items())
    )

    print(f"\nTraining only, median ms per epoch ({cfg['n_train']} samples; evaluation excluded, shown apart)")
    print(
        f"  {'contender':34s} {'train ms':>9s} {'GFLOP/s':>8s} {'of floor':>9s} {'/ours std':>9s}"
        f" {'FLOP ratio':>10s} {'eval ms':>8s}"
    )
    std = out["contenders"]["ours standard"]
    fl = out["floor_epoch_s"]
    print(
        f"  {'floor, all trains':34s} {fl['all'] * 1e3:9.1f} {std['flops'] / fl['all'] / 1e9:8.1f} {1:9.2f}"
        f" {fl['all'] / std['train_s']:9.2f} {1:10.3f}"
    )
    noted = False
    for name, r in out["contenders"].items():
        if name.startswith("what-if") and not noted:
            noted = True
            print("  (what-if rows: not the project's code as it is; see benchmarks/whatif.py)")
        eval_ms = f"{r['eval_s'] * 1e3:8.1f}" if r["eval_s"] else f"{'-':>8s}"
        print(
            f"  {name:34s} {r['train_s'] * 1e3:9.1f} {r['gflops']:8.1f} {r['fraction_of_floor']:9.2f}"
            f" {r['train_s'] / std['train_s']:9.2f} {r['flops'] / std['flops']:10.3f} {eval_ms}"
        )
        if len(r["phases"]) > 1 and "all" not in r["phases"] and "first+second" not in r["phases"]:
            for ph, v in r["phases"].items():
                ratio = fc[ph]["flop_model"] / fc["all"]["flop_model"]
                print(
                    f"  {'    ' + ph + ' half trains':34s} {v * 1e3:9.1f} {'':8s} {fl[ph] / v:9.2f}"
                    f" {v / std['train_s']:9.2f} {ratio:10.3f}"
                )

    if "startup" in out:
        st = out["startup"]
        print(
            f"\nStart-up (median of {st['repeats']}; seconds from spawning the process; torch bytecode"
            f" {'cached' if st['bytecode_cached'] else 'NOT cached: every process compiles its sources'})"
        )
        print(
            f"  python -c 'import torch', to the end of the import   {st['torch_import_s']:6.2f}"
            f"   (process wall {st['torch_import_wall_s']:.2f})"
        )
        print(
            f"  af-train to its first training step (fit)           {st['af_first_step_s']:6.2f}"
            f"   = python up {st['af_python_up_s']:.2f}, torch imported at {st['af_torch_imported_s']:.2f},"
            f" then Hydra + data + model {st['hydra_data_model_s']:.2f},"
        )
        print(
            f"  {'':52s}     build_optimizer {st['build_optimizer_s']:.2f},"
            f" the rest {st['af_first_step_s'] - st['af_optimizer_exit_s']:.2f}"
        )
        print(
            f"  af-train process wall minus its train_s + eval_s    {st['af_wall_minus_train_eval_s']:6.2f}"
            f"   (also counts writing results and shutdown)"
        )
        for r in out.get("import_profile", []):
            print(f"    import {r['package']:24s} {r['import_s']:6.2f} s (self time, -X importtime)")
        sw = out["sweep"]
        print(
            f"\nSweep: {sw['jobs']} jobs x {sw['epochs']} epochs ({' '.join(sw['overrides'])}, digits), median of"
            f" {sw['repeats']} sweeps"
        )
        print(
            f"  per-job overhead {sw['per_job_overhead_s']:.3f} s = inside fit (metrics, checkpoints)"
            f" {sw['in_fit_overhead_s']:.3f} + between jobs {sw['between_jobs_s']:.3f};"
            f" job's own train+eval {sw['job_train_eval_s']:.3f} s"
        )
        print(
            f"  process start-up once per sweep {sw['process_start_s']:.2f} s; amortised over the jobs"
            f" {sw['amortised_overhead_s']:.3f} s/job"
        )
        print(f"  MNIST-sized job ({MNIST_JOB_EPOCHS} epochs of ours standard, train+eval) {sw['mnist_job_s']:.2f} s")

    quick = out["config"]["quick"]
    print("\nTargets" + (" (smoke run: tiny sizes, targets not applicable)" if quick else ""))
    for k, t in out["targets"].items():
        verdict = "n/a" if quick else "met" if t["met"] else "MISSED"
        print(f"  {k:26s} {t['value']:7.3f}  {t['target']:10s} {verdict}")
    extra = (
        "alternating_floor_ratio",
        "alternating_batch_time_ratio",
        "alternating_batch_flop_ratio",
        "speedup_vs_seed_loop_alternating",
        "seed_alternating_time_ratio",
        "fraction_of_peak_2048",
        "sweep_overhead_amortised",
        "seed_batching_speedup",
    )
    for k in extra:
        if k in out and math.isfinite(out[k]):
            print(f"  {k:34s} {out[k]:7.3f}")
