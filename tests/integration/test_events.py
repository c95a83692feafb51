"""Server-Sent Events on a real server process, in each mode: resume with Last-Event-ID
sees every event exactly once and in order, heartbeats fill every silence, late
clients get the terminal event at once, and one stream follows several jobs."""

from __future__ import annotations

import asyncio
import itertools
import statistics

import aiohttp
import pytest

from core.sse import SseComment, SseEvent, read_stream
from reference_server.contract import TERMINAL_STATES
from tests.conftest import Running, ServerFactory
from tests.helpers import initiate, job, metric_reaches, wait_state

pytestmark = pytest.mark.integration


async def _events(
    http: aiohttp.ClientSession, url: str, last_event_id: str | None = None, stop_after: int | None = None
) -> list[SseEvent]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    got: list[SseEvent] = []
    async with http.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["X-Accel-Buffering"] == "no"
        async for item in read_stream(resp):
            if isinstance(item, SseEvent):
                got.append(item)
                if stop_after is not None and len(got) >= stop_after:
                    break  # leaving the block drops the connection mid-job
    return got


@pytest.fixture(scope="module")
def slow(request: pytest.FixtureRequest, servers: ServerFactory, server: Running) -> Running:
    """Jobs of about 2 s with heartbeats every 0.1 s, so a stream has time to be cut."""
    return servers.start(server.mode, DOWNLOAD_DELAY_MIN_MS="200000", DOWNLOAD_DELAY_MAX_MS="200000")


async def test_resume_with_last_event_id_sees_each_event_once(http: aiohttp.ClientSession, slow: Running) -> None:
    _, body, _ = await initiate(http, slow.url, [70000])
    url = f"{slow.url}{body['links']['events']}"
    first = await _events(http, url, stop_after=3)
    assert first[0].event == "snapshot" and first[0].retry == 3000
    rest = await _events(http, url, last_event_id=first[-1].id)
    seqs = [int(e.id) for e in first[1:] + rest if e.id]
    assert seqs == sorted(set(seqs)), f"events repeated or out of order: {seqs}"
    assert rest[-1].event == "completed" and '"downloadUrl"' in rest[-1].data
    # Replaying from the very start gives the whole log, which must be gap-free.
    everything = await _events(http, url, last_event_id="0")
    assert [int(e.id) for e in everything if e.id] == list(range(1, len(everything) + 1))
    assert {e.event for e in everything} >= {"queued", "processing", "progress", "completed"}
    assert set(seqs) <= {int(e.id) for e in everything if e.id}


async def test_heartbeats_fill_every_silence(http: aiohttp.ClientSession, slow: Running) -> None:
    """A stream is never silent much longer than the heartbeat interval, which is what keeps
    idle proxies from cutting it; a ping goes out only after a silence, so a stream whose
    events come often enough needs none (the job here reports progress every 0.2 s)."""
    _, body, _ = await initiate(http, slow.url, [70007])
    arrivals: list[float] = []
    comments = 0
    async with http.get(f"{slow.url}{body['links']['events']}") as resp:
        async for item in read_stream(resp):
            arrivals.append(item.received)
            comments += isinstance(item, SseComment)
    silences = [b - a for a, b in itertools.pairwise(arrivals)]
    assert comments >= 5, f"only {comments} heartbeats in a 2 s job"
    # Configured: 10 s x 0.01 = 0.1 s, sent a tenth of that late at most. Without the pings
    # the job's events alone would leave a median silence of 0.2 s; a median tolerates a
    # busy machine's stragglers.
    assert 0.05 <= statistics.median(silences) <= 0.14, silences


async def test_late_client_gets_the_terminal_event_at_once(http: aiohttp.ClientSession, server: Running) -> None:
    _, body, _ = await initiate(http, server.url, [70014])
    await wait_state(http, server.url, body["jobId"], {"completed"})
    got = await _events(http, f"{server.url}{body['links']['events']}")
    assert [e.event for e in got] == ["completed"]


async def test_a_client_that_saw_the_end_is_told_to_stop_reconnecting(
    http: aiohttp.ClientSession, server: Running
) -> None:
    _, body, _ = await initiate(http, server.url, [70042])
    got = await _events(http, f"{server.url}{body['links']['events']}")
    assert got[-1].event == "completed"
    # An EventSource reconnects after a clean end, with the last id it saw: 204 stops it.
    url = f"{server.url}{body['links']['events']}"
    async with http.get(url, headers={"Last-Event-ID": got[-1].id or ""}) as resp:
        assert resp.status == 204


async def test_one_stream_for_several_jobs(http: aiohttp.ClientSession, server: Running) -> None:
    ids = [(await initiate(http, server.url, [f]))[1]["jobId"] for f in (70021, 70028, 70002)]
    url = f"{server.url}/v1/download/events?jobs={','.join(ids)}"
    first = await _events(http, url, stop_after=4)
    assert all(e.event == "snapshot" or e.event in TERMINAL_STATES for e in first[:3])
    rest = await _events(http, url, last_event_id=first[-1].id)
    terminal = {}
    for e in first + rest:
        assert e.id is not None and len(e.id.split(".")) == 3
        if e.event in TERMINAL_STATES:
            terminal[e.data.split('"jobId":"')[1][:36]] = e.event
    assert terminal == {ids[0]: "completed", ids[1]: "completed", ids[2]: "failed"}
    cursors = [tuple(map(int, e.id.split("."))) for e in first + rest if e.id]
    assert cursors == sorted(cursors), "a resumed multi-job stream went backwards"


async def test_stream_counters(http: aiohttp.ClientSession, servers: ServerFactory, server: Running) -> None:
    fresh = servers.start(server.mode)
    _, body, _ = await initiate(http, fresh.url, [70035])
    got = await _events(http, f"{fresh.url}{body['links']['events']}")
    # The server counts the close just after the client saw the end.
    m = await metric_reaches(http, fresh.url, "dl_event_streams_closed_total", 1)
    assert m["dl_event_streams_opened_total"] == m["dl_event_streams_closed_total"] == 1
    assert m["dl_event_streams_open"] == 0
    assert m["dl_events_sent_total"] == len(got)


async def test_held_streams_read_the_store_only_when_their_job_changes(
    http: aiohttp.ClientSession, servers: ServerFactory
) -> None:
    """Twenty streams on a job that stays silent for seconds: the store sees no reads from
    them (each stream re-read the log every 5 s, scaled, before; at 10,000 streams that
    emptied Redis's connection pool). Counted by Redis itself."""
    import redis

    quiet = servers.start(
        "redis+minio", PROGRESS_STEPS="1", DOWNLOAD_DELAY_MIN_MS="400000", DOWNLOAD_DELAY_MAX_MS="400000"
    )
    _, body, _ = await initiate(http, quiet.url, [70000])
    admin = redis.Redis.from_url(quiet.env["REDIS_URL"])

    def log_reads() -> int:
        return int(admin.info("commandstats").get("cmdstat_xrange", {}).get("calls", 0))

    try:
        streams = [await http.get(f"{quiet.url}{body['links']['events']}") for _ in range(20)]
        for resp in streams:
            await resp.content.readuntil(b"\r\n\r\n")  # the snapshot: the stream is live
        before = log_reads()
        await asyncio.sleep(1.0)  # 20 rechecks per stream under the old timer; the job is still running
        during = log_reads() - before
        assert (await job(http, quiet.url, body["jobId"]))["status"] in ("queued", "processing")
        for resp in streams:
            resp.close()
    finally:
        admin.close()
    assert during == 0, f"{during} log reads from streams whose job did not change"
