"""What proxies/README.md says each profile does, checked against the real engines in front
of small misbehaving origins: silent, refusing, resetting, or answering garbage."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from checks.target_client import Followed, follow_url
from proxies.render import PROFILES, Hop, ProxyConfig
from reference_server.contract import PER_REQUEST_HEADERS
from stack.backends import ProcessBackend, Service
from stack.processes import free_port
from tests.stack.conftest import LATE_S, TIME_SCALE, Stacks

pytestmark = pytest.mark.timeouts
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)  # reads the request, never answers


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"this is not HTTP\r\n\r\n")
    await writer.drain()
    writer.close()


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a RST
    writer.close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Callable[[str, Hop], Service]]:
    running: list[Service] = []

    def start(profile: str, upstream: Hop) -> Service:
        config = ProxyConfig(PROFILES[profile], Hop("127.0.0.1", free_port()), (upstream,), TIME_SCALE)
        service = ProcessBackend().proxy(config, tmp_path / f"{profile}{len(running)}")
        running.append(service)
        return service

    yield start
    for service in running:
        service.stop()


async def _serve(behaviour: Behaviour) -> tuple[asyncio.Server, Hop]:
    server = await asyncio.start_server(behaviour, "127.0.0.1", 0)  # type: ignore[arg-type]
    return server, Hop("127.0.0.1", server.sockets[0].getsockname()[1])


def _streaming(lasts_s: float, every_s: float) -> Behaviour:
    """An origin streaming events: an event, or a heartbeat comment, every `every_s`, and the
    terminal event after `lasts_s`."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        ends = time.monotonic() + lasts_s
        n = 0
        try:
            while time.monotonic() < ends:
                n += 1
                _chunk(writer, f"id: {n}\nevent: progress\ndata: {{}}\n\n" if n % 2 else ": heartbeat\n\n")
                await writer.drain()
                await asyncio.sleep(every_s)
            _chunk(writer, f"id: {n + 1}\nevent: completed\ndata: {{}}\n\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass  # the proxy hung up: what a cut looks like from the origin
        finally:
            writer.close()

    return serve


def _chunk(writer: asyncio.StreamWriter, text: str) -> None:
    data = text.encode()
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))


async def _follow(profile: str, proxy: Callable[[str, Hop], Service], origin: Behaviour, limit_s: float) -> Followed:
    server, hop = await _serve(origin)
    try:
        front = proxy(profile, hop)
        async with aiohttp.ClientSession() as http:
            return await follow_url(http, front.url + "/events", limit_s=limit_s)
    finally:
        server.close()


@pytest.mark.parametrize("profile", ["gcp-lb", "max-lifetime-proxy"])
async def test_a_total_lifetime_cuts_a_busy_stream_mid_body_where_an_idle_limit_lets_it_end(
    proxy: Callable[[str, Hop], Service], profile: str
) -> None:
    lifetime = (PROFILES[profile].lifetime_s or 0) * TIME_SCALE
    origin = _streaming(lasts_s=2 * lifetime, every_s=lifetime / 10)
    cut = await _follow(profile, proxy, origin, limit_s=4 * lifetime)
    # 200, bytes flowing all along, then the connection closes without the last chunk.
    assert cut.status == 200 and cut.broken and cut.heartbeats and cut.events
    assert not cut.finished(frozenset({"completed"}))
    assert 0.9 * lifetime <= cut.lasted_s < lifetime + LATE_S
    # The same stream through an edge that only times out on silence reaches its end.
    whole = await _follow("cloudflare", proxy, origin, limit_s=4 * lifetime)
    assert whole.finished(frozenset({"completed"})) and not whole.broken


@pytest.mark.parametrize(("gap_s", "survives"), [(40, True), (70, False)])
async def test_heroku_lets_a_stream_go_55_s_between_bytes_once_it_has_begun(
    proxy: Callable[[str, Hop], Service], gap_s: float, survives: bool
) -> None:
    """Past the 30 s the response had to begin in, the rolling window is 55 s."""
    heroku = PROFILES["heroku"]
    assert heroku.read_s < 40 < heroku.idle_limit_s(0) < 70
    gap = gap_s * TIME_SCALE
    seen = await _follow("heroku", proxy, _streaming(lasts_s=2.5 * gap, every_s=gap), limit_s=10)
    assert seen.status == 200 and seen.finished(frozenset({"completed"})) == survives
    if not survives:  # ended the window's length after the last byte
        window = heroku.idle_limit_s(0) * TIME_SCALE
        assert 0.9 * window <= seen.silence_before_end_s < window + LATE_S


@pytest.mark.parametrize("profile", ["api-gateway", "antivirus-proxy"])
async def test_a_holding_proxy_passes_no_event_before_the_response_ends(
    proxy: Callable[[str, Hop], Service], profile: str
) -> None:
    lasts = 0.5 * PROFILES["api-gateway"].read_s * TIME_SCALE
    seen = await _follow(profile, proxy, _streaming(lasts_s=lasts, every_s=lasts / 10), limit_s=10)
    assert seen.status == 200 and seen.finished(frozenset({"completed"})) and len(seen.events) > 2
    assert min(e.received for e in seen.events) - seen.connected_at >= lasts


async def test_api_gateway_answers_504_for_a_stream_longer_than_its_integration_timeout(
    proxy: Callable[[str, Hop], Service],
) -> None:
    limit = PROFILES["api-gateway"].read_s * TIME_SCALE
    server, hop = await _serve(_streaming(lasts_s=3 * limit, every_s=limit / 10))
    try:
        status, headers, body, elapsed = await _get(proxy("api-gateway", hop).url + "/events")
    finally:
        server.close()
    assert (status, headers["Content-Type"], body) == (
        504,
        "application/json",
        '{"message": "Endpoint request timed out"}',
    )
    assert 0.9 * limit <= elapsed < limit + LATE_S


