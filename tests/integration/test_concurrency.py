"""N simultaneous identical initiates create exactly one job, executed once, in each mode."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
import redis

from tests.conftest import Running, ServerFactory
from tests.helpers import initiate, metrics, wait_state

pytestmark = [pytest.mark.integration, pytest.mark.duplicates]


async def test_fifty_simultaneous_initiates_with_one_key(
    http: aiohttp.ClientSession, servers: ServerFactory, server: Running
) -> None:
    fresh = servers.start(server.mode)
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(initiate(http, fresh.url, [70000, 70007], key=key) for _ in range(50)))
    job_ids = {body["jobId"] for status, body, _ in answers if status == 202}
    statuses = [status for status, _, _ in answers]
    replays = sum(1 for _, _, headers in answers if headers.get("Idempotent-Replayed") == "true")
    assert set(statuses) <= {202, 409}, statuses
    assert len(job_ids) == 1
    assert replays + statuses.count(409) == 49
    await wait_state(http, fresh.url, job_ids.pop(), {"completed"})
    m = await metrics(http, fresh.url)
    assert m["dl_jobs_created_total"] == 1
    assert m['dl_initiate_replays_total{reason="idempotency_key"}'] == replays
    assert m['dl_executions_started_total{api="async"}'] == 1
    assert m["dl_duplicate_executions_total"] == 0


async def test_fifty_simultaneous_initiates_without_a_key_share_the_active_job(
    http: aiohttp.ClientSession, servers: ServerFactory, server: Running
) -> None:
    fresh = servers.start(server.mode)
    answers = await asyncio.gather(*(initiate(http, fresh.url, [70014]) for _ in range(50)))
    assert sorted(status for status, _, _ in answers) == [200] * 49 + [202]
    (job_id,) = {body["jobId"] for _, body, _ in answers}
    m = await metrics(http, fresh.url)
    assert m["dl_jobs_created_total"] == 1
    # Once it has ended, the same request is new work, and the store has forgotten the old job
    # as the active one (on Redis, in the job's final transaction).
    await wait_state(http, fresh.url, job_id, {"completed"})
    if "REDIS_URL" in fresh.env:
        client = redis.Redis.from_url(fresh.env["REDIS_URL"])
        assert client.keys("dl:active:*") == []
        client.close()
    status, body, _ = await initiate(http, fresh.url, [70014])
    assert status == 202 and body["jobId"] != job_id
