"""Initiate, then read the status with `wait` (a long poll): the server holds each read
until the job differs from what the client last saw, or for at most the capped wait, and
the client sends the next read as soon as an answer arrives.

A read reaches the server half a round trip after it leaves (later if the network holds
it). A change already there is answered at once; otherwise the read is answered when the
job's next event goes out, or with 304 when the wait runs out. The terminal event reaches
a held read as it reaches a stream (`push_latency_s`). A hop whose read limit is shorter
than the wait cuts the read with its timeout status, and the client reads again.
"""

from __future__ import annotations

import math

import numpy as np

from harness.job_metrics import JobRecord
from harness.scenario import Scenario

from ..engine import Context, abandon_at, finish_async
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
    network = Trouble(s, ctx.rng)
    seen: float | None = None
    reads, known = 0, None
    while sent <= deadline:
        reads += 1
        record.bytes += s.prices.request_bytes
        arrives = sent + rtt / 2 + network.held_s(sent)
        if finished <= arrives:
            answered = arrives
        else:
            change = next(t for t in events if t > (arrives if seen is None else seen))
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


class Trouble:
    """What a `[network]` does to one client's kept-alive connection, as the harness makes
    it with Toxiproxy: time is cut into windows, and in each the connection is hit or not
    (the window's probability). A read sent in a hit blackhole window is held until the
    window ends; an answer written in a hit reset window is reset, and the HTTP client
    sends the (idempotent) read again at once, on a new connection that draws afresh."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self.network = scenario.network
        self.rng = rng
        self.rtt = scenario.clients.rtt_s
        self._drawn: dict[tuple[str, int], bool] = {}

    def _hit(self, kind: str, window: int, probability: float) -> bool:
        if (kind, window) not in self._drawn:
            self._drawn[kind, window] = bool(self.rng.random() < probability)
        return self._drawn[kind, window]

    def held_s(self, sent: float) -> float:
        n = self.network
        if n is None or not n.blackholes_per_hour:
            return 0.0
        window = math.floor(sent / n.blackhole_s)
        return (window + 1) * n.blackhole_s - sent if self._hit("hole", window, n.blackhole_probability) else 0.0

    def resends_s(self, answered: float) -> float:
        n = self.network
        extra = 0.0
        while n is not None and n.resets_per_hour:
            if not self._hit("reset", math.floor((answered + extra) / n.reset_window_s), n.reset_probability):
                break
            self._drawn.clear()  # a new connection
            extra += self.rtt
        return extra
