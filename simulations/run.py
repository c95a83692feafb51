"""Run one pattern on one scenario: `run(scenario, "polling", jobs=10_000, seed=1)`."""

from __future__ import annotations

import time
from typing import Any

from core.job_metrics import aggregate
from core.scenario import Scenario

from .engine import simulate
from .patterns import PATTERNS


def run(
    scenario: Scenario,
    pattern: str,
    jobs: int,
    seed: int | None = None,
    engine: str = "auto",
    first: int | None = None,
    observe_seed: int | None = None,
) -> dict[str, Any]:
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    seed = scenario.seed if seed is None else seed
    began = time.perf_counter()
    records = simulate(scenario, PATTERNS[pattern], jobs, seed, engine, first, observe_seed)
    elapsed = time.perf_counter() - began
    result = aggregate(scenario, pattern, records)
    result.update(seed=seed, sim_wall_s=round(elapsed, 4), sim_jobs_per_s=round(len(records) / elapsed))
    return result
