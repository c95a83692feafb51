"""Small clients for the reference server's API, shared by the tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jsonschema

from harness.prometheus_text import series

JSON = dict[str, Any]


async def initiate(
    http: aiohttp.ClientSession,
    url: str,
    file_ids: list[int],
    key: str | None = None,
    callback: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, JSON, aiohttp.typedefs.LooseHeaders]:
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


async def wait_state(
    http: aiohttp.ClientSession, url: str, job_id: str, states: set[str], timeout_s: float = 20
) -> JSON:
    deadline = time.monotonic() + timeout_s
    while True:
        body = await job(http, url, job_id)
        if body["status"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout_s} s, wanted {states}")
        await asyncio.sleep(0.02)


async def metrics(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as resp:
        return series(await resp.text())


async def metric_reaches(http: aiohttp.ClientSession, url: str, series: str, at_least: float) -> dict[str, float]:
    """Wait until a counter reaches a value (counters settle just after a response); return all."""
    for _ in range(400):
        values = await metrics(http, url)
        if values.get(series, 0) >= at_least:
            return values
        await asyncio.sleep(0.02)
    raise AssertionError(f"{series} never reached {at_least}")


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
