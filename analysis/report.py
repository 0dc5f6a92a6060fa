"""The analysis as a document: ``report.md`` from its template, and a self-contained ``report.html``.

The prose lives in ``report.md.tmpl`` (string.Template, one section per ``%% name`` line); this module
fills in what depends on the data. The HTML is rendered from the Markdown, figures embedded: one file.
"""
from __future__ import annotations

import base64
import html
import platform
import re
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd

from . import tables, tuning
from .checks import listing
from .describe import context, fmt_value, seeds_text
from .loading import STATUSES, config_columns, key_columns
from .output import write_bytes
from .paired import EQUAL_FLOPS, WILCOXON_MIN_N, n_comparisons
from .stats import MIN_SEEDS, configurations, context_names
from .timing import MIN_TIMED_PAIRS, STARVED_SHARE, THROUGHPUT_FACTOR

TEMPLATE = Path(__file__).with_name("report.md.tmpl")


def sections() -> dict[str, Template]:
    parts = re.split(r"^%% (\w+)\n", TEMPLATE.read_text(encoding="utf-8"), flags=re.M)
    return {name: Template(text.strip("\n")) for name, text in zip(parts[1::2], parts[2::2])}


def verdict(paired: pd.DataFrame, metric: str, what: str, alpha: float) -> str:
    """How many comparisons of ``metric`` differ from standard at Holm-adjusted p < alpha, and which way."""
    mine = paired[paired["metric"] == metric]
    rows = mine[mine["p_holm"].notna()]
    same = mine[mine["p_holm"].isna() & (mine["n_pairs"] >= 2) & (mine["sd_diff"] == 0) & (mine["mean_diff"] != 0)]
    constant = (f" {len(same)} configuration(s) differ from standard training by the same amount on every seed "
                f"({', '.join(same['label'])}): no test applies, see the table.") if len(same) else ""
    if rows.empty:
        return f"{what}:{constant}" if constant else ""
    low, high = (int(((rows["p_holm"] < alpha) & (rows["mean_diff"] * sign > 0)).sum()) for sign in (-1, 1))
    rest, n = len(rows) - low - high, rows["n_pairs"]
    seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"
    text = (f"{what}: of {len(rows)} configuration(s) compared with standard training ({seeds} paired seeds each), "
            f"{high} higher and {low} lower at Holm-adjusted p < {alpha:g} (paired t-test)")
    text += (f"; for the other {rest}, these seeds detect no difference, which is not evidence that there is none."
             if rest else ".")
    return text + (f" With fewer than {MIN_SEEDS} seeds, treat this as tentative." if n.min() < MIN_SEEDS else "") \
        + constant


def headline(paired: pd.DataFrame, alpha: float, tuned: bool) -> str:
    """One sentence with numbers: does any configuration beat standard training, and how far off is the best."""
    views = {m: paired[(paired["metric"] == m) & (paired["n_pairs"] > 0)] for m in ("final_test_acc", EQUAL_FLOPS)}
    if views["final_test_acc"].empty:
        return ""

    def best(rows: pd.DataFrame, where: str) -> str:
        r = rows.loc[rows["mean_diff"].idxmax()]
        ci = f" [{r['ci_low'] * 100:+.2f}, {r['ci_high'] * 100:+.2f}]" if r["n_pairs"] > 1 else ""
        tell = (f" (Holm-adjusted p < {alpha:g})" if r["p_holm"] < alpha else
                ", which these seeds cannot tell from no difference" if r["mean_diff"] > 0 else "")
        return (f"{where} the best, {r['label']}, is {abs(r['mean_diff']) * 100:.2f} pp "
                f"{'higher' if r['mean_diff'] > 0 else 'lower'}{ci}{tell}")

    wins = {m: v[(v["p_holm"] < alpha) & (v["mean_diff"] > 0)] for m, v in views.items()}
    setting = "at tuned settings" if tuned else "at the settings given (not tuned)"
    parts = [best(v, where) for (m, v), where in zip(views.items(), ("at equal epochs", "at equal FLOPs")) if len(v)]
    lead = (f"No configuration beats standard training {setting}" if not any(len(w) for w in wins.values()) else
            f"{len(wins['final_test_acc'])} of {len(views['final_test_acc'])} configurations beat standard training "
            f"{setting} at equal epochs and {len(wins[EQUAL_FLOPS])} at equal FLOPs (Holm-adjusted p < {alpha:g})")
    return f"**{lead}: {'; '.join(parts)}.**"


