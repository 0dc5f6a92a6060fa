"""The analysis as a document: ``report.md`` and a self-contained ``report.html``.

Both are rendered from one list of blocks, so they always say the same thing. The HTML embeds its
figures as base64 PNG and its style inline: it can be mailed or archived as a single file.
"""
from __future__ import annotations

import base64
import html
import math
import platform
import re
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Sequence

import pandas as pd

from .describe import context, flops_unit, fmt_value, is_missing, seeds_text
from .loading import config_columns, key_columns
from .paired import EQUAL_FLOPS, WILCOXON_MIN_N, n_comparisons
from .stats import MIN_SEEDS, STATUS_ORDER, configurations

# ---------------------------------------------------------------- number formatting


def _num(x: Any, digits: int = 2) -> str:
    if is_missing(x) or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}"


def _p(p: Any) -> str:
    if is_missing(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _p_rel(p: Any) -> str:
    """ "= 0.137", "< 0.001" or "n/a": a p-value after its name."""
    text = _p(p)
    return "n/a" if text == "–" else (f"< {text[1:]}" if text.startswith("<") else f"= {text}")


def _mean_sd_ci(r: Any, scale: float = 1.0, digits: int = 2, signed: bool = False) -> str:
    """ "97.31 ± 0.42 [96.95, 97.66]" (mean ± sd [CI]); parts that do not exist are left out."""
    if r is None or r["n"] == 0 or is_missing(r["mean"]):
        return "–"
    fmt = f"{{:{'+' if signed else ''}.{digits}f}}"
    text = fmt.format(r["mean"] * scale)
    if "std" in r and not is_missing(r["std"]):
        text += f" ± {r['std'] * scale:.{digits}f}"
    if not is_missing(r["ci_low"]):
        text += f" [{fmt.format(r['ci_low'] * scale)}, {fmt.format(r['ci_high'] * scale)}]"
    return text


# ---------------------------------------------------------------- blocks


class Doc:
    """Headings, paragraphs, lists, tables, code and figures, in order."""

    def __init__(self) -> None:
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def ul(self, items: Sequence[str]) -> None:
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame.astype(str)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def figure(self, fig) -> None:
        self.blocks.append(("figure", fig))


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Doc) -> str:
    out: list[str] = []
    for b in doc.blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"{'#' * b[1]} {b[2]}\n")
        elif kind == "p":
            out.append(f"{b[1]}\n")
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in b[1]) + "\n")
        elif kind == "table":
            t = b[1]
            lines = ["| " + " | ".join(_md_cell(c) for c in t.columns) + " |",
                     "|" + "|".join("---" for _ in t.columns) + "|"]
            lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t.itertuples(index=False)]
            out.append("\n".join(lines) + "\n")
        elif kind == "code":
            out.append(f"```\n{b[1].rstrip()}\n```\n")
        elif kind == "figure":
            f = b[1]
            out.append(f"![{f.title}](figures/{f.png.name})\n\n*{f.caption}* (vector version: "
                       f"`figures/{f.svg.name}`)\n")
    return "\n".join(out)


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text)))


CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:1.8em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:.8em 0;font-size:.86em;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
code,pre{font-family:Menlo,Consolas,monospace;font-size:.88em;background:#f6f6f6}
pre{padding:.7em;overflow-x:auto;border:1px solid #e5e5e5}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}
"""


def to_html(doc: Doc, title: str) -> str:
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
           f"<style>{CSS}</style></head><body>"]
    for b in doc.blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            t = b[1]
            head = "".join(f"<th>{_inline(c)}</th>" for c in t.columns)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(v)}</td>" for v in row) + "</tr>"
                           for row in t.itertuples(index=False))
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "code":
            out.append(f"<pre>{html.escape(b[1].rstrip())}</pre>")
        elif kind == "figure":
            f = b[1]
            data = base64.b64encode(f.png.read_bytes()).decode("ascii")
            out.append(f"<figure><img alt=\"{html.escape(f.title)}\" src=\"data:image/png;base64,{data}\">"
                       f"<figcaption>{_inline(f.caption)}</figcaption></figure>")
    out.append("</body></html>\n")
    return "\n".join(out)


# ---------------------------------------------------------------- content


def _versions() -> str:
    parts = [f"python {platform.python_version()}"]
    for pkg in ("pandas", "numpy", "scipy", "matplotlib", "seaborn"):
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def _yaml(obj: Any) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _common_settings(runs: pd.DataFrame) -> str:
    cols = key_columns(config_columns(runs))
    known = runs[runs["config_id"].notna()]
    parts = []
    for c in cols:
        vals = known[c].dropna().unique() if c in known else []
        if len(vals) == 1 and known[c].notna().all():
            parts.append(f"{c}={fmt_value(vals[0])}")
    return ", ".join(parts)


STATS_COLUMNS = (("final_test_acc", "final test acc (%)", 100.0, 2), ("best_test_acc", "best test acc (%)", 100.0, 2),
                 ("train_s", "train time (s)", 1.0, 2), ("train_flops", "train {unit}", None, 3),
                 ("epochs_to_90pct", "epochs to 90%", 1.0, 1), ("loss_std", "loss std", 1.0, 4))


def _stats_table(stats: pd.DataFrame) -> pd.DataFrame:
    fscale, funit = flops_unit(stats.loc[stats["metric"] == "train_flops", "mean"])
    rows = []
    for _, g in stats.groupby("config_id", sort=False):
        g = g.set_index("metric")
        first = g.iloc[0]
        n = int(g["n"].get("final_test_acc", first["n"]))
        seeds = f"{n}" if not first["n_excluded"] else f"{n} of {first['n_runs']} ({first['excluded']})"
        row = {"configuration": first["label"], "completed seeds": seeds}
        for metric, name, scale, digits in STATS_COLUMNS:
            if metric not in g.index:
                continue
            scale = 1 / fscale if scale is None else scale
            row[name.format(unit=funit)] = _mean_sd_ci(g.loc[metric], scale, digits)
        rows.append(row)
    return pd.DataFrame(rows)


def _diff(r: Any, digits: int = 2, scale: float = 100.0) -> str:
    """A paired row's mean difference and bootstrap CI: "-1.20 [-2.01, -0.44]"."""
    return _mean_sd_ci({"n": r["n_pairs"], "mean": r["mean_diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]},
                       scale, digits, signed=True)


def _t_interval(r: Any, scale: float = 100.0) -> str:
    return "–" if is_missing(r["t_ci_low"]) else f"[{r['t_ci_low'] * scale:+.2f}, {r['t_ci_high'] * scale:+.2f}]"


def _accuracy_table(paired: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every statistic of the paired accuracy comparison ``metric``, one row per configuration."""
    rows = []
    for r in paired[paired["metric"] == metric].to_dict("records"):
        if is_missing(r["baseline_id"]):
            rows.append({"configuration": r["label"], "baseline": "none", "pairs": "0", "notes": r["note"]})
            continue
        rows.append({
            "configuration": r["label"], "baseline": r["baseline_label"], "pairs": str(int(r["n_pairs"])),
            "config mean (%)": _num(r["mean_config"] * 100), "standard mean (%)": _num(r["mean_baseline"] * 100),
            "difference (pp) [bootstrap CI]": _diff(r), "t-interval (pp)": _t_interval(r),
            "sd of differences (pp)": _num(r["sd_diff"] * 100), "d_z": _num(r["d_z"]),
            "p (paired t)": _p(r["p_ttest"]), "p (Holm)": _p(r["p_holm"]), "p (Wilcoxon)": _p(r["p_wilcoxon"]),
            "notes": r["note"] or "",
        })
    return pd.DataFrame(rows)


def _cost_table(paired: pd.DataFrame) -> pd.DataFrame:
    fscale, funit = flops_unit(paired.loc[paired["metric"] == "train_flops", "mean_diff"])
    rows = []
    for _, g in paired[paired["baseline_id"].notna()].groupby("config_id", sort=False):
        g = g.set_index("metric")
        row = {"configuration": g.iloc[0]["label"], "pairs": str(int(g.iloc[0]["n_pairs"]))}
        for metric, name, scale, digits in (("train_s", "train time", 1.0, 2),
                                            ("train_flops", "FLOPs", 1 / fscale, 3)):
            if metric not in g.index:
                continue
            r = g.loc[metric]
            unit = "s" if metric == "train_s" else funit
            row[f"{name} difference ({unit}) [CI]"] = _diff(r, digits, scale)
            rel = r["mean_diff"] / r["mean_baseline"] if r["mean_baseline"] else math.nan
            row[f"{name} change (%)"] = _num(rel * 100, 1) if math.isfinite(rel) else "–"
            if metric == "train_s":
                row["p (paired t), time"] = _p(r["p_ttest"])
        rows.append(row)
    return pd.DataFrame(rows)


def _verdict(paired: pd.DataFrame, metric: str, what: str, alpha: float) -> str:
    """How many comparisons of ``metric`` differ from standard at Holm-adjusted p < alpha, and which way."""
    rows = paired[(paired["metric"] == metric) & paired["p_holm"].notna()]
    same = paired[(paired["metric"] == metric) & paired["p_holm"].isna() & (paired["n_pairs"] >= 2)
                  & (paired["sd_diff"] == 0) & (paired["mean_diff"] != 0)]
    constant = (f" {len(same)} configuration(s) differ from standard training by the same amount on every seed"
                f" ({', '.join(same['label'])}): no test applies, see the table." if len(same) else "")
    if rows.empty:
        return f"{what}:{constant}" if constant else ""
    low = rows[(rows["p_holm"] < alpha) & (rows["mean_diff"] < 0)]
    high = rows[(rows["p_holm"] < alpha) & (rows["mean_diff"] > 0)]
    rest = len(rows) - len(low) - len(high)
    n = rows["n_pairs"]
    seeds = f"{int(n.min())}" if n.min() == n.max() else f"{int(n.min())}-{int(n.max())}"
    text = (f"{what}: of {len(rows)} configuration(s) compared with standard training ({seeds} paired seeds each), "
            f"{len(high)} higher and {len(low)} lower at Holm-adjusted p < {alpha:g} (paired t-test)")
    text += (f"; for the other {rest}, these seeds detect no difference, which is not evidence that there is none."
             if rest else ".")
    if n.min() < MIN_SEEDS:
        text += f" With fewer than {MIN_SEEDS} seeds, treat this as tentative."
    return text + constant


def _glance_table(paired: pd.DataFrame) -> pd.DataFrame:
    acc = paired[paired["metric"] == "final_test_acc"]
    by = {m: paired[paired["metric"] == m].set_index("config_id") for m in (EQUAL_FLOPS, "train_flops")}
    rows = []
    for r in acc.to_dict("records"):
        row = {"configuration": r["label"], "paired seeds": str(int(r["n_pairs"]))}
        if is_missing(r["baseline_id"]) or not r["n_pairs"]:
            rows.append(row | {"accuracy, equal epochs (pp) [CI]": f"no comparison ({r['note']})"})
            continue
        row["accuracy, equal epochs (pp) [CI]"] = _diff(r)
        row["p (Holm)"] = _p(r["p_holm"])
        if r["config_id"] in by[EQUAL_FLOPS].index:
            e = by[EQUAL_FLOPS].loc[r["config_id"]]
            row["accuracy, equal FLOPs (pp) [CI]"] = _diff(e) if e["n_pairs"] else "–"
            row["p (Holm), equal FLOPs"] = _p(e["p_holm"])
        if r["config_id"] in by["train_flops"].index:
            f = by["train_flops"].loc[r["config_id"]]
            rel = f["mean_diff"] / f["mean_baseline"] if f["mean_baseline"] else math.nan
            row["FLOPs vs standard (%)"] = _num(rel * 100, 1) if math.isfinite(rel) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _explanations(boot_text: str, n_tests: dict[str, int]) -> list[str]:
    return [
        "mean ± sd [CI]: the mean over seeds of the completed runs; sd is the sample standard deviation "
        "(ddof = 1), i.e. how much a single run moves with the seed; the bracket is the " + boot_text + ". "
        "It is an interval for the mean (where the average of many more seeds would likely fall), not a range "
        "for individual runs. It needs at least 2 seeds ('–' otherwise), and with few seeds it is too narrow (at "
        "3 seeds a nominal 95% bootstrap interval is roughly the range of the three values): treat intervals from "
        f"fewer than {MIN_SEEDS} seeds as rough; `stats.csv` also has the t-interval (t_ci_low, t_ci_high).",
        "Paired difference: each configuration is compared with standard training that has every other setting "
        "equal (dataset, model except the split point, optimizer, trainer) on the same seeds, so both arms start "
        "from the same initial weights and see the same batch order. For each seed d = configuration − standard; "
        "the table gives the mean of d and the bootstrap CI of that mean (seeds resampled as pairs). Seeds that "
        "completed in one arm only are dropped (see the warnings). The t-interval is the classical interval of the "
        "same mean, mean ± t(n−1)·sd/√n: it matches the paired t-test (it excludes 0 exactly when p < "
        "1 − confidence) and is wider than the bootstrap interval at small n, because the bootstrap ignores the "
        "uncertainty of the sd itself. Where the two disagree about 0, the small n is the reason: trust neither "
        "much, and the t-interval more.",
        "Equal epochs vs equal FLOPs: final test accuracy compares both arms after the same number of epochs, "
        "but a frozen half costs less per step, so alternating training spends fewer FLOPs to get there. "
        "Accuracy at equal FLOPs compares, seed by seed, the cheaper run's final test accuracy with the other "
        "run's test accuracy at the same cumulative training FLOPs, interpolated linearly between the two epochs "
        "around that cost (test accuracy is only measured at the end of an epoch). A seed whose budget falls "
        "before the other run's first epoch has no value there and is dropped (see the notes).",
        "p (paired t): two-sided paired t-test of mean d = 0 (scipy.stats.ttest_rel); it assumes the differences "
        "are roughly normal. p (Wilcoxon): two-sided Wilcoxon signed-rank test (scipy.stats.wilcoxon), which only "
        f"uses signs and ranks of d; it is not computed when fewer than {WILCOXON_MIN_N} differences are "
        "non-zero (zeros are dropped), and with exactly 5 pairs its smallest possible p is 0.0625. A p-value is the "
        "probability of a difference at least this large if the strategies did not differ; it is not the "
        "probability that they do not differ, and a large p is not evidence of equality.",
        "Multiple comparisons: p (Holm) is the paired-t p-value adjusted with the Holm-Bonferroni method over "
        f"every comparison of the same quantity in this report ({n_tests.get('final_test_acc', 0)} of final "
        f"accuracy, {n_tests.get(EQUAL_FLOPS, 0)} of accuracy at equal FLOPs), which keeps the chance of any "
        "false positive among them below the level; the unadjusted p (paired t) overstates the evidence as soon as "
        "several configurations are compared. The statements under 'At a glance' use the adjusted p.",
        "d_z: Cohen's d_z = mean(d) / sd(d), the mean difference in units of its own seed-to-seed variation "
        "(how consistently one arm beats the other). It is not comparable to Cohen's d between independent groups. "
        "Deterministic quantities (FLOPs) have sd(d) = 0: d_z and the t-test are then undefined.",
        "Time: train_s is wall-clock training time (evaluation excluded), comparable only between runs on the "
        "same hardware and thread count, and only when nothing else ran on the machine; FLOPs (matmul FLOPs of "
        "forward and backward actually executed) are the hardware-independent measure of cost.",
        "epochs to 90%: first epoch whose test accuracy reaches 90% of the run's final test accuracy; loss std: "
        "population standard deviation of the per-epoch train loss (a stability measure), as in summary.json.",
    ]


def _sweep_config(sweeps) -> Any:
    """The composed config of the first sweep whose multirun.yaml has one (the base every job overrode)."""
    for s in sweeps:
        if getattr(s, "config", None):
            return s.config
    return None


def build(result) -> Doc:
    """The report's content for an ``AnalysisResult``."""
    runs, stats, paired = result.runs, result.stats, result.paired
    done = runs[runs["in_stats"]]
    ctx = context(done if len(done) else runs)
    alpha = 1 - result.boot.confidence
    doc = Doc()
    doc.h(1, f"Alternating-freeze analysis: {ctx['title']}")
    counts = runs["status"].value_counts()
    order = [s for s in STATUS_ORDER if s in counts.index] + [s for s in counts.index if s not in STATUS_ORDER]
    counts = counts.reindex(order)
    n_cfg = runs["config_id"].nunique()
    doc.p(f"{len(runs)} run(s) in {len(result.inputs)} folder(s): "
          + ", ".join(f"{n} {s}" for s, n in counts.items())
          + f"; {n_cfg} configuration(s). Statistics use completed runs only. Intervals are "
          f"{result.boot.describe()}.")

    if len(paired) and (paired["metric"] == "final_test_acc").any():
        doc.h(2, "At a glance")
        doc.ul([v for v in (_verdict(paired, "final_test_acc", "Final test accuracy at equal epochs", alpha),
                            _verdict(paired, EQUAL_FLOPS, "Test accuracy at equal training FLOPs", alpha)) if v])
        doc.p("Differences are configuration minus standard training in percentage points (pp), mean over paired "
              "seeds with its bootstrap CI; p (Holm) is the paired t-test adjusted for the number of comparisons. "
              "Details, t-intervals and Wilcoxon tests below.")
        doc.table(_glance_table(paired))

    doc.h(2, "Warnings")
    if result.warnings:
        doc.ul(result.warnings)
    else:
        doc.p("None.")

    doc.h(2, "Runs")
    doc.table(pd.DataFrame({"status": counts.index, "runs": counts.to_numpy()}))
    bad = runs[runs["status"] != "completed"]
    if len(bad):
        doc.h(3, "Runs excluded from the statistics (not completed, or unreadable)")
        doc.table(pd.DataFrame({
            "run": bad["run_id"], "configuration": bad["label"].fillna("unknown"),
            "seed": [fmt_value(s) for s in bad["seed"]], "status": bad["status"],
            "epochs done": [fmt_value(e) for e in bad["epochs_completed"]],
            "error": bad["error"].fillna("").str.slice(0, 300)}))
    else:
        doc.p("Every run completed.")

    configs = configurations(runs)
    if len(configs):
        doc.h(2, "Configurations")
        common = _common_settings(runs)
        if common:
            doc.p(f"Settings shared by every run: {common}.")
        per = runs[runs["config_id"].notna()].groupby("config_id")
        doc.table(pd.DataFrame({
            "configuration": configs["label"], "id": configs["config_id"],
            "runs": [int(per.size().get(c, 0)) for c in configs["config_id"]],
            "completed seeds": [seeds_text(done.loc[done["config_id"] == c, "seed"]) for c in configs["config_id"]]}))

    doc.h(2, "Statistics per configuration")
    if len(stats):
        doc.p("Cells are mean ± sd [CI] over completed seeds (see 'How to read the statistics'); '–' means not "
              "computable (no run, or fewer than 2 seeds for sd and CI). Full precision in `stats.csv`.")
        doc.table(_stats_table(stats))
    else:
        doc.p("No configuration to summarize.")

    doc.h(2, "Paired comparison with standard training")
    acc = _accuracy_table(paired, "final_test_acc") if len(paired) else pd.DataFrame()
    if len(acc):
        doc.h(3, "Final test accuracy (equal epochs)")
        doc.p("Configuration minus standard training on matched seeds (pp = percentage points). Full precision in "
              "`paired.csv`.")
        doc.table(acc)
        flops = _accuracy_table(paired, EQUAL_FLOPS)
        if len(flops):
            doc.h(3, "Test accuracy at equal training FLOPs")
            doc.p("Both runs of a pair at the training FLOPs of the cheaper one (see 'How to read the statistics').")
            doc.table(flops)
        cost = _cost_table(paired)
        if len(cost) and len(cost.columns) > 2:
            doc.h(3, "Cost")
            doc.table(cost)
    elif configs.empty:
        doc.p("No configuration to compare.")
    elif (configs["strategy"] != "standard").any():
        doc.p("No comparison possible (see the warnings).")
    else:
        doc.p("Only standard training in these runs: nothing to compare against it.")

    doc.h(2, "Figures")
    for f in result.figures:
        doc.h(3, f.title)
        doc.figure(f)
    if result.skipped:
        doc.p("Figures not drawn:")
        doc.ul([f"{name}: {reason}" for name, reason in result.skipped])

    doc.h(2, "How to read the statistics")
    doc.ul(_explanations(result.boot.describe(), {m: n_comparisons(paired, m) for m in ("final_test_acc",
                                                                                          EQUAL_FLOPS)}))

    doc.h(2, "Provenance")
    doc.p("Produced by:")
    doc.code(result.command or "analysis.analyze(" + ", ".join(repr(str(p)) for p in result.inputs) + ")")
    for s in result.sweeps:
        doc.p(f"Sweep `{s.path}`" + (f" (multirun.yaml unreadable: {s.error})" if s.error else ", launched with:"))
        if s.command:
            doc.code(s.command)
        if s.sweeper:
            doc.p("Sweeper settings (hydra.sweeper; a value given on the command line above takes precedence over "
                  "the same key here):")
            doc.code(_yaml(s.sweeper))
    if not result.sweeps:
        overrides = sorted(set(runs["overrides"].dropna().astype(str)))
        if overrides:
            doc.p("No multirun.yaml found; the runs' own overrides (.hydra/overrides.yaml):")
            doc.code("\n".join(f"af-train {o}" for o in overrides[:50]) + ("\n..." if len(overrides) > 50 else ""))
    config = _sweep_config(result.sweeps)
    if config:
        doc.p("The composed config every job of the sweep started from, before its own overrides (multirun.yaml "
              "without `hydra`; each run's resolved config is in its `.hydra/config.yaml` and `summary.json`):")
        doc.code(_yaml(config))
    doc.p(f"Input folders: {', '.join(f'`{p}`' for p in result.inputs)}. Generated "
          f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} with {_versions()}.")
    doc.p("Files: `runs.csv` (one row per run), `curves.csv` (one row per run and epoch), `stats.csv` (per "
          "configuration and metric), `paired.csv` (per configuration and metric, against standard training), "
          "`figures/` (PNG and SVG).")
    return doc


def write(result) -> tuple[Any, Any]:
    """Write ``report.md`` and ``report.html`` into ``result.out``; returns their paths."""
    doc = build(result)
    md, page = result.out / "report.md", result.out / "report.html"
    md.write_text(to_markdown(doc), encoding="utf-8")
    title = next((b[2] for b in doc.blocks if b[0] == "h"), "analysis")
    page.write_text(to_html(doc, title), encoding="utf-8")
    return md, page
