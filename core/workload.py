"""A scenario's jobs: arrival times and work per job, drawn in bulk from one generator.
The models run them and a load test replays them, so both draw here."""

from __future__ import annotations

import numpy as np

from reference_server.contract import DURATION_MIX

from .scenario import Duration, Scenario


def draw_durations(duration: Duration, files: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Work per job (sum over its files), drawn in bulk."""
    shape = (n, files)
    if duration.kind == "uniform":
        per_file = rng.uniform(duration.min_s, duration.max_s, shape)
    elif duration.kind == "exponential":
        per_file = rng.exponential(duration.mean_s, shape)
    elif duration.kind == "fixed":
        per_file = np.full(shape, duration.mean_s)
    elif duration.kind == "empirical":
        per_file = rng.choice(np.asarray(duration.samples), shape)
    else:
        shares = np.array([share for share, _, _ in DURATION_MIX])
        bands = rng.choice(len(DURATION_MIX), shape, p=shares / shares.sum())
        lows = np.array([low for _, low, _ in DURATION_MIX])[bands]
        highs = np.array([high for _, _, high in DURATION_MIX])[bands]
        per_file = rng.uniform(lows, highs)
    total: np.ndarray = per_file.sum(axis=1)
    return total


def draw_arrivals(scenario: Scenario, n: int, rng: np.random.Generator) -> np.ndarray:
    a = scenario.arrivals
    if a.process == "poisson":
        return np.cumsum(rng.exponential(1 / a.rate_per_s, n))
    period = a.burst_size / a.rate_per_s
    return (np.arange(n) // a.burst_size) * period


def draw_schedule(scenario: Scenario, jobs: int, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """Arrival times and work per job, in that order from `rng`: a load test that draws with
    the same seed and count replays exactly the jobs the model ran."""
    arrivals = draw_arrivals(scenario, jobs, rng).tolist()
    works = draw_durations(scenario.workload.duration, scenario.workload.files_per_request, jobs, rng).tolist()
    return arrivals, works
