"""The Redis store's compare-and-set: a change decided on a job that changed since it was read
(or since the caller last wrote it) is decided again on the job as it is, and what it counts is
counted once; and the Redis it runs on syncs to disk as asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from reference_server.jobs import transitions
from reference_server.jobs.model import FileResult, Job
from reference_server.jobs.transitions import Change
from reference_server.metrics import jobs_finished
from reference_server.store.base import StoredResponse
from reference_server.store.redis import RedisStore
from stack.redis_server import FSYNC_POLICIES, Fsync, RedisServer

pytestmark = pytest.mark.integration
COUNTED = "dl_executions_started_total"


async def test_a_change_decided_on_a_stale_read_is_decided_again(private_redis: RedisServer) -> None:
    store = RedisStore(private_redis.url, max_queued=10, pool_size=4, pool_timeout_s=1)
    await store.start(listen=False)
    other = redis.Redis.from_url(private_redis.url, decode_responses=True)
    try:
        job = Job(id="j1", file_ids=[70000], client="c", created_at=0.0, files=[FileResult(70000)])
        await store.create(job, None, StoredResponse("f", 202, {}), ttl_s=60, idem_ttl_s=60)
        seen: list[str] = []

        def claim(j: Job) -> Change | None:
            seen.append(j.state)
            if len(seen) == 1:  # another process claims it between this read and this write
                rival = transitions.claim(j, "rival", now=0, lease_s=1000)
                assert rival is not None
                other.set("dl:job:j1", rival.job.to_json())
            change = transitions.claim(j, "me", now=0, lease_s=1000)
            if change is not None:
                change.counted.append(COUNTED)
            return change

        assert await store.update("j1", claim) is None  # the second decision: it is taken
        assert seen == ["queued", "processing"]
        stored = await store.get("j1")
        assert stored is not None and stored.lease is not None and stored.lease.owner == "rival"
        assert COUNTED not in await store.counters()
        assert other.xlen("dl:events:j1") == 1  # the refused claim logged nothing

        def cancel(j: Job) -> Change | None:
            change = transitions.cancel(j, now=1, ttl_s=60)
            if change is not None:
                change.counted.append(COUNTED)
            return change

        ended = await store.update("j1", cancel)
        assert ended is not None and ended.terminal
        assert await store.update("j1", cancel) is None  # once ended, a second try changes nothing
        counters = await store.counters()
        assert counters[COUNTED] == 1 and counters[jobs_finished("cancelled")] == 1
        assert 0 < other.pttl("dl:job:j1") <= 120_000 and 0 < other.pttl("dl:events:j1") <= 120_000
        assert await store.update("gone", cancel) is None
    finally:
        other.close()
        await store.close()


async def test_a_change_from_the_job_last_written_reads_nothing_unless_it_changed(private_redis: RedisServer) -> None:
    store = RedisStore(private_redis.url, max_queued=10, pool_size=4, pool_timeout_s=1)
    await store.start(listen=False)
    other = redis.Redis.from_url(private_redis.url, decode_responses=True)

    def reads() -> int:
        """GETs so far, those in the update script included: it reads the job once to compare."""
        return int(other.info("commandstats").get("cmdstat_get", {}).get("calls", 0))

    try:
        job = Job(id="j2", file_ids=[70000], client="c", created_at=0.0, files=[FileResult(70000)])
        await store.create(job, None, StoredResponse("f", 202, {}), ttl_s=60, idem_ttl_s=60)
        claimed = await store.update("j2", lambda j: transitions.claim(j, "me", now=0, lease_s=1000))
        assert claimed is not None and claimed.job.lease is not None
        token, files = claimed.job.lease.token, [FileResult(70000)]
        before = reads()
        half = await store.update(
            "j2", lambda j: transitions.report_progress(j, token, files, progress=50), known=claimed.job
        )
        assert half is not None and reads() == before + 1  # the script's compare: the caller read nothing
        stored = await store.get("j2")
        assert stored is not None and stored.progress == 50

        # Another process renews the lease: what this one knew is stale, so it is decided again.
        renewed = transitions.renew(stored, token, now=5, lease_s=1000)
        assert renewed is not None
        other.set("dl:job:j2", renewed.job.to_json())
        seen: list[float] = []

        def report(j: Job) -> Change | None:
            assert j.lease is not None
            seen.append(j.lease.until)
            return transitions.report_progress(j, token, files, progress=80)

        assert await store.update("j2", report, known=half.job) is not None
        assert seen == [1000, 1005]
        stored = await store.get("j2")
        assert stored is not None and stored.progress == 80 and stored.lease is not None
        assert stored.lease.until == 1005  # the renewal is kept
    finally:
        other.close()
        await store.close()


@pytest.mark.parametrize("fsync", FSYNC_POLICIES)
def test_the_server_syncs_its_append_only_file_as_asked(tmp_path: Path, fsync: Fsync) -> None:
    with RedisServer(tmp_path / "redis", fsync=fsync) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            assert client.config_get("appendfsync") == {"appendfsync": fsync}
            assert client.config_get("appendonly") == {"appendonly": "yes"}
        finally:
            client.close()
