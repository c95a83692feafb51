"""Initiate, then follow the job over Server-Sent Events, reconnecting after every cut."""

from __future__ import annotations

import math

from ..engine import Context, JobRecord, finish_async
from . import stream


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    c = s.clients
    finished = record.completed_at
    assert finished is not None
    opened = record.arrived + c.rtt_s
    deadline = record.arrived + c.abandon_after_s if c.abandon_after_s else math.inf
    out = stream.follow(s, opened, finished - record.work_s, finished, deadline, ctx.rng)
    record.reconnects = out.connects - 1
    record.connection_s += out.connection_s
    p = s.prices
    record.bytes += p.request_bytes * out.connects + p.event_bytes * out.events + p.heartbeat_bytes * out.heartbeats
    finish_async(ctx, record, out.known_at, out.connects)
