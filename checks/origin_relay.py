"""Where the check sees what reached the service: a TCP relay between the innermost proxy and
the service, reading (never changing) the HTTP/1.1 that passes.

A service need not count its own executions for the check to know how many requests reached
it: every request the proxies hand on is recorded with the status the service answered, if it
answered. That tells a proxy's error page from the service's own answer, and counts the tries
of a synchronous request that each started the work. Bytes pass through unchanged and a close
on either side closes both, as the proxies' own upstream connections do; what the parser cannot
follow (an upgraded connection, a protocol error) is passed on unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass

import h11

from proxies.render import Hop

# The header the check's client sends with every request, so that an answer can be matched
# with what the service did with it.
TAG_HEADER = "X-Proxybench-Request"
READ_BYTES = 65536


@dataclass
class Arrival:
    """One request that reached the service."""

    at: float  # time.monotonic() when its head passed
    method: str
    path: str
    tag: str | None
    status: int | None = None  # the service's answer, once its head passed; None: it never answered


class Arrivals:
    """Every request that reached the service, in order, shared between the relay's thread and
    the check's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[Arrival] = []
        self._by_tag: dict[str, Arrival] = {}

    def add(self, arrival: Arrival) -> None:
        with self._lock:
            self._seen.append(arrival)
            if arrival.tag:
                self._by_tag[arrival.tag] = arrival

    def tagged(self, tag: str) -> Arrival | None:
        with self._lock:
            return self._by_tag.get(tag)

    def since(self, began: float, method: str, path: str) -> list[Arrival]:
        with self._lock:
            return [a for a in self._seen if a.at >= began and a.method == method and a.path == path]


def _upgrades(request: h11.Request) -> bool:
    return request.method == b"CONNECT" or any(name == b"upgrade" for name, _ in request.headers)


class _RequestReader:
    """Records each request head going to the service."""

    def __init__(self, log: Arrivals, pending: deque[Arrival]) -> None:
        self.log = log
        self.pending = pending
        self.parser: h11.Connection | None = h11.Connection(h11.SERVER)

    def feed(self, data: bytes) -> None:
        if self.parser is None:
            return
        self.parser.receive_data(data)
        while self.parser is not None:
            try:
                event = self.parser.next_event()
            except h11.RemoteProtocolError:
                event = h11.PAUSED
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                self._record(event)
            elif isinstance(event, h11.EndOfMessage):
                # A fresh parser per request: h11 would otherwise wait for a response we never send.
                rest, _ = self.parser.trailing_data
                self.parser = h11.Connection(h11.SERVER)
                if rest:  # h11 reads empty data as the end of the connection
                    self.parser.receive_data(rest)
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                self.parser = None

    def _record(self, request: h11.Request) -> None:
        tag_name = TAG_HEADER.lower().encode()
        tag = next((value.decode(errors="replace") for name, value in request.headers if name == tag_name), None)
        arrival = Arrival(time.monotonic(), request.method.decode(), request.target.decode(errors="replace"), tag)
        self.log.add(arrival)
        self.pending.append(arrival)
        if _upgrades(request):
            self.parser = None  # what follows a granted upgrade is not HTTP


class _ResponseReader:
    """Gives each request, in order, the status the service answered it with."""

    def __init__(self, pending: deque[Arrival]) -> None:
        self.pending = pending
        self.parser: h11.Connection | None = None
        self.answering: Arrival | None = None
        self.readable = True

    def feed(self, data: bytes) -> None:
        while self.readable and data:
            if self.parser is None:
                if not self.pending:
                    self.readable = False  # an answer to no request: nothing more can be matched
                    return
                self.answering = self.pending.popleft()
                self.parser = h11.Connection(h11.CLIENT)
                # A body-less stand-in for the request: h11 frames the answer by its method alone.
                self.parser.send(h11.Request(method=self.answering.method, target="/", headers=[("Host", "origin")]))
                self.parser.send(h11.EndOfMessage())
            self.parser.receive_data(data)
            data = self._events()
            if self.parser is not None:
                return

    def _events(self) -> bytes:
        """Read the parser's events; what follows the answer once it ended."""
        assert self.parser is not None and self.answering is not None
        while True:
            try:
                event = self.parser.next_event()
            except h11.RemoteProtocolError:
                event = h11.PAUSED
            if event is h11.NEED_DATA:
                return b""
            if isinstance(event, h11.Response):
                self.answering.status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                rest, _ = self.parser.trailing_data
                self.parser = None
                return bytes(rest)
            elif (
                event is h11.PAUSED
                or isinstance(event, h11.ConnectionClosed)
                or (isinstance(event, h11.InformationalResponse) and event.status_code == 101)
            ):
                self.parser, self.readable = None, False
                return b""


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: _RequestReader | _ResponseReader
) -> None:
    while data := await reader.read(READ_BYTES):
        watch.feed(data)  # before passing it on: a request is recorded before its answer can come
        writer.write(data)
        await writer.drain()


class OriginRelay:
    """The relay, on a loopback port of its own, run by a thread of its own so that it serves
    whatever the check's own loop is doing. A context manager: `with OriginRelay(hop) as relay:`
    then point the proxies at `relay.hop` and read `relay.arrivals`."""

    def __init__(self, origin: Hop) -> None:
        self.origin = origin
        self.arrivals = Arrivals()
        self.hop = Hop("127.0.0.1", 0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="origin-relay", daemon=True)

    def __enter__(self) -> OriginRelay:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._relay, "127.0.0.1", 0), self._loop).result(
            timeout=10
        )
        self._server = server
        self.hop = Hop("127.0.0.1", server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _relay(self, down_reader: asyncio.StreamReader, down_writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.origin.host, self.origin.port)
        except OSError:
            down_writer.close()  # refused, as the service itself would have been
            return
        pending: deque[Arrival] = deque()
        pumps = [
            asyncio.create_task(_pump(down_reader, up_writer, _RequestReader(self.arrivals, pending))),
            asyncio.create_task(_pump(up_reader, down_writer, _ResponseReader(pending))),
        ]
        try:
            # Either side closing ends the exchange: a proxy that gives up closes, and so does a
            # service that ends a close-delimited answer.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (up_writer, down_writer):
                with contextlib.suppress(Exception):
                    writer.close()
