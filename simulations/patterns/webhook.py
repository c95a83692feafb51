"""Initiate with a callback URL; the server delivers a signed webhook when the job ends,
retrying on the schedule while the receiver fails or is down."""

from __future__ import annotations

import numpy as np

from core.job_metrics import JobRecord
from core.scenario import Scenario

from ..engine import Context, finish_async


def deliver(scenario: Scenario, finished: float, rng: np.random.Generator) -> tuple[int, float | None]:
    """(attempts, when the receiver got it) for a delivery starting at `finished`."""
    policy = scenario.clients.webhook
    t = finished
    for attempt, delay in enumerate(policy.retry_schedule_s, start=1):
        t += delay
        down = any(o.start_s <= t < o.end_s for o in policy.outages)
        if not down and rng.random() >= policy.failure_probability:
            return attempt, t + policy.delivery_latency_s
    return len(policy.retry_schedule_s), None


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    assert record.completed_at is not None
    attempts, received = deliver(s, record.completed_at, ctx.rng)
    record.webhook_attempts = attempts
    record.bytes += attempts * (s.prices.request_bytes + s.prices.event_bytes)
    finish_async(ctx, record, received, 0)
