"""Redis through Sentinel, as a deployment on several machines would run it: the server and a
worker process find the master by asking three Sentinels (`redis+sentinel://` in REDIS_URL),
and go on when the master is killed and the Sentinels promote its replica."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
import redis

from core.sse import SseEvent, read_stream
from reference_server.contract import TERMINAL_STATES
from stack.minio_server import MinioServer
from stack.redis_sentinel import SentinelRedis
from stack.reference_process import ReferenceServer, ReferenceWorker, service_env
from tests.conftest import FAST_ENV
from tests.helpers import eventually, initiate, job, wait_state

pytestmark = [pytest.mark.integration, pytest.mark.faults]
# Five-second jobs, and leases longer than the failover, so a job running through it is its
# worker's to finish: nobody reclaims it.
IN_FLIGHT = {"DOWNLOAD_DELAY_MIN_MS": "500000", "DOWNLOAD_DELAY_MAX_MS": "500000", "LEASE_S": "3000"}


async def test_a_killed_master_is_replaced_by_its_replica_and_every_job_completes_once(
    http: aiohttp.ClientSession, tmp_path: Path, private_minio: MinioServer
) -> None:
    with SentinelRedis(tmp_path / "redis") as store:
        env = {**FAST_ENV, **IN_FLIGHT, **service_env(store.url, private_minio), "WORKERS": "0"}
        server = ReferenceServer(tmp_path / "server", env).start()
        worker = ReferenceWorker(tmp_path / "worker", {**env, "WORKERS": "4"}).start()
        try:
            assert store.master_at() == ("127.0.0.1", store.master.port)
            status, running, _ = await initiate(http, server.url, [70000])
            assert status == 202
            await eventually(lambda: job(http, server.url, running["jobId"]), lambda j: j["progress"] > 0, "started")
            # Replication is asynchronous: the job must have reached the replica to outlive
            # its master. (Whether an acknowledged job can be lost without this is another test's.)
            with redis.Redis(port=store.master.port) as master:
                assert master.wait(1, 5000) == 1
            store.master.process.kill()
            store.wait_for_master(store.replica)

            async def after_failover() -> tuple[int, dict, object]:
                return await initiate(http, server.url, [70007])

            status, after, _ = await eventually(after_failover, lambda r: r[0] == 202, "an initiate after failover")
            async with http.get(f"{server.url}/v1/download/jobs/{after['jobId']}/events") as resp:
                events = [e async for e in read_stream(resp) if isinstance(e, SseEvent)]
            assert events[-1].event in TERMINAL_STATES
            for job_id in (running["jobId"], after["jobId"]):
                done = await wait_state(http, server.url, job_id, {"completed"}, timeout_s=30)
                assert done["executions"] == 1, done
        finally:
            worker.stop()
            server.stop()


async def test_with_ack_replicas_an_initiate_is_answered_once_a_replica_holds_the_job(
    http: aiohttp.ClientSession, tmp_path: Path, private_minio: MinioServer
) -> None:
    with SentinelRedis(tmp_path / "redis") as store:
        env = {**FAST_ENV, **service_env(store.url, private_minio), "REDIS_ACK_REPLICAS": "1"}
        server = ReferenceServer(tmp_path / "server", {**env, "REDIS_ACK_TIMEOUT_MS": "300"}).start()
        try:
            status, _, _ = await initiate(http, server.url, [70000], key="with-a-replica")
            assert status == 202
            store.replica.process.stop()
            status, err, headers = await initiate(http, server.url, [70007], key="replica-gone")
            assert (status, err["error"], headers["Retry-After"]) == (503, "store_not_durable", "1")
            store.replica.process.start()
            # The same key, once the replica is back and has caught up: the job it made, now held twice.
            status, body, headers = await eventually(
                lambda: initiate(http, server.url, [70007], key="replica-gone"), lambda r: r[0] == 202, "durable"
            )
            assert headers["Idempotent-Replayed"] == "true"
            await wait_state(http, server.url, body["jobId"], {"completed"})
        finally:
            server.stop()
