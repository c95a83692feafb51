"""WebSocket: the same feed as the event streams (`events.Feed`), one JSON text message
per event, `{"id", "event", "data"}`, with the same ids. A client resumes by connecting
with `?lastEventId=<the last id it got>` (a browser cannot set headers on a WebSocket).
The server pings a socket silent for the heartbeat interval (`heartbeats.Heartbeats`, as
event streams get comments), which keeps idle proxies from cutting the connection; a client
gone without a word acknowledges nothing and the kernel drops it. Once every job has ended
the server closes with 1000 and waits a while for the client's close. A client's ping is
answered, its close echoed, and a message from it refused with 1003 (`ws_frames`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractStreamWriter

from . import validation, ws_frames
from .context import Context, context
from .errors import ApiError
from .events import Feed, ended, feed, followed_jobs
from .middleware import RATE
from .representation import BASE
from .stream_slots import Slot

routes = web.RouteTableDef()
# How long a socket whose jobs have all ended waits for the client to answer its close
# (aiohttp's WebSocketResponse waits as long) before the server closes the connection.
CLOSE_REPLY_WAIT_S = 10.0
OPEN, CLOSING, CLOSED = range(3)  # CLOSING: our close is sent and the client's awaited


class EventSocket(web.StreamResponse):
    """A feed over a WebSocket, sent from `prepare` once the handler has returned, like
    `events.EventStream` and for the same reason; it too owns the feed's watch and its slot.
    It is a plain response with status 101 that writes frames (`ws_frames`), and it reads
    the client's frames itself, as they arrive: aiohttp hands the bytes after the upgrade to
    the parser a response sets, so no task or queue waits on them."""

    HEARTBEAT: ClassVar[bytes] = ws_frames.PING

    def __init__(self, ctx: Context, feed: Feed, slot: Slot, key: str) -> None:
        super().__init__(
            status=101,
            headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": ws_frames.accept(key)},
        )
        self.force_close()
        self._ctx = ctx
        self._feed = feed
        self._slot = slot
        self._transport: asyncio.WriteTransport | None = None
        self._phase = OPEN
        self._unread = b""  # the start of a client frame not yet whole
        self._replied: asyncio.Future[None] | None = None  # while CLOSING

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        ctx, feed = self._ctx, self._feed
        try:
            await ctx.metrics.inc("dl_event_streams_opened_total")
            writer = await super().prepare(request)
            # Serialised and sent by now, and never read again: dropped, as an event stream's are.
            self.headers.clear()
            request.pop(RATE, None)
            self._transport = ctx.heartbeats.keep(request, self)
            # Any object with feed_data and feed_eof will do: aiohttp feeds it what follows the 101.
            request.protocol.set_parser(self)  # type: ignore[arg-type]
            request.protocol.keep_alive(False)  # what follows is frames, never another request
            await feed.send(self._send, self._gone)
            if self._phase == OPEN:
                self._write_now(ws_frames.close(WSCloseCode.OK, "every job has ended"))
                self._phase = CLOSING
            if self._phase == CLOSING:
                self._replied = asyncio.get_running_loop().create_future()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._replied, CLOSE_REPLY_WAIT_S)
        finally:  # also when the client has left (the handler is cancelled); it resumes with lastEventId
            ctx.heartbeats.drop(self)
            await ended(ctx, feed, self._slot)
        return writer

    def _gone(self) -> bool:
        return self._phase != OPEN or self._transport is None or self._transport.is_closing()

    async def _send(self, cursor: str, name: str, data: str) -> None:
        if self._phase == OPEN:  # nothing but a close may follow a close
            message = f'{{"id":"{cursor}","event":"{name}","data":{data}}}'
            await self.write(ws_frames.frame(WSMsgType.TEXT, message.encode()))
            self._ctx.heartbeats.wrote(self)

    def _write_now(self, frame: bytes) -> None:
        """A control frame, written from the parser, which cannot wait: a few bytes at most."""
        assert self._transport is not None, "frames arrive once the socket is prepared"
        self._transport.write(frame)

    def _closed(self) -> None:
        """The close handshake is over, or the connection failed or was lost."""
        if self._phase == OPEN:
            self._feed.woken.set()
        self._phase = CLOSED
        if self._replied is not None and not self._replied.done():
            self._replied.set_result(None)

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        """The client's bytes, as aiohttp's payload parser gets them: (end of input, the rest)."""
        if self._phase == CLOSED:
            return False, b""
        try:
            frames, self._unread = ws_frames.client_frames(self._unread + data)
            for opcode, payload in frames:
                if opcode == WSMsgType.CLOSE:
                    if self._phase == OPEN:
                        self._write_now(ws_frames.close_reply(payload))
                    self._closed()
                    break
                if opcode == WSMsgType.PING and self._phase == OPEN:
                    self._write_now(ws_frames.frame(WSMsgType.PONG, payload))
        except ws_frames.FrameError as refused:
            # The connection is failed (RFC 6455 §7.1.7): the close says why, and no reply is awaited.
            if self._phase == OPEN:
                self._write_now(ws_frames.close(refused.code, refused.reason))
            self._closed()
        return False, b""

    def feed_eof(self) -> None:
        self._closed()


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
        return EventSocket(ctx, jobs, slot, request.headers["Sec-WebSocket-Key"])