def _protocol(t: dict, runs: pd.DataFrame, configs: pd.DataFrame, tuned: list) -> str:
    done = runs[runs["in_stats"]]
    lrs = sorted(configs["lr"].dropna().unique()) if "lr" in configs else []
    parts = [tuning.protocol(x) for x in tuned] or [t["untuned"].substitute(
        lr=f" (lr {', '.join(map(fmt_value, lrs))})" * bool(lrs))]
    on_test = int(done["selection"].eq("test").sum())
    parts.append(t["selection_val"].template if not on_test else t["selection_test"].substitute(
        which="any of these runs" if on_test == len(done) else f"{on_test} of {len(done)} runs"))
    budget = configs[configs["strategy"].ne("standard") & configs["budget"].notna()] if "budget" in configs else \
        configs.iloc[0:0]
    parts += [t["budget"].substitute(n=len(budget), labels="; ".join(budget["label"]))] * bool(len(budget))
    return "\n\n".join(parts)


def _speed(t: dict, paired: pd.DataFrame, alpha: float) -> str:
    """Speed leads with FLOPs; seconds only where enough pairs can be trusted, and why not elsewhere."""
    flops, secs = (paired[(paired["metric"] == m) & paired["baseline_id"].notna()] for m in ("train_flops", "train_s"))
    if flops.empty:
        return ""
    share = flops["mean_config"] / flops["mean_baseline"] * 100
    timed, untimed = secs[secs["n_pairs"] > 0], secs[secs["n_pairs"] == 0]
    change = timed["mean_diff"] / timed["mean_baseline"] * 100
    faster, slower = (int(((timed["p_holm"] < alpha) & (timed["mean_diff"] * sign > 0)).sum()) for sign in (-1, 1))
    clock = (f"Wall-clock, where it can be trusted ({len(timed)} of {len(secs)} configurations): {faster} faster and "
             f"{slower} slower than standard training at Holm-adjusted p < {alpha:g}, their mean change "
             f"{change.min():+.0f}% to {change.max():+.0f}% of its training seconds (each with its CI in the Cost "
             f"table).") if len(timed) else ("Wall-clock timing is unusable here: no configuration has enough "
                                             "pairs whose seconds can be trusted, so this report compares cost in "
                                             "FLOPs only.")
    why = untimed["label"] + " (" + untimed["note"].str.extract(r"(\d+ of \d+)")[0] + " trusted)"
    clock += (f" Not compared for {len(untimed)} configuration(s), too few pairs with trusted timing: {listing(why)}."
              ) * bool(len(timed) and len(untimed))
    eq = verdict(paired, EQUAL_FLOPS, "Accuracy at equal FLOPs", alpha)
    return t["speed"].substitute(
        flops=f"{int((share < 100).sum())} of {len(flops)} configuration(s) spend fewer FLOPs than standard training "
              f"({share.min():.0f}-{share.max():.0f}% of its FLOPs). {eq}", clock=clock, factor=THROUGHPUT_FACTOR,
        starved=f"{STARVED_SHARE:.0%}", min_pairs=MIN_TIMED_PAIRS)


