"""The client side of the stream benchmark, as a process of its own (each process may hold
at most 20,000 files here, and the server needs as many as the client).

It opens one event stream per path (one per line on stdin) at a steady rate, over raw sockets so the client adds
little of its own to the delays, and holds each until the stream's terminal event. With `--transport
websocket` the paths are WebSockets, whose text messages are the reference server's `{"id", "event", "data"}`:

    python -m benchmarks.stream_probe --port P --rate 1000 [--transport websocket] [--source 127.0.0.2] < paths.txt

With `--source`, its connections come from that address in 127.0.0.0/8, whose ephemeral ports
are its own: several probes, each from an address of its own, hold more streams than one
address has ports.

It prints two lines of JSON. The first when every connection has had its answer (how
many streams are held, and how the others failed), so the caller can measure a server
holding them all; the second when every stream has ended or `--timeout` has passed: the
outcomes, and for each path the wall time its terminal event arrived, that event's data
and the wall time the stream was answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from core.sse import SseEvent, SseParser
from reference_server.contract import TERMINAL_STATES

CONNECT_TIMEOUT_S = 10.0  # a connection not answered by then counts as timed out


@dataclass
class Stream:
    path: str
    # An HTTP status on refusal, "reset", "timeout", "open" (until it ends), "ended" (without
    # its terminal event) or "terminal".
    outcome: str = "pending"
    opened_at: float | None = None  # time.time() when the answer's head arrived
    received_at: float | None = None  # time.time() when the terminal event arrived
    data: str | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


Events = AsyncIterator[tuple[str, str]]  # (event name, data) as they arrive


class Sse:
    """An event stream: answered 200, events parsed from its (maybe chunked) body."""

    status = "200"

    def request(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()

    async def events(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> Events:
        parser = SseParser()
        body = _chunks(reader) if b"chunked" in head.lower() else _raw(reader)
        pending = b""
        async for data in body:
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                item = parser.feed(line.decode().removesuffix("\r"))
                if isinstance(item, SseEvent):
                    yield item.event, item.data


class WebSocket:
    """A WebSocket (RFC 6455): answered 101, one JSON event per text message, pings answered.
    No extension is asked for, so frames arrive whole and uncompressed."""

    status = "101"
    # Any 16 bytes in base64 will do: the client checks no accept key here.
    KEY = "cHJveHliZW5jaC1wcm9iZQ=="

    def request(self, path: str) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()

    async def events(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> Events:
        while True:
            first, second = await reader.readexactly(2)
            size = second & 0x7F
            if size >= 126:
                size = int.from_bytes(await reader.readexactly(2 if size == 126 else 8), "big")
            payload = await reader.readexactly(size)
            opcode = first & 0x0F
            if opcode == 0x1:
                message = json.loads(payload)
                yield message["event"], json.dumps(message["data"])
            elif opcode == 0x9:
                # A client's frames are masked; a zero mask leaves the payload as it is.
                writer.write(bytes([0x8A, 0x80 | len(payload)]) + bytes(4) + payload)
            elif opcode == 0x8:
                return


Transport = Sse | WebSocket
TRANSPORTS: dict[str, Transport] = {"sse": Sse(), "websocket": WebSocket()}


async def _follow(port: int, source: str, stream: Stream, terminal: frozenset[str], transport: Transport) -> None:
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            writer.write(transport.request(stream.path))
            head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1].decode()
        if status != transport.status:
            stream.outcome = status
            return
        stream.outcome, stream.opened_at = "open", time.time()
        stream.answered.set()
        async for event, data in transport.events(reader, writer, head):
            if event in terminal:
                stream.outcome, stream.received_at, stream.data = "terminal", time.time(), data
                return
        stream.outcome = "ended"
    except TimeoutError:
        stream.outcome = "timeout"
    except (ConnectionResetError, asyncio.IncompleteReadError, ValueError):  # ValueError: a cut chunk size
        stream.outcome = "reset" if stream.outcome == "pending" else "ended"
    except OSError as exc:
        stream.outcome = type(exc).__name__
    finally:
        stream.answered.set()
        if writer is not None:
            writer.close()


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The body of a chunked response, chunk by chunk, to its last chunk."""
    while size := int((await reader.readline()).split(b";")[0], 16):
        yield await reader.readexactly(size)
        await reader.readexactly(2)


async def _raw(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while data := await reader.read(65536):
        yield data


async def probe(
    port: int,
    source: str,
    paths: list[str],
    rate: float,
    timeout_s: float,
    terminal: frozenset[str],
    transport: Transport,
) -> None:
    streams = [Stream(p) for p in paths]
    began = time.monotonic()
    tasks = []
    for i, stream in enumerate(streams):
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(_follow(port, source, stream, terminal, transport)))
    await asyncio.gather(*(s.answered.wait() for s in streams))
    connect_s = time.monotonic() - began
    held = Counter("held" if s.outcome in ("open", "ended", "terminal") else s.outcome for s in streams)
    print(json.dumps({"outcomes": dict(held), "connect_s": round(connect_s, 2)}), flush=True)
    await asyncio.wait(tasks, timeout=max(1.0, timeout_s - (time.monotonic() - began)))
    for task in tasks:
        task.cancel()
    for stream in streams:
        if stream.outcome == "open":  # still waiting for its end when the time ran out: not cut
            stream.outcome = "timeout"
    result = {
        "outcomes": dict(Counter(s.outcome for s in streams)),
        "connect_s": round(connect_s, 2),
        "streams": [[s.path, s.received_at, s.data, s.opened_at] for s in streams],
    }
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_probe", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="the engine's port on 127.0.0.1")
    parser.add_argument("--source", default="127.0.0.1", help="the address its connections come from")
    parser.add_argument("--rate", type=float, default=1000.0, help="new connections per second")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before giving up on open streams")
    parser.add_argument("--terminal", nargs="+", default=sorted(TERMINAL_STATES), help="event names that end a stream")
    parser.add_argument("--transport", choices=TRANSPORTS, default="sse", help="how the paths are followed")
    args = parser.parse_args(argv)
    paths = sys.stdin.read().split()
    transport = TRANSPORTS[args.transport]
    asyncio.run(probe(args.port, args.source, paths, args.rate, args.timeout, frozenset(args.terminal), transport))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
