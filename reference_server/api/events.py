"""Server-Sent Events: one job's stream, and one stream for several jobs.

Every event carries an `id` (the job's event sequence number; for several jobs, one
number per job joined by dots), so `Last-Event-ID` resumes with exactly the missed
events from the job's stored log. Without it a client gets a `snapshot` of the current
state first, or the terminal event at once if the job is over. Comment heartbeats
(`heartbeats`, one task per process) keep idle proxies from cutting the stream; the
stream ends after the terminal events.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from ..contract import TERMINAL_STATES
from ..jobs.model import Event, Job
from ..store.base import Watch
from ..store.redis import TRANSIENT
from . import sse_format, validation
from .context import Context, context
from .errors import ApiError
from .jobs import origin
from .middleware import RATE
from .representation import BASE, download_url
from .stream_slots import Slot

routes = web.RouteTableDef()
MAX_STREAM_JOBS = 50
Send = Callable[[str, str, str], Awaitable[None]]  # (cursor, event name, JSON data) to the client
# A held stream's read that finds the store busy or away waits up to this long, doubling, and tries
# again. A random share of it ("full jitter"): streams woken together, by a resync, would otherwise
# come back together, and a short pool would let one of them through each round.
READ_RETRY_FIRST_S = 0.05
READ_RETRY_MAX_S = 1.0


class Follower:
    """One job's position in a stream."""

    __slots__ = ("cursor", "done", "job_id")  # one per job followed, for as long as the stream is held

    def __init__(self, job: Job, cursor: int) -> None:
        self.job_id = job.id
        self.cursor = cursor
        self.done = False


async def _load(ctx: Context, job_ids: list[str]) -> list[Job]:
    jobs = []
    for job_id in job_ids:
        job = await ctx.store.get(job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"No job with id {job_id!r}")
        jobs.append(job)
    return jobs


def _payload(ctx: Context, request: web.Request, job_id: str, event: Event, job: Job | None) -> str:
    data: dict[str, Any] = {"jobId": job_id, **event.data}
    if event.type == "completed" and job is not None:
        link = download_url(job, ctx.settings, ctx.artifacts, origin(request), time.time())
        if link is not None:
            data["downloadUrl"] = link[0]
    return json.dumps(data, separators=(",", ":"))


class Feed:
    """What a client following jobs is owed, whatever carries it (an event stream or a
    WebSocket): the opening events (a snapshot, the terminal event of a finished job, or
    with a resume cursor the missed ones), then each new event as the jobs change, until
    every job has ended. Each event goes out with the cursor that resumes after it."""

    __slots__ = ("ctx", "followers", "jobs", "request", "resume", "sent", "woken")

    def __init__(
        self, ctx: Context, request: web.Request, jobs: list[Job], resume: list[int] | None, woken: Watch
    ) -> None:
        self.ctx = ctx
        self.request = request
        self.jobs = jobs
        self.resume = resume
        self.woken = woken
        self.sent = 0  # events sent so far
        self.followers = [Follower(job, resume[i] if resume else job.seq) for i, job in enumerate(jobs)]
        if resume is not None:
            for follower, job in zip(self.followers, jobs, strict=True):
                follower.done = job.state in TERMINAL_STATES and follower.cursor >= job.seq

    @property
    def over(self) -> bool:
        return all(f.done for f in self.followers)

    async def _out(self, send: Send, follower: Follower, event: Event, name: str, job: Job | None) -> None:
        follower.cursor = max(follower.cursor, event.seq)
        follower.done = follower.done or event.type in TERMINAL_STATES
        cursor = ".".join(str(f.cursor) for f in self.followers)
        await send(cursor, name, _payload(self.ctx, self.request, follower.job_id, event, job))
        self.sent += 1

    async def _events(self, job_id: str, after_seq: int, gone: Callable[[], bool]) -> tuple[list[Event], Job | None]:
        """The job's events after `after_seq`, and the job. A held stream is never cut because
        the store is busy (its pool's wait ran out) or briefly away: it waits and reads again
        for as long as its client stays, with heartbeats keeping the connection up. Cut, its
        client would reconnect and read afresh, adding to the load on a store already short."""
        pause = READ_RETRY_FIRST_S
        while True:
            try:
                return await self.ctx.store.events(job_id, after_seq)
            except TRANSIENT:
                if gone():
                    raise
                await self.ctx.metrics.inc("dl_stream_read_retries_total")
                await asyncio.sleep(random.uniform(0, pause))
                pause = min(READ_RETRY_MAX_S, pause * 2)

    async def _open(self, send: Send, gone: Callable[[], bool]) -> None:
        """A snapshot of each job, or the terminal event of one that has ended. (A call of its
        own, so that its last job is not kept in the frame of `send`, which lasts as long as
        the stream.)"""
        for follower, job in zip(self.followers, self.jobs, strict=True):
            if job.state in TERMINAL_STATES:
                last = (await self._events(job.id, job.seq - 1, gone))[0][-1]
                await self._out(send, follower, last, last.type, job)
            else:
                snapshot = Event(job.seq, "snapshot", {"state": job.state, "progress": job.progress})
                await self._out(send, follower, snapshot, "snapshot", job)

    async def send(self, send: Send, gone: Callable[[], bool]) -> None:
        """Each event owed, in order, through `send(cursor, event name, JSON data)`. (A
        coroutine, not an async generator: the loop keeps every live async generator in a
        weak set, and its last event's strings stayed in the caller's frame.)"""
        woken = self.woken
        if self.resume is None:
            await self._open(send, gone)
        # Not kept while the feed waits: a job read from Redis is a kilobyte or more.
        self.jobs = []
        # No timer: the feed sleeps until its jobs change (or the store's subscription
        # resyncs), and the server cancels the handler when the client goes
        # (handler_cancellation), so a held connection costs nothing in between. A resumed
        # feed first catches up from the log.
        behind = self.resume is not None
        while not self.over and not gone():
            if not behind:
                await woken.wait()
            behind = False
            woken.clear()
            await self._catch_up(send, gone)

    async def _catch_up(self, send: Send, gone: Callable[[], bool]) -> None:
        """Each job's events since its cursor: those the store's notice carried when they
        follow the cursor without a gap, else read from the log. (A call of its own, like
        `_open`: the job read with them is not kept while the feed waits.)"""
        for follower in self.followers:
            if not follower.done:
                news = self.woken.take(follower.job_id)
                carried = news.after(follower.cursor) if news is not None else None
                if news is not None and carried is not None:
                    events, current = carried, news.job
                else:
                    events, current = await self._events(follower.job_id, follower.cursor, gone)
                for event in events:
                    await self._out(send, follower, event, event.type, current)


