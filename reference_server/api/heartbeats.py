"""Heartbeats for every held event stream and WebSocket, sent by one task per process.

A stream silent for the heartbeat interval gets `: ping`, a WebSocket a ping frame, which
keeps idle proxies from cutting it. One task serves them all, where a task per stream
(aiohttp-sse's) cost each held stream about 2 KiB, and aiohttp's own WebSocket heartbeat (a
timer per socket) 1.6 KiB (`python -m benchmarks.stream_memory`). The streams are kept in the
order they last wrote, so each tick pings only the ones due, oldest first; streams opened
at different moments stay spread over the interval instead of all being written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import OrderedDict
from socket import AF_INET, AF_INET6
from typing import ClassVar, Protocol

from aiohttp import web

TICKS_PER_INTERVAL = 10  # a ping goes out at most a tenth of the interval late
UNACKED_INTERVALS = 2  # a peer that acknowledges nothing for this many intervals is gone
TCP_USER_TIMEOUT: int | None = getattr(socket, "TCP_USER_TIMEOUT", None)  # Linux only


class Held(Protocol):
    """An event stream or a WebSocket: a response held open, and what keeps it from being idle."""

    HEARTBEAT: ClassVar[bytes]  # an SSE comment, a ping frame

    async def write(self, data: bytes) -> None: ...


class Heartbeats:
    def __init__(self, interval_s: float) -> None:
        """0 means no heartbeats."""
        self.interval_s = interval_s
        # Each held stream's last write and its connection, the longest silent first.
        self._last_write: OrderedDict[Held, tuple[float, asyncio.WriteTransport]] = OrderedDict()

    def wrote(self, stream: Held) -> None:
        """The stream just sent something, so its next ping is a whole interval away."""
        entry = self._last_write.get(stream)
        if entry is not None:
            self._last_write[stream] = (time.monotonic(), entry[1])
            self._last_write.move_to_end(stream)

    def keep(self, request: web.BaseRequest, stream: Held) -> asyncio.WriteTransport:
        """Heartbeats for a prepared stream from now until `drop`; returns its connection.
        (Not a context manager: a generator would cost each held stream 250 bytes.)"""
        transport = request.transport
        assert isinstance(transport, asyncio.WriteTransport), "a prepared stream has its connection"
        self._drop_when_unacknowledged(transport)
        self._last_write[stream] = (time.monotonic(), transport)
        return transport

    def _drop_when_unacknowledged(self, transport: asyncio.WriteTransport) -> None:
        # A peer that vanished without a FIN or RST (a phone gone out of coverage) never
        # acknowledges the pings: the kernel then aborts the connection, and the handler ends
        # and frees its slot, instead of retransmitting for a quarter of an hour (Linux only).
        sock = transport.get_extra_info("socket")
        if self.interval_s and TCP_USER_TIMEOUT is not None and sock is not None and sock.family in (AF_INET, AF_INET6):
            timeout_ms = max(1000, round(UNACKED_INTERVALS * self.interval_s * 1000))
            sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, timeout_ms)

    def drop(self, stream: Held) -> None:
        self._last_write.pop(stream, None)

    async def run(self) -> None:
        if not self.interval_s:
            return
        while True:
            await asyncio.sleep(self.interval_s / TICKS_PER_INTERVAL)
            due = time.monotonic() - self.interval_s
            while self._last_write:
                stream, (at, transport) = next(iter(self._last_write.items()))
                if at > due:
                    break
                self.wrote(stream)
                await _ping(stream, transport)


async def _ping(stream: Held, transport: asyncio.WriteTransport) -> None:
    # A stream with bytes still unsent needs no ping, and writing more to a client that
    # does not read would in the end wait for it (and stall every other stream's ping).
    if transport.is_closing() or transport.get_write_buffer_size():
        return
    with contextlib.suppress(ConnectionResetError, RuntimeError):  # the client went; its handler ends
        await stream.write(stream.HEARTBEAT)
