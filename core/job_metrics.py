"""What happened to each job (`JobRecord`, filled by the models and by the load tests alike)
and a run's aggregate: one flat dict, snake_case keys with units in their names, the same
keys on both sides so simulated and measured runs compare directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .radio import energy_j
from .scenario import Scenario


@dataclass(slots=True)
class JobRecord:
    """What happened to one job, from the client's and the server's side."""

    arrived: float
    work_s: float
    completed_at: float | None = None  # the delivered execution finished
    known_at: float | None = None  # the client learned the outcome
    rejected: bool = False  # queue full at initiate
    abandoned: bool = False
    requests: int = 0  # client -> server HTTP requests (stream connects included)
    bytes: float = 0.0
    connection_s: float = 0.0  # time the server held a connection for this client
    executions: int = 0
    wasted_s: float = 0.0  # worker seconds whose result nobody received
    queue_wait_s: float = 0.0
    initiated_s: float = 0.0  # from arrival until the client had the job's id (the models' asynchronous clients)
    reconnects: int = 0
    webhook_attempts: int = 0
    timeouts: dict[int, int] = field(default_factory=dict)  # proxy status -> count
    # When the client sent or received bytes (scenario seconds): what the radio model reads.
    transfers: list[float] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.known_at is not None and not self.abandoned

    @property
    def notify_delay_s(self) -> float | None:
        """From the delivered execution's end to the client knowing; None unless both happened."""
        if not self.success or self.known_at is None or self.completed_at is None:
            return None
        return self.known_at - self.completed_at

    @property
    def e2e_s(self) -> float | None:
        """From arrival to the client knowing the outcome."""
        return None if not self.success or self.known_at is None else self.known_at - self.arrived

    def timed_out(self, status: int) -> None:
        self.timeouts[status] = self.timeouts.get(status, 0) + 1


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def cost_per_job_usd(scenario: Scenario, r: JobRecord) -> float:
    p = scenario.prices
    return (
        (r.requests + r.webhook_attempts) * p.per_million_requests / 1e6
        + r.connection_s / 60 * p.per_million_connection_minutes / 1e6
        + r.executions * r.work_s / 3600 * p.per_worker_hour
        + r.bytes / 1e9 * p.per_gb_transferred
    )


def aggregate(scenario: Scenario, pattern: str, records: list[JobRecord]) -> dict[str, Any]:
    n = len(records)
    ok = [r for r in records if r.success]
    delays = np.array([d for r in ok if (d := r.notify_delay_s) is not None])
    e2e = np.array([t for r in ok if (t := r.e2e_s) is not None])
    waits = np.array([r.queue_wait_s for r in records if not r.rejected])
    statuses: dict[str, float] = {}
    for r in records:
        for status, count in r.timeouts.items():
            statuses[str(status)] = statuses.get(str(status), 0) + count

    def per_job(attr: str) -> float:
        return float(sum(getattr(r, attr) for r in records)) / n

    return {
        "pattern": pattern,
        "scenario": scenario.name,
        "jobs": n,
        "success_rate": len(ok) / n,
        "rejected_rate": sum(r.rejected for r in records) / n,
        "abandonment_rate": sum(r.abandoned for r in records) / n,
        "notify_delay_mean_s": float(delays.mean()) if delays.size else None,
        "notify_delay_p50_s": _pct(delays, 50),
        "notify_delay_p95_s": _pct(delays, 95),
        "notify_delay_p99_s": _pct(delays, 99),
        "e2e_latency_p50_s": _pct(e2e, 50),
        "e2e_latency_p95_s": _pct(e2e, 95),
        "requests_per_job": per_job("requests"),
        "bytes_per_job": per_job("bytes"),
        "connection_seconds_per_job": per_job("connection_s"),
        "executions_per_job": per_job("executions"),
        "duplicate_executions_per_job": sum(max(0, r.executions - 1) for r in records) / n,
        "wasted_worker_seconds_per_job": per_job("wasted_s"),
        "queue_wait_mean_s": float(waits.mean()) if waits.size else None,
        "queue_wait_p95_s": _pct(waits, 95),
        "stream_reconnects_per_job": per_job("reconnects"),
        "webhook_attempts_per_job": per_job("webhook_attempts"),
        "timeouts_per_job": {status: count / n for status, count in sorted(statuses.items())},
        "cost_per_million_jobs_usd": sum(cost_per_job_usd(scenario, r) for r in records) / n * 1e6,
        "radio_joules_per_job": radio_joules_per_job(scenario, records),
    }


def radio_joules_per_job(scenario: Scenario, records: list[JobRecord]) -> float | None:
    """The clients' radio energy per job (`core.radio`); None unless the scenario's
    clients are phones (`[radio]`). Every job counts, delivered or not: the phone spent it."""
    if scenario.radio is None or not records:
        return None
    return sum(energy_j(scenario.radio, r.transfers) for r in records) / len(records)
