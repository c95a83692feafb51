"""A small bench folder for the report tests: the simulation steps only (no load tests,
no micro-benchmarks), built once per session."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.bench import QUICK, simulate_all, sweeps

TINY = dataclasses.replace(QUICK, sim_jobs=600, sweep_jobs=200, durations=(10, 60, 120), heartbeats=(0, 15, 90))


@pytest.fixture(scope="session")
def sim_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    simulate_all(TINY, folder / "simulations")
    sweeps(TINY, folder / "simulations")
    return folder
