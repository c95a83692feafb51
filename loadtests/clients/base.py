"""One job as a load-test client lives it: every request it sends is counted (requests,
bytes, connection time, proxy failures by status), and the moment it learns the outcome
is recorded against the wall clock the server stamps its jobs with."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import gevent
from locust.contrib.fasthttp import FastHttpSession, FastResponse

from checks.target import Target, dig
from core.scenario import Scenario

from ..protocol import NETWORK_FAILURE
from ..receiver import Receiver
from ..schedule import Arrival

# What a proxy answers when the origin refuses or breaks (nginx, ALB, Cloudflare); each hop's
# timeout status is added from its profile (Heroku's is 503, which an origin may send too).
BROKEN_ORIGIN = frozenset({502, 520, 521, 522})


@dataclass
class JobLog:
    """One row of the per-job table. Times are wall-clock seconds (time.time())."""

    index: int
    pattern: str
    scheduled_s: float  # scenario seconds after the start, from the shared schedule
    work_s: float  # scenario seconds of work the job was given
    late_s: float = 0.0  # real seconds the job started after its scheduled time
    started: float = 0.0
    known: float | None = None  # the client learned the outcome
    server_completed: float | None = None  # sync: the end of the work as the answer reports it
    outcome: str = "unknown"  # completed, failed, rejected, abandoned, gave_up, error
    job_id: str | None = None
    requests: int = 0
    bytes: int = 0
    connection_s: float = 0.0  # real seconds this client held a connection to the stack
    reconnects: int = 0
    events: int = 0
    heartbeats: int = 0
    webhook_receipts: int = 0
    webhook_duplicates: int = 0
    error: str = ""
    timeouts: dict[int, int] = field(default_factory=dict)  # proxy status -> count
    transfers: list[float] = field(default_factory=list)  # wall-clock times the client sent or got bytes

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row["timeouts"] = json.dumps({str(k): v for k, v in sorted(self.timeouts.items())})
        # Seconds after the job's start, to 0.1 ms: what the radio model reads.
        row["transfers"] = json.dumps([round(t - self.started, 4) for t in sorted(self.transfers)])
        return row

    def transferred(self) -> None:
        """Bytes moved just now (a request sent, an answer, an event or a heartbeat)."""
        self.transfers.append(time.time())


@dataclass(frozen=True)
class Sessions:
    """A client's two ways to send: `long` waits as long as the stack holds a request (sync
    answers, streams); `timely` gives up after the scenario's request timeout (polls,
    initiates). They are one session when the scenario sets no timeout."""

    long: FastHttpSession
    timely: FastHttpSession


class JobRun:
    """The context a pattern's client works in for one job, on the target's contract
    (its paths, bodies, headers and answer fields; the reference server's by default)."""

    def __init__(
        self,
        sessions: Sessions,
        scenario: Scenario,
        target: Target,
        pattern: str,
        arrival: Arrival,
        time_scale: float,
        receiver: Receiver | None,
        rng: Any,
        late_s: float,
    ) -> None:
        self.sessions = sessions
        self.scenario = scenario
        self.target = target
        self.arrival = arrival
        self.initiated: Any = None  # the initiate answer, which a target's paths may name fields of
        self.time_scale = time_scale
        self.receiver = receiver
        self.rng = rng
        self.proxy_failures = BROKEN_ORIGIN | {hop.timeout_status for hop in scenario.hops}
        self.log = JobLog(arrival.index, pattern, arrival.at_s, arrival.work_s, late_s=late_s, started=time.time())
        abandon = scenario.clients.abandon_after_s
        self.deadline = time.monotonic() + abandon * time_scale if abandon else float("inf")

    def scaled(self, scenario_s: float) -> float:
        return scenario_s * self.time_scale

    def sleep(self, scenario_s: float) -> None:
        gevent.sleep(self.scaled(scenario_s))

    def request(self, method: str, path: str, name: str, timely: bool = False, **kwargs: Any) -> FastResponse:
        """Send one request and account it; a proxy failure is counted by its status, a
        network failure (no answer: reset, or silent past the timeout) as status 0."""
        began = time.monotonic()
        self.log.requests += 1  # before sending: a request the client gives up on was still sent
        self.log.transferred()
        resp = (self.sessions.timely if timely else self.sessions.long).request(method, path, name=name, **kwargs)
        self.log.transferred()
        if not kwargs.get("stream"):
            self.log.connection_s += time.monotonic() - began
            self.log.bytes += len(resp.content or b"")
        if resp.status_code in self.proxy_failures:
            self.log.timeouts[resp.status_code] = self.log.timeouts.get(resp.status_code, 0) + 1
        return resp

    def work_headers(self, files: int | None = None) -> dict[str, str]:
        """The job's drawn work, spread over the files the request names, in the target's unit."""
        work = self.target.work
        if not work.header:
            return {}
        per_file_s = self.arrival.work_s / (files or len(self.arrival.file_ids))
        if work.header_unit == "ms":
            per_file_s = self.scaled(per_file_s)
        return {work.header: str(round(per_file_s * 1000))}

    def path(self, endpoint: str, job_id: str = "") -> tuple[str, str]:
        """The URL path, and the name Locust groups it under (one per endpoint, not per job)."""
        method = "POST" if endpoint in ("sync", "initiate") else "GET"
        filled = self.target.path(endpoint, job_id, self.arrival.file_ids[0], self.initiated)
        return filled, f"{method} {self.target.path_name(endpoint)}"

    def state(self, answer: Any) -> str | None:
        value = dig(answer, self.target.answers.status)
        return None if value is None else str(value)

    def initiate(self, callback: bool = False) -> str | None:
        """Start the job; its id, or None (and the outcome recorded) when it was not accepted."""
        target = self.target
        body = target.bodies.render("initiate", self.arrival.file_ids)
        if callback:
            assert self.receiver is not None and target.callback_field
            body[target.callback_field] = self.receiver.url
        headers = self.work_headers()
        if target.idempotency_header:
            key = str(uuid.uuid4())
            headers[target.idempotency_header] = f'"{key}"' if target.idempotency_quoted else key
        path, name = self.path("initiate")
        for attempt in range(self.scenario.clients.initiate_attempts):
            if attempt:
                self.log.reconnects += 1  # the same key again, on a new connection
            resp = self.request("POST", path, name, timely=True, json=body, headers=headers)
            if resp.status_code != NETWORK_FAILURE:
                break
        self.initiated = resp.json() if resp.status_code in (200, 201, 202) else None
        job_id = dig(self.initiated, target.answers.job_id)
        if job_id is not None:
            self.log.job_id = str(job_id)
            return self.log.job_id
        self.log.outcome = "rejected" if resp.status_code == 503 else "error"
        self.log.error = f"initiate answered {resp.status_code}"
        return None

    def learned(self, status: str, at: float | None = None) -> None:
        """The client now knows how the job ended."""
        if self.log.known is None:
            self.log.known = at or time.time()
            self.log.outcome = "completed" if status in self.target.answers.completed else "failed"

    def give_up(self, outcome: str) -> None:
        if self.log.known is None:
            self.log.outcome = outcome

    def reconnect_after(self, delay_s: float) -> bool:
        """Wait `delay_s` (scenario seconds) and count a reconnect; False, with the job
        abandoned, when the client's deadline would pass first."""
        if self.past_deadline(self.scaled(delay_s)):
            self.give_up("abandoned")
            return False
        self.log.reconnects += 1
        self.sleep(delay_s)
        return True

    def past_deadline(self, after_s: float = 0.0) -> bool:
        return time.monotonic() + after_s > self.deadline

    def time_left(self) -> float | None:
        """Real seconds until the client abandons the job; None if it never does."""
        return None if self.deadline == float("inf") else max(0.0, self.deadline - time.monotonic())
