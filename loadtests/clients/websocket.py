"""Initiate, then follow the job over a WebSocket (websocket-client, on gevent's patched
sockets): answer the server's pings, take its JSON messages, and after every cut connect
again with `?lastEventId=` when the policy resumes. The held-connection policy is the
streams' (`clients.sse`): the same reconnect delay, watchdog and drops. A handshake a
proxy refused (the server got a plain GET: 426) is not retried."""

from __future__ import annotations

import json
import time

import gevent
import websocket
from websocket import ABNF

from .base import JobRun
from .sse import Dropped, Silent, Watchdog

HANDSHAKE_TIMEOUT_S = 10.0  # real seconds, as the Locust users' connection timeout


class Refused(Exception):
    """The handshake was answered with a status that connecting again will not change."""


def _url(job: JobRun, job_id: str, last_id: str | None) -> str:
    base = str(job.sessions.long.base_url).rstrip("/")
    url = "ws" + base.removeprefix("http") + job.target.path("websocket", job_id)
    return f"{url}?lastEventId={last_id}" if last_id else url


def _connect(job: JobRun, url: str) -> websocket.WebSocket:
    job.log.requests += 1  # before sending, as every request is counted
    job.log.transferred()
    try:
        return websocket.create_connection(url, timeout=HANDSHAKE_TIMEOUT_S, enable_multithread=False)
    except websocket.WebSocketBadStatusException as exc:
        status = exc.status_code
        if status in job.proxy_failures:
            job.log.timeouts[status] = job.log.timeouts.get(status, 0) + 1
        if 400 <= status < 500 and status not in (408, 429):
            raise Refused(f"websocket handshake answered {status}") from None
        raise


def _read(job: JobRun, ws: websocket.WebSocket, watchdog: Watchdog) -> tuple[str | None, str | None]:
    """Read one connection to its end: (the terminal event if it came, the last id seen)."""
    ws.settimeout(None)  # the watchdog and the drop timer decide how long silence may last
    last_id = None
    try:
        while True:
            opcode, frame = ws.recv_data_frame(control_frame=True)
            watchdog.feed()
            job.log.transferred()
            job.log.bytes += len(frame.data) + 2
            if opcode == ABNF.OPCODE_PING:
                job.log.heartbeats += 1  # answered with a pong by the library
            elif opcode == ABNF.OPCODE_CLOSE:
                return None, last_id
            elif opcode == ABNF.OPCODE_TEXT:
                message = json.loads(frame.data)
                job.log.events += 1
                last_id = str(message["id"])
                if message["event"] in job.target.answers.terminal:
                    return message["event"], last_id
    except (Dropped, Silent):
        raise
    except Exception:
        return None, last_id  # reset, or closed mid-frame: a cut to this client


def follow_socket(job: JobRun, job_id: str) -> None:
    policy = job.scenario.clients.sse
    drop_rate = job.scenario.client_drops_per_hour / 3600
    watchdog_s = job.scenario.clients.watchdog_s
    last_id: str | None = None
    while True:
        began = time.monotonic()
        left = job.time_left()
        drop_in = job.scaled(job.rng.exponential(1 / drop_rate)) if drop_rate else None
        limit = min((x for x in (left, drop_in) if x is not None), default=None)
        state, ws = None, None
        watchdog = Watchdog(job.scaled(watchdog_s) if watchdog_s else None)
        with gevent.Timeout(limit, Dropped):
            try:
                watchdog.feed()
                ws = _connect(job, _url(job, job_id, last_id if policy.resume else None))
                state, seen = _read(job, ws, watchdog)
                last_id = seen or last_id
            except Refused as exc:
                job.log.outcome, job.log.error = "error", str(exc)
                return
            except (Dropped, Silent, OSError, websocket.WebSocketException):
                state = None
            finally:
                watchdog.stop()
                if ws is not None:
                    ws.shutdown()
        job.log.connection_s += time.monotonic() - began
        if state is not None:
            job.learned(state)
            return
        if not job.reconnect_after(policy.reconnect_delay_s):
            return


def run(job: JobRun) -> None:
    job_id = job.initiate()
    if job_id is not None:
        follow_socket(job, job_id)
