"""A client for any target service, through its proxy chain: the sync call, initiate,
status polls, the event stream or WebSocket, the download, and the count of executions.

`entry` is what clients talk to (the outermost proxy); `origin` is the service itself,
read directly for its execution counter so no proxy cache or limit stands in between.
Every request carries a tag, so that where the check watches the service's side (`arrivals`,
from checks.origin_relay) an answer can be told to be the service's own or a proxy's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict

from core.prometheus_text import counter_value
from core.sse import SseComment, SseEvent, read_stream
from reference_server.contract import PREFERENCE_APPLIED_HEADER, RETRY_AFTER_MS_HEADER

from .origin_relay import TAG_HEADER, Arrivals
from .target import Target, dig

# A status read answered with one of these will be answered so again: the client gives up at once.
PERMANENT_STATUSES = (400, 404, 405, 410, 422)
# A server error the service itself answered this many times in a row is its own bug, not a hiccup.
REPEATED_SERVER_ERRORS = 2
QUOTED_CHARS = 120


class RateLimited(Exception):
    """The service answered 429: it throttled the client, so the exchange showed nothing else."""


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: Any  # parsed JSON, or the text where the answer is not JSON
    elapsed_s: float
    tag: str = ""  # the request's TAG_HEADER: what the service did with it is looked up by this
    file_id: int | None = None  # the first file id the request sent, where it sent one
    redirected_to: str = ""  # the host that gave the answer, where the service redirected elsewhere

    def quoted(self) -> str:
        """The status and the start of the body, as evidence quotes them."""
        if isinstance(self.body, bytes):
            text = self.body.decode(errors="replace")
        else:
            text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        text = " ".join(text.split())
        return f"{self.status} {text[:QUOTED_CHARS]!r}" if text else str(self.status)


@dataclass(frozen=True)
class Job:
    """A job the service accepted, and what its paths can be filled from."""

    id: str
    file_id: int | None
    initiated: Any  # the initiate answer's JSON


@dataclass
class Polled:
    """A job followed by polling, until it ended or the client gave up."""

    final: Answer | None
    answers: list[Answer]
    elapsed_s: float
    gave_up: Answer | None = None  # the answer that showed more polling would not help

    @property
    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.status >= 400]


@dataclass
class Followed:
    """One event-stream connection: what arrived, when, and how it ended."""

    connected_at: float
    events: list[SseEvent] = field(default_factory=list)
    heartbeats: list[SseComment] = field(default_factory=list)
    ended_at: float = 0.0
    status: int = 0
    broken: bool = False  # the connection ended before the response did: a proxy cut it mid-body

    def finished(self, terminal: frozenset[str]) -> bool:
        return bool(self.events) and self.events[-1].event in terminal

    @property
    def lasted_s(self) -> float:
        return self.ended_at - self.connected_at

    @property
    def silence_before_end_s(self) -> float:
        last = max([e.received for e in self.events] + [c.received for c in self.heartbeats] + [self.connected_at])
        return self.ended_at - last


async def follow_url(
    http: aiohttp.ClientSession,
    url: str,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    limit_s: float = 60,
) -> Followed:
    """Read an event stream until it ends, `stop_after` events arrive, or `limit_s` passes."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    seen = Followed(time.monotonic())
    timeout = aiohttp.ClientTimeout(total=limit_s)
    try:
        async with http.get(url, headers=headers, timeout=timeout) as resp:
            seen.status = resp.status
            if resp.status == 200:
                async for item in read_stream(resp):
                    if isinstance(item, SseComment):
                        seen.heartbeats.append(item)
                        continue
                    seen.events.append(item)
                    if stop_after is not None and len(seen.events) >= stop_after:
                        break
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        seen.broken = True
    except TimeoutError:
        pass  # it outlasted the client's patience
    seen.ended_at = time.monotonic()
    return seen


