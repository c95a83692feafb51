"""CI regression checks on duplicate work, on the real stack (both backends). Duplicates
are counted from the server's /metrics, never inferred from the client.

Run alone with `pytest -m duplicates`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from harness.processes import free_port
from tests.helpers import metric_reaches, metrics
from tests.stack.clients import extra_executions, poll_until_done, start_job, sync_start
from tests.stack.conftest import Stacks

pytestmark = pytest.mark.duplicates
RETRIES = 2
PAST_THE_EDGE_MS = 150_000


async def test_retrying_sync_start_after_each_524_multiplies_the_work(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    w = await stacks.watch(http)
    statuses = [(await sync_start(http, w.entry, PAST_THE_EDGE_MS, file_id=70014)).status]
    while statuses[-1] == 524 and len(statuses) <= RETRIES:
        statuses.append((await sync_start(http, w.entry, PAST_THE_EDGE_MS, file_id=70014)).status)
    assert statuses == [524] * (RETRIES + 1)
    done = 'dl_executions_completed_total{api="sync"}'
    after = await metric_reaches(http, w.server, done, w.before.get(done, 0) + RETRIES + 1)
    # The check flags it: one logical request, N+1 executions.
    assert extra_executions(w.before, after, "sync", logical_requests=1) == RETRIES
    overlapping = 'dl_duplicate_executions_total{api="sync"}'
    assert after[overlapping] - w.before.get(overlapping, 0) == RETRIES  # each retry began while the last still ran


async def test_the_same_retries_on_the_async_api_with_a_key_execute_once(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    w = await stacks.watch(http)
    key = str(uuid.uuid4())
    answers = [await start_job(http, w.entry, PAST_THE_EDGE_MS, [70021], key=key) for _ in range(RETRIES + 1)]
    assert {status for status, _ in answers} == {202} and len({body["jobId"] for _, body in answers}) == 1
    await poll_until_done(http, w.entry, answers[0][1]["jobId"])
    after = await metrics(http, w.server)
    assert extra_executions(w.before, after, "async", logical_requests=1) == 0
    assert after["dl_jobs_created_total"] - w.before.get("dl_jobs_created_total", 0) == 1


async def test_fifty_concurrent_initiates_with_one_key_through_the_proxies_make_one_job(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    w = await stacks.watch(http)
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(start_job(http, w.entry, 20_000, [70028, 70035], key=key) for _ in range(50)))
    assert {status for status, _ in answers} <= {202, 409}
    job_ids = {body["jobId"] for status, body in answers if status == 202}
    assert len(job_ids) == 1
    await poll_until_done(http, w.entry, job_ids.pop())
    after = await metrics(http, w.server)
    assert after["dl_jobs_created_total"] - w.before.get("dl_jobs_created_total", 0) == 1
    assert extra_executions(w.before, after, "async", logical_requests=1) == 0


@pytest.fixture
async def failing_receiver() -> AsyncIterator[tuple[str, list[str]]]:
    """A webhook receiver that answers 500 to the first attempt, then 204."""
    port = free_port()
    seen: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request.headers["webhook-id"])
        return web.Response(status=500 if len(seen) == 1 else 204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", seen
    await runner.cleanup()


async def test_webhook_retry_keeps_its_id_and_counts_one_delivery(
    http: aiohttp.ClientSession, stacks: Stacks, failing_receiver: tuple[str, list[str]]
) -> None:
    url, seen = failing_receiver
    w = await stacks.watch(http)
    _, job = await start_job(http, w.entry, 20_000, [70042], callback=url)
    delivered = 'dl_webhook_deliveries_total{result="delivered"}'
    after = await metric_reaches(http, w.server, delivered, w.before.get(delivered, 0) + 1)
    assert len(seen) == 2 and seen[0] == seen[1]
    assert after[delivered] - w.before.get(delivered, 0) == 1
    assert after["dl_webhook_attempts_total"] - w.before.get("dl_webhook_attempts_total", 0) == 2
    final = await poll_until_done(http, w.entry, job["jobId"])
    assert final["webhook"]["status"] == "delivered" and final["webhook"]["attempts"] == 2
