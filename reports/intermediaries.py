"""How each pattern fares behind hostile intermediaries and networks, measured: the
platform x pattern table, the compatibility criterion (success across the intermediary
set), and what changes for an audience between its friendly scenario and its hostile one."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pandas as pd

from .config import Audience

PLATFORMS_STEP = "platforms"  # the bench step, its results folder, and its scenario's file and name
PLATFORM_PREFIX = f"{PLATFORMS_STEP}/"  # the platforms step's rows in Inputs.measured
# The scenarios besides the platforms that make up the intermediary set.
HOSTILE_SCENARIOS = ("corporate-proxy", "mobile-network")
TIMEOUTS = re.compile(r"^timeouts_(\d+)_per_job$")  # a measured row's cut statuses, flattened


def platform_row(platform: str) -> str:
    """The name the platforms step's runs behind `platform` go by in the report's tables."""
    return f"{PLATFORM_PREFIX}{platform}"


def platform_runs(measured: pd.DataFrame) -> pd.DataFrame:
    if measured.empty:
        return measured
    return measured[measured["scenario"].str.startswith(PLATFORM_PREFIX)]


def intermediary_runs(measured: pd.DataFrame) -> pd.DataFrame:
    if measured.empty:
        return measured
    return measured[measured["scenario"].isin(HOSTILE_SCENARIOS) | measured["scenario"].str.startswith(PLATFORM_PREFIX)]


def compatibility(measured: pd.DataFrame) -> pd.DataFrame:
    """Per pattern: the mean success rate over every intermediary run, and how many runs."""
    runs = intermediary_runs(measured)
    if runs.empty:
        return pd.DataFrame()
    grouped = runs.groupby("pattern")["success_rate"]
    return pd.DataFrame({"compatibility": grouped.mean(), "intermediary_runs": grouped.size()})


def cut_statuses(row: pd.Series) -> str:
    """What the hop answered when it cut a request, per job: `503 x0.40`."""
    seen = [
        f"{match.group(1)} x{row[key]:.2f}"
        for key in row.index
        if (match := TIMEOUTS.match(str(key))) and pd.notna(row[key]) and row[key] > 0
    ]
    return ", ".join(seen) or "none"


def platform_table(measured: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """platform -> pattern -> success rate, p95 delay (scenario s), requests per job and the
    cut statuses seen."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for _, row in platform_runs(measured).iterrows():
        platform = str(row["scenario"]).removeprefix(PLATFORM_PREFIX)
        table.setdefault(platform, {})[str(row["pattern"])] = {
            "success_rate": float(row["success_rate"]),
            "notify_delay_p95_s": None if pd.isna(row["notify_delay_p95_s"]) else float(row["notify_delay_p95_s"]),
            "requests_per_job": float(row["requests_per_job"]),
            "cut": cut_statuses(row),
            "delivers_every_job": bool(row["success_rate"] == 1.0),
        }
    return table


def friendly_audience(audience: Audience) -> Audience | None:
    """The same audience on its friendly scenario, when decision.toml names one."""
    return replace(audience, scenario=audience.friendly, friendly="") if audience.friendly else None
