"""Simulation speed (run by `make bench`): simulated jobs per second per pattern on one
core, on the tuned-stack scenario. The goal for polling is 50k jobs/s per core."""

from __future__ import annotations

import statistics

import pytest

from core.scenario import load
from simulations.patterns import PATTERNS
from simulations.run import run
from tests.bench.test_server_bench import REPEATS, _record

pytestmark = pytest.mark.bench
JOBS = 200_000


def test_simulated_jobs_per_second() -> None:
    scenario = load("scenarios/tuned-stack.toml")
    rates = {}
    for pattern in sorted(PATTERNS):
        jobs = JOBS if pattern != "sync" else JOBS // 4
        rates[pattern] = statistics.median(
            run(scenario, pattern, jobs, seed)["sim_jobs_per_s"] for seed in range(REPEATS)
        )
    naive = statistics.median(
        run(scenario, "polling", JOBS // 4, seed, engine="simpy")["sim_jobs_per_s"] for seed in range(REPEATS)
    )
    _record("simulated_jobs_per_s", {"per_pattern": rates, "polling_with_simpy_engine": naive, "jobs": JOBS})
    assert rates["polling"] >= 50_000
