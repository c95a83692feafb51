"""Initiate, then follow the job over a WebSocket: the stream's life (idle cuts, drops, held
connects, reconnects resuming from the last id) with pings as its heartbeats, never
buffered. A chain with a hop that drops the Upgrade header refuses the handshake (the
server answers the plain GET it gets with 426), and the client gives up on the job."""

from __future__ import annotations

from core.job_metrics import JobRecord

from ..engine import Context, finish_async
from .stream import follow_job


def observe(ctx: Context, record: JobRecord) -> None:
    s = ctx.scenario
    if not s.passes_upgrade:
        record.connection_s += s.clients.rtt_s
        record.bytes += s.prices.request_bytes
        opened = record.arrived + record.initiated_s
        record.transfers += (opened, opened + s.clients.rtt_s)  # the handshake and its refusal
        finish_async(ctx, record, None, 1)
        return
    out, _ = follow_job(ctx, record, tunnelled=True)
    finish_async(ctx, record, out.known_at, out.connects)
