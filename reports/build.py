"""Build the report from a bench results folder: matrices, robustness, hypotheses, plots,
then the outputs (index.html, REPORT.md, CSV tables, summary.json) in `<folder>/report`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from stack.provenance import provenance

from . import config, plots
from .conditions import where_each_wins
from .config import Decision
from .hypotheses import answer_all
from .inputs import Inputs, read
from .intermediaries import compatibility, friendly_audience, platform_table
from .matrix import Matrix
from .matrix import build as build_matrix
from .render import VERDICTS, Report, write_html, write_markdown
from .robustness import Robustness, analyse

KEY_METRICS = (
    "success_rate",
    "notify_delay_p50_s",
    "notify_delay_p95_s",
    "requests_per_job",
    "connection_seconds_per_job",
    "executions_per_job",
    "duplicate_executions_per_job",
    "wasted_worker_seconds_per_job",
    "cost_per_million_jobs_usd",
)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _metrics(table: pd.DataFrame, extra: tuple[str, ...] = ()) -> dict[str, dict[str, dict[str, Any]]]:
    """Per scenario and pattern, the key metrics the run measured (the browser tabs measure
    fewer than a load test: no metric it lacks is written as empty)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in table.to_dict("records"):
        found = {k: _clean(row[k]) for k in (*KEY_METRICS, *extra) if k in row}
        out.setdefault(row["scenario"], {})[row["pattern"]] = {k: v for k, v in found.items() if v is not None}
    return out


def summary(inputs: Inputs, results: list[tuple[Matrix, Robustness]], report: Report) -> dict[str, Any]:
    audiences = {}
    for matrix, robust in results:
        audiences[matrix.audience.key] = {
            "label": matrix.audience.label,
            "scenario": matrix.audience.scenario,
            "winner": matrix.winner,
            "ranking": list(matrix.totals.index),
            "scores": {p: round(float(v), 4) for p, v in matrix.totals.items()},
            "probability_first": {p: round(float(v), 4) for p, v in robust.probability_first.items()},
            "flips": robust.flips.to_dict("records"),
            "matrix": {
                p: {
                    k: {"value": _clean(matrix.values.loc[p, k]), "source": matrix.sources.loc[p, k]}
                    for k in matrix.values.columns
                }
                for p in matrix.values.index
            },
        }
    calibration = inputs.calibration
    if not calibration.empty:
        calibration = calibration[~calibration["fitted"].astype(bool)]
    counted = calibration[calibration["verdict"].isin(VERDICTS)] if not calibration.empty else calibration
    return {
        "quick": inputs.quick,
        "provenance": report.provenance,
        "audiences": audiences,
        "measured": _metrics(inputs.measured, ("timeout_rate",)) if not inputs.measured.empty else {},
        "simulated": _metrics(inputs.simulated),
        "calibration": {
            **{verdict: int((counted["verdict"] == verdict).sum()) if not counted.empty else 0 for verdict in VERDICTS},
            "compared": len(counted),
            "nothing_to_compare": len(calibration) - len(counted),
        },
        "hypotheses": [{"id": h.id, "verdict": h.verdict, "answer": h.answer} for h in report.hypotheses],
        # What each pattern cost the server at scale, and the stream bench, as measured.
        "scale": inputs.scale.drop(columns="pattern").to_dict("index") if not inputs.scale.empty else {},
        "streams": inputs.streams.get("engines", {}),
        # Many tabs of one Chromium: per way of following, protocol and number of tabs.
        "browsers": inputs.browsers.get("cases", []),
        "hostile": report.hostile,
        "bench": inputs.bench,
    }


def hostile_changes(inputs: Inputs, decision: Decision) -> list[dict[str, Any]]:
    """For each audience with a friendly scenario: the winner and its P(first) there and here."""
    found = []
    for audience in decision.audiences.values():
        friendly = friendly_audience(audience)
        if friendly is None:
            continue
        sides = {}
        for side, who in (("friendly", friendly), ("hostile", audience)):
            matrix = build_matrix(inputs, decision, who)
            robust = analyse(matrix, decision)
            sides[side] = {
                "scenario": who.scenario,
                "winner": matrix.winner,
                "probability_first": round(float(robust.probability_first.get(matrix.winner, 0.0)), 4),
                "ranking": list(matrix.totals.index),
            }
        found.append({"audience": audience.key, "label": audience.label, **sides})
    return found