async def feed(request: web.Request, woken: Watch) -> Feed:
    """The feed of the jobs `woken` watches, checked (404, a bad cursor: 400). Called in the
    watch's `with` block, so the watch is registered before the jobs are read: any change
    after the read wakes the feed, and until one does, what was read is current and the feed
    reads nothing more. (Not a context manager itself: a generator would cost each held
    stream 300 bytes.)"""
    ctx = context(request)
    jobs = await _load(ctx, woken.job_ids)
    resume = validation.last_event_id(request, len(jobs))
    if resume is not None:
        for job, seq in zip(jobs, resume, strict=True):
            if seq > job.seq:
                raise ApiError(400, "invalid_last_event_id", f"Last-Event-ID is ahead of job {job.id}'s events")
    return Feed(ctx, request, jobs, resume, woken)


def followed_jobs(request: web.Request) -> list[str]:
    """The jobs a feed follows: the route's `{job_id}`, or else the `jobs` query's ids,
    comma-separated; checked."""
    if "job_id" in request.match_info:
        return [validation.job_id(request)]
    raw = request.query.get("jobs", "")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids:
        raise validation.invalid("jobs must list one or more job ids, comma-separated")
    if len(ids) > MAX_STREAM_JOBS:
        raise validation.invalid(f"jobs may list at most {MAX_STREAM_JOBS} ids, got {len(ids)}")
    if len(set(ids)) != len(ids):
        raise validation.invalid("jobs must not repeat an id")
    for job_id in ids:
        if not validation.UUID.match(job_id):
            raise ApiError(404, "job_not_found", f"No job with id {job_id!r}")
    return ids


class EventStream(web.StreamResponse):
    """A feed sent as Server-Sent Events. It is sent from `prepare`, which aiohttp calls once
    the handler has returned (as `web.FileResponse` sends its file), so neither the handler's
    frame nor the middlewares' are kept while the stream is held: about 1 KiB less per held
    stream (`python -m benchmarks.stream_memory`). It owns the feed's watch and its slot, and
    gives both back when it ends."""

    HEARTBEAT: ClassVar[bytes] = sse_format.PING

    def __init__(self, ctx: Context, feed: Feed, slot: Slot) -> None:
        super().__init__(headers=sse_format.HEADERS)
        if ctx.settings.sse_accel_buffering_header:
            self.headers["X-Accel-Buffering"] = "no"
        self._ctx = ctx
        self._feed = feed
        self._slot = slot

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        ctx = self._ctx
        try:
            await ctx.metrics.inc("dl_event_streams_opened_total")
            writer = await super().prepare(request)
            # The headers are serialised by now, and nothing reads them again; dropped, they
            # save a held stream about 5 KiB (benchmarks.stream_memory). So is the rate limit's count.
            self.headers.clear()
            request.pop(RATE, None)
            connection = ctx.heartbeats.keep(request, self)
            await self.write(sse_format.opening(ctx.settings.sse_retry_ms))
            await self._feed.send(self._send, connection.is_closing)
        finally:  # also when the client has left (ConnectionResetError, for aiohttp); it resumes with Last-Event-ID
            ctx.heartbeats.drop(self)
            await ended(ctx, self._feed, self._slot)
        return writer

    async def _send(self, cursor: str, name: str, data: str) -> None:
        await self.write(sse_format.event(cursor, name, data))
        self._ctx.heartbeats.wrote(self)


async def ended(ctx: Context, feed: Feed, slot: Slot) -> None:
    """A stream or socket of `feed` has ended: its watch and slot are given back, and it and
    the events it sent are counted."""
    feed.woken.close()
    slot.give_back()
    await ctx.metrics.inc("dl_event_streams_closed_total")
    await ctx.metrics.inc("dl_events_sent_total", feed.sent)


@routes.get(BASE + "/{job_id}/events")
@routes.get("/v1/download/events")
async def event_stream(request: web.Request) -> web.StreamResponse:
    """One job's events, or several jobs' (`?jobs=a,b`), as Server-Sent Events. (One handler
    for both routes, not two calling a third.) It checks the request and answers any refusal
    in JSON; the stream itself is sent once it has returned (`EventStream`)."""
    ctx = context(request)
    with ctx.store.notifier.watching(followed_jobs(request)) as woken:
        jobs = await feed(request, woken)
        if jobs.over:
            # The client has seen every end already. 204 is the one answer after which an
            # EventSource stops reconnecting (any non-200 does); a clean end would bring it back.
            return web.Response(status=204)
        # A slot for as long as the stream lasts; refused (429/503) before the stream begins.
        slot = ctx.streams.take(ctx.identity.of(request))
        woken.keep()
        return EventStream(ctx, jobs, slot)
