"""The hybrid: follow the job over SSE; when the stream has failed often enough, fall back
to polling (honouring Retry-After); optionally also take a webhook. The client knows as
soon as any channel tells it."""

from __future__ import annotations

import math

from ..engine import Context, JobRecord, finish_async
from . import stream, webhook
from .polling import first_poll_at_or_after


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    c = s.clients
    p = s.prices
    finished = record.completed_at
    assert finished is not None
    opened = record.arrived + c.rtt_s
    deadline = record.arrived + c.abandon_after_s if c.abandon_after_s else math.inf
    out = stream.follow(
        s, opened, finished - record.work_s, finished, deadline, ctx.rng, c.hybrid.stream_failures_before_polling
    )
    record.reconnects = out.connects - 1
    record.connection_s += out.connection_s
    record.bytes += p.request_bytes * out.connects + p.event_bytes * out.events + p.heartbeat_bytes * out.heartbeats
    known, requests = out.known_at, out.connects
    if known is None and out.ended_at < deadline:  # the stream gave out: poll from here on
        polls, seen_at = first_poll_at_or_after(c.polling, out.ended_at, finished, deadline, ctx.rng)
        requests += polls
        record.connection_s += polls * c.rtt_s
        record.bytes += polls * p.request_bytes
        known = None if seen_at is None else seen_at + c.rtt_s
    if c.hybrid.webhook:
        attempts, received = webhook.deliver(s, finished, ctx.rng)
        record.webhook_attempts = attempts
        record.bytes += attempts * (p.request_bytes + p.event_bytes)
        if received is not None and (known is None or received < known):
            known = received
    finish_async(ctx, record, known, requests)
