"""The rate limit follows the client, not what the client writes: a forged
X-Forwarded-For from an untrusted peer changes nothing, a trusted proxy's does, and API
processes on one Redis share one window."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random

import aiohttp
import pytest

from tests.conftest import Running, ServerFactory
from tests.helpers import eventually, initiate

pytestmark = pytest.mark.integration


async def _statuses(http: aiohttp.ClientSession, urls: list[str], count: int, **headers: str) -> list[int]:
    seen = []
    for url in itertools.islice(itertools.cycle(urls), count):
        async with http.get(f"{url}/", headers=headers) as resp:
            seen.append(resp.status)
    return seen


async def test_random_forwarded_for_from_an_untrusted_peer_does_not_reset_the_limit(
    http: aiohttp.ClientSession, servers: ServerFactory, server: Running
) -> None:
    limited = servers.start(server.mode, RATE_LIMIT_MAX_REQUESTS="20")
    seen = []
    for _ in range(30):
        forged = ".".join(str(random.randint(1, 254)) for _ in range(4))
        seen += await _statuses(http, [limited.url], 1, **{"X-Forwarded-For": forged})
    assert seen == [200] * 20 + [429] * 10


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    http: aiohttp.ClientSession, servers: ServerFactory, server: Running
) -> None:
    limited = servers.start(server.mode, RATE_LIMIT_MAX_REQUESTS="5", TRUSTED_PROXIES="127.0.0.1")
    for client in ("198.51.100.1", "198.51.100.2"):
        seen = await _statuses(http, [limited.url], 6, **{"X-Forwarded-For": f"6.6.6.6, {client}"})
        assert seen == [200] * 5 + [429], client


async def test_two_api_processes_on_one_redis_enforce_one_limit(
    http: aiohttp.ClientSession, servers: ServerFactory
) -> None:
    first = servers.start("redis+minio", RATE_LIMIT_MAX_REQUESTS="20")
    second = servers.start("redis+minio", RATE_LIMIT_MAX_REQUESTS="20", REDIS_URL=first.env["REDIS_URL"])
    seen = await _statuses(http, [first.url, second.url], 60)
    assert seen.count(200) == 20 and seen[:20] == [200] * 20


async def _hold(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    """An open stream once its snapshot arrived, or the refusal (already read)."""
    resp = await http.get(url)
    if resp.status == 200:
        await resp.content.readuntil(b"\r\n\r\n")  # the snapshot: the stream is live
    else:
        await resp.read()
    return resp


async def test_a_client_over_its_stream_cap_gets_429_and_a_full_server_503(
    http: aiohttp.ClientSession, servers: ServerFactory, server: Running
) -> None:
    capped = servers.start(
        server.mode, MAX_STREAMS_PER_CLIENT="2", MAX_STREAMS="3", TRUSTED_PROXIES="127.0.0.1",
        DOWNLOAD_DELAY_MIN_MS="100000000", DOWNLOAD_DELAY_MAX_MS="100000000",
    )  # fmt: skip
    _, job, _ = await initiate(http, capped.url, [70000])
    url = f"{capped.url}{job['links']['events']}"
    held = [await _hold(http, url) for _ in range(2)]
    try:
        over = await _hold(http, url)
        assert over.status == 429 and over.headers["Retry-After"] == "5"
        assert (await over.json())["error"] == "too_many_streams"
        # Another client still gets one, until the process holds its three.
        other = await http.get(url, headers={"X-Forwarded-For": "198.51.100.9"})
        held.append(other)
        full = await http.get(url, headers={"X-Forwarded-For": "198.51.100.10"})
        assert full.status == 503 and (await full.json())["error"] == "streams_full"
        # A closed stream frees its slot.
        held.pop(0).close()
        again = await eventually(lambda: _hold(http, url), lambda r: r.status == 200, "a freed slot")
        held.append(again)
    finally:
        for resp in held:
            resp.close()


async def _trickle(host: str, port: int, data: bytes, every_s: float, within_s: float) -> bytes:
    """Send `data` a byte at a time; return what the server answered once it closed the
    connection (b"" if it closed without a word). Fails if it never does within `within_s`."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async with asyncio.timeout(within_s):
            for byte in data:
                if reader.at_eof():
                    break
                writer.write(bytes([byte]))
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                await asyncio.sleep(every_s)
            return await reader.read()
    finally:
        writer.close()


async def test_slow_clients_are_timed_out(servers: ServerFactory) -> None:
    slow = servers.start("embedded", IDLE_TIMEOUT_S="0.5", BODY_TIMEOUT_S="0.5")
    host, port = slow.url.removeprefix("http://").split(":")
    # Headers at 20 bytes a second never make a whole request head: closed without an answer.
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    assert await _trickle(host, int(port), head, 0.05, within_s=20) == b""
    # A body that stops short of its Content-Length: 408 in the JSON error shape.
    post = (
        b"POST /v1/download/initiate HTTP/1.1\r\nHost: x\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"file_ids"'
    )
    answer = await _trickle(host, int(port), post, 0.001, within_s=20)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"error":"body_timeout"' in answer.replace(b" ", b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["unknown method", "oversized header", "bad content-length", "control character in path"],
)
async def test_what_the_http_parser_refuses_is_a_400_never_a_5xx(server: Running, raw: bytes) -> None:
    # Refused by aiohttp before any application code runs, so in its own text/plain (README, "The API").
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.split()[1] == b"400", status_line