def _code(text: Any) -> str:
    if not isinstance(text, str):
        import yaml

        text = yaml.safe_dump(text, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return f"```\n{text.rstrip()}\n```"


def _runs(runs: pd.DataFrame) -> str:
    counts = runs["status"].value_counts().reindex([s for s in STATUSES if s in set(runs["status"])])
    bad, configs, done = runs[runs["status"] != "completed"], configurations(runs), runs[runs["in_stats"]]
    parts = [tables.markdown(pd.DataFrame({"status": counts.index, "runs": counts.to_numpy()})), tables.markdown(
        pd.DataFrame({"run": bad["run_id"], "configuration": bad["label"].fillna("unknown"), "seed": bad["seed"].map(
            fmt_value), "status": bad["status"], "epochs done": bad["epochs_completed"].map(fmt_value),
            "error": bad["error"].fillna("").str.slice(0, 300)})) if len(bad) else "Every run completed."]
    if len(bad):
        parts.insert(1, "### Runs excluded from the statistics (not completed, or unreadable)")
    if len(configs):
        keys = [c for c in key_columns(config_columns(runs)) if configs[c].nunique() == 1 and configs[c].notna().all()]
        parts += ["### Configurations", f"Settings shared by every configuration: "
                  f"{', '.join(f'{c}={fmt_value(configs[c].iloc[0])}' for c in keys)}." * bool(keys),
                  tables.markdown(pd.DataFrame({
                      "configuration": configs["label"], "id": configs["config_id"],
                      "runs": configs["config_id"].map(runs.groupby("config_id").size()).fillna(0).astype(int),
                      "completed seeds": [seeds_text(done.loc[done["config_id"] == c, "seed"]) for c in
                                          configs["config_id"]]}))]
    return "\n\n".join(filter(None, parts))


def _provenance(result) -> str:
    parts = ["Produced by:", _code(result.command or f"analysis.analyze({result.inputs!r})")]
    for s in result.sweeps:
        parts += [f"Sweep `{s.path}`" + (f" (launch record unreadable: {s.error})" if s.error else
                                         ", launched with:" * bool(s.command)), _code(s.command) if s.command else ""]
        parts += ["Sweeper settings (hydra.sweeper; a value given on the command line above takes precedence over the "
                  "same key here):", _code(s.sweeper)] if s.sweeper else []
    overrides = sorted(set(result.runs["overrides"].dropna().astype(str)))
    if overrides and not any(s.command for s in result.sweeps):
        parts += ["No multirun.yaml found; the runs' own overrides (.hydra/overrides.yaml):",
                  _code("\n".join(f"af-train {o}" for o in overrides[:50]) + "\n..." * (len(overrides) > 50))]
    if config := next((s.config for s in result.sweeps if s.config), None):
        parts += ["The composed config every job of the sweep started from, before its own overrides (multirun.yaml "
                  "without `hydra`; each run's resolved config is in its `.hydra/config.yaml` and `summary.json`):",
                  _code(config)]
    versions = [f"python {platform.python_version()}"] + [f"{p} {_version(p)}" for p in (
        "pandas", "numpy", "scipy", "matplotlib", "seaborn")]
    return "\n\n".join(filter(None, [*parts, f"Input folders: {', '.join(f'`{p}`' for p in result.inputs)}. Generated "
                                     f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} with "
                                     f"{', '.join(versions)}."]))


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def build(result) -> str:
    """report.md's text for an ``AnalysisResult``."""
    runs, stats, paired, t, alpha = result.runs, result.stats, result.paired, sections(), result.alpha
    done, configs = runs[runs["in_stats"]], configurations(runs)
    counts = runs["status"].value_counts().reindex([s for s in STATUSES if s in set(runs["status"])])
    compared = len(paired) and (paired["n_pairs"] > 0).any()
    glance = t["glance"].substitute(verdicts="\n".join(f"- {v}" for v in (
        verdict(paired, "final_test_acc", "Final test accuracy at equal epochs", alpha),
        verdict(paired, EQUAL_FLOPS, "Test accuracy at equal training FLOPs", alpha)) if v),
        table=tables.markdown(*tables.glance(stats, paired))) if len(paired) else ""
    comparison = t["paired"].substitute(
        accuracy=tables.markdown(tables.accuracy(paired, "final_test_acc")), cost=tables.markdown(tables.cost(paired)),
        flops=tables.markdown(tables.accuracy(paired, EQUAL_FLOPS))) if compared else (
        "No configuration to compare." if configs.empty else "Only standard training in these runs: nothing to "
        "compare against it." if (configs["strategy"] == "standard").all() else "No comparison possible (see the "
                                                                                "warnings).")
    tuned, trials = [s.tuning for s in result.sweeps if s.tuning], int(runs["role"].eq("trial").sum())
    named = tables.blocks(stats, paired, configs, context_names(configs)) if len(paired) else pd.DataFrame()
    blocks = t["blocks"].substitute(table=tables.markdown(named)) if len(named) else ""
    figures = [f"### {f.title}\n\n![{f.title}](figures/{f.png.name})\n\n*" + t[f"caption_{f.name}"].substitute(
        ci=result.boot.describe().split(" (")[0], **f.facts) + f"* (vector: `figures/{f.svg.name}`, "
        f"`figures/{f.pdf.name}`)" for f in result.figures]
    if result.skipped:
        figures.append("Figures not drawn:\n\n" + "\n".join(f"- {n}: {why}" for n, why in result.skipped))
    return t["report"].substitute(
        context=context(done if len(done) else runs), glance=glance, blocks=blocks,
        headline=headline(paired, alpha, bool(tuned)), protocol=_protocol(t, runs, configs, tuned),
        speed=_speed(t, paired, alpha),
        target=t["target"].substitute(goal=result.target_rule, table=tables.markdown(tables.target(result.target)))
        if len(result.target) else "",
        tuning=t["tuning"].substitute(metric=result.tuning["metric"].iloc[0], table=tables.markdown(tables.tuning(
            result.tuning))) if len(result.tuning) else "", boot=result.boot.describe(),
        overview=f"{len(runs)} run(s) in {len(result.inputs)} folder(s)" + f", {trials} of them tuning trials" * bool(
            trials) + ": " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f"; {len(configs)} configuration(s).",
        warnings="\n".join(f"- {w}" for w in result.warnings) or "None.", runs=_runs(runs[runs["role"].ne("trial")]),
        per_config=tables.markdown(*tables.per_config(stats)) if len(stats) else "No configuration to summarize.",
        paired=comparison, figures="\n\n".join(figures), min_seeds=MIN_SEEDS, wilcoxon_min=WILCOXON_MIN_N,
        confidence=f"{result.boot.confidence:g}", alpha=f"{alpha:g}", n_acc=n_comparisons(paired, "final_test_acc"),
        n_flops=n_comparisons(paired, EQUAL_FLOPS), provenance=_provenance(result),
        tex_files=", `tables/*.tex` (booktabs LaTeX)" * bool(result.files.get("latex"))) + "\n"


