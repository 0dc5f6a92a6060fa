"""The analysis as a document: ``report.md``, the template's prose with what depends on the data filled in
(the verdicts from ``verdicts``, the sections from ``sections``); ``page`` renders it as report.html."""

from __future__ import annotations

from alternating_freeze.contract import metric_objective

from . import checks, tables, tuning
from .describe import say
from .measures import equal_flops, headline_metric, unit, unit_words
from .paired import WILCOXON_MIN_N
from .sections import figures_section, protocol, provenance, runs_section, speed, tuning_studies
from .stats import MIN_SEEDS, context_names
from .verdicts import by_status, context, headline, verdict


def build(result) -> str:
    """report.md's text for an ``AnalysisResult``."""
    runs, stats, paired, configs, alpha = result.runs, result.stats, result.paired, result.configs, result.alpha
    trials = int(runs["role"].eq("trial").sum())
    statuses = ", ".join(f"{n} {s}" for s, n in by_status(runs).items())
    overview = (
        f"{len(runs)} run(s) in {len(result.inputs)} folder(s)"
        + f", {trials} of them tuning trials" * bool(trials)
        + f": {statuses}; {len(configs)} configuration(s)."
    )
    objective = result.objective
    main, flops, u = headline_metric(objective), equal_flops(objective), unit(objective)
    verdicts = [
        verdict(paired, main, f"Final {u.name} at equal epochs", alpha, objective),
        verdict(paired, flops, f"{u.name.capitalize()} at equal training FLOPs", alpha, objective),
    ]
    units = (
        "in percentage points (pp)"
        if objective.measure == "acc"
        else f"in {u.unit} of {u.name} (lower is better: a negative difference is an improvement; bits per "
        "character are nats / ln 2)"
    )
    glance = (
        say(
            "glance",
            verdicts="\n".join(f"- {v}" for v in verdicts if v),
            units=units,
            table=tables.markdown(*tables.glance(stats, paired, objective)),
        )
        if len(paired)
        else ""
    )
    if (paired["n_pairs"] > 0).any():
        comparison = say("paired", table=tables.markdown(tables.comparison(paired, objective)), measure=objective.words)
    else:
        comparison = say(
            "no_configuration"
            if configs.empty
            else "only_standard"
            if configs["strategy"].eq("standard").all()
            else "no_comparison"
        )
    blocks, target, grid = (
        tables.blocks(stats, paired, configs, context_names(configs), objective),
        result.target,
        result.tuning,
    )
    tested = paired.groupby("metric")["p_ttest"].count()
    return (
        say(
            "report",
            context=context(result.done if len(result.done) else runs),
            overview=overview,
            boot=result.boot.describe(),
            headline="\n\n".join(
                [
                    *(f"> **Warning:** {w}" for w in result.warnings if w.startswith("UNREADABLE TUNING")),
                    headline(
                        paired,
                        alpha,
                        any(s.tuning for s in result.sweeps),
                        stats,
                        set(checks.untrained(runs, result.curves)),
                        checks.same_runs(result.curves),
                        objective,
                    ),
                ]
            ),
            glance=glance,
            blocks=say("blocks", table=tables.markdown(blocks), measure=objective.words, unit=unit(objective).diff_unit)
            if len(blocks)
            else "",
            protocol=protocol(result),
            speed=speed(paired, alpha, objective),
            target=say(
                "target",
                goal=result.target_rule,
                measure=objective.words,
                table=tables.markdown(tables.target(target, objective)),
            )
            if len(target)
            else "",
            tuning=tuning_studies(result)
            or (
                say(
                    "tuning",
                    metric=grid["metric"].iloc[0],
                    unit=unit_words(metric_objective(grid["metric"].iloc[0])),
                    table=tables.markdown(tables.tuning(grid)),
                )
                if len(grid)
                else ""
            ),
            warnings="\n".join(f"- {w}" for w in result.warnings) or "None.",
            runs=runs_section(runs[~runs["role"].isin(tuning.OUTSIDE_VERDICT)], configs),
            per_config=tables.markdown(*tables.per_config(stats, objective))
            if len(stats)
            else "No configuration to summarize.",
            paired=comparison,
            figures=figures_section(result),
            provenance=provenance(result),
            min_seeds=MIN_SEEDS,
            wilcoxon_min=WILCOXON_MIN_N,
            confidence=f"{result.boot.confidence:g}",
            alpha=f"{alpha:g}",
            measure=objective.words,
            Measure=objective.words.capitalize(),
            n_acc=tested.get(main, 0),
            n_flops=tested.get(flops, 0),
            tex_files=", `tables/*.tex` (booktabs LaTeX)" * bool(result.files.get("latex")),
        )
        + "\n"
    )
