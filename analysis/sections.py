"""The report's sections that read the data: protocol, speed, tuning studies, runs, figures and provenance."""

from __future__ import annotations

import math
import platform
import re
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import pandas as pd

from alternating_freeze.contract import ACCURACY, Objective, metric_objective, schedule_label

from . import tables, tuning
from .columns import scheduler_options
from .describe import fmt_value, listing, say, seeds_text
from .loading import key_columns
from .measures import equal_flops, headline_metric, unit_words
from .speed import MIN_TIMED_PAIRS, STARVED_SHARE, THROUGHPUT_FACTOR
from .verdicts import by_status, verdict


def _pct(x: float) -> str:
    return tables.number(x * 100)


def _in(measure: str):
    """How a value of ``measure`` is shown: an accuracy in %, a loss in its own unit (null: a failed study's)."""
    return _pct if measure == "acc" else lambda x: tables.number(math.nan if x is None else x, 3)


def tuning_studies(result, metric: str | None = None) -> str:
    """A quasi-random sweep's studies per arm (choice, validation score, final runs) and their spread next
    to the seed variance; "" without one. ``metric``: by default the runs' objective's final test value."""
    out, metric = [], metric or headline_metric(result.objective)
    final = _in(metric_objective(metric).measure)
    for s in (s for s in result.sweeps if s.tuning and s.tuning.get("method") == "quasirandom"):
        t = tuning.studies(s.tuning, result.runs, s.path, metric)
        shown = t.assign(
            median=t["median"].map({True: "✓", False: ""}),
            val_score=t["val_score"].map(_in(metric_objective(s.tuning.get("metric", "")).measure)),
            final=[f"{final(m)} ± {final(sd)} (n={n})" for m, sd, n in zip(t["mean"], t["seed_sd"], t["n"])],
        )[["arm", "study", "median", "chosen", "val_score", "final"]]
        spread = tuning.spread(t).assign(
            study_sd=lambda f: f["study_sd"].map(final), seed_sd=lambda f: f["seed_sd"].map(final)
        )
        out.append(
            say(
                "tuning_studies",
                metric=s.tuning.get("metric", "?"),
                final_metric=metric,
                val_unit=unit_words(metric_objective(s.tuning.get("metric", ""))),
                final_unit=unit_words(metric_objective(metric)),
                spread_unit="percentage points"
                if metric_objective(metric).measure == "acc"
                else unit_words(metric_objective(metric)),
                table=tables.markdown(shown),
                spread=tables.markdown(spread.rename(columns={"study_sd": "between studies", "seed_sd": "seeds"})),
            )
        )
    return "\n\n".join(out)


def protocol(result) -> str:
    """Tuned or not, selection on validation or test, FLOP budgets."""
    done, configs = result.done, result.configs
    lrs = sorted(configs["lr"].dropna().unique()) if "lr" in configs else []
    parts = [tuning.protocol(s.tuning) for s in result.sweeps if s.tuning] or [
        say("untuned", lr=f" (lr {', '.join(map(fmt_value, lrs))})" * bool(lrs))
    ]
    on_test = int(done["selection"].eq("test").sum())
    parts.append(
        say("selection_test", which="any of these runs" if on_test == len(done) else f"{on_test} of {len(done)} runs")
        if on_test
        else say("selection_val")
    )
    if "config.scheduler.name" in configs:  # a schedule recorded by some run: say each configuration's
        tuned = any(s.tuning for s in result.sweeps)
        parts.append(say("schedule", each=schedules(configs), tuned=" " + say("schedule_tuned") if tuned else ""))
    budget = configs[configs["strategy"].ne("standard") & configs["budget"].notna()] if "budget" in configs else []
    if len(budget):
        parts.append(say("budget", n=len(budget), labels="; ".join(budget["label"])))
    return "\n\n".join(parts)


def schedules(configs: pd.DataFrame) -> str:
    """Each configuration's learning-rate schedule in full (contract.schedule_label), those sharing one together."""
    by: dict[str, list] = {}
    for r in configs.to_dict("records"):
        by.setdefault(schedule_label(scheduler_options(r), full=True)[0], []).append(r["label"])
    if len(by) == 1:
        return f"{next(iter(by))} for every configuration"
    return "; ".join(f"{name} for {', '.join(map(repr, labels))}" for name, labels in by.items())


def speed(paired: pd.DataFrame, alpha: float, objective: Objective = ACCURACY) -> str:
    """Speed leads with FLOPs; seconds only where enough pairs can be trusted, and why not elsewhere; the
    objective's verdict at equal FLOPs (accuracy, or a text's loss)."""
    flops, secs = (paired[(paired["metric"] == m) & paired["baseline_id"].notna()] for m in ("train_flops", "train_s"))
    if flops.empty:
        return ""
    share = flops["mean_config"] / flops["mean_baseline"] * 100
    timed, untimed = secs[secs["n_pairs"] > 0], secs[secs["n_pairs"] == 0]
    change = timed["mean_diff"] / timed["mean_baseline"] * 100
    faster, slower = (int(((timed["p_holm"] < alpha) & (timed["mean_diff"] * sign > 0)).sum()) for sign in (-1, 1))
    why = untimed["label"] + " (" + untimed["note"].str.extract(r"(\d+ of \d+)")[0] + " trusted)"
    clock = [
        say(
            "clock",
            n=len(timed),
            of=len(secs),
            faster=faster,
            slower=slower,
            alpha=f"{alpha:g}",
            low=f"{change.min():+.0f}",
            high=f"{change.max():+.0f}",
        )
        if len(timed)
        else say("no_clock")
    ]
    if len(timed) and len(untimed):
        clock.append(say("untimed", n=len(untimed), which=listing(why)))
    eq = verdict(paired, equal_flops(objective), f"{objective.words.capitalize()} at equal FLOPs", alpha, objective)
    return say(
        "speed",
        flops=f"{int((share < 100).sum())} of {len(flops)} configuration(s) spend fewer FLOPs than "
        f"standard training ({share.min():.0f}-{share.max():.0f}% of its FLOPs). {eq}",
        clock=" ".join(clock),
        factor=THROUGHPUT_FACTOR,
        starved=f"{STARVED_SHARE:.0%}",
        min_pairs=MIN_TIMED_PAIRS,
    )


