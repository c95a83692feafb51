"""The standing chaos suite: jobs, event streams and webhooks through nginx-tuned in front
of two API processes and two worker processes on Redis and MinIO, while API and worker
processes are SIGKILLed at random, Redis restarts (AOF), MinIO goes away for a while and
the webhook receiver fails at random. Then a history checker judges what every client
saw against what the service must guarantee:

- every accepted job reaches exactly one terminal state, and one Idempotency-Key one job;
- no job completes twice (the completion counter equals the completed jobs);
- every completed job's artifact downloads byte for byte;
- every SSE client saw every event of its job once and in order (ids 1..n, one terminal);
- every webhook receiver got one logical delivery per job (one webhook-id, a 2xx).

The figures (faults, jobs, resumes, deliveries) are printed, for the closing note and CI logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from stack.minio_server import MinioServer
from stack.processes import free_port
from stack.redis_server import RedisServer
from tests.conftest import FAST_ENV
from tests.fleet import Fleet
from tests.helpers import metrics, serving
from tests.history import History, check_artifacts, follow, judge_streams, settled, start_job

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

SEED = 20261129
JOBS = 40
ARRIVALS_S = 12.0  # jobs start over this long, so faults meet jobs in every phase
CHAOS_ENV = {
    **FAST_ENV,
    "DOWNLOAD_DELAY_MIN_MS": "100000",  # jobs of 1-3 s
    "DOWNLOAD_DELAY_MAX_MS": "300000",
    "WEBHOOK_SCHEDULE_S": "0,10,10,10,10,10,10,10",  # eight attempts: a 25% failing receiver all but surely accepts
    "MAX_STREAMS_PER_CLIENT": "0",
    "TRUSTED_PROXIES": "127.0.0.1",
}
RECEIVER_FAILS = 0.25


@pytest.fixture
def fleet(tmp_path: Path, private_redis: RedisServer, private_minio: MinioServer) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, private_redis, private_minio, CHAOS_ENV)
    yield fleet
    fleet.close()


@contextlib.asynccontextmanager
async def flaky_receiver(history: History, rng: random.Random) -> AsyncIterator[str]:
    async def hook(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        status = 500 if rng.random() < RECEIVER_FAILS else 204
        history.hooks.append((request.headers["webhook-id"], body["data"]["jobId"], status))
        return web.Response(status=status)

    async with serving(free_port(), hook=hook) as url:
        yield f"{url}/hook"


async def client(
    http: aiohttp.ClientSession, url: str, n: int, callback: str, history: History, rng: random.Random
) -> str:
    await asyncio.sleep(rng.uniform(0, ARRIVALS_S))
    job_id = await start_job(http, url, 70000 + 7 * n, callback, history)
    await follow(http, url, job_id, history)
    return job_id


async def chaos(fleet: Fleet, history: History, rng: random.Random, stop: asyncio.Event) -> None:
    """Faults one at a time until the clients are done: mostly process kills, one Redis
    restart and one MinIO outage early on, while jobs are in flight."""
    began = time.monotonic()
    outages = {"redis_restart": 4.0, "minio_outage": 8.0}  # seconds into the run
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        if stop.is_set():
            break
        due = [name for name, at in outages.items() if time.monotonic() - began >= at]
        if due:
            name = due[0]
            del outages[name]
            service = fleet.redis.process if name == "redis_restart" else fleet.minio.process
            await asyncio.to_thread(service.stop)
            await asyncio.sleep(0.5 if name == "redis_restart" else 1.5)
            await asyncio.to_thread(service.start, 60)
            history.faults[name] += 1
            continue
        kind = rng.choice(["api_kill", "worker_kill", "worker_kill"])
        target = rng.choice(fleet.apis if kind == "api_kill" else fleet.workers).process
        target.kill()  # SIGKILL: no goodbye, no lease released
        await asyncio.to_thread(target.start)
        history.faults[kind] += 1


async def test_jobs_events_and_webhooks_survive_random_kills_and_outages(fleet: Fleet) -> None:
    rng = random.Random(SEED)
    history = History()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=10)
    async with aiohttp.ClientSession(timeout=timeout) as http, flaky_receiver(history, random.Random(SEED + 1)) as hook:
        stop = asyncio.Event()
        chaos_task = asyncio.create_task(chaos(fleet, history, random.Random(SEED + 2), stop))
        try:
            job_ids = await asyncio.gather(
                *(client(http, fleet.url, n, hook, history, random.Random(rng.random())) for n in range(JOBS))
            )
        finally:
            stop.set()
            await chaos_task
        final = {job_id: await settled(http, fleet.url, job_id) for job_id in job_ids}
        counters = await metrics(http, fleet.url)
        downloaded = await check_artifacts(http, final)

    completed = [j for j in final.values() if j["status"] == "completed"]
    failed = [j for j in final.values() if j["status"] == "failed"]
    print(
        f"\nchaos: faults {dict(history.faults)}; {len(final)} jobs: {len(completed)} completed, "
        f"{len(failed)} failed ({Counter(j['error']['code'] for j in failed)}); "
        f"{history.retried_initiates} initiate retries, {history.resumes} stream resumes, "
        f"{len(history.hooks)} webhook attempts received, {downloaded} artifacts verified"
    )
    assert sum(history.faults.values()) >= 10 and history.faults["api_kill"] and history.faults["worker_kill"]
    assert history.faults["redis_restart"] == 1 and history.faults["minio_outage"] == 1

    # One key, one job; every accepted job ended once.
    assert all(len(ids) == 1 for ids in history.answers.values())
    assert len(set(job_ids)) == JOBS
    assert all(j["status"] in ("completed", "failed") for j in final.values())
    assert all(j["error"]["code"] == "STORAGE_UNAVAILABLE" for j in failed), "only the MinIO outage may fail a job"
    # A second completion would be a second terminal event (checked on every stream below) and
    # would push the counters past the jobs. A job's end is counted in the transaction that
    # ends it, so neither a killed worker nor a retried write can leave a counter off by one.
    for state, jobs in (("completed", completed), ("failed", failed)):
        assert counters.get(f'dl_jobs_finished_total{{state="{state}"}}', 0) == len(jobs), f"{state}: counted != jobs"

    judge_streams(history, job_ids, final)

    # Every job's webhook: one webhook-id, accepted at least once, recorded as delivered.
    by_job: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for webhook_id, job_id, status in history.hooks:
        by_job[job_id].append((webhook_id, status))
    for job_id in job_ids:
        calls = by_job[job_id]
        assert len({webhook_id for webhook_id, _ in calls}) == 1, f"job {job_id}: {calls}"
        assert any(status == 204 for _, status in calls), f"job {job_id}: never accepted: {calls}"
        assert final[job_id]["webhook"]["status"] == "delivered"
