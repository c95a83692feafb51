"""A small Server-Sent Events reader over an aiohttp response, following the WHATWG
parsing rules, that also reports comment lines (heartbeats) with their arrival time."""

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
    retry: int | None
    received: float  # time.monotonic() when the blank line that ends it arrived


@dataclass(frozen=True)
class SseComment:
    text: str
    received: float


async def read_stream(resp: aiohttp.ClientResponse) -> AsyncIterator[SseEvent | SseComment]:
    event_id: str | None = None
    name, data, retry = "", [], None
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
            now = time.monotonic()
            if line == "":
                if data:
                    yield SseEvent(event_id, name or "message", "\n".join(data), retry, now)
                name, data, retry = "", [], None
                continue
            if line.startswith(":"):
                yield SseComment(line[1:].strip(), now)
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
            elif field == "id" and "\0" not in value:
                event_id = value
            elif field == "retry" and value.isdigit():
                retry = int(value)
