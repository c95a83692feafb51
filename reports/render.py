"""The report as Markdown (figures as PNG files beside it) and as one self-contained HTML
page (figures embedded), from the same sections."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .config import Decision
from .hypotheses import Answer
from .matrix import Matrix
from .robustness import Robustness

SOURCE_MARK = {"measured": "m", "simulated": "s", "judgement": "j"}


@dataclass
class Report:
    folder: Path
    quick: bool
    decision: Decision
    results: list[tuple[Matrix, Robustness]]
    hypotheses: list[Answer]
    calibration: pd.DataFrame
    measured: pd.DataFrame
    provenance: dict[str, Any]
    figures: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


Block = str | Table  # a paragraph, or a table


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def sections(r: Report) -> list[tuple[str, list[Block]]]:
    out: list[tuple[str, list[Block]]] = []
    intro = [
        "Which delivery pattern, for which clients behind which proxies, and why. Every number below comes "
        "from a run recorded in this folder: simulations (s), load tests on the real stack (m), or, for "
        "operational complexity only, a judgement (j) whose reasons are listed.",
    ]
    if r.quick:
        intro.insert(
            0,
            "**QUICK RUN**: fewer simulated jobs, short load tests at a smaller time scale, no "
            "micro-benchmarks. Use `make bench` for the full report.",
        )
    answer = Table(["audience", "scenario", "winner", "second by score", "P(winner first)"], [])
    for matrix, robust in r.results:
        ranking = list(matrix.totals.index)
        answer.rows.append(
            [
                matrix.audience.label,
                matrix.audience.scenario,
                f"**{ranking[0]}**",
                ranking[1],
                f"{robust.probability_first.get(ranking[0], 0):.0%}",
            ]
        )
    out.append(("The answer", [*intro, answer]))
    for matrix, robust in r.results:
        crit = r.decision.criteria
        headers = [
            "pattern",
            *[crit[k].label + (f" ({crit[k].unit})" if crit[k].unit else "") for k in matrix.values.columns],
            "score",
        ]
        rows = []
        for pattern in matrix.totals.index:
            cells = [
                f"{_fmt(matrix.values.loc[pattern, k])} {SOURCE_MARK[matrix.sources.loc[pattern, k]]}"
                for k in matrix.values.columns
            ]
            rows.append([pattern, *cells, f"{matrix.totals[pattern]:.3f}"])
        weights = Table(["criterion", "weight"], [[crit[k].label, f"{w:.2f}"] for k, w in matrix.weights.items()])
        prob = Table(["pattern", "P(first)"], [[p, f"{v:.1%}"] for p, v in robust.probability_first.items()])
        flips = Table(
            ["criterion", "its weight times", "gives the first place to"],
            [
                [crit[f["criterion"]].label, f"{f['weight_multiplier']:g}", f["new_winner"]]
                for f in robust.flips.to_dict("records")
            ],
        )
        blocks: list[Block] = [
            f"Scenario `{matrix.audience.scenario}`; patterns this audience can use: "
            f"{', '.join(matrix.audience.patterns)}. "
            "Values: m measured on the real stack, s simulated, j judgement. Scores are 0..1 per criterion "
            "(1 = best of these patterns), weighted by:",
            weights,
            Table(headers, rows),
            f"Robustness: {r.decision.samples} weight vectors drawn from a Dirichlet around the weights above "
            f"(concentration {r.decision.concentration:g}).",
            prob,
            "What would flip it (one weight scaled, the others renormalised; nearest change that does):"
            if not robust.flips.empty
            else "No single weight change up to 10x flips the winner.",
        ]
        if not robust.flips.empty:
            blocks.append(flips)
        out.append((f"Decision matrix: {matrix.audience.label}", blocks))
    judged = Table(
        ["pattern", "complexity (1-5)", "why"], [[p, f"{j.score:g}", j.why] for p, j in r.decision.complexity.items()]
    )
    out.append(("Operational complexity (a judgement, not a measurement)", [judged]))
    out.append(
        (
            "The design's hypotheses H1-H17",
            [
                Table(
                    ["id", "claim", "answer", "verdict", "source"],
                    [[h.id, h.claim, h.answer, f"**{h.verdict}**", h.source] for h in r.hypotheses],
                )
            ],
        )
    )
    cal = r.calibration
    if not cal.empty:
        counted = cal[~cal["fitted"].astype(bool)]
        rows = [
            [
                c["scenario"],
                c["pattern"],
                c["metric"],
                _fmt(c["simulated"]),
                _fmt(c["measured"]),
                "fitted" if c["fitted"] else ("agrees" if c["agrees"] else "**differs**"),
            ]
            for c in cal.to_dict("records")
        ]
        out.append(
            (
                "Calibration: simulated vs measured on the same jobs",
                [
                    f"{int(counted['agrees'].sum())} of {len(counted)} comparisons agree (within 10%, the "
                    "measurement's 95% interval, or 10 ms of real time). The median delay of push patterns is "
                    "fitted (the model is given the "
                    "stack's measured push latency) and not counted.",
                    Table(["scenario", "pattern", "metric", "simulated", "measured", "verdict"], rows),
                ],
            )
        )
    warnings = (
        [[m["scenario"], m["pattern"], m["warnings"]] for m in r.measured.to_dict("records") if m.get("warnings")]
        if not r.measured.empty
        else []
    )
    if warnings:
        out.append(("Load-test warnings", [Table(["scenario", "pattern", "warning"], warnings)]))
    p = r.provenance
    prov = [
        ["git revision", f"{p['git']['revision']}{' (uncommitted changes)' if p['git']['dirty'] else ''}"],
        [
            "machine",
            f"{p['machine']['cpu_model']}, {p['machine']['cpus']} CPUs, {p['machine']['memory_gib']} GiB, "
            f"{p['machine']['os']}",
        ],
        ["versions", ", ".join(f"{k} {v}" for k, v in p["versions"].items() if v)],
        ["scenarios", ", ".join(p["scenarios"])],
        ["seeds", ", ".join(map(str, p["seeds"]))],
        ["load-test time scales", ", ".join(map(str, p["load_test_time_scales"]))],
        ["bench steps", "; ".join(f"{step}: {seconds} s" for step, seconds in p["bench_steps"].items())],
        ["results folder", str(r.folder)],
    ]
    out.append(("Provenance", [Table(["", ""], prov)]))
    return out


def write_markdown(r: Report, path: Path) -> None:
    figures = path.parent / "figures"
    figures.mkdir(exist_ok=True)
    lines = ["# Delivery patterns behind timing-out proxies: the report", ""]
    for title, blocks in sections(r):
        lines += [f"## {title}", ""]
        for block in blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += [
                    "| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in row) + " |" for row in block.rows
                ]
            else:
                lines.append(block)
            lines.append("")
    lines += ["## Figures", ""]
    for name, (title, png) in r.figures.items():
        (figures / f"{name}.png").write_bytes(png)
        lines += [f"### {title}", "", f"![{title}](figures/{name}.png)", ""]
    path.write_text("\n".join(lines))


def _inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def write_html(r: Report, path: Path) -> None:
    body = ["<h1>Delivery patterns behind timing-out proxies</h1>"]
    for title, blocks in sections(r):
        body.append(f"<h2>{html.escape(title)}</h2>")
        for block in blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{_inline(h)}</th>" for h in block.headers)
                rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            else:
                body.append(f"<p>{_inline(block)}</p>")
    body.append("<h2>Figures</h2>")
    for name, (title, png) in r.figures.items():
        data = base64.b64encode(png).decode()
        body.append(
            f'<figure id="{name}"><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>"
        )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
        "vertical-align:top}th{background:#f3f3f3}img{max-width:100%}figure{margin:2em 0}"
        "code{background:#f3f3f3;padding:0 3px}"
    )
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>proxybench report</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
    path.write_text(page)