async def follow_socket(
    http: aiohttp.ClientSession,
    url: str,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    limit_s: float = 60,
) -> Followed:
    """The same reading over a WebSocket: each JSON message `{id, event, data}` is an event,
    each ping a heartbeat (answered); `status` is 200 once the handshake succeeded, else
    the status it was refused with."""
    seen = Followed(time.monotonic())
    if last_event_id:
        url += f"{'&' if '?' in url else '?'}lastEventId={last_event_id}"
    try:
        async with asyncio.timeout(limit_s), http.ws_connect(url, autoping=False) as ws:
            seen.status = 200
            async for msg in ws:
                now = time.monotonic()
                if msg.type == aiohttp.WSMsgType.PING:
                    await ws.pong(msg.data)
                    seen.heartbeats.append(SseComment("ping", now))
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    message = json.loads(msg.data)
                    data = json.dumps(message.get("data"))
                    seen.events.append(SseEvent(str(message.get("id")), str(message.get("event")), data, None, now))
                    if stop_after is not None and len(seen.events) >= stop_after:
                        break
    except aiohttp.WSServerHandshakeError as exc:
        seen.status = exc.status
    except (aiohttp.ClientError, TimeoutError, ValueError):
        pass  # cut, outlasted the client's patience, or not JSON: an ending like any other
    seen.ended_at = time.monotonic()
    return seen


FOLLOWERS = {"events": follow_url, "websocket": follow_socket}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def prometheus_counter(http: aiohttp.ClientSession, url: str, name: str) -> float:
    async with http.get(url, headers={"Cache-Control": "no-cache"}) as resp:
        resp.raise_for_status()
        return counter_value(await resp.text(), name)


