"""Small clients for the reference server's API, shared by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import jsonschema
from aiohttp import web
from multidict import CIMultiDictProxy

from core.prometheus_text import series

JSON = dict[str, Any]
T = TypeVar("T")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def running(app: web.Application, port: int, handler_cancellation: bool = False) -> AsyncIterator[None]:
    """`app` served on 127.0.0.1:`port` until the block ends."""
    runner = web.AppRunner(app, handler_cancellation=handler_cancellation)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serving(port: int, **posts: Handler) -> AsyncIterator[str]:
    """A small HTTP endpoint on loopback (a webhook receiver): `name=handler` answers POST
    /name. Yields the base URL."""
    app = web.Application()
    for name, handler in posts.items():
        app.router.add_post(f"/{name}", handler)
    async with running(app, port):
        yield f"http://127.0.0.1:{port}"


async def initiate(
    http: aiohttp.ClientSession,
    url: str,
    file_ids: list[int],
    key: str | None = None,
    callback: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, JSON, CIMultiDictProxy[str]]:
    body: JSON = {"file_ids": file_ids}
    if callback is not None:
        body["callback_url"] = callback
    h = dict(headers or {})
    if key is not None:
        h["Idempotency-Key"] = f'"{key}"'
    async with http.post(f"{url}/v1/download/initiate", json=body, headers=h) as resp:
        return resp.status, await resp.json(), resp.headers


async def job(http: aiohttp.ClientSession, url: str, job_id: str) -> JSON:
    async with http.get(f"{url}/v1/download/jobs/{job_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, timeout_s: float = 10
) -> T:
    """Probe until `done` holds of what it returns (the last value), or fail saying `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after {timeout_s:g} s (last seen: {value!r:.300})")
        await asyncio.sleep(0.02)


async def wait_state(
    http: aiohttp.ClientSession, url: str, job_id: str, states: set[str], timeout_s: float = 20
) -> JSON:
    return await eventually(
        lambda: job(http, url, job_id), lambda b: b["status"] in states, f"job {job_id} in {states}", timeout_s
    )


async def metrics(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as resp:
        return series(await resp.text())


async def metric_reaches(http: aiohttp.ClientSession, url: str, series: str, at_least: float) -> dict[str, float]:
    """Wait until a counter reaches a value (counters settle just after a response); return all."""
    return await eventually(
        lambda: metrics(http, url), lambda m: m.get(series, 0) >= at_least, f"{series} >= {at_least}"
    )


class OpenApi:
    """Checks a response against the schema the server's own /openapi.json documents."""

    def __init__(self, document: JSON) -> None:
        self.doc = document

    def check(self, template: str, method: str, status: int, body: Any = None) -> None:
        operation = self.doc["paths"][template][method.lower()]
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {template} answered {status}, which the OpenAPI document lacks"
        content = responses[str(status)].get("content", {})
        if "application/json" in content:
            schema = {**content["application/json"]["schema"], "components": self.doc["components"]}
            jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
