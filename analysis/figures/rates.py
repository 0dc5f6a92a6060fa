"""The learning rate against the steps of a run, per block (FreezeOut's staircase of cosines), one run per
configuration. The rates are computed at every step from the run's summary.json with ``contract.rates``, the
functions training computes them with (metrics.csv's ``lr`` and ``block_lrs`` hold one point an epoch): ``table``
is that computation, ``rates_data`` picks the runs and ``rates`` draws. Drawn only where the configurations'
schedules or per-block rates differ: with one schedule for all, the figure would say nothing."""

from __future__ import annotations

import textwrap
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from alternating_freeze import contract as c

from .style import STANDARD, Skip, grid, legend_below, make_room, need

MAX_POINTS = 2000  # steps computed per run: a longer run is sampled evenly, its blocks' freezing points kept
MAX_PANELS = 8  # distinct schedules drawn; more are left out (the caption says so)
SAME = "every configuration trains at the same rates, relative to its optimizer.lr, at every step"


def table(config: dict, resolved: dict, steps_per_epoch: int, steps: Optional[Sequence[int]] = None) -> pd.DataFrame:
    """Each block's learning rate at each step (``step``, ``block``, ``lr``): optimizer.lr x the schedule's factor
    x the block's own factor where the strategy recorded one (``resolved.schedule``'s ``lr_scale`` and
    ``train_until``: FreezeOut), else one row a step with ``block`` "all". ``steps``: those to compute (all)."""
    epochs = int(resolved.get("epochs") or config["trainer"]["epochs"])
    total, lr = epochs * steps_per_epoch, float(config["optimizer"]["lr"])
    scheduler, own = config.get("scheduler") or c.CONSTANT, resolved.get("schedule") or {}
    by_epoch = (config.get("strategy") or {}).get("unit") == "epoch"
    rows = []
    for t in range(total) if steps is None else steps:
        base = c.scheduled(scheduler, t, total, lr)
        if "lr_scale" in own:
            clock = t // steps_per_epoch if by_epoch else t
            factors = c.block_cosines(own["lr_scale"], own["train_until"], clock)
            rows += [(t, str(b), base * f) for b, f in enumerate(factors)]
        else:
            rows.append((t, "all", base))
    return pd.DataFrame(rows, columns=["step", "block", "lr"])


def sampled(total: int, resolved: dict, steps_per_epoch: int, by_epoch: bool) -> list[int]:
    """Every step of a short run; of a long one ``MAX_POINTS`` evenly spaced, and each block's freezing point and
    the step before it (where its cosine reaches zero)."""
    if total <= MAX_POINTS:
        return list(range(total))
    unit = steps_per_epoch if by_epoch else 1
    edges = {s for u in (resolved.get("schedule") or {}).get("train_until") or [] for s in (u * unit - 1, u * unit)}
    even = np.linspace(0, total - 1, MAX_POINTS).round().astype(int)
    return sorted({*even.tolist(), *(s for s in edges if 0 <= s < total)})


def rates_data(res) -> pd.DataFrame:
    """One completed run per configuration (the first counted), its ``table`` with ``label`` and ``shape`` (the
    rates relative to its optimizer.lr, rounded: configurations under one schedule share it); Skip where every
    configuration has the same shape."""
    done = need(res.done[res.done["in_stats"]], "no completed runs")
    first = res.curves[res.curves["in_stats"] & (res.curves["epoch"] == 1)].groupby("run_id")["step"].first()
    frames = []
    for cfg in res.configs.to_dict("records"):
        runs = done[done["config_id"] == cfg["config_id"]]
        run = next((r for r in runs.to_dict("records") if r["run_id"] in first.index), None)
        summary = c.read_summary(run["run_dir"]) if run is not None else None
        if not summary or not isinstance(summary.get("config"), dict):
            continue
        config, resolved, spe = summary["config"], summary.get("resolved") or {}, int(first[run["run_id"]])
        epochs = int(resolved.get("epochs") or config["trainer"]["epochs"])
        by_epoch = (config.get("strategy") or {}).get("unit") == "epoch"
        t = table(config, resolved, spe, sampled(epochs * spe, resolved, spe, by_epoch))
        relative = (t["lr"] / float(config["optimizer"]["lr"])).round(9)
        shape = hash((tuple(t["step"]), tuple(t["block"]), tuple(relative)))
        frames.append(t.assign(label=cfg["label"], config_id=cfg["config_id"], shape=shape))
    data = need(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(), "no run's summary.json")
    if data["shape"].nunique() < 2:
        raise Skip(SAME)
    return data


def rates(res, width: float) -> Figure:
    """A panel per distinct schedule (the first configuration that has it, the others named in its title), a line
    per block."""
    data = rates_data(res)
    shapes = list(dict.fromkeys(data["shape"]))[:MAX_PANELS]
    cols = 2 if len(shapes) > 1 else 1
    fig, axes = grid(width, -(-len(shapes) // cols), cols, height=2.2)
    for ax in axes.flat[len(shapes) :]:
        ax.set_visible(False)
    extra: dict = {}  # inches each row's legends need (make_room)
    for row, ax, shape in zip((i // cols for i in range(len(shapes))), axes.flat, shapes):
        here = data[data["shape"] == shape]
        labels = list(dict.fromkeys(here["label"]))
        one = here[here["config_id"] == here["config_id"].iloc[0]]
        blocks = list(dict.fromkeys(one["block"]))
        if blocks == ["all"]:  # every block at the schedule's rate
            sns.lineplot(one, x="step", y="lr", color=STANDARD, drawstyle="steps-post", ax=ax)
        else:
            palette = dict(zip(blocks, sns.color_palette("viridis", len(blocks))))
            sns.lineplot(
                one.assign(block="block " + one["block"]),
                x="step",
                y="lr",
                hue="block",
                drawstyle="steps-post",
                ax=ax,
                palette={f"block {b}": p for b, p in palette.items()},
            )
            extra[row] = max(extra.get(row, 0.0), legend_below(ax))
        more = f" (and {len(labels) - 1} more with these rates)" if len(labels) > 1 else ""
        ax.set(title=textwrap.fill(labels[0] + more, 80 // cols), xlabel="optimizer step", ylabel="learning rate")
        ax.set_ylim(bottom=0)
    make_room(fig, extra)
    return fig
