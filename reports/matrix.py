"""The decision matrix for one audience: each criterion's value per pattern (from the load
test or the simulation, as the criterion prefers; complexity judged), scores
normalised to 0..1 (1 = best of the patterns compared), weighted, ranked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import Audience, Decision
from .inputs import Inputs, one_row
from .intermediaries import compatibility


@dataclass
class Matrix:
    audience: Audience
    values: pd.DataFrame  # patterns x criteria, raw values
    sources: pd.DataFrame  # patterns x criteria: "measured", "simulated" or "judgement"
    scores: pd.DataFrame  # patterns x criteria, 0..1
    weights: pd.Series  # criteria, normalised
    totals: pd.Series  # patterns, weighted score, sorted best first

    @property
    def winner(self) -> str:
        return str(self.totals.index[0])


def normalise(values: pd.DataFrame, decision: Decision) -> pd.DataFrame:
    scores = pd.DataFrame(index=values.index, columns=values.columns, dtype=float)
    for key in values.columns:
        column = values[key].astype(float)
        low, high = column.min(), column.max()
        if high == low or pd.isna(high):
            scores[key] = column.notna().astype(float)  # all alike, bar the empty ones (worst)
            continue
        scaled = (column - low) / (high - low)
        scores[key] = (scaled if decision.criteria[key].better == "higher" else 1 - scaled).fillna(0.0)
    return scores


def weighted(scores: pd.DataFrame, weights: pd.Series) -> pd.Series:
    return (scores[weights.index] * weights).sum(axis=1).sort_values(ascending=False)


def build(inputs: Inputs, decision: Decision, audience: Audience) -> Matrix:
    keys = list(audience.weights)
    values = pd.DataFrame(index=list(audience.patterns), columns=keys, dtype=float)
    sources = pd.DataFrame(index=list(audience.patterns), columns=keys, dtype=object)
    hostile, modelled = compatibility(inputs.measured), compatibility(inputs.simulated)
    # A run shared by every audience (the scale step, the hostile runs) is used for a
    # criterion only if it covers every pattern here: a column that mixed it with the model
    # would compare different things (the scale step's cost leaves out the work itself).
    partial = {
        kind
        for kind, index in (("scale", inputs.scale.index), ("intermediaries", hostile.index))
        if not set(audience.patterns) <= set(index)
    }
    for pattern in audience.patterns:
        measured = one_row(inputs.measured, audience.scenario, pattern)
        simulated = one_row(inputs.simulated, audience.scenario, pattern)
        if simulated is not None and pattern in modelled.index:  # the model's compatibility, where none ran
            simulated = pd.concat([simulated, modelled.loc[pattern]])
        at_scale = inputs.scale.loc[pattern] if pattern in inputs.scale.index else None
        behind = hostile.loc[pattern] if pattern in hostile.index else None
        # In this order after the preferred one: a scale-measured criterion falls back to the model.
        runs = {"simulated": simulated, "measured": measured, "scale": at_scale, "intermediaries": behind}
        for key in keys:
            criterion = decision.criteria[key]
            if criterion.judgement:
                values.loc[pattern, key] = decision.complexity[pattern].score
                sources.loc[pattern, key] = "judgement"
                continue
            order = [k for k in [criterion.prefer, *(k for k in runs if k != criterion.prefer)] if k not in partial]
            source = _first(runs, order, key)
            if source is None:
                # A pattern that delivered no job has no delay: left empty, it scores worst.
                source = _first(runs, order, "success_rate")
                row = runs[source] if source is not None else None
                if row is None or float(row["success_rate"]) > 0:
                    raise ValueError(f"no value for {key} of {pattern} on {audience.scenario}")
                values.loc[pattern, key] = np.nan
            else:
                found = runs[source]
                assert found is not None
                values.loc[pattern, key] = float(found[key])
            sources.loc[pattern, key] = "simulated" if source == "simulated" else "measured"
    weights = pd.Series(audience.weights, dtype=float)
    weights /= weights.sum()
    scores = normalise(values, decision)
    return Matrix(audience, values, sources, scores, weights, weighted(scores, weights))


def _first(runs: dict[str, pd.Series | None], order: list[str], key: str) -> str | None:
    """The first kind of run, in `order`, that has a value for `key`."""
    return next((k for k in order if (row := runs[k]) is not None and _has(row, key)), None)


def _has(row: pd.Series, key: str) -> bool:
    return key in row.index and row[key] is not None and not (isinstance(row[key], float) and np.isnan(row[key]))
