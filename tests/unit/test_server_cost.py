"""The server-cost arithmetic of a load test: clients waiting at once, and what a job costs
at given prices, from a reading of the server's processes and Redis."""

from __future__ import annotations

from typing import Any

import pytest

from core.scenario import Prices
from loadtests.server_cost import Reading, peak_in_flight, per_job


def _row(started: float, known: float | None, requests: int = 1, connection_s: float = 0.0) -> dict[str, Any]:
    return {"started": started, "known": known, "requests": requests, "connection_s": connection_s}


def test_the_peak_counts_clients_waiting_at_the_same_time() -> None:
    rows = [_row(0, 10), _row(1, 3), _row(2, 4), _row(5, 6), _row(7, None)]
    assert peak_in_flight(rows) == 3  # at 2-3: the first three


def test_a_job_costs_its_api_cpu_memory_requests_and_connection_time_with_the_work_apart() -> None:
    prices = Prices(
        per_million_requests=1.0, per_million_connection_minutes=0.25, per_worker_hour=3.6, per_gib_hour=3600.0
    )
    reading = Reading(
        cpu_s={"api": 2.0, "workers": 4.0},
        rss_base_mib={"api": 50.0, "workers": 40.0},
        rss_peak_mib={"api": 51.0, "workers": 45.0},
        redis_commands=300,
        redis_base_mib=1.0,
        redis_peak_mib=1.5,
        seconds=10.0,
    )
    # Two clients waiting at once for 60 real seconds each, at time scale 0.5: 120 scenario seconds.
    rows = [_row(0, 60, requests=3, connection_s=30), _row(0, 60, requests=5, connection_s=30)]
    cost = per_job(reading, rows, prices, time_scale=0.5)
    assert cost["peak_clients"] == 2
    assert cost["api_cpu_s_per_job"] == 1.0 and cost["worker_cpu_s_per_job"] == 2.0
    assert cost["api_rss_kib_per_client"] == 512.0  # 1 MiB of growth over two clients
    parts = cost["cost_parts_per_million_jobs_usd"]
    assert parts["api_cpu"] == pytest.approx(1e6 * 1.0 * 3.6 / 3600)
    assert parts["api_memory"] == pytest.approx(1e6 * (512 / 2**20) * 120 * 3600 / 3600, rel=1e-3)
    assert parts["requests"] == pytest.approx(4.0)
    assert parts["connection_time"] == pytest.approx(1e6 * (60 / 60) * 0.25 / 1e6)
    assert cost["cost_per_million_jobs_usd"] == pytest.approx(sum(parts.values()), abs=0.02)
    assert cost["worker_cost_per_million_jobs_usd"] == pytest.approx(1e6 * 2.0 * 3.6 / 3600)
    assert cost["redis_commands_per_job"] == 150.0
    assert cost["redis_kib_per_job_in_flight"] == 256.0
