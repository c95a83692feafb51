"""The report as Markdown (figures as PNG files beside it) and as one self-contained HTML
page (figures embedded), from the same sections."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core.radio import describe
from core.scenario import SCENARIOS, load
from proxies.render import PROFILES

from . import browsers, performance
from .config import Decision
from .hypotheses import Answer
from .matrix import Matrix
from .robustness import Robustness

# A cell's source: a badge in Markdown, a style in HTML; never a letter after the number.
SOURCE_BADGE = {"measured": "●", "simulated": "○", "judgement": "◇"}
SOURCE_LEGEND = "● measured on the real stack, ○ simulated, ◇ judged (reasons below)"
VERDICTS = ("agrees", "differs", "inconclusive")


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
    scale: pd.DataFrame = field(default_factory=pd.DataFrame)  # the scale step's server cost per pattern
    streams: dict[str, Any] = field(default_factory=dict)  # benchmarks.stream_bench's results
    memory: dict[str, Any] = field(default_factory=dict)  # benchmarks.stream_memory's breakdown
    browsers: dict[str, Any] = field(default_factory=dict)  # benchmarks.browser_tabs's results
    hostile: dict[str, Any] = field(default_factory=dict)  # build.hostile: platforms, compatibility, changes
    figures: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class Sourced:
    """A table cell whose number comes from a measurement, a simulation or a judgement."""

    text: str
    source: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str | Sourced]]


Block = str | Table  # a paragraph, or a table


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Block]
    figures: list[str] = field(default_factory=list)  # names in Report.figures, shown with this section


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _nearest_flip(robust: Robustness) -> dict[str, Any] | None:
    """The smallest single weight change (by factor, either way) that changes the winner."""
    if robust.flips.empty:
        return None
    flips = robust.flips.to_dict("records")
    # By factor either way (x2 and x0.5 are as near); x0, dropping the criterion, is the farthest.
    return min(flips, key=lambda f: abs(math.log(max(float(f["weight_multiplier"]), 1e-9))))


def answer_sentence(matrix: Matrix, robust: Robustness, decision: Decision) -> str:
    """One sentence for one audience: winner, runner-up, how sure, what would flip it."""
    ranking = list(matrix.totals.index)
    winner, second = ranking[0], ranking[1]
    sure = robust.probability_first.get(winner, 0.0)
    measured = int((matrix.sources == "measured").to_numpy().sum())
    text = (
        f"**{matrix.audience.label}** (`{matrix.audience.scenario}`): **{winner}** first "
        f"(score {matrix.totals[winner]:.2f}), {second} second ({matrix.totals[second]:.2f}); "
        f"{winner} stays first under {sure:.0%} of re-drawn weights"
    )
    flip = _nearest_flip(robust)
    if flip is None:
        text += ", and no single weight change up to 10x moves it"
    else:
        label = decision.criteria[flip["criterion"]].label
        text += f"; {flip['new_winner']} would win if the weight on {label.lower()} were {flip['weight_multiplier']:g}x"
    return text + f". {measured} of its {matrix.values.size} cells are measured."


RADIO = "radio_joules_per_job"


def sections(r: Report) -> list[Section]:
    crit = r.decision.criteria
    first: list[Block] = []
    if r.quick:
        measured = r.provenance.get("bench_plan", {}).get("platforms") or []
        first.append(
            "**QUICK RUN**: fewer simulated jobs, short load tests at a smaller time scale, no "
            f"micro-benchmarks, and the platforms step behind {', '.join(measured) or 'none'} only "
            "(the others modelled). Use `make bench` for the full report."
        )
    first += [answer_sentence(matrix, robust, r.decision) for matrix, robust in r.results]
    first += [
        f"Against its friendly scenario `{c['friendly']['scenario']}`, the {c['label']} winner "
        + (
            f"stays {c['hostile']['winner']}"
            if c["friendly"]["winner"] == c["hostile"]["winner"]
            else f"moves from {c['friendly']['winner']} to {c['hostile']['winner']}"
        )
        + f" on `{c['hostile']['scenario']}` (P(first) {c['friendly']['probability_first']:.0%} there, "
        f"{c['hostile']['probability_first']:.0%} here; see Hostile intermediaries)."
        for c in r.hostile.get("changes", [])
    ]
    if (wins := _win_counts(r)) is not None:
        first.append(wins)
    first.append(
        f"The picture: each audience's patterns by criteria, coloured by score; hatching says where a "
        f"value comes from (none: measured on the real stack; lines: simulated; dots: judged). "
        f"Every number comes from a run recorded in `{r.folder.name}`."
    )
    out = [Section("answer", "The answer", first, ["scores"])]
    if r.hostile.get("where_each_wins", {}).get("rows"):
        out.append(_where_each_wins(r))
    for matrix, robust in r.results:
        headers = [
            "pattern",
            *[crit[k].label + (f" ({crit[k].unit})" if crit[k].unit else "") for k in matrix.values.columns],
            "score",
        ]
        rows: list[list[str | Sourced]] = [
            [
                pattern,
                *[
                    Sourced(_fmt(matrix.values.loc[pattern, k]), str(matrix.sources.loc[pattern, k]))
                    for k in matrix.values.columns
                ],
                f"{matrix.totals[pattern]:.3f}",
            ]
            for pattern in matrix.totals.index
        ]
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
            f"{', '.join(matrix.audience.patterns)}. {SOURCE_LEGEND}. Scores are 0..1 per criterion "
            "(1 = best of these patterns), weighted by:",
            weights,
            Table(headers, rows),
            *_radio_note(matrix),
            f"Robustness: {r.decision.samples} weight vectors drawn from a Dirichlet around the weights above "
            f"(concentration {r.decision.concentration:g}).",
            prob,
            "What would flip it (one weight scaled, the others renormalised; nearest change that does):"
            if not robust.flips.empty
            else "No single weight change up to 10x flips the winner.",
        ]
        if not robust.flips.empty:
            blocks.append(flips)
        key = matrix.audience.key
        figure = f"delay-cdf-{matrix.audience.scenario}"
        out.append(Section(f"matrix-{key}", f"Decision matrix: {matrix.audience.label}", blocks, [figure]))
    out.append(
        Section(
            "sensitivity",
            "How sure each winner is",
            ["The probability of ranking first when the weights are drawn around the configured ones."],
            ["weight-sensitivity"],
        )
    )
    judged = Table(
        ["pattern", "complexity (1-5)", "why"], [[p, f"{j.score:g}", j.why] for p, j in r.decision.complexity.items()]
    )
    out.append(Section("complexity", "Operational complexity (a judgement, not a measurement)", [judged]))
    out.append(
        Section(
            "duration",
            "What job duration does to each pattern",
            ["Simulated per job over a sweep of fixed job durations, and the share of sync requests each chain cuts."],
            ["cost-vs-duration", "timeouts-vs-duration"],
        )
    )
    out.append(
        Section(
            "intervals",
            "Tuning poll and heartbeat intervals",
            ["Cost per million jobs at list prices as the poll interval and the heartbeat interval change."],
            ["cost-vs-intervals"],
        )
    )
    out.append(
        Section(
            "hypotheses",
            "The design's hypotheses H1-H17",
            [
                Table(
                    ["id", "claim", "answer", "verdict", "source"],
                    [[h.id, h.claim, h.answer, f"**{h.verdict}**", h.source] for h in r.hypotheses],
                )
            ],
        )
    )
    out.append(_hostile(r))
    out.append(_scale(r))
    out.append(_performance(r))
    out.append(_browsers(r))
    out += _calibration(r)
    warnings = (
        [[m["scenario"], m["pattern"], m["warnings"]] for m in r.measured.to_dict("records") if m.get("warnings")]
        if not r.measured.empty
        else []
    )
    if warnings:
        out.append(Section("warnings", "Load-test warnings", [Table(["scenario", "pattern", "warning"], warnings)]))
    out.append(Section("provenance", "Provenance", [_provenance(r)]))
    return out


def _radio_note(matrix: Matrix) -> list[Block]:
    """Where the matrix weighs radio energy: the model and parameters behind that column."""
    if RADIO not in matrix.values.columns:
        return []
    radio = load(SCENARIOS / f"{matrix.audience.scenario}.toml").radio
    if radio is None:
        return []
    return [
        f"Radio energy per job (`core/radio.py`): {describe(radio)}, over the times at which each "
        "client sent or got bytes (each request, answer, event and heartbeat; in the load tests as recorded, "
        "in the models as drawn). A poll or heartbeat interval shorter than the tail keeps the radio in high "
        "power for the whole job."
    ]


def _win_counts(r: Report) -> str | None:
    """One sentence: how many (condition, audience) cells each pattern wins."""
    rows = [row for row in r.hostile.get("where_each_wins", {}).get("rows", []) if not row.get("missing")]
    cells = [cell["winner"] for row in rows for cell in row["audiences"].values()]
    if not cells:
        return None
    counts = pd.Series(cells).value_counts()
    listed = ", ".join(f"{pattern} {n}" for pattern, n in counts.items())
    hybrid = "" if "hybrid" in counts.index else "; the hybrid none"
    return (
        f"Under the {len(rows)} conditions the bench reproduced (idle limits, total lifetimes, held responses, "
        f"an impaired network), the {len(cells)} audience-condition cells go to: {listed}{hybrid} "
        "(see Where each pattern wins)."
    )


def _where_each_wins(r: Report) -> Section:
    found = r.hostile["where_each_wins"]
    audiences = r.decision.audiences
    crit = r.decision.criteria
    rows: list[list[str | Sourced]] = []
    for row in found["rows"]:
        source = "measured" if row["measured"] else "simulated"
        if row.get("missing"):
            why = row.get("why", f"`{row['scenario']}` did not run")
            rows.append([row["condition"], why, *["-" for _ in audiences]])
            continue
        cells: list[str | Sourced] = [row["condition"], f"`{row['scenario']}`"]
        for key in audiences:
            cell = row["audiences"].get(key)
            if cell is None:  # a condition of other audiences' clients
                cells.append("-")
                continue
            text = f"{cell['winner']} by {cell['margin']:.2f} over {cell['runner_up']}, {cell['probability_first']:.0%}"
            if cell.get("not_run"):
                text += f" ({', '.join(cell['not_run'])} not run)"
            cells.append(Sourced(text, source))
        rows.append(cells)
    blocks: list[Block] = [
        "Each audience's decision matrix rebuilt on each condition the bench reproduced, with the "
        "audience's own weights: the winner, its lead in weighted score (0 to 1) over the runner-up, "
        "and P(first) under weights drawn around the configured ones. ● the condition's load tests "
        "ran on the real stack (its measured criteria are measured); ○ only its model ran. A "
        "criterion the condition has no run for (a phone's radio energy where no phone ran) is left "
        "out of that cell, and so is a pattern (the browser tabs bench has no sync client); a "
        "condition that concerns other clients than an audience's is marked -.",
        Table(["condition", "scenario", *(a.label for a in audiences.values())], rows),
    ]
    verdict = found["hybrid"]
    if verdict["wins"]:
        where = "; ".join(f"{w['condition']} ({audiences[w['audience']].label})" for w in verdict["wins"])
        blocks.append(f"The hybrid wins under: {where}.")
    elif (closest := verdict.get("closest")) is not None:
        text = (
            f"The hybrid wins under none of these conditions. It came closest under {closest['condition']} "
            f"for the {audiences[closest['audience']].label}, {closest['behind_by']:.2f} behind "
            f"{closest['winner']}. Its largest gap there is {_gap_text(closest['largest'], crit)}"
        )
        run = closest["largest_run"]
        if run is None:
            text += f"; on every criterion read from runs it is level with {closest['winner']} or ahead"
        elif run["criterion"] != closest["largest"]["criterion"]:
            text += f"; among the criteria read from runs, {_gap_text(run, crit)}"
        blocks.append(text + ".")
    return Section("where-each-wins", "Where each pattern wins", blocks)


def _gap_text(gap: dict[str, Any], crit: dict[str, Any]) -> str:
    return f"{crit[gap['criterion']].label}: {_fmt(gap['hybrid'])} against {_fmt(gap['winner'])} ({gap['source']})"


def _hostile(r: Report) -> Section:
    title = "Hostile intermediaries and networks"
    h = r.hostile
    blocks: list[Block] = [
        "Each pattern behind a buffering corporate proxy (`corporate-proxy`), on a real impaired network "
        "(`mobile-network`: Toxiproxy between the clients and the edge, with latency, resets and silent "
        "blackholes) and behind each platform's front end alone (`platforms`). The clients take a stream "
        "silent for three heartbeats for dead and give up on a poll after a timeout."
    ]
    changes = h.get("changes", [])
    if changes:
        blocks += [
            "What changed against the same clients on a friendly scenario (each side is its own decision matrix):",
            Table(
                [
                    "audience",
                    "friendly scenario",
                    "winner there, P(first)",
                    "hostile scenario",
                    "winner here, P(first)",
                ],
                [
                    [
                        c["label"],
                        f"`{c['friendly']['scenario']}`",
                        f"{c['friendly']['winner']}, {c['friendly']['probability_first']:.0%}",
                        f"`{c['hostile']['scenario']}`",
                        f"{c['hostile']['winner']}, {c['hostile']['probability_first']:.0%}",
                    ]
                    for c in changes
                ],
            ),
        ]
    source = h.get("compatibility_source", "simulated")
    if h.get("compatibility"):
        blocks += [
            "Compatibility, the matrices' criterion: the mean success rate over every run behind the "
            f"intermediaries ({SOURCE_BADGE[source]} {source}).",
            Table(
                ["pattern", "compatibility", "runs"],
                [
                    [p, Sourced(_fmt(c["value"]), source), str(c["runs"])]
                    for p, c in sorted(h["compatibility"].items(), key=lambda kv: -kv[1]["value"])
                ],
            ),
        ]
    platforms = h.get("platforms", {})
    if not platforms:
        blocks.append("The platforms step did not run for this folder (`--only platforms` runs it).")
        return Section("hostile", title, blocks)
    patterns = sorted({p for row in platforms.values() for p in row})
    blocks += [
        "Which pattern delivers every job behind which front end (measured): success rate, p95 "
        "notification delay in scenario seconds, requests per job, and the status the front end cut "
        "requests with, per job (a stream cut mid-body has no status: its reconnects are in the requests). "
        "Source: `platforms/<platform>-<pattern>/summary.json`.",
        Table(
            ["platform", *patterns],
            [
                [
                    platform,
                    *[
                        Sourced(
                            f"{_fmt(cell['success_rate'])} / {_fmt(cell['notify_delay_p95_s'])} s / "
                            f"{_fmt(cell['requests_per_job'])} req; cut: {cell['cut']}",
                            "measured",
                        )
                        if (cell := row.get(p))
                        else "-"
                        for p in patterns
                    ],
                ]
                for platform, row in platforms.items()
            ],
        ),
    ]
    lifetimes = [p for p in platforms if PROFILES[p].lifetime_s is not None]
    if lifetimes and any("websocket" in platforms[p] for p in lifetimes):
        blocks.append(
            f"Not measured: a total lifetime on a WebSocket. Behind {', '.join(lifetimes)} the WebSocket "
            "cells meet no limit, because Caddy 2.6.2 puts no deadline on an upgraded connection; GCP and "
            "Cloud Run end a WebSocket at the same limit (proxies/README.md)."
        )
    return Section("hostile", title, blocks)


def _scale(r: Report) -> Section:
    title = "What each pattern costs the server at scale"
    if r.scale.empty:
        return Section("scale", title, ["The scale step did not run for this folder (`--only scale`)."])
    rows: list[list[str | Sourced]] = [[*row] for row in performance.scale_rows(r.scale)]
    return Section(
        "scale",
        title,
        [
            "Every pattern on `scenarios/scale.toml`, each on a fresh stack: one server process (the API) and one "
            "worker process on Redis and MinIO, Locust over four processes, the clients mostly waiting on one job "
            "each. Measured per job and per waiting client, which do not depend on the time scale: CPU-seconds from "
            "/proc, RSS sampled twice a second, Redis's command count and memory from INFO. The cost is the API's "
            "CPU and memory, the requests and the connection time at the scenario's prices; it is the matrices' "
            "cost criterion (measured). Source: `scale/<pattern>/summary.json`.",
            Table(performance.SCALE_HEADERS, rows),
        ],
    )


def _performance(r: Report) -> Section:
    title = "Performance: event streams held by one server process"
    if not r.streams:
        return Section(
            "performance", title, ["The stream bench did not run for this folder (`--only streams` runs it)."]
        )
    held: list[list[str | Sourced]] = [[*row] for row in performance.rows(r.streams)]
    blocks: list[Block] = [
        performance.plan_sentence(r.streams) + " Source: `streams/stream-bench.json`.",
        Table(performance.HEADERS, held),
    ]
    websocket = performance.websocket_sentence(r.streams)
    if websocket:
        blocks.append(websocket)
    if r.memory:
        n = r.memory["reference_server"]["streams"]
        blocks += [
            f"Where a held stream's memory goes: Python allocations traced (tracemalloc) while {n:,} streams are "
            "held, in KiB per stream by the package that made them, next to the floor: a bare aiohttp handler "
            "that prepares a stream and waits. Traced bytes are most of RSS, not all of it (the allocator's own "
            "overhead is not traced; socket buffers are the kernel's). Source: `streams/memory.json`.",
            Table(performance.memory_headers(r.memory), [list(x) for x in performance.memory_rows(r.memory)]),
        ]
    return Section("performance", title, blocks)


def _browsers(r: Report) -> Section:
    title = "Browsers: many tabs of one browser, over HTTP/1.1 and HTTP/2"
    if not r.browsers:
        return Section("browsers", title, ["The browser tabs bench did not run for this folder (`--only browsers`)."])
    headers, rows = browsers.table(r.browsers)
    measured: list[list[str | Sourced]] = [[*row[:2], *(Sourced(c, "measured") for c in row[2:])] for row in rows]
    blocks: list[Block] = [browsers.sentence(r.browsers), Table(headers, measured)]
    if r.browsers.get("model", {}).get("cases"):
        compared: list[list[str | Sourced]] = [[*row] for row in browsers.model_rows(r.browsers)]
        blocks += [browsers.model_sentence(r.browsers), Table(browsers.MODEL_HEADERS, compared)]
    return Section("browsers", title, blocks)


def _calibration(r: Report) -> list[Section]:
    cal = r.calibration
    if cal.empty:
        return []
    counted = cal[~cal["fitted"].astype(bool) & cal["verdict"].isin(VERDICTS)]
    tally = {v: int((counted["verdict"] == v).sum()) for v in VERDICTS}
    rows: list[list[str | Sourced]] = [
        [
            c["scenario"],
            c["pattern"],
            c["metric"],
            _fmt(c["simulated"]),
            _fmt(c["measured"]),
            "fitted" if c["fitted"] else ("**differs**" if c["verdict"] == "differs" else str(c["verdict"])),
        ]
        for c in cal.to_dict("records")
    ]
    summary = (
        f"Of {len(counted)} comparisons, {tally['agrees']} agree, {tally['differs']} differ and "
        f"{tally['inconclusive']} are inconclusive. A comparison agrees when the two lie within 10% of each "
        "other and the samples are precise enough to tell a 10% gap; it is inconclusive when they lie within "
        "the samples' own 95% interval (or 10 ms of real time) but that interval is wider than 10%: too few "
        "jobs to say. The median delay of push patterns is fitted (the model is given the stack's measured "
        "push latency) and not counted."
    )
    table = Table(["scenario", "pattern", "metric", "simulated", "measured", "verdict"], rows)
    return [Section("calibration", "Calibration: simulated vs measured on the same jobs", [summary, table],
                    ["simulated-vs-measured"])]  # fmt: skip


def _provenance(r: Report) -> Table:
    p = r.provenance
    machine = p["machine"]
    rows: list[list[str | Sourced]] = [
        ["recorded", p.get("recorded", "")],
        ["git revision", f"{p['git']['revision']}{' (uncommitted changes)' if p['git']['dirty'] else ''}"],
        ["machine", f"{machine['cpu_model']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB, {machine['os']}"],
        ["versions", ", ".join(f"{k} {v}" for k, v in p["versions"].items() if v)],
        ["scenarios", ", ".join(p["scenarios"])],
        ["seeds", ", ".join(map(str, p["seeds"]))],
        ["load-test time scales", ", ".join(map(str, p["load_test_time_scales"]))],
        ["bench steps", "; ".join(f"{step}: {seconds} s" for step, seconds in p["bench_steps"].items())],
        ["report built at", f"{p['built_at_revision']}"],
        ["results folder", str(r.folder)],
    ]
    return Table(["", ""], rows)


def _markdown_cell(cell: str | Sourced) -> str:
    text = f"{SOURCE_BADGE[cell.source]} {cell.text}" if isinstance(cell, Sourced) else cell
    return text.replace("|", "/").replace("\n", " ")


def write_markdown(r: Report, path: Path) -> None:
    figures = path.parent / "figures"
    figures.mkdir(exist_ok=True)
    parts = sections(r)
    lines = ["# Delivery patterns behind timing-out proxies: the report", ""]
    for index, section in enumerate(parts):
        lines += [f'<a id="{section.anchor}"></a>', "", f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in block.rows]
            else:
                lines.append(block)
            lines.append("")
        for name in section.figures:
            title, png = r.figures[name]
            (figures / f"{name}.png").write_bytes(png)
            lines += [f"![{title}](figures/{name}.png)", ""]
        if index == 0:
            lines += ["**Contents**", ""]
            lines += [f"- [{s.title}](#{s.anchor})" for s in parts[1:]]
            lines.append("")
    path.write_text("\n".join(lines))


def _inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_cell(cell: str | Sourced) -> str:
    if isinstance(cell, Sourced):
        badge = f'<span class="badge">{SOURCE_BADGE[cell.source]}</span>'
        return f'<td class="src-{cell.source}" title="{cell.source}">{badge} {html.escape(cell.text)}</td>'
    return f"<td>{_inline(cell)}</td>"


def _html_figure(name: str, title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode()
    return (
        f'<figure id="{name}"><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
    )


def write_html(r: Report, path: Path) -> None:
    parts = sections(r)
    body = ["<h1>Delivery patterns behind timing-out proxies</h1>"]
    for index, section in enumerate(parts):
        body.append(f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{_inline(h)}</th>" for h in block.headers)
                rows = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in block.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            else:
                body.append(f"<p>{_inline(block)}</p>")
        body += [_html_figure(name, *r.figures[name]) for name in section.figures]
        body.append("</section>")
        if index == 0:
            links = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in parts[1:])
            body.append(f'<nav id="contents"><h2>Contents</h2><ol>{links}</ol></nav>')
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}"
        "h1{font-size:22px;margin:0 0 .3em}#answer p{margin:.35em 0;font-size:14px}#answer figure{margin:.5em 0}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
        "vertical-align:top}th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}"
        "code{background:#f3f3f3;padding:0 3px}"
        "td.src-measured{font-weight:600;border-left:4px solid #2e7d32}"
        "td.src-simulated{font-style:italic;border-left:4px dashed #1565c0}"
        "td.src-judgement{background:#f1f1f1;border-left:4px dotted #777}"
    )
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>proxybench report</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
    path.write_text(page)
