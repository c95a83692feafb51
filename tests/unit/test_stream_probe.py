"""The stream probe's outcomes against a small server of known behaviour: a stream that ends
with its terminal event, one cut before it, and one still open when the probe's time runs
out, which is unfinished rather than cut. Every connection comes from the probe's address."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from benchmarks.stream_probe import Sse, probe
from stack.processes import free_port
from tests.helpers import running

SOURCE = "127.0.0.2"


async def test_each_stream_is_told_apart_and_comes_from_the_probes_address(capsys: pytest.CaptureFixture[str]) -> None:
    peers: set[str | None] = set()

    async def stream(request: web.Request) -> web.StreamResponse:
        peers.add(request.remote)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: snapshot\ndata: {}\n\n")
        how = request.match_info["how"]
        if how == "done":
            await response.write(b"event: completed\ndata: {}\n\n")
        elif how == "open":
            await asyncio.sleep(30)  # past the probe's time
        return response  # "cut": the body ends without a terminal event

    app = web.Application()
    app.router.add_get("/{how}", stream)
    port = free_port()
    async with running(app, port, handler_cancellation=True):
        await probe(port, SOURCE, ["/done", "/cut", "/open"], 100.0, 1.5, frozenset({"completed"}), Sse())
    held, result = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert held["outcomes"] == {"held": 3}
    assert result["outcomes"] == {"terminal": 1, "ended": 1, "timeout": 1}
    assert {path: received is not None for path, received, _, _ in result["streams"]} == {
        "/done": True,
        "/cut": False,
        "/open": False,
    }
    assert peers == {SOURCE}