class TargetClient:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        target: Target,
        entry: str,
        origin: str,
        time_scale: float,
        arrivals: Arrivals | None = None,
    ) -> None:
        self.http = http
        self.target = target
        self.entry = entry.rstrip("/")
        self.origin = origin.rstrip("/")
        self.time_scale = time_scale
        self.arrivals = arrivals  # what reached the service, where the check watches its side

    def work_headers(self, real_s: float) -> dict[str, str]:
        work = self.target.work
        if not work.header:
            return {}
        scenario_s = real_s / self.time_scale if work.header_unit == "scenario-ms" else real_s
        return {work.header: str(round(scenario_s * 1000))}

    def idempotency_headers(self, key: str | None) -> dict[str, str]:
        name = self.target.idempotency_header
        if key is None or not name:
            return {}
        return {name: f'"{key}"' if self.target.idempotency_quoted else key}

    async def _send(
        self, method: str, path: str, headers: dict[str, str], file_id: int | None = None, **kwargs: Any
    ) -> Answer:
        began, tag = time.monotonic(), uuid.uuid4().hex
        async with self.http.request(
            method, f"{self.entry}{path}", headers={**headers, TAG_HEADER: tag}, **kwargs
        ) as resp:
            if resp.status == 429:
                raise RateLimited(f"{method} {path}")
            raw = await resp.read()
            try:
                body: Any = await resp.json(content_type=None)
            except ValueError:
                body = raw.decode(errors="replace")
            return Answer(resp.status, CIMultiDict(resp.headers), body, time.monotonic() - began, tag, file_id)

    async def sync(self, file_id: int, work_s: float) -> Answer:
        body = self.target.bodies.render("sync", [file_id])
        path = self.target.path("sync", file_id=file_id)
        return await self._send("POST", path, self.work_headers(work_s), file_id, json=body)

    async def initiate(self, file_id: int, work_s: float, key: str | None = None) -> Answer:
        body = self.target.bodies.render("initiate", [file_id])
        headers = {**self.work_headers(work_s), **self.idempotency_headers(key)}
        return await self._send("POST", self.target.path("initiate", file_id=file_id), headers, file_id, json=body)

    def job_id(self, answer: Answer) -> str | None:
        value = dig(answer.body, self.target.answers.job_id)
        return None if value is None else str(value)

    def job(self, answer: Answer) -> Job | None:
        """The job an initiate answer accepted, or None where it accepted none."""
        job_id = self.job_id(answer) if answer.status < 300 else None
        return None if job_id is None else Job(job_id, answer.file_id, answer.body)

    def path(self, endpoint: str, job: Job) -> str:
        return self.target.path(endpoint, job.id, job.file_id, job.initiated)

    async def status(self, job: Job, headers: dict[str, str] | None = None) -> Answer:
        return await self._send("GET", self.path("status", job), headers or {}, job.file_id)

    async def long_poll_until_terminal(self, job: Job, wait_s: float, limit_s: float) -> list[Answer]:
        """Status reads asking to be held `wait_s` (RFC 7240 `Prefer: wait`), each with the
        last ETag, until one shows the job ended or `limit_s` passes; every answer."""
        began, answers = time.monotonic(), []
        tag: dict[str, str] = {}
        while time.monotonic() - began < limit_s:
            answer = await self.status(job, {"Prefer": f"wait={wait_s:.3f}", **tag})
            answers.append(answer)
            if answer.status < 300 and self.state(answer) in self.target.answers.terminal:
                break
            if self.hopeless(answers):
                break
            if answer.status in (200, 304) and "ETag" in answer.headers:
                tag = {"If-None-Match": answer.headers["ETag"]}
            if PREFERENCE_APPLIED_HEADER not in answer.headers:  # not held: do not hammer
                await asyncio.sleep(self.poll_delay_s(answer))
        return answers

    def state(self, answer: Answer) -> str | None:
        value = dig(answer.body, self.target.answers.status)
        return None if value is None else str(value)

    def poll_delay_s(self, answer: Answer) -> float:
        """The reference server's scaled advice where given; a check need not wait a real Retry-After."""
        advice = answer.headers.get(RETRY_AFTER_MS_HEADER, "")
        if advice.isascii() and advice.isdigit():
            return int(advice) / 1000
        return self.target.answers.poll_interval_s * self.time_scale

    async def poll_until_terminal(self, job: Job, limit_s: float) -> Polled:
        began = time.monotonic()
        answers: list[Answer] = []
        while time.monotonic() - began < limit_s:
            answer = await self.status(job)
            answers.append(answer)
            if answer.status < 400 and self.state(answer) in self.target.answers.terminal:
                return Polled(answer, answers, time.monotonic() - began)
            if self.hopeless(answers):
                return Polled(None, answers, time.monotonic() - began, gave_up=answer)
            await asyncio.sleep(self.poll_delay_s(answer))
        return Polled(None, answers, time.monotonic() - began)

    def hopeless(self, answers: list[Answer]) -> bool:
        """Whether the reads so far show that reading again would be answered the same: a
        client error that does not pass, or the service's own server error, repeated."""
        last = answers[-1]
        if last.status in PERMANENT_STATUSES:
            return True
        recent = answers[-REPEATED_SERVER_ERRORS:]
        return (
            len(recent) == REPEATED_SERVER_ERRORS
            and all(a.status == last.status >= 500 for a in recent)
            and all(self.from_service(a) for a in recent)
        )

    def from_service(self, answer: Answer) -> bool | None:
        """Whether the service itself gave this answer (rather than a proxy in front of it);
        None where nothing watched the service's side."""
        if self.arrivals is None or answer.redirected_to:
            return None
        arrival = self.arrivals.tagged(answer.tag)
        return arrival is not None and arrival.status == answer.status

    async def follow(
        self,
        job: Job,
        last_event_id: str | None = None,
        stop_after: int | None = None,
        limit_s: float = 60,
        via: str = "events",
    ) -> Followed:
        """Follow the job's events on its event stream, or (via="websocket") its WebSocket."""
        path = self.path(via, job)
        seen = await FOLLOWERS[via](self.http, f"{self.entry}{path}", last_event_id, stop_after, limit_s)
        if seen.status == 429:
            raise RateLimited(f"GET {path}")
        return seen

    async def download(self, job: Job) -> Answer:
        """The download path, following redirects (a presigned link) to the bytes."""
        began, path, tag = time.monotonic(), self.path("download", job), uuid.uuid4().hex
        async with self.http.get(f"{self.entry}{path}", headers={TAG_HEADER: tag}) as resp:
            if resp.status == 429:
                raise RateLimited(f"GET {path}")
            data = await resp.read()
            elsewhere = resp.url.host if resp.history and resp.url.host else ""
            return Answer(
                resp.status, CIMultiDict(resp.headers), data, time.monotonic() - began, tag, job.file_id, elsewhere
            )

    async def executions(self, jobs: list[Job] | None = None) -> float | None:
        """Executions so far: the service's counter, or the sum of the jobs' own fields;
        None where the target gives no way to count them."""
        how = self.target.executions
        if how.counter and how.metrics_path:
            return await prometheus_counter(self.http, f"{self.origin}{how.metrics_path}", how.counter)
        if how.status_field and jobs is not None:
            total = 0.0
            for job in jobs:
                value = dig((await self.status(job)).body, how.status_field)
                if not isinstance(value, int | float) or isinstance(value, bool):
                    return None
                total += value
            return total
        return None