def _inline(text: str) -> str:
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


CSS = ("body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;padding:"
       "0 1em;color:#222;line-height:1.45}h1{font-size:1.6em;border-bottom:2px solid #ddd}h2{margin-top:1.8em;border-"
       "bottom:1px solid #eee}table{border-collapse:collapse;margin:.8em 0;font-size:.86em;display:block;overflow-x:"
       "auto}th,td{border:1px solid #ddd;padding:.3em .55em;text-align:left;vertical-align:top}th{background:#f4f4f4}"
       "code,pre{font-family:Menlo,Consolas,monospace;font-size:.88em;background:#f6f6f6}pre{padding:.7em;overflow-x:"
       "auto}img{max-width:100%;height:auto}em{color:#555}")


def to_html(md: str, folder: Path) -> str:
    """The report's Markdown (headings, lists, tables, code, figures, paragraphs) as one HTML page."""
    blocks, out = [], []
    for i, part in enumerate(re.split(r"(```.*?```)", md, flags=re.S)):  # code blocks may hold blank lines
        blocks += [part] if i % 2 else [b for b in re.split(r"\n{2,}", part.strip()) if b]
    for b in blocks:
        if b.startswith("```"):
            out.append(f"<pre>{html.escape(b[3:-3].strip())}</pre>")
        elif m := re.match(r"(#+) (.*)", b):
            out.append(f"<h{len(m[1])}>{_inline(m[2])}</h{len(m[1])}>")
        elif m := re.match(r"!\[(.*)\]\((.*)\)$", b):
            data = base64.b64encode((folder / m[2]).read_bytes()).decode("ascii")
            out.append(f'<img alt="{html.escape(m[1])}" src="data:image/png;base64,{data}">')
        elif b.startswith("| "):
            rows = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in b.splitlines()]
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows[2:]) + "</table>")
        elif b.startswith("- "):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[2:].split("\n- ")) + "</ul>")
        else:
            out.append("<p>" + re.sub(r"^\*(.*?)\*", r"<em>\1</em>", _inline(b)) + "</p>")
    title = html.escape(md.split("\n", 1)[0][2:])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style>'
            "</head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def write(result) -> tuple[Path, Path]:
    """``report.md`` and ``report.html`` into ``result.out`` (figures already there)."""
    md = build(result)
    return (write_bytes(result.out / "report.md", md.encode()),
            write_bytes(result.out / "report.html", to_html(md, result.out).encode()))
