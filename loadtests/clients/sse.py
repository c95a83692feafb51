"""Initiate, then follow the job's event stream; reconnect after every cut, resuming with
Last-Event-ID when the policy says so. The stream is read line by line from a gevent
socket, so a waiting stream costs the load generator a parked greenlet, not a thread."""

from __future__ import annotations

import time

import gevent

from core.sse import SseComment, SseEvent, SseParser

from .base import JobRun


class Dropped(Exception):
    """The client's own timer dropped the connection (the policy's drops_per_hour)."""


class Silent(Exception):
    """No byte for as long as the client's watchdog allows: the stream is taken for dead."""


class Watchdog:
    """Raises Silent in the greenlet that fed it last, once no byte came for `seconds`
    (None: never). Each feed arms a fresh timer: a gevent Timeout restarted after
    `cancel()` keeps its first deadline."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.timer: gevent.Timeout | None = None

    def feed(self) -> None:
        self.stop()
        if self.seconds is not None:
            self.timer = gevent.Timeout(self.seconds, Silent)
            self.timer.start()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.close()
            self.timer = None


def _read(job: JobRun, resp: object, parser: SseParser, watchdog: Watchdog, first: Watchdog) -> str | None:
    """Read one connection to its end; the terminal state if it came, else None (a cut)."""
    # FastResponse's `stream` is set only for requests sent with stream=True, as these are.
    stream = resp.stream  # type: ignore[attr-defined]
    try:
        while True:
            raw = stream.readline(b"\n")
            if not raw:
                return None  # the stream ended without a final event
            watchdog.feed()
            first.stop()
            job.log.transferred()
            job.log.bytes += len(raw)
            item = parser.feed(raw.decode().rstrip("\r\n"))
            if isinstance(item, SseComment):
                job.log.heartbeats += 1
            elif isinstance(item, SseEvent):
                job.log.events += 1
                if item.event in job.target.answers.terminal:
                    return item.event
    except (Dropped, Silent):
        raise
    except Exception:
        return None  # reset, closed mid-chunk, or a read timeout: all cuts to this client
    finally:
        stream.release()  # closes the socket unless the response ended cleanly


def follow_stream(
    job: JobRun, job_id: str, give_up_after: int | None = None, first_byte_s: float | None = None
) -> bool:
    """Follow until the outcome is known (True), or `give_up_after` connections have ended
    before their first byte (a stream cut after bytes came is working: it resumes), or the
    client abandoned (False). `first_byte_s`: a connection with no byte of its stream that
    long after it opened is given up on (the server opens every stream at once)."""
    policy = job.scenario.clients.sse
    parser = SseParser()
    failures = 0
    drop_rate = job.scenario.client_drops_per_hour / 3600
    watchdog_s = job.scenario.clients.watchdog_s
    path, name = job.path("events", job_id)
    while True:
        headers = {"Accept": "text/event-stream"}
        if policy.resume and parser.last_event_id:
            headers["Last-Event-ID"] = parser.last_event_id
        began, bytes_before = time.monotonic(), job.log.bytes
        left = job.time_left()
        drop_in = job.scaled(job.rng.exponential(1 / drop_rate)) if drop_rate else None
        limit = min((x for x in (left, drop_in) if x is not None), default=None)
        state = None
        # Fed before the request: a stream whose headers never come is silent too.
        watchdog = Watchdog(job.scaled(watchdog_s) if watchdog_s else None)
        first = Watchdog(job.scaled(first_byte_s) if first_byte_s else None)
        with gevent.Timeout(limit, Dropped):
            try:
                watchdog.feed()
                first.feed()
                resp = job.request("GET", path, name, headers=headers, stream=True)
                if resp.status_code == 200 and resp.stream is not None:
                    state = _read(job, resp, parser, watchdog, first)
            except (Dropped, Silent):
                state = None
            finally:
                watchdog.stop()
                first.stop()
        job.log.connection_s += time.monotonic() - began
        if state is not None:
            job.learned(state)
            return True
        failures += job.log.bytes == bytes_before  # nothing came: the path does not pass the stream
        if give_up_after is not None and failures >= give_up_after:
            return False  # the caller goes on another way (and abandons at its own deadline)
        if not job.reconnect_after(policy.reconnect_delay_s):
            return False


def run(job: JobRun) -> None:
    job_id = job.initiate()
    if job_id is not None:
        follow_stream(job, job_id)
