"""The analysis as a document: ``report.md``, the template's prose with what depends on the data filled in, and a
self-contained ``report.html`` rendered from it (figures embedded: one file to send)."""

from __future__ import annotations

import base64
import html
import platform
import re
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import checks, tables, tuning
from .describe import fmt_value, is_missing, listing, say, seeds_text
from .loading import STATUSES, key_columns
from .paired import EQUAL_FLOPS, WILCOXON_MIN_N
from .speed import MIN_TIMED_PAIRS, STARVED_SHARE, THROUGHPUT_FACTOR
from .stats import MIN_SEEDS, context_names


def by_status(runs: pd.DataFrame) -> pd.Series:
    return runs["status"].value_counts().reindex([s for s in STATUSES if s in set(runs["status"])])


def span(values: pd.Series) -> str:
    vals = sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))
    if len(vals) > 3 and all(isinstance(v, (int, float, np.number)) for v in vals):
        return f"{fmt_value(vals[0])}-{fmt_value(vals[-1])}"
    return "/".join(map(fmt_value, vals)) or "-"


def context(runs: pd.DataFrame) -> str:
    """The runs in one line: "digits, MLP depth 4/6 width 128, 20 epochs, 5 seeds per configuration"."""
    r = runs.reindex(columns=["dataset", "subset", "model", "depth", "width", "batchnorm", "epochs", "config_id"])
    if r["dataset"].isna().all():
        return "no run with a readable config"
    data = r["dataset"].astype(str) + r["subset"].map(lambda s: "" if is_missing(s) else f" (subset {s})")
    counts = runs.groupby("config_id")["seed"].nunique()
    lo, hi = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
    return (
        f"{', '.join(sorted(data.unique()))}, {span(r['model']).upper()} depth {span(r['depth'])} width "
        f"{span(r['width'])}{' batchnorm' * bool(r['batchnorm'].eq(True).all())}, {span(r['epochs'])} epochs, "
        + (f"{hi} seed{'s' * (hi != 1)}" if lo == hi else f"{lo}-{hi} seeds")
        + " per configuration" * (r["config_id"].nunique() > 1)
    )


def verdict(paired: pd.DataFrame, metric: str, what: str, alpha: float) -> str:
    """How many comparisons of ``metric`` differ from standard at Holm-adjusted p < alpha, and which way."""
    mine = paired[paired["metric"] == metric]
    rows = mine[mine["p_holm"].notna()]
    same = mine[mine["p_holm"].isna() & (mine["n_pairs"] >= 2) & (mine["sd_diff"] == 0) & (mine["mean_diff"] != 0)]
    constant = " " + say("constant", n=len(same), labels=", ".join(same["label"])) if len(same) else ""
    if rows.empty:
        return f"{what}:{constant}" if constant else ""
    low, high = (int(((rows["p_holm"] < alpha) & (rows["mean_diff"] * sign > 0)).sum()) for sign in (-1, 1))
    rest, n = len(rows) - low - high, rows["n_pairs"]
    return (
        say(
            "verdict",
            what=what,
            n=len(rows),
            seeds=n.min() if n.min() == n.max() else f"{n.min()}-{n.max()}",
            high=high,
            low=low,
            alpha=f"{alpha:g}",
            rest=say("verdict_rest", n=rest) if rest else ".",
            tentative=" " + say("tentative", min=MIN_SEEDS) if n.min() < MIN_SEEDS else "",
        )
        + constant
    )


def as_one(table: pd.DataFrame, never: set, same: list) -> pd.DataFrame:
    """``table`` without the configurations that never trained some block (``never``: config ids), and each
    group of ``same`` runs (labels) as one row, labelled with every name it goes by."""
    table = table[~table["config_id"].isin(never)]
    for group in same:
        rows = table["label"].isin(group)
        first = table.index[rows][table.loc[rows, "label"].eq(group[0]).to_numpy()]
        table = table.drop(table.index[rows].difference(first))
        table.loc[first, "label"] = " = ".join(group)
    return table


