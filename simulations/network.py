"""What the scenario's `[network]` does to a client's short requests (initiates and polls)
and to a long-poll client's kept-alive connection, drawn as Toxiproxy makes it on the real
stack (`stack.toxiproxy`).

In a reset window a connection hit is reset at the answer's first byte (the request has
reached the server), and the client learns at once; an idempotent request is sent again.
In a blackhole window the request of a connection hit is held until the window ends (a
uniformly drawn share of it is left), and the client waits for the answer or for its own
timeout, whichever comes first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.scenario import Scenario


@dataclass(frozen=True)
class Answer:
    after_s: float  # from sending until the client has the answer, or gives up on it
    answered: bool  # False: a reset, or silent past the client's timeout
    held_s: float = 0.0  # how long the network held the request: the server reads it this much later


def held_request_s(scenario: Scenario, rng: np.random.Generator) -> float:
    """How long a blackhole holds a request that opens a stream (0: it is not held)."""
    network = scenario.network
    if network is None or rng.random() >= network.blackhole_probability:
        return 0.0
    return float(rng.random() * network.blackhole_s)


def short_request(scenario: Scenario, rng: np.random.Generator, idempotent: bool = False) -> Answer:
    """One initiate or poll over the scenario's network (a friendly one: one round trip).
    A reset comes before any byte of the answer, so the HTTP client sends an idempotent
    request again at once on a new connection (RFC 9110, 9.2.2; geventhttpclient and
    browsers do); a POST it leaves to the caller."""
    rtt = scenario.clients.rtt_s
    network = scenario.network
    if network is None:
        return Answer(rtt, True)
    spent = 0.0
    while True:
        draw = rng.random()
        if draw < network.reset_probability:
            spent += rtt
            if idempotent:
                continue
            return Answer(spent, False)
        if draw < network.reset_probability + network.blackhole_probability:
            held = rng.random() * network.blackhole_s
            timeout = scenario.clients.request_timeout_s or math.inf
            if spent + rtt + held < timeout:
                return Answer(spent + rtt + held, True, held)
            return Answer(max(timeout, spent), False)
        return Answer(spent + rtt, True)


def initiate(scenario: Scenario, rng: np.random.Generator) -> tuple[int, float]:
    """(sends, seconds from arrival until the client has its job's id): a failed send is
    sent again with the same idempotency key (the job itself started with the first). When
    every send fails the model's client goes on as if the last had been answered, where
    the load test's gives up: `initiate_attempts` is meant to make that rare."""
    spent = 0.0
    attempts = scenario.clients.initiate_attempts
    for sent in range(1, attempts + 1):
        answer = short_request(scenario, rng)
        spent += answer.after_s
        if answer.answered:
            return sent, spent
    return attempts, spent


class KeptAliveConnection:
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