def code(text: Any) -> str:
    if not isinstance(text, str):
        import yaml

        text = yaml.safe_dump(text, sort_keys=False, default_flow_style=False, allow_unicode=True)
    fence = "`" * max(3, 1 + max(map(len, re.findall("`+", text)), default=0))  # text from a results folder
    return f"{fence}\n{text.rstrip()}\n{fence}"  # cannot close the block early


def runs_section(runs: pd.DataFrame, configs: pd.DataFrame) -> str:
    """Run counts by status, the runs left out and why, and the configurations with their seeds."""
    counts, bad, done = by_status(runs), runs[runs["status"] != "completed"], runs[runs["in_stats"]]
    parts = [tables.markdown(counts.rename("runs").rename_axis("status").reset_index()), "Every run completed."]
    if len(bad):
        parts[1:] = [
            "### Runs excluded from the statistics (not completed, or unreadable)",
            tables.markdown(
                pd.DataFrame(
                    {
                        "run": bad["run_id"],
                        "configuration": bad["label"].fillna("unknown"),
                        "seed": bad["seed"].map(fmt_value),
                        "status": bad["status"],
                        "epochs done": bad["epochs_completed"].map(fmt_value),
                        "error": bad["error"].fillna("").str.slice(0, 300),
                    }
                )
            ),
        ]
    if len(configs):
        keys = [c for c in key_columns(runs) if configs[c].nunique() == 1 and configs[c].notna().all()]
        parts += [
            "### Configurations",
            f"Settings shared by every configuration: "
            f"{', '.join(f'{c}={fmt_value(configs[c].iloc[0])}' for c in keys)}." * bool(keys),
            tables.markdown(
                pd.DataFrame(
                    {
                        "configuration": configs["label"],
                        "id": configs["config_id"],
                        "runs": configs["config_id"].map(runs.groupby("config_id").size()).fillna(0).astype(int),
                        "completed seeds": [
                            seeds_text(done.loc[done["config_id"] == c, "seed"]) for c in configs["config_id"]
                        ],
                    }
                )
            ),
        ]
    return "\n\n".join(filter(None, parts))


def provenance(result) -> str:
    parts = ["Produced by:", code(result.command or f"analysis.analyze({result.inputs!r})")]
    for s in result.sweeps:
        parts += [
            f"Sweep `{s.path}`"
            + (f" (launch record unreadable: {s.error})" if s.error else ", launched with:" * bool(s.command)),
            code(s.command) if s.command else "",
        ]
        parts += [say("sweeper"), code(s.sweeper)] if s.sweeper else []
    overrides = sorted(set(result.runs["overrides"].dropna().astype(str)))
    if overrides and not any(s.command for s in result.sweeps):
        parts += [
            say("run_overrides"),
            code("\n".join(f"af-train {o}" for o in overrides[:50]) + "\n..." * (len(overrides) > 50)),
        ]
    if config := next((s.config for s in result.sweeps if s.config), None):
        parts += [say("composed"), code(config)]
    versions = [f"python {platform.python_version()}"] + [
        f"{p} {version(p)}" for p in ("pandas", "numpy", "scipy", "matplotlib", "seaborn")
    ]
    return "\n\n".join(
        filter(
            None,
            [
                *parts,
                f"Input folders: {', '.join(f'`{p}`' for p in result.inputs)}. Generated "
                f"{datetime.now(UTC).isoformat(timespec='seconds')} with "
                f"{', '.join(versions)}.",
            ],
        )
    )


def figures_section(result) -> str:
    """Each figure under its title (the report's heading, never inside the image) with its caption."""
    main = headline_metric(result.objective)
    paired = result.pairs[(result.pairs["left_out"] == "") & (result.pairs["metric"] == main)]
    n = paired.groupby("config_id").size()
    facts = {
        "measure": result.objective.words,
        "ci": result.boot.describe().split(" (")[0],
        "left_out": int((~result.done["timing_ok"]).sum()),
        "n": f"n={n.iloc[0]} paired seeds each" if n.nunique() == 1 else "n: seeds paired",
        "isolation": say(
            "isolation_trials"
            if any(s.tuning and s.tuning.get("method") == "quasirandom" for s in result.sweeps)
            else "isolation_grid"
        ),
    }
    parts = [
        f"### {f.title}\n\n![{f.title}](figures/{f.png.name})\n\n*"
        + say(f"caption_{f.name}", **facts)
        + f"* (vector: `figures/{f.svg.name}`, `figures/{f.pdf.name}`)"
        for f in result.figures
    ]
    if result.skipped:
        parts.append("Figures not drawn:\n\n" + "\n".join(f"- {n}: {why}" for n, why in result.skipped))
    return "\n\n".join(parts)
