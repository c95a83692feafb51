"""A client for any target service, through its proxy chain: the sync call, initiate,
status polls, the event stream or WebSocket, the download, and the count of executions.

`entry` is what clients talk to (the outermost proxy); `origin` is the service itself,
read directly for its execution counter so no proxy cache or limit stands in between.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict

from core.prometheus_text import counter_value
from core.sse import SseComment, SseEvent, read_stream
from reference_server.contract import PREFERENCE_APPLIED_HEADER, RETRY_AFTER_MS_HEADER

from .target import Target, dig


class RateLimited(Exception):
    """The service answered 429: it throttled the client, so the exchange showed nothing else."""


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: Any  # parsed JSON, or the text where the answer is not JSON
    elapsed_s: float


@dataclass
class Polled:
    """A job followed by polling, until it ended or the client gave up."""

    final: Answer | None
    statuses: list[int]
    elapsed_s: float

    @property
    def bad_statuses(self) -> list[int]:
        return [s for s in self.statuses if s >= 400]


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
    def __init__(self, http: aiohttp.ClientSession, target: Target, entry: str, origin: str, time_scale: float) -> None:
        self.http = http
        self.target = target
        self.entry = entry.rstrip("/")
        self.origin = origin.rstrip("/")
        self.time_scale = time_scale

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

    async def _send(self, method: str, path: str, **kwargs: Any) -> Answer:
        began = time.monotonic()
        async with self.http.request(method, f"{self.entry}{path}", **kwargs) as resp:
            if resp.status == 429:
                raise RateLimited(f"{method} {path}")
            raw = await resp.read()
            try:
                body: Any = await resp.json(content_type=None)
            except ValueError:
                body = raw.decode(errors="replace")
            return Answer(resp.status, CIMultiDict(resp.headers), body, time.monotonic() - began)

    async def sync(self, file_id: int, work_s: float) -> Answer:
        body = self.target.bodies.render("sync", [file_id])
        return await self._send("POST", self.target.path("sync"), json=body, headers=self.work_headers(work_s))

    async def initiate(self, file_id: int, work_s: float, key: str | None = None) -> Answer:
        body = self.target.bodies.render("initiate", [file_id])
        headers = {**self.work_headers(work_s), **self.idempotency_headers(key)}
        return await self._send("POST", self.target.path("initiate"), json=body, headers=headers)

    def job_id(self, answer: Answer) -> str | None:
        value = dig(answer.body, self.target.answers.job_id)
        return None if value is None else str(value)

    async def status(self, job_id: str, headers: dict[str, str] | None = None) -> Answer:
        return await self._send("GET", self.target.path("status", job_id), headers=headers or {})

    async def long_poll_until_terminal(self, job_id: str, wait_s: float, limit_s: float) -> list[Answer]:
        """Status reads asking to be held `wait_s` (RFC 7240 `Prefer: wait`), each with the
        last ETag, until one shows the job ended or `limit_s` passes; every answer."""
        began, answers = time.monotonic(), []
        tag: dict[str, str] = {}
        while time.monotonic() - began < limit_s:
            answer = await self.status(job_id, {"Prefer": f"wait={wait_s:.3f}", **tag})
            answers.append(answer)
            if answer.status < 300 and self.state(answer) in self.target.answers.terminal:
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

    async def poll_until_terminal(self, job_id: str, limit_s: float) -> Polled:
        began = time.monotonic()
        statuses: list[int] = []
        while time.monotonic() - began < limit_s:
            answer = await self.status(job_id)
            statuses.append(answer.status)
            if answer.status < 400 and self.state(answer) in self.target.answers.terminal:
                return Polled(answer, statuses, time.monotonic() - began)
            await asyncio.sleep(self.poll_delay_s(answer))
        return Polled(None, statuses, time.monotonic() - began)

    async def follow(
        self,
        job_id: str,
        last_event_id: str | None = None,
        stop_after: int | None = None,
        limit_s: float = 60,
        via: str = "events",
    ) -> Followed:
        """Follow the job's events on its event stream, or (via="websocket") its WebSocket."""
        path = self.target.path(via, job_id)
        seen = await FOLLOWERS[via](self.http, f"{self.entry}{path}", last_event_id, stop_after, limit_s)
        if seen.status == 429:
            raise RateLimited(f"GET {path}")
        return seen

    async def download(self, job_id: str) -> Answer:
        """The download path, following redirects (a presigned link) to the bytes."""
        began = time.monotonic()
        async with self.http.get(f"{self.entry}{self.target.path('download', job_id)}") as resp:
            if resp.status == 429:
                raise RateLimited(f"GET {self.target.path('download', job_id)}")
            data = await resp.read()
            return Answer(resp.status, CIMultiDict(resp.headers), data, time.monotonic() - began)

    async def executions(self, job_ids: list[str] | None = None) -> float | None:
        """Executions so far: the service's counter, or the sum of the jobs' own fields;
        None where the target gives no way to count them."""
        how = self.target.executions
        if how.counter and how.metrics_path:
            return await prometheus_counter(self.http, f"{self.origin}{how.metrics_path}", how.counter)
        if how.status_field and job_ids is not None:
            total = 0.0
            for job_id in job_ids:
                value = dig((await self.status(job_id)).body, how.status_field)
                if not isinstance(value, int | float) or isinstance(value, bool):
                    return None
                total += value
            return total
        return None
