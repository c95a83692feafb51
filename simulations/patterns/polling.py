"""Initiate, then poll the status every interval (or as Retry-After says, with backoff and
jitter) until a poll sees the job finished.

Polls do not contend for the worker pool, so the poll that first sees completion is
computed from the schedule, not simulated one event per poll.
"""

from __future__ import annotations

import math

import numpy as np

from core.job_metrics import JobRecord
from core.scenario import PollingPolicy, Scenario

from ..engine import Context, abandon_at, finish_async
from ..network import short_request


def interval(policy: PollingPolicy) -> float:
    return policy.retry_after_s if policy.obey_retry_after else policy.interval_s


def first_answer_showing(
    scenario: Scenario,
    start: float,
    ready: float,
    deadline: float,
    rng: np.random.Generator,
    transfers: list[float],
) -> tuple[int, float | None]:
    """(polls sent, when the client has the first answer showing the job finished), the
    first poll one interval after `start` and each next one an interval after the previous
    answer (or failure), stopping at `deadline`; the time is None if the deadline came
    first. A poll shows the job finished if it was sent at or after `ready`. Each poll's
    send and answer go onto `transfers`."""
    policy = scenario.clients.polling
    rtt = scenario.clients.rtt_s
    step = interval(policy)
    if policy.backoff == 1 and policy.jitter == 0 and scenario.network is None:
        base, period = start - rtt, step + rtt
        k = max(1, math.ceil((ready - base) / period - 1e-12))
        at = base + k * period
        polls = k if at <= deadline else max(0, math.floor((deadline - base) / period))
        sends = base + period * np.arange(1, polls + 1)
        transfers += [*sends.tolist(), *(sends + rtt).tolist()]
        return polls, (at + rtt if at <= deadline else None)
    polls, answered = 0, start
    while True:
        sent = answered + step * (1 + policy.jitter * (2 * rng.random() - 1))
        if sent > deadline:
            return polls, None
        polls += 1
        answer = short_request(scenario, rng, idempotent=True)
        answered = sent + answer.after_s
        transfers += (sent, answered)
        if answer.answered and sent + answer.held_s >= ready:
            return polls, answered
        step = min(step * policy.backoff, policy.max_interval_s)


def seen_from(ctx: Context, ready: float) -> float:
    """The first send time at which a poll sees the job finished: it reaches the server
    half a round trip after it leaves (the load tests' calibration found this)."""
    return ready - ctx.scenario.clients.rtt_s / 2


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    c = s.clients
    assert record.completed_at is not None
    started = record.arrived + record.initiated_s  # the initiate's answer: polling begins
    deadline = abandon_at(ctx, record)
    ready = seen_from(ctx, record.completed_at)
    polls, known = first_answer_showing(s, started, ready, deadline, ctx.rng, record.transfers)
    record.connection_s += (1 + polls) * c.rtt_s
    record.bytes += polls * s.prices.request_bytes
    finish_async(ctx, record, known, polls)
