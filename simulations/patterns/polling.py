"""Initiate, then poll the status every interval (or as Retry-After says, with backoff and
jitter) until a poll sees the job finished.

Polls do not contend for the worker pool, so the poll that first sees completion is
computed from the schedule, not simulated one event per poll.
"""

from __future__ import annotations

import math

import numpy as np

from harness.job_metrics import JobRecord
from harness.scenario import PollingPolicy

from ..engine import Context, finish_async


def interval(policy: PollingPolicy) -> float:
    return policy.retry_after_s if policy.obey_retry_after else policy.interval_s


def first_poll_at_or_after(
    policy: PollingPolicy, start: float, ready: float, deadline: float, rtt: float, rng: np.random.Generator
) -> tuple[int, float | None]:
    """(polls sent, send time of the first poll at or after `ready`), the first poll one
    interval after `start` and each next one an interval after the previous answer (so
    polls are `interval + rtt` apart, as a client that sleeps between answers sends
    them), stopping at `deadline`; the time is None if the deadline came first."""
    step = interval(policy)
    if policy.backoff == 1 and policy.jitter == 0:
        base, period = start - rtt, step + rtt
        k = max(1, math.ceil((ready - base) / period - 1e-12))
        at = base + k * period
        if at > deadline:
            return max(0, math.floor((deadline - base) / period)), None
        return k, at
    polls, t = 0, start - rtt
    while True:
        t += rtt + step * (1 + policy.jitter * (2 * rng.random() - 1))
        if t > deadline:
            return polls, None
        polls += 1
        if t >= ready:
            return polls, t
        step = min(step * policy.backoff, policy.max_interval_s)


def seen_from(ctx: Context, ready: float) -> float:
    """The first send time at which a poll sees the job finished: it reaches the server
    half a round trip after it leaves (the load tests' calibration found this)."""
    return ready - ctx.scenario.clients.rtt_s / 2


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    c = s.clients
    assert record.completed_at is not None
    started = record.arrived + c.rtt_s  # the initiate's answer: polling begins
    deadline = record.arrived + c.abandon_after_s if c.abandon_after_s else math.inf
    polls, seen_at = first_poll_at_or_after(
        c.polling, started, seen_from(ctx, record.completed_at), deadline, c.rtt_s, ctx.rng
    )
    record.connection_s += (1 + polls) * c.rtt_s
    record.bytes += polls * s.prices.request_bytes
    finish_async(ctx, record, None if seen_at is None else seen_at + c.rtt_s, polls)