def no_baseline(stats: pd.DataFrame) -> str:
    """The headline of a sweep without standard training: its arms against each other, no verdict."""
    acc = stats[(stats["metric"] == "final_test_acc") & stats["mean"].notna()]
    if len(acc) < 2:
        return ""
    top, low = acc.loc[acc["mean"].idxmax()], acc.loc[acc["mean"].idxmin()]
    return (
        f"**No standard-training baseline in this sweep: its {len(acc)} configurations are compared with each "
        f"other only. Highest mean final test accuracy: {top['label']} ({top['mean'] * 100:.2f}%); lowest: "
        f"{low['label']} ({low['mean'] * 100:.2f}%); see the statistics table for their intervals.**"
    )


def headline(
    paired: pd.DataFrame,
    alpha: float,
    tuned: bool,
    stats: pd.DataFrame | None = None,
    never: set = frozenset(),
    same: list = (),
) -> str:
    """One sentence with numbers: does any configuration beat standard training, and how far off is the best
    (arms that never trained some block left out, the same runs counted once); without a baseline, the
    arms against each other."""
    paired = as_one(paired, never, same) if len(paired) else paired
    views = {m: paired[(paired["metric"] == m) & (paired["n_pairs"] > 0)] for m in ("final_test_acc", EQUAL_FLOPS)}
    if views["final_test_acc"].empty:
        return no_baseline(as_one(stats, never, same)) if stats is not None and len(stats) else ""

    def best(rows: pd.DataFrame, where: str) -> str:
        r = rows.loc[rows["mean_diff"].idxmax()]
        ci = f" [{r['ci_low'] * 100:+.2f}, {r['ci_high'] * 100:+.2f}]" if r["n_pairs"] > 1 else ""
        tell = (
            f" (Holm-adjusted p < {alpha:g})"
            if r["p_holm"] < alpha
            else ", which these seeds cannot tell from no difference"
        )
        return (
            f"{where} the best, {r['label']}, is {abs(r['mean_diff']) * 100:.2f} pp "
            f"{'higher' if r['mean_diff'] > 0 else 'lower'}{ci}{tell}"
        )

    wins = {m: v[(v["p_holm"] < alpha) & (v["mean_diff"] > 0)] for m, v in views.items()}
    setting = "at tuned settings" if tuned else "at the settings given (not tuned)"
    parts = [best(v, where) for v, where in zip(views.values(), ("at equal epochs", "at equal FLOPs")) if len(v)]
    lead = (
        f"No configuration beats standard training {setting}"
        if not any(len(w) for w in wins.values())
        else f"{len(wins['final_test_acc'])} of {len(views['final_test_acc'])} configurations beat standard training "
        f"{setting} at equal epochs and {len(wins[EQUAL_FLOPS])} at equal FLOPs (Holm-adjusted p < {alpha:g})"
    )
    return f"**{lead}: {'; '.join(parts)}.**"


def _pct(x: float) -> str:
    return tables.number(x * 100)


