"""The report's figures, each a function of the inputs returning PNG bytes. Every axis is
labelled with its unit; simulated lines are solid and measured points are markers."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable

import matplotlib
import matplotlib.patches

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .inputs import Inputs
from .matrix import Matrix
from .robustness import Robustness

COLORS = {
    "sync": "#d62728",
    "polling": "#1f77b4",
    "longpoll": "#17becf",
    "sse": "#2ca02c",
    "websocket": "#bcbd22",
    "webhook": "#9467bd",
    "hybrid": "#ff7f0e",
}


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def delay_cdf(i: Inputs, scenario: str) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 4))
    sims = i.delays[i.delays["scenario"] == scenario]
    for pattern, group in sims.groupby("pattern"):
        values = np.sort(group["delay_s"].to_numpy())
        ax.plot(
            values,
            np.arange(1, len(values) + 1) / len(values),
            color=COLORS[str(pattern)],
            label=f"{pattern} (simulated)",
        )
    jobs = i.jobs[(i.jobs["scenario"] == scenario)] if not i.jobs.empty else i.jobs
    for pattern, group in jobs.groupby("pattern") if not jobs.empty else []:
        scale = _scale(i, scenario, str(pattern))
        done = group.dropna(subset=["known", "server_completed"])
        values = np.sort(((done["known"] - done["server_completed"]) / scale).to_numpy())
        if len(values):
            ax.step(
                values,
                np.arange(1, len(values) + 1) / len(values),
                where="post",
                linestyle="--",
                color=COLORS[str(pattern)],
                label=f"{pattern} (measured)",
            )
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("time from job completion until the client knows (s, scenario time)")
    ax.set_ylabel("share of jobs")
    ax.set_title(
        f"Notification delay, {scenario}\n(measured runs are time-scaled: a few ms of real dispatch latency "
        "shows as tenths of a second)",
        fontsize=9,
    )
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)


def _scale(i: Inputs, scenario: str, pattern: str) -> float:
    for run in i.runs:
        if run["scenario"]["name"] == scenario and run["pattern"] == pattern:
            return float(run["time_scale"])
    return 1.0


def _per_pattern(ax: plt.Axes, sweep: pd.DataFrame, x: str, y: str) -> None:
    """One line per pattern of a sweep: `y` against the swept parameter `x`."""
    for pattern, group in sweep.groupby("pattern"):
        group = group.sort_values(x)
        ax.plot(group[x], group[y], marker="o", ms=3, color=COLORS[str(pattern)], label=str(pattern))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def cost_vs_duration(i: Inputs) -> bytes:
    sweep = i.sweeps["duration"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    _per_pattern(left, sweep, "param.workload.duration.mean_s", "requests_per_job")
    _per_pattern(right, sweep, "param.workload.duration.mean_s", "connection_seconds_per_job")
    left.set_ylabel("requests per job")
    right.set_ylabel("server connection-seconds per job (s)")
    for ax in (left, right):
        ax.set_xlabel("job duration (s)")
    fig.suptitle("What each pattern costs as jobs get longer (tuned stack, simulated)")
    return _png(fig)


def timeouts_vs_duration(i: Inputs) -> bytes:
    sweep = i.sweeps["limit"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for chain, group in sweep.groupby("chain"):
        group = group.sort_values("param.workload.duration.mean_s")
        rate = group.filter(like="timeouts_").sum(axis=1)
        ax.plot(group["param.workload.duration.mean_s"], rate, marker="o", ms=3, label=f"{chain} (simulated)")
    jobs = i.jobs[i.jobs["pattern"] == "sync"] if not i.jobs.empty else i.jobs
    if not jobs.empty:
        first_cut = jobs["timeouts"].astype(str) != "{}"
        bins = pd.cut(jobs["work_s"], bins=range(0, 221, 20))
        measured = first_cut.groupby(bins, observed=True).mean()
        centres = [interval.mid for interval in measured.index]
        ax.plot(centres, measured.to_numpy(), "k^", label="measured, every scenario's chain (20 s bins)")
    ax.set_xlabel("job duration (s)")
    ax.set_ylabel("sync requests cut by a proxy (share)")
    ax.set_title("Sync timeouts vs job duration, per proxy chain")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def simulated_vs_measured(i: Inputs) -> bytes:
    table = i.calibration
    metrics = list(dict.fromkeys(table["metric"])) if not table.empty else []
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.5))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        rows = table[(table["metric"] == metric)].dropna(subset=["simulated", "measured"])
        for pattern, group in rows.groupby("pattern"):
            ax.scatter(group["simulated"], group["measured"], color=COLORS[str(pattern)], label=str(pattern), s=18)
        both = pd.concat([rows["simulated"], rows["measured"]]).astype(float)
        if len(both):
            low, high = float(both.min()), float(both.max())
            pad = (high - low) * 0.1 or 0.1
            ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", lw=0.8)
        unit = " (s)" if metric.endswith("_s") else ""
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(f"simulated{unit}")
        ax.set_ylabel(f"measured{unit}")
        ax.grid(alpha=0.3)
    if metrics:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle("Simulated vs measured on the same jobs (one point per scenario and pattern; the line is y = x)")
    return _png(fig)


def cost_vs_intervals(i: Inputs) -> bytes:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    _per_pattern(left, i.sweeps["poll"], "param.clients.polling.retry_after_s", "cost_per_million_jobs_usd")
    _per_pattern(right, i.sweeps["heartbeat"], "param.clients.sse.heartbeat_s", "cost_per_million_jobs_usd")
    left.set_xlabel("poll interval (s)")
    right.set_xlabel("SSE heartbeat interval (s; 0 = none)")
    left.set_title("tuned stack", fontsize=9)
    right.set_title("silent jobs behind stock nginx (60 s idle)", fontsize=9)
    for ax in (left, right):
        ax.set_ylabel("cost per million jobs (USD)")
    fig.suptitle("Cost per million jobs vs poll and heartbeat interval (simulated, list prices)")
    return _png(fig)


def weight_sensitivity(results: list[tuple[Matrix, Robustness]]) -> bytes:
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.6), squeeze=False)
    for ax, (matrix, robust) in zip(axes[0], results, strict=True):
        p = robust.probability_first.reindex(matrix.scores.index).fillna(0)
        ax.bar(p.index, p.to_numpy(), color=[COLORS[str(x)] for x in p.index])
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability of ranking first")
        ax.set_title(f"{matrix.audience.label}: winner {matrix.winner}", fontsize=9)
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("How sure is the winner? Weights drawn around the configured ones (Dirichlet)")
    return _png(fig)


# How a cell's source is drawn on the heatmap: a style, never a letter beside the number.
SOURCE_HATCH = {"measured": "", "simulated": "////", "judgement": "...."}


def scores_heatmap(results: list[tuple[Matrix, Robustness]], labels: dict[str, str]) -> bytes:
    """Patterns by criteria for each audience, coloured by normalised score (1 = best of the
    patterns compared), each cell showing its value and hatched by where it comes from."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.4 * len(results), 3.9), squeeze=False)
    cmap = plt.get_cmap("RdYlGn")
    for ax, (matrix, _robust) in zip(axes[0], results, strict=True):
        patterns = list(matrix.totals.index)
        criteria = list(matrix.values.columns)
        for y, pattern in enumerate(patterns):
            for x, key in enumerate(criteria):
                score = float(matrix.scores.loc[pattern, key])
                hatch = SOURCE_HATCH[str(matrix.sources.loc[pattern, key])]
                ax.add_patch(plt.Rectangle((x, y), 1, 1, facecolor=cmap(score), edgecolor="white", hatch=hatch, lw=1))
                value = float(matrix.values.loc[pattern, key])
                text = "-" if np.isnan(value) else f"{value:.2g}" if abs(value) < 100 else f"{value:,.0f}"
                ax.text(x + 0.5, y + 0.5, text, ha="center", va="center", fontsize=7,
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75})  # fmt: skip
        ax.set_xlim(0, len(criteria))
        ax.set_ylim(len(patterns), 0)
        names = [textwrap.fill(labels.get(k, k).split(" (")[0], 14) for k in criteria]
        ax.set_xticks([i + 0.5 for i in range(len(criteria))], names, rotation=90, fontsize=6.5)
        ax.set_yticks(
            [i + 0.5 for i in range(len(patterns))], [f"{p} ({matrix.totals[p]:.2f})" for p in patterns], fontsize=8
        )
        ax.set_title(f"{matrix.audience.label}: {matrix.winner} first", fontsize=9)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
    handles = [
        matplotlib.patches.Patch(facecolor="#dddddd", hatch=h, label=source, edgecolor="white")
        for source, h in SOURCE_HATCH.items()
    ]
    fig.suptitle("Score per criterion (green = best of the patterns; row label: weighted total)", fontsize=10)
    fig.legend(handles=handles, loc="upper right", ncol=3, fontsize=7, frameon=False)
    return _png(fig)


FIGURES: dict[str, tuple[str, Callable[..., bytes]]] = {
    "cost-vs-duration": ("Requests and connection-seconds per job vs job duration", cost_vs_duration),
    "timeouts-vs-duration": ("Timeout rate vs job duration per proxy profile", timeouts_vs_duration),
    "simulated-vs-measured": ("Simulated vs measured, per metric", simulated_vs_measured),
    "cost-vs-intervals": ("Cost per million jobs vs poll and heartbeat interval", cost_vs_intervals),
}
