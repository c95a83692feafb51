"""An event stream's life over one job, given when the job ran: which bytes flowed, where
an idle proxy or the network cut it, and when the client learned the outcome.

Bytes on the wire are the job's events (a `processing` event, progress in whole tens,
the terminal event) and comment heartbeats every `heartbeat_s` from each connect. A
proxy cuts a stream silent for longer than its idle limit; the network drops one at
`drops_per_hour`. The client reconnects after `reconnect_delay_s` and gets the snapshot
(or, with resume, the missed events) at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from harness.job_metrics import JobRecord
from harness.scenario import Scenario
from reference_server.contract import progress_percent

from ..engine import Context


@dataclass(slots=True)
class StreamOutcome:
    known_at: float | None  # None: not learned over the stream (gave up or fell back)
    connects: int
    connection_s: float
    events: int
    heartbeats: int
    failures: int  # cuts and drops
    ended_at: float  # when the client stopped using the stream


@cache
def progress_fractions(total_steps: int) -> tuple[float, ...]:
    """Fractions of the work at which a progress event goes out (whole tens only)."""
    out, shown = [], 0
    for done in range(1, total_steps):
        progress = progress_percent(done, total_steps)
        if progress > shown:
            shown = progress
            out.append(done / total_steps)
    return tuple(out)


def follow(
    scenario: Scenario,
    opened: float,
    started: float,
    finished: float,
    deadline: float,
    rng: np.random.Generator,
    give_up_after: int | None = None,
) -> StreamOutcome:
    c = scenario.clients
    policy = c.sse
    rtt = c.rtt_s
    idle = scenario.idle_limit
    work = finished - started
    steps = policy.progress_steps * scenario.workload.files_per_request
    events = [started, *(started + f * work for f in progress_fractions(steps)), finished]
    drop_rate = policy.drops_per_hour / 3600
    never_idle = idle is None or 0 < policy.heartbeat_s <= idle
    if never_idle and drop_rate == 0:  # nothing can cut it: the fast path
        beats = int((finished - opened) // policy.heartbeat_s) if policy.heartbeat_s else 0
        delivered = sum(1 for t in events if t > opened) + 1
        return StreamOutcome(finished + policy.push_latency_s, 1, finished - opened, delivered, beats, 0, finished)

    connects, conn_s, delivered, beats, failures = 1, 0.0, 1, 0, 0
    connected = last = opened
    beat = 1  # heartbeats go out at connected + k * heartbeat_s; counted, not recomputed from floats
    next_drop = connected + rng.exponential(1 / drop_rate) if drop_rate else math.inf
    i = next(k for k, t in enumerate(events) if t > opened) if finished > opened else len(events) - 1
    while True:
        next_event = events[i]
        next_beat = connected + policy.heartbeat_s * beat if policy.heartbeat_s else math.inf
        next_byte = min(next_event, next_beat)
        cut_at = last + idle if idle is not None else math.inf
        broke_at = min(cut_at, next_drop)
        if next_byte <= broke_at:
            last = next_byte
            if next_byte == next_event:
                delivered += 1
                if i == len(events) - 1:  # the terminal event
                    conn_s += finished - connected
                    known = finished + policy.push_latency_s
                    return StreamOutcome(known, connects, conn_s, delivered, beats, failures, finished)
                i += 1
            else:
                beats += 1
                beat += 1
            continue
        conn_s += broke_at - connected
        failures += 1
        if give_up_after is not None and failures >= give_up_after:
            return StreamOutcome(None, connects, conn_s, delivered, beats, failures, broke_at)
        again = broke_at + policy.reconnect_delay_s
        if again > deadline:
            return StreamOutcome(None, connects, conn_s, delivered, beats, failures, deadline)
        connects += 1
        connected = last = again + rtt
        beat = 1
        next_drop = connected + rng.exponential(1 / drop_rate) if drop_rate else math.inf
        if finished <= connected:  # the terminal event comes at once with the snapshot
            delivered += 1
            conn_s += rtt
            return StreamOutcome(connected + rtt / 2, connects, conn_s, delivered, beats, failures, connected)
        first_unseen = next(k for k, t in enumerate(events) if t > connected)
        if policy.resume:
            delivered += first_unseen - i  # missed events are replayed
        i = first_unseen
        delivered += 1  # the snapshot


def follow_job(ctx: Context, record: JobRecord, give_up_after: int | None = None) -> tuple[StreamOutcome, float]:
    """Follow a finished job's stream from its initiate; account the stream on the record.
    Returns the outcome and the client's deadline (abandonment)."""
    s = ctx.scenario
    c = s.clients
    finished = record.completed_at
    assert finished is not None
    deadline = record.arrived + c.abandon_after_s if c.abandon_after_s else math.inf
    out = follow(s, record.arrived + c.rtt_s, finished - record.work_s, finished, deadline, ctx.rng, give_up_after)
    record.reconnects = out.connects - 1
    record.connection_s += out.connection_s
    p = s.prices
    record.bytes += p.request_bytes * out.connects + p.event_bytes * out.events + p.heartbeat_bytes * out.heartbeats
    return out, deadline