def tuning_studies(result, metric: str = "final_test_acc") -> str:
    """A quasi-random sweep's studies per arm (choice, validation score, final runs) and their spread next
    to the seed variance; "" without one."""
    out = []
    for s in (s for s in result.sweeps if s.tuning and s.tuning.get("method") == "quasirandom"):
        t = tuning.studies(s.tuning, result.runs, s.path, metric)
        shown = t.assign(
            median=t["median"].map({True: "✓", False: ""}),
            val_score=t["val_score"].map(_pct),
            final=[f"{_pct(m)} ± {_pct(sd)} (n={n})" for m, sd, n in zip(t["mean"], t["seed_sd"], t["n"])],
        )[["arm", "study", "median", "chosen", "val_score", "final"]]
        spread = tuning.spread(t).assign(
            study_sd=lambda f: f["study_sd"].map(_pct), seed_sd=lambda f: f["seed_sd"].map(_pct)
        )
        out.append(
            say(
                "tuning_studies",
                metric=s.tuning.get("metric", "?"),
                final_metric=metric,
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
        names = configs["config.scheduler.name"].where(configs["config.scheduler.name"].notna(), "constant")
        parts.append(say("schedule", each="; ".join(f"{lab}: {n}" for lab, n in zip(configs["label"], names))))
    budget = configs[configs["strategy"].ne("standard") & configs["budget"].notna()] if "budget" in configs else []
    if len(budget):
        parts.append(say("budget", n=len(budget), labels="; ".join(budget["label"])))
    return "\n\n".join(parts)


def speed(paired: pd.DataFrame, alpha: float) -> str:
    """Speed leads with FLOPs; seconds only where enough pairs can be trusted, and why not elsewhere."""
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
    eq = verdict(paired, EQUAL_FLOPS, "Accuracy at equal FLOPs", alpha)
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
    paired = result.pairs[(result.pairs["left_out"] == "") & (result.pairs["metric"] == "final_test_acc")]
    n = paired.groupby("config_id").size()
    facts = {
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
    verdicts = [
        verdict(paired, "final_test_acc", "Final test accuracy at equal epochs", alpha),
        verdict(paired, EQUAL_FLOPS, "Test accuracy at equal training FLOPs", alpha),
    ]
    glance = (
        say(
            "glance",
            verdicts="\n".join(f"- {v}" for v in verdicts if v),
            table=tables.markdown(*tables.glance(stats, paired)),
        )
        if len(paired)
        else ""
    )
    if (paired["n_pairs"] > 0).any():
        comparison = say("paired", table=tables.markdown(tables.comparison(paired)))
    else:
        comparison = say(
            "no_configuration"
            if configs.empty
            else "only_standard"
            if configs["strategy"].eq("standard").all()
            else "no_comparison"
        )
    blocks, target, grid = tables.blocks(stats, paired, configs, context_names(configs)), result.target, result.tuning
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
                    ),
                ]
            ),
            glance=glance,
            blocks=say("blocks", table=tables.markdown(blocks)) if len(blocks) else "",
            protocol=protocol(result),
            speed=speed(paired, alpha),
            target=say("target", goal=result.target_rule, table=tables.markdown(tables.target(target)))
            if len(target)
            else "",
            tuning=tuning_studies(result)
            or (
                say("tuning", metric=grid["metric"].iloc[0], table=tables.markdown(tables.tuning(grid)))
                if len(grid)
                else ""
            ),
            warnings="\n".join(f"- {w}" for w in result.warnings) or "None.",
            runs=runs_section(runs[~runs["role"].isin(tuning.OUTSIDE_VERDICT)], configs),
            per_config=tables.markdown(*tables.per_config(stats)) if len(stats) else "No configuration to summarize.",
            paired=comparison,
            figures=figures_section(result),
            provenance=provenance(result),
            min_seeds=MIN_SEEDS,
            wilcoxon_min=WILCOXON_MIN_N,
            confidence=f"{result.boot.confidence:g}",
            alpha=f"{alpha:g}",
            n_acc=tested.get("final_test_acc", 0),
            n_flops=tested.get(EQUAL_FLOPS, 0),
            tex_files=", `tables/*.tex` (booktabs LaTeX)" * bool(result.files.get("latex")),
        )
        + "\n"
    )


def inline(text: str) -> str:
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def to_html(md: str, folder: Path) -> str:
    """The report's Markdown (headings, lists, tables, code, figures, paragraphs) as one HTML page."""
    blocks, out, parts = [], [], re.split(r"(?ms)(^(`{3,})$.*?^\2$)", md)  # text, code block, its fence, text...
    for i in range(0, len(parts), 3):  # code blocks may hold blank lines
        blocks += [b for b in re.split(r"\n{2,}", parts[i].strip()) if b] + parts[i + 1 : i + 2]
    for b in blocks:
        if b.startswith("```"):
            out.append(f"<pre>{html.escape(b.split(chr(10), 1)[1].rsplit(chr(10), 1)[0])}</pre>")
        elif m := re.match(r"(#+) (.*)", b):
            out.append(f"<h{len(m[1])}>{inline(m[2])}</h{len(m[1])}>")
        elif m := re.match(r"!\[(.*)\]\((figures/[\w-]+\.png)\)$", b):  # our figures only, never another file
            data = base64.b64encode((folder / m[2]).read_bytes()).decode("ascii")
            out.append(f'<img alt="{html.escape(m[1])}" src="data:image/png;base64,{data}">')
        elif b.startswith("| "):
            rows = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in b.splitlines()]
            out.append(
                "<table><tr>"
                + "".join(f"<th>{inline(c)}</th>" for c in rows[0])
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[2:])
                + "</table>"
            )
        elif b.startswith("- "):
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in b[2:].split("\n- ")) + "</ul>")
        else:
            out.append("<p>" + re.sub(r"^\*(.*?)\*", r"<em>\1</em>", inline(b)) + "</p>")
    return say("page", title=html.escape(md.split("\n", 1)[0][2:]), body="\n".join(out)) + "\n"
