"""The check's relay in front of a service: every request that reached it is recorded with the
status the service answered, over keep-alive connections, streams and upgrades, and the bytes
pass unchanged both ways."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from checks.origin_relay import TAG_HEADER, OriginRelay
from proxies.render import Hop
from stack.processes import free_port
from tests.helpers import running

BLOB = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB


async def _broken(request: web.Request) -> web.Response:
    return web.json_response({"error": "handler bug"}, status=500)


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def _stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    for n in range(3):
        await resp.write(f"data: {n}\n\n".encode())
        await asyncio.sleep(0.01)
    return resp


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.Response(text="late")


async def _socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(msg.data.upper())
    return ws


@pytest.fixture
async def relay() -> AsyncIterator[OriginRelay]:
    app = web.Application(client_max_size=2 * len(BLOB))
    app.router.add_get("/broken", _broken)
    app.router.add_post("/echo", _echo)
    app.router.add_get("/stream", _stream)
    app.router.add_post("/slow", _slow)
    app.router.add_get("/ws", _socket)
    port = free_port()
    async with running(app, port, handler_cancellation=True):
        with OriginRelay(Hop("127.0.0.1", port)) as relaying:
            yield relaying


async def test_each_request_is_recorded_with_the_services_status_on_one_connection(relay: OriginRelay) -> None:
    url = f"http://{relay.hop}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        for tag in ("a", "b", "c"):
            async with http.get(f"{url}/broken", headers={TAG_HEADER: tag}) as resp:
                assert resp.status == 500
        async with http.post(f"{url}/echo", data=BLOB, headers={TAG_HEADER: "echo"}) as resp:
            assert await resp.read() == BLOB
        async with http.get(f"{url}/stream", headers={TAG_HEADER: "stream"}) as resp:
            assert await resp.read() == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    statuses = {tag: relay.arrivals.tagged(tag) for tag in ("a", "b", "c", "echo", "stream")}
    assert {tag: (a.method, a.path, a.status) for tag, a in statuses.items() if a} == {
        "a": ("GET", "/broken", 500),
        "b": ("GET", "/broken", 500),
        "c": ("GET", "/broken", 500),
        "echo": ("POST", "/echo", 200),
        "stream": ("GET", "/stream", 200),
    }
    assert len(relay.arrivals.since(0, "GET", "/broken")) == 3


async def test_a_request_given_up_on_is_recorded_as_reached_and_unanswered(relay: OriginRelay) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TimeoutError):
            async with http.post(
                f"http://{relay.hop}/slow",
                json={},
                headers={TAG_HEADER: "cut"},
                timeout=aiohttp.ClientTimeout(total=0.3),
            ):
                pass
    arrival = relay.arrivals.tagged("cut")
    assert arrival is not None and arrival.path == "/slow" and arrival.status is None


async def test_an_upgraded_connection_passes_through_unread(relay: OriginRelay) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"http://{relay.hop}/ws", headers={TAG_HEADER: "ws"}) as ws,
    ):
        await ws.send_str("ping")
        assert (await ws.receive_str()) == "PING"
    arrival = relay.arrivals.tagged("ws")
    assert arrival is not None and arrival.method == "GET"


async def test_a_refused_service_is_refused_through_the_relay() -> None:
    with OriginRelay(Hop("127.0.0.1", free_port())) as relay:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://{relay.hop}/"):
                    pass
