"""WebSocket: the same feed as the event streams (`events.Feed`), one JSON text message
per event, `{"id", "event", "data"}`, with the same ids. A client resumes by connecting
with `?lastEventId=<the last id it got>` (a browser cannot set headers on a WebSocket).
The server pings at the heartbeat interval, which keeps idle proxies from cutting the
connection and closes it when the client stops answering; once every job has ended it
closes with 1000.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSCloseCode, WSMsgType, web

from ..store.base import Watch
from .context import context
from .errors import ApiError
from .events import feed, followed_jobs
from .middleware import streaming
from .representation import BASE

routes = web.RouteTableDef()


@routes.get(BASE + "/{job_id}/ws")
@routes.get("/v1/download/ws")
@streaming
async def event_socket(request: web.Request) -> web.StreamResponse:
    """One job's events, or several jobs' (`?jobs=a,b`), over a WebSocket. (One handler for
    both routes, with the sending loop in it: each frame lives as long as the socket.)"""
    ctx = context(request)
    s = ctx.settings
    job_ids = followed_jobs(request)
    ws = web.WebSocketResponse(heartbeat=s.scaled(s.sse_heartbeat_s) or None)
    if not ws.can_prepare(request).ok:
        raise ApiError(
            426, "upgrade_required", "This endpoint speaks WebSocket only: send Upgrade: websocket",
            {"Upgrade": "websocket", "Connection": "Upgrade"},
        )  # fmt: skip
    with ctx.store.notifier.watching(job_ids) as woken:
        jobs = await feed(request, woken)
        with ctx.streams.hold(ctx.identity.of(request)):
            await ws.prepare(request)
            await ctx.metrics.inc("dl_event_streams_opened_total")
            listening = asyncio.create_task(_listen(ws, woken))
            sent = 0
            try:
                async for cursor, name, data in jobs.events(lambda: not ws.closed):
                    await ws.send_str(f'{{"id":"{cursor}","event":"{name}","data":{data}}}')
                    sent += 1
                await ws.close(code=WSCloseCode.OK, message=b"every job has ended")
            except ConnectionResetError:
                pass  # the client left; it resumes with lastEventId
            finally:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
                await ctx.metrics.inc("dl_event_streams_closed_total")
                await ctx.metrics.inc("dl_events_sent_total", sent)
    return ws


async def _listen(ws: web.WebSocketResponse, woken: Watch) -> None:
    """Read what the client sends (pongs and its close frame; it has nothing else to say),
    and wake the feed when the connection ends so that the handler returns."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"this feed takes no messages")
    woken.set()
