"""Synchronous `POST /start`: the client holds the request while the handler itself does
the work (no queue, as in the original service and the reference server). A proxy whose
read timeout passes first answers its timeout status; the execution goes on for nobody,
and a client that retries starts the same work again."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from core.job_metrics import JobRecord

from ..engine import Context


def client(ctx: Context, record: JobRecord) -> Generator[Any, Any, None]:
    env, server, s = ctx.env, ctx.server, ctx.scenario
    assert env is not None and server is not None
    c = s.clients
    limit = s.read_limit
    for attempt in range(c.sync.retries + 1):
        record.requests += 1
        record.bytes += s.prices.request_bytes
        sent = env.now
        record.transfers.append(sent)
        done = env.event()
        env.process(server.execute_in_handler(record, done))
        if limit is None:
            yield done
        else:
            yield done | env.timeout(limit[0])
        if done.triggered:
            record.connection_s += env.now - sent
            record.completed_at = env.now
            record.known_at = env.now + c.rtt_s / 2
            record.transfers.append(record.known_at)
            return
        # The proxy gave up; the execution still runs to its end, for nobody.
        assert limit is not None  # with no proxy, every request ends with its work
        record.connection_s += limit[0]
        record.transfers.append(sent + limit[0] + c.rtt_s / 2)  # the proxy's error page
        record.timed_out(limit[1])
        record.wasted_s += record.work_s
        if attempt < c.sync.retries:
            yield env.timeout(c.sync.retry_delay_s)