def hostile(inputs: Inputs, decision: Decision) -> dict[str, Any]:
    """The hostile intermediaries' results: the platform table (measured only), each
    pattern's compatibility (measured, else the model's) and what changed per audience."""
    measured = compatibility(inputs.measured)
    table = measured if not measured.empty else compatibility(inputs.simulated)
    return {
        "platforms": platform_table(inputs.measured),
        "compatibility": {
            str(p): {"value": float(row["compatibility"]), "runs": int(row["intermediary_runs"])}
            for p, row in table.iterrows()
        },
        "compatibility_source": "measured" if not measured.empty else "simulated",
        "changes": hostile_changes(inputs, decision),
        "where_each_wins": where_each_wins(inputs, decision),
    }


def build(folder: Path, decision_file: Path = config.DEFAULT) -> Path:
    inputs = read(folder)
    decision = config.load(decision_file)
    results = []
    for audience in decision.audiences.values():
        matrix = build_matrix(inputs, decision, audience)
        results.append((matrix, analyse(matrix, decision)))
    runs = inputs.runs
    report = Report(
        folder=folder,
        quick=inputs.quick,
        decision=decision,
        results=results,
        hypotheses=answer_all(inputs),
        hostile=hostile(inputs, decision),
        calibration=inputs.calibration,
        measured=inputs.measured,
        scale=inputs.scale,
        streams=inputs.streams,
        memory=inputs.memory,
        browsers=inputs.browsers,
        provenance={
            # The bench run's own record; a folder from before it kept one says so.
            **(inputs.bench.get("provenance") or {**provenance(), "recorded": "when this report was built"}),
            "built_at_revision": provenance()["git"]["revision"],
            "scenarios": sorted({r["scenario"]["name"] for r in runs} | set(inputs.simulated["scenario"])),
            "seeds": sorted({r["scenario"]["seed"] for r in runs}),
            "load_test_time_scales": sorted({r["time_scale"] for r in runs}),
            "load_test_git": sorted({str(r["git"]["revision"]) for r in runs}),
            "bench_plan": inputs.bench.get("plan", {}),
            "bench_steps": inputs.bench.get("step_s", {}),
        },
        figures={},
    )
    scenarios = [a.scenario for a in decision.audiences.values()]
    for scenario in dict.fromkeys(scenarios):
        report.figures[f"delay-cdf-{scenario}"] = (
            f"Notification delay CDF, {scenario}",
            plots.delay_cdf(inputs, scenario),
        )
    for name, (title, draw) in plots.FIGURES.items():
        report.figures[name] = (title, draw(inputs))
    report.figures["weight-sensitivity"] = ("Weight sensitivity", plots.weight_sensitivity(results))
    labels = {k: c.label for k, c in decision.criteria.items()}
    report.figures["scores"] = ("Scores by audience", plots.scores_heatmap(results, labels))
    out = folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    for matrix, robust in results:
        table = matrix.values.join(matrix.scores.add_suffix("_score")).assign(total=matrix.totals)
        table.sort_values("total", ascending=False).to_csv(
            out / f"matrix-{matrix.audience.key}.csv", index_label="pattern"
        )
        robust.flips.to_csv(out / f"flips-{matrix.audience.key}.csv", index=False)
    pd.DataFrame([h.__dict__ for h in report.hypotheses]).to_csv(out / "hypotheses.csv", index=False)
    inputs.calibration.to_csv(out / "calibration.csv", index=False)
    inputs.measured.to_csv(out / "measured.csv", index=False)
    inputs.simulated.to_csv(out / "simulated.csv", index=False)
    (out / "summary.json").write_text(json.dumps(summary(inputs, results, report), indent=2, default=str))
    write_markdown(report, out / "REPORT.md")
    write_html(report, out / "index.html")
    return out
