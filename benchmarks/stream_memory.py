"""Where a held event stream's memory goes, and what the floor is.

The reference server's app (embedded mode; with `--redis`, also on a Redis and a MinIO
started for it) is served in this process with tracemalloc on;
a `benchmarks.stream_probe` process holds `streams` event streams on long jobs; the Python
allocations made between before and after are grouped by the package that made them. The
same is done for the floor: a bare aiohttp handler that prepares a `StreamResponse` and
waits, which is the least a held stream can cost on aiohttp. Both again with WebSockets: the
server's job socket, and a bare `WebSocketResponse` prepared and waiting.

    python -m benchmarks.stream_memory --streams 2000 [--redis]

The figures are traced Python allocations, which is most but not all of RSS (the
allocator's own overhead and free lists are not traced; socket buffers are the kernel's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from reference_server.api.schemas import FILE_ID_MIN
from reference_server.app import create_app
from reference_server.config import Settings, from_env
from stack.minio_server import MinioServer
from stack.processes import free_port, stop_services_on_sigterm
from stack.redis_server import RedisServer
from stack.reference_process import service_env

from .stream_bench import UNLIMITED_CLIENT, start_probe

PACKAGES = ("aiohttp", "multidict", "yarl", "asyncio", "reference_server")
TOP_LINES = 12
LONG_JOB_MS = str(10**9)
# Streams opened per second: tracing slows the server several times over, and what is
# measured here is what each one holds. In process, 1,000 at 250/s gave the figures 2,000 at
# 100/s did (to 0.2 KiB); on Redis, 2,000 at 250/s timed some out.
OPEN_PER_S = 250
OPEN_PER_S_ON_REDIS = 100


def _package(filename: str) -> str:
    parts = Path(filename).parts
    for name in PACKAGES:
        if name in parts:
            return name
    return "other"


def _where(frame: tracemalloc.Frame) -> str:
    return f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"


async def _held_allocations(
    app: web.Application, paths: Callable[[str], Any], streams: int, transport: str, open_per_s: float = OPEN_PER_S
) -> dict[str, Any]:
    """Serve `app`, hold `streams` streams (or WebSockets) on the paths `paths(url)` gives, and
    account for the allocations between before and after, per stream."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=Settings().listen_backlog).start()
    probe = None
    try:
        listed: list[str] = await paths(f"http://127.0.0.1:{port}")
        tracemalloc.start(8)
        before = tracemalloc.take_snapshot()
        argv = [sys.executable, "-m", "benchmarks.stream_probe", "--port", str(port), "--rate", str(open_per_s),
                "--transport", transport]  # fmt: skip
        probe = await start_probe(argv, "\n".join(listed).encode())
        assert probe.stdout is not None
        held = json.loads(await probe.stdout.readline())
        await asyncio.sleep(1)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    finally:
        if probe is not None and probe.returncode is None:
            probe.kill()
            await probe.wait()
        await runner.cleanup()
    count = held["outcomes"].get("held", 0)
    assert count == streams, held
    by_package: dict[str, float] = defaultdict(float)
    for stat in after.compare_to(before, "filename"):
        by_package[_package(stat.traceback[0].filename)] += stat.size_diff
    lines = after.compare_to(before, "lineno")[:TOP_LINES]
    return {
        "streams": count,
        "traced_kib_per_stream": round(sum(by_package.values()) / count / 1024, 2),
        "by_package_kib": {k: round(v / count / 1024, 2) for k, v in sorted(by_package.items(), key=lambda i: -i[1])},
        "top_lines": [{"where": _where(s.traceback[0]), "bytes_per_stream": round(s.size_diff / count)} for s in lines],
    }


async def reference_server(streams: int, services: dict[str, str], transport: str = "sse") -> dict[str, Any]:
    """The reference server, embedded, or on the Redis and S3 that `services` names, each job
    followed on its event stream or its WebSocket."""
    env = {
        "DOWNLOAD_DELAY_MIN_MS": LONG_JOB_MS,
        "DOWNLOAD_DELAY_MAX_MS": LONG_JOB_MS,
        # The jobs wait in the queue (on Redis, with no worker process at all): what is
        # measured is the streams alone.
        "WORKERS": "1",
        **UNLIMITED_CLIENT,
        **services,
    }

    async def jobs(url: str) -> list[str]:
        async with aiohttp.ClientSession() as http:

            async def one(i: int) -> str:
                async with http.post(f"{url}/v1/download/initiate", json={"file_ids": [FILE_ID_MIN + i]}) as resp:
                    job_id = (await resp.json())["jobId"]
                    return f"/v1/download/jobs/{job_id}/{'ws' if transport == 'websocket' else 'events'}"

            return list(await asyncio.gather(*(one(i) for i in range(streams))))

    rate = OPEN_PER_S_ON_REDIS if services else OPEN_PER_S
    return await _held_allocations(create_app(from_env(env)), jobs, streams, transport, rate)


async def floor(streams: int, transport: str = "sse") -> dict[str, Any]:
    """A bare aiohttp stream, or WebSocket, prepared, then waiting on nothing."""

    async def hold(request: web.Request) -> web.StreamResponse:
        if transport == "websocket":
            resp: web.StreamResponse = web.WebSocketResponse()
        else:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.get_running_loop().create_future()  # the least a wait can hold (an Event holds a deque too)
        return resp

    app = web.Application()
    app.router.add_get("/hold", hold)

    async def paths(url: str) -> list[str]:
        return ["/hold"] * streams

    return await _held_allocations(app, paths, streams, transport)


async def breakdown(streams: int, redis: bool = False) -> dict[str, Any]:
    """The reference server embedded and the floor, each with event streams and with
    WebSockets; with `redis`, the reference server's streams on a Redis and a MinIO of its own
    as well."""
    found = {
        "reference_server": await reference_server(streams, {}),
        "reference_server_websocket": await reference_server(streams, {}, "websocket"),
    }
    if redis:
        with (
            tempfile.TemporaryDirectory() as tmp,
            RedisServer(Path(tmp) / "redis") as store,
            MinioServer(Path(tmp) / "minio") as artifacts,
        ):
            found["reference_server_redis"] = await reference_server(streams, service_env(store.url, artifacts))
    found["aiohttp_floor"] = await floor(streams)
    found["aiohttp_websocket_floor"] = await floor(streams, "websocket")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_memory", description=__doc__)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--redis", action="store_true", help="also on Redis and MinIO (started here)")
    args = parser.parse_args(argv)
    stop_services_on_sigterm()
    print(json.dumps(asyncio.run(breakdown(args.streams, args.redis)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
