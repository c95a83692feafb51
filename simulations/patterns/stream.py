"""An event stream's life over one job, given when the job ran: which bytes flowed, where
an idle proxy or the network cut it, and when the client learned the outcome.

Bytes on the wire are the job's events (a `processing` event, progress in whole tens,
the terminal event) and comment heartbeats every `heartbeat_s` from each connect. A
proxy cuts a stream silent for longer than its idle limit; the client's own timer drops
one at `drops_per_hour`, or, with a `[network]`, the network resets one (the client
learns at once) or holds the request that opens one (a blackhole: only the client's
watchdog, if it has one, notices before the network lets it through). The client
reconnects after `reconnect_delay_s` and gets the snapshot (or, with resume, the missed
events) at once. A caller that falls back after `give_up_after` failures counts only the
connections that ended before their first byte: a stream cut after bytes came is working,
and resumes.
A hop with a total lifetime cuts a stream that long after it opened, however busy. A hop
that buffers streams passes nothing until the response ends with the terminal event (or
its lifetime ends it first, with no event); a WebSocket, once upgraded, is a tunnel that
no hop buffers or ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from core.job_metrics import JobRecord
from core.scenario import Scenario
from reference_server.contract import progress_percent

from ..engine import Context, abandon_at
from ..network import held_request_s


@dataclass(slots=True)
class StreamOutcome:
    known_at: float | None  # None: not learned over the stream (gave up or fell back)
    connects: int
    connection_s: float
    events: int
    heartbeats: int
    failures: int  # cuts and drops
    ended_at: float  # when the client stopped using the stream
    # Connections a hop's lifetime ended before their response began (a buffered stream): each
    # answered with the hop's error status, which the client counts as a proxy timeout.
    ended_by_lifetime: int = 0


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


def event_times(scenario: Scenario, started: float, finished: float) -> list[float]:
    """When the job's events go out: `processing`, progress in whole tens, the terminal one."""
    steps = scenario.clients.sse.progress_steps * scenario.workload.files_per_request
    return [started, *(started + f * (finished - started) for f in progress_fractions(steps)), finished]


