"""The hybrid: follow the job over SSE; when enough stream connections have ended before
their first byte (none within `first_byte_s`, an error, a reset), fall back to polling
(honouring Retry-After); optionally also take a webhook. The client knows as soon as any
channel tells it."""

from __future__ import annotations

from core.job_metrics import JobRecord

from ..engine import Context, finish_async
from . import webhook
from .polling import first_answer_showing, seen_from
from .stream import follow_job


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    c = s.clients
    p = s.prices
    finished = record.completed_at
    assert finished is not None
    out, deadline = follow_job(ctx, record, c.hybrid.stream_failures_before_polling, first_byte_s=c.hybrid.first_byte_s)
    known, requests = out.known_at, out.connects
    if known is None and out.ended_at < deadline:  # the stream gave out: poll from here on
        ready = seen_from(ctx, finished)
        polls, known = first_answer_showing(s, out.ended_at, ready, deadline, ctx.rng, record.transfers)
        requests += polls
        record.connection_s += polls * c.rtt_s
        record.bytes += polls * p.request_bytes
    if c.hybrid.webhook:
        attempts, received = webhook.deliver(s, finished, ctx.rng)
        record.webhook_attempts = attempts
        record.bytes += attempts * (p.request_bytes + p.event_bytes)
        if received is not None and (known is None or received < known):
            known = received
    finish_async(ctx, record, known, requests)
