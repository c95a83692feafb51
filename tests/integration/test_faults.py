"""Crashes and outages on the real services: a worker killed mid-job, a worker frozen
past its lease, Redis dropping connections and restarting, a Redis pool with no connection
to spare (in an API process and in a worker), MinIO going away."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis

from core.sse import SseEvent, read_stream
from reference_server.config import QUEUE_READERS, Settings
from reference_server.jobs.workload import existing_file_id
from reference_server.store.redis import GROUP
from stack.minio_server import MinioServer
from stack.redis_server import RedisServer
from stack.reference_process import ReferenceServer, ReferenceWorker, service_env
from tests.conftest import FAST_ENV
from tests.helpers import eventually, initiate, job, metric_reaches, metrics, wait_state

pytestmark = [pytest.mark.integration, pytest.mark.faults]
TWO_SECOND_JOBS = {"DOWNLOAD_DELAY_MIN_MS": "200000", "DOWNLOAD_DELAY_MAX_MS": "200000"}


class Stack:
    """A server (and optional separate workers) on private Redis and MinIO, all stopped at the end."""

    def __init__(self, tmp: Path, redis_server: RedisServer, minio: MinioServer, **env: str) -> None:
        self.tmp = tmp
        self.redis = redis_server
        self.minio = minio
        self.env = {**FAST_ENV, **TWO_SECOND_JOBS, **service_env(redis_server.url, minio), **env}
        self.server = ReferenceServer(tmp / "server", self.env).start()
        self.workers: list[ReferenceWorker] = []

    @property
    def url(self) -> str:
        return self.server.url

    def worker(self, name: str, slots: int = 1, **env: str) -> ReferenceWorker:
        worker = ReferenceWorker(self.tmp / name, {**self.env, "WORKERS": str(slots), **env}, name=name).start()
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.process.signal(signal.SIGCONT)
            worker.stop()
        self.server.stop()


@pytest.fixture
def make_stack(tmp_path: Path, private_redis: RedisServer, private_minio: MinioServer) -> Iterator:
    stacks: list[Stack] = []

    def make(**env: str) -> Stack:
        stack = Stack(tmp_path / f"stack{len(stacks)}", private_redis, private_minio, **env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


async def _wait_progress(http: aiohttp.ClientSession, url: str, job_id: str, at_least: int) -> None:
    await eventually(
        lambda: job(http, url, job_id), lambda j: j["progress"] >= at_least, f"job {job_id} at {at_least}%"
    )


async def _download_matches(http: aiohttp.ClientSession, done: dict) -> None:
    import hashlib

    async with http.get(done["downloadUrl"]) as resp:
        assert resp.status == 200
        assert hashlib.sha256(await resp.read()).hexdigest() == done["artifact"]["sha256"]


async def test_worker_killed_mid_job_is_completed_once_by_another(http: aiohttp.ClientSession, make_stack) -> None:
    stack = make_stack(WORKERS="0")
    doomed = stack.worker("worker-a")
    _, body, _ = await initiate(http, stack.url, [70000])
    await _wait_progress(http, stack.url, body["jobId"], 30)
    doomed.process.kill()
    stack.worker("worker-b")
    done = await wait_state(http, stack.url, body["jobId"], {"completed"})
    assert done["executions"] == 2
    await _download_matches(http, done)
    m = await metrics(http, stack.url)
    assert m['dl_executions_started_total{api="async"}'] == 2
    assert m['dl_executions_completed_total{api="async"}'] == 1
    assert m["dl_executions_reclaimed_total"] == 1
    assert m["dl_duplicate_executions_total"] == 0
    assert m['dl_jobs_finished_total{state="completed"}'] == 1


async def test_jobs_four_leases_long_keep_their_lease_while_another_worker_waits(
    http: aiohttp.ClientSession, make_stack
) -> None:
    """The control for the two tests around it: renewals alone keep a live worker's jobs
    from being reclaimed, however long the jobs run."""
    stack = make_stack(WORKERS="0")
    stack.worker("worker-a", slots=3)
    ids = [(await initiate(http, stack.url, [f]))[1]["jobId"] for f in (70000, 70007, 70014)]
    await _wait_progress(http, stack.url, ids[0], 10)
    stack.worker("worker-b")  # idle, reading the queue, ready to reclaim any lease that lapses
    for job_id in ids:
        done = await wait_state(http, stack.url, job_id, {"completed"})
        assert done["executions"] == 1
    m = await metrics(http, stack.url)
    assert m.get("dl_executions_reclaimed_total", 0) == 0
    assert m['dl_executions_started_total{api="async"}'] == 3


async def test_frozen_worker_is_fenced_off_and_counted_as_duplicate_work(
    http: aiohttp.ClientSession, make_stack
) -> None:
    """The duplicate counter can fail: a worker that wakes after losing its lease did
    duplicate work, and /metrics must say so while the job still completes once."""
    stack = make_stack(WORKERS="0")
    frozen = stack.worker("worker-a")
    _, body, _ = await initiate(http, stack.url, [70007])
    await _wait_progress(http, stack.url, body["jobId"], 20)
    frozen.process.signal(signal.SIGSTOP)
    stack.worker("worker-b")
    done = await wait_state(http, stack.url, body["jobId"], {"completed"})
    frozen.process.signal(signal.SIGCONT)
    m = await metric_reaches(http, stack.url, 'dl_duplicate_executions_total{api="async"}', 1)
    assert m['dl_duplicate_executions_total{api="async"}'] == 1
    assert m['dl_executions_completed_total{api="async"}'] == 1
    assert m['dl_jobs_finished_total{state="completed"}'] == 1
    assert (await job(http, stack.url, body["jobId"]))["completedAt"] == done["completedAt"]


async def test_redis_connections_dropped_and_restart_lose_no_job(
    http: aiohttp.ClientSession, make_stack, private_redis: RedisServer
) -> None:
    stack = make_stack(LEASE_S="1000")  # 10 s: longer than the outage, so nobody reclaims
    ids = [(await initiate(http, stack.url, [f]))[1]["jobId"] for f in (70000, 70007, 70014)]
    await _wait_progress(http, stack.url, ids[0], 10)
    admin = redis.Redis(port=private_redis.port)
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    admin.close()
    await _wait_progress(http, stack.url, ids[0], 40)
    private_redis.process.stop()
    status, err, _ = await initiate(http, stack.url, [70021])
    assert (status, err["error"]) == (503, "store_unavailable")
    await asyncio.sleep(0.3)  # an outage of some length, not a wait for readiness
    private_redis.process.start()
    for job_id in ids:
        done = await wait_state(http, stack.url, job_id, {"completed"})
        assert done["executions"] == 1
    status, body, _ = await initiate(http, stack.url, [70021])
    assert status == 202
    await wait_state(http, stack.url, body["jobId"], {"completed"})
    m = await metrics(http, stack.url)
    assert m["dl_jobs_created_total"] == 4 and m['dl_jobs_finished_total{state="completed"}'] == 4
    assert m["dl_duplicate_executions_total"] == 0


async def test_minio_down_fails_jobs_cleanly_and_health_says_so(
    http: aiohttp.ClientSession, make_stack, private_minio: MinioServer
) -> None:
    stack = make_stack(DOWNLOAD_DELAY_MIN_MS="10000", DOWNLOAD_DELAY_MAX_MS="10000")
    private_minio.stop()
    async with http.get(f"{stack.url}/health") as resp:
        assert resp.status == 503
        assert await resp.json() == {"status": "unhealthy", "checks": {"storage": "error", "redis": "ok"}}
    _, body, _ = await initiate(http, stack.url, [70000])
    failed = await wait_state(http, stack.url, body["jobId"], {"failed"}, timeout_s=30)
    assert failed["error"]["code"] == "STORAGE_UNAVAILABLE" and failed["error"]["retryable"] is True
    private_minio.start()
    async with http.get(f"{stack.url}/health") as resp:
        assert resp.status == 200
    _, body, _ = await initiate(http, stack.url, [70000])
    done = await wait_state(http, stack.url, body["jobId"], {"completed"})
    await _download_matches(http, done)


async def test_streams_outlast_a_redis_pool_with_no_connection_to_spare(
    http: aiohttp.ClientSession, make_stack, private_redis: RedisServer
) -> None:
    # The API process has one connection beside its subscription's and waits a millisecond for
    # it. Thirty streams follow one job; each time its subscription is cut, it resyncs: all
    # thirty wake to read the log at once, and all but one find no connection. The jobs run in a
    # worker process with the default pool.
    followers = 30
    # Jobs of 10 s, so that the subscription is cut while the job runs however slowly the streams open.
    ten_s = "1000000"
    stack = make_stack(
        WORKERS="0", REDIS_POOL_SIZE="2", REDIS_POOL_TIMEOUT_S="0.001", MAX_STREAMS_PER_CLIENT="0",
        DOWNLOAD_DELAY_MIN_MS=ten_s, DOWNLOAD_DELAY_MAX_MS=ten_s,
    )  # fmt: skip
    default = Settings()
    stack.worker("w", REDIS_POOL_SIZE=str(default.redis_pool_size), REDIS_POOL_TIMEOUT_S="10")

    async def initiated() -> tuple[int, dict, object]:
        return await initiate(http, stack.url, [70035])

    # The test's own requests share that one connection too, and are refused (503) when it is taken.
    _, body, _ = await eventually(initiated, lambda r: r[0] == 202, "an initiate through the short pool")
    url = f"{stack.url}{body['links']['events']}"
    opened = asyncio.Semaphore(0)

    async def follow() -> list[SseEvent]:
        while True:
            async with http.get(url) as resp:
                if resp.status == 503:  # refused before the stream began: the same short pool
                    await asyncio.sleep(0.01)
                    continue
                assert resp.status == 200, await resp.text()
                opened.release()
                return [item async for item in read_stream(resp) if isinstance(item, SseEvent)]

    streams = asyncio.gather(*(follow() for _ in range(followers)))
    for _ in range(followers):
        await opened.acquire()
    with redis.Redis(port=private_redis.port) as admin:
        for _ in range(5):  # within the job's 10 s
            admin.client_kill_filter(_type="pubsub")
            await asyncio.sleep(0.1)
    for events in await streams:
        assert events and events[-1].event == "completed", [e.event for e in events]
        seqs = [int(e.id) for e in events[1:] if e.id]
        assert seqs == sorted(set(seqs)), f"events repeated or out of order: {seqs}"
    m = await eventually(lambda: metrics(http, stack.url), lambda _: True, "the metrics through the short pool")
    assert m.get("dl_stream_read_retries_total", 0) > 0, "no stream found the pool short: the test proved nothing"


async def test_a_worker_with_no_connection_to_spare_ends_counts_and_acknowledges_every_job(
    http: aiohttp.ClientSession, make_stack, private_redis: RedisServer
) -> None:
    """Forty jobs end together in a worker whose pool has one connection beside its queue
    readers' and waits a millisecond for it. Every store call after a job's end goes through
    in the end, so each job completes once, is counted once and leaves the queue at once, not
    a lease later."""
    jobs = 40
    stack = make_stack(WORKERS="0", LEASE_S="100000")  # 1,000 s at the tests' scale: no lease runs out here
    stack.worker("w", slots=jobs, REDIS_POOL_SIZE=str(QUEUE_READERS + 1), REDIS_POOL_TIMEOUT_S="0.001")
    ids = [(await initiate(http, stack.url, [existing_file_id(i, 70_000)]))[1]["jobId"] for i in range(jobs)]
    for job_id in ids:
        assert (await wait_state(http, stack.url, job_id, {"completed"}))["executions"] == 1
    m = await metric_reaches(http, stack.url, 'dl_executions_completed_total{api="async"}', jobs)
    assert m['dl_executions_started_total{api="async"}'] == jobs
    assert m['dl_executions_completed_total{api="async"}'] == jobs
    assert m['dl_jobs_finished_total{state="completed"}'] == jobs
    assert m.get("dl_duplicate_executions_total", 0) == 0
    assert m.get("dl_worker_store_retries_total", 0) > 0, "no call found the pool short: the test proved nothing"
    with redis.Redis(port=private_redis.port) as admin:

        async def pending() -> int:
            return int(admin.xpending("dl:queue:jobs", GROUP)["pending"])

        await eventually(pending, lambda n: n == 0, "every job's message acknowledged")