async def test_an_antivirus_proxy_holds_a_stream_as_long_as_it_lasts(proxy: Callable[[str, Hop], Service]) -> None:
    lasts = 3 * PROFILES["api-gateway"].read_s * TIME_SCALE  # past the gateway's limit: this one has none
    seen = await _follow("antivirus-proxy", proxy, _streaming(lasts_s=lasts, every_s=lasts / 10), limit_s=10)
    assert seen.finished(frozenset({"completed"})) and not seen.broken
    assert min(e.received for e in seen.events) - seen.connected_at >= lasts


async def _get(url: str) -> tuple[int, CIMultiDictProxy[str], str, float]:
    began = time.monotonic()
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, resp.headers, await resp.text(), time.monotonic() - began


@pytest.mark.parametrize(
    ("profile", "behaviour", "status", "text"),
    [
        ("cloudflare", _silent, 524, "A timeout occurred"),
        ("cloudflare", _garbage, 520, "unknown error"),
        ("alb", _silent, 504, ""),
        ("alb", _garbage, 502, ""),
        ("alb", _reset, 502, ""),
        ("nginx-default", _silent, 504, "Gateway Time-out"),
        ("nginx-default", _reset, 502, "Bad Gateway"),
        ("heroku", _silent, 503, "H12 desc=Request timeout"),
        ("heroku", _reset, 503, "H13 desc=Connection closed without response"),
        ("cloud-run", _silent, 504, "upstream request timeout"),
        ("gcp-lb", _silent, 504, "upstream request timeout"),
        ("gcp-lb", _reset, 502, "upstream connect error"),
        ("max-lifetime-proxy", _silent, 504, ""),
        ("api-gateway", _silent, 504, '{"message": "Endpoint request timed out"}'),
        ("api-gateway", _reset, 502, '{"message": "Internal server error"}'),
        ("antivirus-proxy", _reset, 502, ""),
        ("buffering-proxy", _reset, 502, "Bad Gateway"),
    ],
)
async def test_what_each_profile_answers_for_a_misbehaving_origin(
    proxy: Callable[[str, Hop], Service], profile: str, behaviour: Behaviour, status: int, text: str
) -> None:
    server, hop = await _serve(behaviour)
    try:
        front = proxy(profile, hop)
        got, headers, body, elapsed = await _get(front.url + "/anything")
    finally:
        server.close()
    assert got == status, body[:200]
    assert text in body
    if profile == "cloudflare":
        assert headers["server"] == "cloudflare" and headers["cf-ray"]
    if behaviour is _silent:
        limit = PROFILES[profile].read_s * TIME_SCALE
        assert 0.9 * limit <= elapsed < limit + LATE_S


async def test_the_edge_answers_521_when_the_origin_refuses(proxy: Callable[[str, Hop], Service]) -> None:
    front = proxy("cloudflare", Hop("127.0.0.1", free_port()))  # nothing listens there
    status, headers, body, _ = await _get(front.url + "/")
    assert (status, headers["server"]) == (521, "cloudflare") and "Web server is down" in body


async def test_the_edge_refuses_bodies_over_100_mb(proxy: Callable[[str, Hop], Service]) -> None:
    server, hop = await _serve(_silent)
    try:
        front = proxy("cloudflare", hop)
        port = int(front.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/download/initiate HTTP/1.1\r\nHost: x\r\nContent-Length: 104857601\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
    finally:
        server.close()
    assert status_line.startswith(b"HTTP/1.1 413")


async def _status_behind_the_micro_cache(http: aiohttp.ClientSession, stacks: Stacks, file_id: int) -> str:
    """A new job's status URL through nginx-tuned with its micro-cache."""
    stack = stacks.get("nginx-tuned", micro_cache=True)
    assert stack.urls is not None
    async with http.post(f"{stack.urls.entry}/v1/download/initiate", json={"file_ids": [file_id]}) as resp:
        job = await resp.json()
    return f"{stack.urls.entry}{job['links']['status']}"


async def test_the_micro_cache_answers_repeated_status_polls_itself(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    url = await _status_behind_the_micro_cache(http, stacks, 70049)
    seen = []
    for _ in range(3):
        async with http.get(url) as resp:
            seen.append(resp.headers.get("X-Cache-Status"))
    assert seen[0] == "MISS" and "HIT" in seen[1:]


async def test_a_cached_status_answer_never_carries_another_clients_headers(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    """Two clients poll one job through the micro-cache: each answer's request id and rate-limit
    count are the asking client's own, or absent when nginx answered from the cache."""
    url = await _status_behind_the_micro_cache(http, stacks, 70056)
    answers = []
    for n in range(6):
        own = f"client-{n % 2}-poll-{n}"
        async with http.get(url, headers={"X-Request-ID": own}) as resp:
            answers.append((own, resp.headers.get("X-Cache-Status"), resp.headers))
    assert {cached for _, cached, _ in answers} >= {"MISS", "HIT"}, [cached for _, cached, _ in answers]
    for own, cached, headers in answers:
        assert headers.get("X-Request-ID") in (own, None), (own, cached, headers.get("X-Request-ID"))
        if cached == "HIT":
            assert not {name for name in PER_REQUEST_HEADERS if name in headers}, (cached, dict(headers))
