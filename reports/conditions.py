"""Where each pattern wins: every audience's decision matrix rebuilt on each condition the
bench reproduced (decision.toml's `[[conditions]]`), with the winner, its margin over the
runner-up and its P(first); and, for the hybrid, where it wins or why it does not."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from .config import Audience, Decision
from .inputs import Inputs, one_row
from .intermediaries import compatibility
from .matrix import Matrix
from .matrix import build as build_matrix
from .robustness import probability_first

HYBRID = "hybrid"
SHARED = ("scale", "intermediaries")  # criteria read from runs every audience shares


def _on(inputs: Inputs, decision: Decision, audience: Audience, scenario: str) -> Audience:
    """The audience's clients meeting `scenario`: a criterion none of its runs there has (a
    phone's radio energy on a scenario without phones) is left out, and so is a pattern with
    no run there (sync in the browser tabs bench); both are said to be."""
    ran = [
        p
        for p in audience.patterns
        if any(one_row(t, scenario, p) is not None for t in (inputs.measured, inputs.simulated))
    ]
    # A run every audience shares stands in for the model where the model ran too; on a condition
    # only measured (the browser tabs), only where it covers every pattern that ran.
    modelled = any(one_row(inputs.simulated, scenario, p) is not None for p in ran)
    covered = {"scale": set(inputs.scale.index), "intermediaries": set(compatibility(inputs.measured).index)}
    kept = {}
    for key, weight in audience.weights.items():
        criterion = decision.criteria[key]
        rows = [one_row(t, scenario, p) for t in (inputs.measured, inputs.simulated) for p in ran]
        if (
            criterion.judgement
            or (criterion.prefer in SHARED and (modelled or set(ran) <= covered[criterion.prefer]))
            or any(r is not None and pd.notna(r.get(key)) for r in rows)
        ):
            kept[key] = weight
    return replace(audience, scenario=scenario, friendly="", weights=kept, patterns=tuple(ran))


def _hybrid_gap(matrix: Matrix) -> dict[str, Any]:
    """What the hybrid gives up to the winner: the criterion with the largest weighted gap,
    and the largest among the criteria read from runs (when that one is a judgement)."""
    gaps = (matrix.scores.loc[matrix.winner] - matrix.scores.loc[HYBRID]) * matrix.weights
    run = gaps[matrix.sources.loc[HYBRID, gaps.index] != "judgement"]
    return {
        "behind_by": round(float(matrix.totals[matrix.winner] - matrix.totals[HYBRID]), 4),
        "largest": _gap(matrix, str(gaps.idxmax())),
        "largest_run": _gap(matrix, str(run.idxmax())) if not run.empty and run.max() > 0 else None,
    }


def _gap(matrix: Matrix, key: str) -> dict[str, Any]:
    return {
        "criterion": key,
        "hybrid": matrix.values.loc[HYBRID, key],
        "winner": matrix.values.loc[matrix.winner, key],
        "source": matrix.sources.loc[HYBRID, key],
    }


def where_each_wins(inputs: Inputs, decision: Decision) -> dict[str, Any]:
    rows = []
    for condition in decision.conditions:
        ran = set(inputs.simulated["scenario"]) if not inputs.simulated.empty else set()
        measured = set(inputs.measured["scenario"]) if not inputs.measured.empty else set()
        row: dict[str, Any] = {
            "condition": condition.label,
            "scenario": condition.scenario,
            "measured": condition.scenario in measured,
            "audiences": {},
        }
        if condition.scenario not in ran | measured:
            row["missing"] = True
            rows.append(row)
            continue
        for audience in decision.audiences.values():
            if condition.audiences and audience.key not in condition.audiences:
                continue
            judged = _on(inputs, decision, audience, condition.scenario)
            if len(judged.patterns) < 2:  # nothing to rank (the quick bench's tabs run one per-tab way)
                row["missing"] = True
                row["why"] = f"only {', '.join(judged.patterns) or 'no pattern'} ran on `{condition.scenario}`"
                break
            matrix = build_matrix(inputs, decision, judged)
            first = probability_first(matrix, decision)
            totals = matrix.totals
            cell: dict[str, Any] = {
                "winner": matrix.winner,
                "runner_up": str(totals.index[1]),
                "margin": round(float(totals.iloc[0] - totals.iloc[1]), 4),
                "probability_first": round(float(first.get(matrix.winner, 0.0)), 4),
                "left_out": sorted(set(audience.weights) - set(judged.weights)),
                "not_run": [p for p in audience.patterns if p not in judged.patterns],
            }
            if HYBRID in matrix.totals.index and matrix.winner != HYBRID:
                cell["hybrid"] = _hybrid_gap(matrix)
            row["audiences"][audience.key] = cell
        if row.get("missing"):
            row["audiences"] = {}
        rows.append(row)
    return {"rows": rows, "hybrid": _hybrid_verdict(rows)}


def _hybrid_verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the hybrid wins; if nowhere, where it came closest and what kept it second."""
    wins = [
        {"condition": r["condition"], "audience": key}
        for r in rows
        for key, cell in r["audiences"].items()
        if cell["winner"] == HYBRID
    ]
    if wins:
        return {"wins": wins}
    behind = [
        {"condition": r["condition"], "audience": key, "winner": cell["winner"], **cell["hybrid"]}
        for r in rows
        for key, cell in r["audiences"].items()
        if "hybrid" in cell
    ]
    return {"wins": [], "closest": min(behind, key=lambda b: b["behind_by"]) if behind else None}
