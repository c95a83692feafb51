"""Server-Sent Events: one job's stream, and one stream for several jobs.

Every event carries an `id` (the job's event sequence number; for several jobs, one
number per job joined by dots), so `Last-Event-ID` resumes with exactly the missed
events from the job's stored log. Without it a client gets a `snapshot` of the current
state first, or the terminal event at once if the job is over. Comment heartbeats
(`heartbeats`, one task per process) keep idle proxies from cutting the stream; the
stream ends after the terminal events.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ..contract import TERMINAL_STATES
from ..jobs.model import Event, Job
from ..store.base import Watch
from . import sse_format, validation
from .context import Context, context
from .errors import ApiError
from .jobs import origin
from .middleware import streaming
from .representation import BASE, download_url

routes = web.RouteTableDef()
MAX_STREAM_JOBS = 50


class Follower:
    """One job's position in a stream."""

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

    def __init__(
        self, ctx: Context, request: web.Request, jobs: list[Job], resume: list[int] | None, woken: Watch
    ) -> None:
        self.ctx = ctx
        self.request = request
        self.jobs = jobs
        self.resume = resume
        self.woken = woken
        self.followers = [Follower(job, resume[i] if resume else job.seq) for i, job in enumerate(jobs)]
        if resume is not None:
            for follower, job in zip(self.followers, jobs, strict=True):
                follower.done = job.state in TERMINAL_STATES and follower.cursor >= job.seq

    @property
    def over(self) -> bool:
        return all(f.done for f in self.followers)

    def _out(self, follower: Follower, event: Event, name: str, job: Job | None) -> tuple[str, str, str]:
        follower.cursor = max(follower.cursor, event.seq)
        follower.done = follower.done or event.type in TERMINAL_STATES
        cursor = ".".join(str(f.cursor) for f in self.followers)
        return cursor, name, _payload(self.ctx, self.request, follower.job_id, event, job)

    async def events(self, connected: Callable[[], bool]) -> AsyncIterator[tuple[str, str, str]]:
        """(cursor, event name, JSON data) for each event owed, in order."""
        store, woken = self.ctx.store, self.woken
        if self.resume is None:
            for follower, job in zip(self.followers, self.jobs, strict=True):
                if job.state in TERMINAL_STATES:
                    last = (await store.events(job.id, job.seq - 1))[0][-1]
                    yield self._out(follower, last, last.type, job)
                else:
                    snapshot = Event(job.seq, "snapshot", {"state": job.state, "progress": job.progress})
                    yield self._out(follower, snapshot, "snapshot", job)
        # Not kept while the feed waits: a job read from Redis is a kilobyte or more.
        self.jobs = []
        # No timer: the feed sleeps until its jobs change (or the store's subscription
        # resyncs), and the server cancels the handler when the client goes
        # (handler_cancellation), so a held connection costs nothing in between. A resumed
        # feed first catches up from the log.
        behind = self.resume is not None
        while not self.over and connected():
            if not behind:
                await woken.wait()
            behind = False
            woken.clear()
            for follower in self.followers:
                if follower.done:
                    continue
                events, current = await store.events(follower.job_id, follower.cursor)
                for event in events:
                    yield self._out(follower, event, event.type, current)


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


@routes.get(BASE + "/{job_id}/events")
@routes.get("/v1/download/events")
@streaming
async def event_stream(request: web.Request) -> web.StreamResponse:
    """One job's events, or several jobs' (`?jobs=a,b`), as Server-Sent Events. (One handler
    for both routes, not two calling a third: each frame lives as long as the stream.)"""
    ctx = context(request)
    s = ctx.settings
    with ctx.store.notifier.watching(followed_jobs(request)) as woken:
        jobs = await feed(request, woken)
        if jobs.over:
            # The client has seen every end already. 204 is the one answer after which an
            # EventSource stops reconnecting (any non-200 does); a clean end would bring it back.
            return web.Response(status=204)
        # A slot for as long as the stream lasts; refused (429/503) before the stream begins.
        with ctx.streams.hold(ctx.identity.of(request)):
            await ctx.metrics.inc("dl_event_streams_opened_total")
            sent = 0
            resp = web.StreamResponse(headers=sse_format.HEADERS)
            if s.sse_accel_buffering_header:
                resp.headers["X-Accel-Buffering"] = "no"
            try:
                await resp.prepare(request)
                # The headers are serialised by now, and nothing reads them again; dropped, they
                # save a held stream about 5 KiB (harness.stream_memory).
                resp.headers.clear()
                connection = ctx.heartbeats.keep(request, resp)
                async for cursor, name, data in jobs.events(lambda: not connection.is_closing()):
                    await resp.write(sse_format.event(cursor, name, data, s.sse_retry_ms if sent == 0 else None))
                    ctx.heartbeats.wrote(resp)
                    sent += 1
            except ConnectionResetError:
                pass  # the client left; it resumes with Last-Event-ID
            finally:
                ctx.heartbeats.drop(resp)
                await ctx.metrics.inc("dl_event_streams_closed_total")
                await ctx.metrics.inc("dl_events_sent_total", sent)
            return resp
