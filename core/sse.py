"""Server-Sent Events parsing by the WHATWG rules, reporting comment lines (heartbeats)
too, each with its arrival time. `SseParser` takes lines from any transport (the load
generator reads them from a gevent socket); `read_stream` drives it over aiohttp."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str
    data: str
    retry: int | None  # the stream's reconnection time when it was dispatched, if one was given
    received: float  # time.monotonic() when the blank line that ends it arrived


@dataclass(frozen=True)
class SseComment:
    text: str
    received: float


class SseParser:
    """Feed it one line at a time (without its line ending); it returns what the line completed."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self.retry: int | None = None  # set for the whole stream, as an EventSource's reconnection time is
        self._name = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | SseComment | None:
        now = time.monotonic()
        if line == "":
            event = None
            if self._data:
                event = SseEvent(self.last_event_id, self._name or "message", "\n".join(self._data), self.retry, now)
            self._name, self._data = "", []
            return event
        if line.startswith(":"):
            return SseComment(line[1:].strip(), now)
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._name = value
        elif field == "id" and "\0" not in value:
            self.last_event_id = value
        elif field == "retry" and value.isdigit():
            self.retry = int(value)
        return None


async def read_stream(resp: aiohttp.ClientResponse) -> AsyncIterator[SseEvent | SseComment]:
    parser = SseParser()
    buffer = b""
    async for chunk in resp.content.iter_any():
        buffer += chunk
        while True:
            cut = min((i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0), default=-1)
            if cut < 0 or (cut == len(buffer) - 1 and buffer.endswith(b"\r")):
                break  # no whole line yet, or a CR whose LF may be in the next chunk
            line = buffer[:cut].decode()
            step = 2 if buffer[cut : cut + 2] == b"\r\n" else 1
            buffer = buffer[cut + step :]
            item = parser.feed(line)
            if item is not None:
                yield item
