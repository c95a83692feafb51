"""WebSocket: the same feed as the event streams (`events.Feed`), one JSON text message
per event, `{"id", "event", "data"}`, with the same ids. A client resumes by connecting
with `?lastEventId=<the last id it got>` (a browser cannot set headers on a WebSocket).
The server pings a socket silent for the heartbeat interval (`heartbeats.Heartbeats`, as
event streams get comments), which keeps idle proxies from cutting the connection; a client
gone without a word acknowledges nothing and the kernel drops it. Once every job has ended
the server closes with 1000.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractStreamWriter

from ..store.base import Watch
from . import validation
from .context import Context, context
from .errors import ApiError
from .events import Feed, ended, feed, followed_jobs
from .middleware import RATE
from .representation import BASE
from .stream_slots import Slot

routes = web.RouteTableDef()


class EventSocket(web.WebSocketResponse):
    """A feed over a WebSocket, sent from `prepare` once the handler has returned, like
    `events.EventStream` and for the same reason; it too owns the feed's watch and its slot."""

    def __init__(self, ctx: Context, feed: Feed, slot: Slot) -> None:
        super().__init__()
        self._ctx = ctx
        self._feed = feed
        self._slot = slot

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter:
        ctx, feed = self._ctx, self._feed
        listening: asyncio.Task[None] | None = None
        try:
            await ctx.metrics.inc("dl_event_streams_opened_total")
            writer = await super().prepare(request)
            # Serialised and sent by now, and never read again: dropped, as an event stream's are.
            self.headers.clear()
            request.pop(RATE, None)
            ctx.heartbeats.keep(request, self)
            listening = asyncio.create_task(_listen(self, feed.woken))
            await feed.send(self._send, lambda: self.closed)
            await self.close(code=WSCloseCode.OK, message=b"every job has ended")
        finally:  # also when the client has left (ConnectionResetError, for aiohttp); it resumes with lastEventId
            ctx.heartbeats.drop(self)
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            await ended(ctx, feed, self._slot)
        return writer

    async def _send(self, cursor: str, name: str, data: str) -> None:
        await self.send_str(f'{{"id":"{cursor}","event":"{name}","data":{data}}}')
        self._ctx.heartbeats.wrote(self)


@routes.get(BASE + "/{job_id}/ws")
@routes.get("/v1/download/ws")
async def event_socket(request: web.Request) -> web.StreamResponse:
    """One job's events, or several jobs' (`?jobs=a,b`), over a WebSocket. (One handler for
    both routes.) It checks the request and answers any refusal in JSON; the socket itself
    is served once it has returned (`EventSocket`)."""
    ctx = context(request)
    job_ids = followed_jobs(request)
    # The query and headers are checked before the handshake: a bad cursor is 400 either way.
    validation.last_event_id(request, len(job_ids))
    if not web.WebSocketResponse().can_prepare(request).ok:
        raise ApiError(
            426, "upgrade_required", "This endpoint speaks WebSocket only: send Upgrade: websocket",
            {"Upgrade": "websocket", "Connection": "Upgrade"},
        )  # fmt: skip
    with ctx.store.notifier.watching(job_ids) as woken:
        jobs = await feed(request, woken)
        slot = ctx.streams.take(ctx.identity.of(request))
        woken.keep()
        return EventSocket(ctx, jobs, slot)


async def _listen(ws: web.WebSocketResponse, woken: Watch) -> None:
    """Read what the client sends (pongs and its close frame; it has nothing else to say),
    and wake the feed when the connection ends so that the sending ends too."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"this feed takes no messages")
    woken.set()