def follow(
    scenario: Scenario,
    opened: float,
    started: float,
    finished: float,
    deadline: float,
    rng: np.random.Generator,
    transfers: list[float],
    give_up_after: int | None = None,
    tunnelled: bool = False,
    first_byte_s: float | None = None,
) -> StreamOutcome:
    """The stream's life; every byte the client sends or gets (connects, snapshots, events,
    heartbeats) goes onto `transfers` at its time. `first_byte_s`: a connection with no
    byte that long after it opened is given up on (the hybrid's rule)."""
    c = scenario.clients
    policy = c.sse
    rtt = c.rtt_s
    idle = scenario.idle_limit
    # A WebSocket is a tunnel once upgraded, and Caddy 2.6 puts no deadline on one (proxies/README.md).
    lifetime = None if tunnelled else scenario.lifetime_limit
    events = event_times(scenario, started, finished)
    network = scenario.network
    cuts_per_hour = scenario.client_drops_per_hour + (network.resets_per_hour if network else 0.0)
    if tunnelled and network is not None and policy.heartbeat_s:
        # A blackhole holds the client's pongs, so the server closes the socket at its next
        # ping's deadline; a stream already flowing sends nothing back and is not cut.
        cuts_per_hour += network.blackholes_per_hour
    drop_rate = cuts_per_hour / 3600
    holds = network is not None and network.blackholes_per_hour > 0
    watchdog = c.watchdog_s or math.inf
    # A held request brings no byte at all, so the first of the two rules to run out ends it.
    unanswered = min(watchdog, first_byte_s or math.inf)
    if scenario.buffers_streams and not tunnelled:
        out = _follow_buffered(scenario, opened, started, finished, deadline, transfers, give_up_after, unanswered)
        if (lifetime or math.inf) < unanswered:  # every connection it broke, the hop's lifetime broke
            out.ended_by_lifetime = out.failures
        return out
    never_idle = idle is None or 0 < policy.heartbeat_s <= idle
    if never_idle and drop_rate == 0 and not holds and lifetime is None:  # nothing can cut it: the fast path
        beats = int((finished - opened) // policy.heartbeat_s) if policy.heartbeat_s else 0
        delivered = sum(1 for t in events if t > opened) + 1
        transfers += (opened, opened + rtt, *(t for t in events if t > opened))
        transfers += (opened + policy.heartbeat_s * k for k in range(1, beats + 1))
        return StreamOutcome(finished + policy.push_latency_s, 1, finished - opened, delivered, beats, 0, finished)

    connects, conn_s, delivered, beats, failures = 1, 0.0, 1, 0, 0
    fruitless = 0  # connections that ended before their first byte: what a fallback counts
    # A held request: the stream starts when the network lets it through, unless the
    # watchdog gives up first (`silent_until`: no byte comes before that break).
    held = held_request_s(scenario, rng)
    silent_until = opened + unanswered if held > unanswered else math.inf
    connected = last = opened + (held if held <= unanswered else 0.0)
    transfers.append(opened)
    if silent_until == math.inf:
        transfers.append(connected + rtt)  # the snapshot
    beat = 1  # heartbeats go out at connected + k * heartbeat_s; counted, not recomputed from floats
    next_drop = connected + rng.exponential(1 / drop_rate) if drop_rate else math.inf
    i = next(k for k, t in enumerate(events) if t > connected) if finished > connected else len(events) - 1
    while True:
        next_event = events[i]
        next_beat = connected + policy.heartbeat_s * beat if policy.heartbeat_s else math.inf
        next_byte = min(next_event, next_beat) if silent_until == math.inf else math.inf
        cut_at = min(last + idle if idle is not None else math.inf, connected + (lifetime or math.inf))
        # A held request never reached the proxies, so only the watchdog ends it.
        broke_at = min(cut_at, next_drop) if silent_until == math.inf else silent_until
        if next_byte <= broke_at:
            last = next_byte
            transfers.append(next_byte)
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
        # A connection the network let through had the stream's opening at once: only a held
        # one ends with no byte.
        fruitless += silent_until < math.inf
        if give_up_after is not None and fruitless >= give_up_after:
            return StreamOutcome(None, connects, conn_s, delivered, beats, failures, broke_at)
        again = broke_at + policy.reconnect_delay_s
        if again > deadline:
            return StreamOutcome(None, connects, conn_s, delivered, beats, failures, deadline)
        connects += 1
        transfers.append(again)
        held = held_request_s(scenario, rng)
        silent_until = again + unanswered if held > unanswered else math.inf
        if silent_until < math.inf:
            connected = last = again
            continue
        connected = last = again + rtt + held
        transfers.append(connected + rtt / 2)  # the snapshot, or the missed events
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


def _follow_buffered(
    scenario: Scenario,
    opened: float,
    started: float,
    finished: float,
    deadline: float,
    transfers: list[float],
    give_up_after: int | None,
    unanswered: float,
) -> StreamOutcome:
    """Through a hop that buffers streams: nothing reaches the client until the response
    ends with the terminal event, unless the client gives up on the silent connection first
    (`unanswered`), or a hop's lifetime ends it first (then with an error and no event)."""
    c = scenario.clients
    gives_out = min(unanswered, scenario.lifetime_limit or math.inf)
    connects, conn_s, failures, connected = 1, 0.0, 0, opened
    transfers.append(opened)
    while connected + gives_out < finished:
        conn_s += gives_out
        failures += 1
        broke_at = connected + gives_out
        if give_up_after is not None and failures >= give_up_after:
            return StreamOutcome(None, connects, conn_s, 0, 0, failures, broke_at)
        again = broke_at + c.sse.reconnect_delay_s
        if again > deadline:
            return StreamOutcome(None, connects, conn_s, 0, 0, failures, deadline)
        connects += 1
        connected = again + c.rtt_s
        transfers.append(again)
    transfers.append(finished + c.sse.push_latency_s)  # the whole stream, at once
    events = event_times(scenario, started, finished)
    delivered = 1 + sum(1 for t in events if t > connected)  # the snapshot and what followed, at once
    beats = int((finished - connected) // c.sse.heartbeat_s) if c.sse.heartbeat_s else 0
    conn_s += finished - connected
    return StreamOutcome(finished + c.sse.push_latency_s, connects, conn_s, delivered, beats, failures, finished)


def follow_job(
    ctx: Context,
    record: JobRecord,
    give_up_after: int | None = None,
    tunnelled: bool = False,
    first_byte_s: float | None = None,
) -> tuple[StreamOutcome, float]:
    """Follow a finished job's stream from its initiate; account the stream on the record.
    Returns the outcome and the client's deadline (abandonment). `tunnelled`: a WebSocket,
    which a hop passes as a tunnel once upgraded, never buffered."""
    s = ctx.scenario
    finished = record.completed_at
    assert finished is not None
    deadline = abandon_at(ctx, record)
    opened = record.arrived + record.initiated_s
    started = finished - record.work_s
    out = follow(
        s, opened, started, finished, deadline, ctx.rng, record.transfers, give_up_after, tunnelled, first_byte_s
    )
    record.reconnects += out.connects - 1
    record.connection_s += out.connection_s
    if out.ended_by_lifetime:
        hop = s.shortest_lived
        assert hop is not None
        for _ in range(out.ended_by_lifetime):
            record.timed_out(hop.timeout_status)
    p = s.prices
    record.bytes += p.request_bytes * out.connects + p.event_bytes * out.events + p.heartbeat_bytes * out.heartbeats
    return out, deadline
