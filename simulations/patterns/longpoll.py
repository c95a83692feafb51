"""Initiate, then read the status with `wait` (a long poll): the server holds each read
until the job differs from what the client last saw, or for at most the capped wait, and
the client sends the next read as soon as an answer arrives.

A read reaches the server half a round trip after it leaves (later if the network holds
it). The first read carries no ETag, so it is answered at once with the job as it is; a
later one finding a change already there is too. Otherwise the read is answered when the
job's next event goes out, or with 304 when the wait runs out. The terminal event reaches
a held read as it reaches a stream (`push_latency_s`). A hop whose read limit is shorter
than the wait cuts the read with its timeout status, and the client reads again.
"""

from __future__ import annotations

from core.job_metrics import JobRecord

from ..engine import Context, abandon_at, finish_async
from ..network import KeptAliveConnection
from .stream import event_times


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    c = s.clients
    rtt = c.rtt_s
    finished = record.completed_at
    assert finished is not None
    deadline = abandon_at(ctx, record)
    events = event_times(s, finished - record.work_s, finished)
    hold = c.longpoll.held_s
    limit = s.read_limit
    sent = record.arrived + record.initiated_s
    network = KeptAliveConnection(s, ctx.rng)
    seen: float | None = None
    reads, known = 0, None
    while sent <= deadline:
        reads += 1
        record.bytes += s.prices.request_bytes
        arrives = sent + rtt / 2 + network.held_s(sent)
        if finished <= arrives or seen is None:
            answered = arrives
        else:
            change = next(t for t in events if t > seen)
            answered = arrives if change <= arrives else min(change, arrives + hold)
        if limit is not None and answered - arrives >= limit[0]:
            record.timed_out(limit[1])
            answered = arrives + limit[0]
        elif answered >= finished:
            known = arrives + rtt / 2 if answered == arrives else finished + c.sse.push_latency_s
            record.connection_s += known - sent
            record.transfers += (sent, known)
            break
        else:
            seen = answered
        back = answered + rtt / 2 + network.resends_s(answered)
        record.connection_s += back - sent
        record.transfers += (sent, back)
        sent = back
    finish_async(ctx, record, known, reads)
