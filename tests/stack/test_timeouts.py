"""CI regression checks on timeout behaviour, on the real stack (both backends), at a
time scale of 0.01: the edge's 100 s is 1 s, stock nginx's 60 s is 0.6 s.

Run alone with `pytest -m timeouts`.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.helpers import metric_reaches
from tests.stack.clients import (
    downloaded_sha256,
    events_timely,
    follow,
    poll_until_done,
    start_job,
    streamed_to_the_end,
    sync_start,
)
from tests.stack.conftest import EDGE_LIMIT_S, NGINX_DEFAULT_LIMIT_S, Stacks

pytestmark = pytest.mark.timeouts
PAST_THE_EDGE_MS = 150_000  # 1.5 s at this scale: past the edge (1 s) and stock nginx (0.6 s)


async def test_sync_start_past_the_edge_limit_gets_524_and_the_work_goes_on(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    w = await stacks.watch(http)
    got = await sync_start(http, w.entry, PAST_THE_EDGE_MS)
    assert got.status == 524 and "524" in got.text
    assert got.headers["server"] == "cloudflare" and got.headers["cf-ray"].endswith("-LHR")
    assert 0.9 * EDGE_LIMIT_S <= got.elapsed_s < 1.4 * EDGE_LIMIT_S
    done = 'dl_executions_completed_total{api="sync"}'
    after = await metric_reaches(http, w.server, done, w.before.get(done, 0) + 1)
    assert after["dl_sync_undelivered_total"] - w.before.get("dl_sync_undelivered_total", 0) == 1
    wasted = 'dl_wasted_worker_seconds_total{api="sync"}'
    assert after[wasted] - w.before.get(wasted, 0) >= 1.4  # the whole 1.5 s went to nobody


async def test_sync_start_past_stock_nginx_limit_gets_504(http: aiohttp.ClientSession, stacks: Stacks) -> None:
    stack = stacks.get("nginx-default")
    assert stack.urls is not None
    got = await sync_start(http, stack.urls.entry, 80_000)  # 0.8 s > 0.6 s
    assert got.status == 504 and "Gateway Time-out" in got.text
    assert 0.9 * NGINX_DEFAULT_LIMIT_S <= got.elapsed_s < 0.8


@pytest.mark.parametrize("profile", ["cloudflare+nginx-tuned", "nginx-default"])
async def test_sync_start_within_every_limit_succeeds(
    http: aiohttp.ClientSession, stacks: Stacks, profile: str
) -> None:
    stack = stacks.get(profile)
    assert stack.urls is not None
    got = await sync_start(http, stack.urls.entry, 20_000)
    assert got.status == 200 and '"completed"' in got.text


@pytest.mark.parametrize("profile", ["cloudflare+nginx-tuned", "cloudflare", "nginx-tuned", "nginx-default", "alb"])
async def test_slow_job_completes_for_polling_and_sse_clients(
    http: aiohttp.ClientSession, stacks: Stacks, profile: str
) -> None:
    stack = stacks.get(profile)
    assert stack.urls is not None
    _, polled = await start_job(http, stack.urls.entry, PAST_THE_EDGE_MS, [70000])
    _, streamed = await start_job(http, stack.urls.entry, PAST_THE_EDGE_MS, [70007])
    events_url = f"{stack.urls.entry}{streamed['links']['events']}"
    done, seen = await asyncio.gather(
        poll_until_done(http, stack.urls.entry, polled["jobId"]), follow(http, events_url)
    )
    assert done["status"] == "completed"
    assert streamed_to_the_end(seen) and seen.events[-1].event == "completed"
    assert await downloaded_sha256(http, done["downloadUrl"]) == done["artifact"]["sha256"]
    final = await poll_until_done(http, stack.urls.entry, streamed["jobId"])
    assert await downloaded_sha256(http, final["downloadUrl"]) == final["artifact"]["sha256"]


# One progress step per file: a job is silent from start to end, but for heartbeats.
SILENT_JOBS = {"PROGRESS_STEPS": "1"}


async def test_heartbeats_carry_a_stream_three_times_past_the_edge_limit(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    stack = stacks.get("cloudflare", **SILENT_JOBS)
    assert stack.urls is not None
    _, job = await start_job(http, stack.urls.entry, 300_000)  # 3 s: three edge limits
    seen = await follow(http, f"{stack.urls.entry}{job['links']['events']}")
    assert streamed_to_the_end(seen), [e.event for e in seen.events]
    assert seen.ended_at - seen.connected_at > 2.5 * EDGE_LIMIT_S


async def test_the_heartbeat_check_catches_a_server_without_heartbeats(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    stack = stacks.get("cloudflare", SSE_HEARTBEAT_S="0", **SILENT_JOBS)
    assert stack.urls is not None
    _, job = await start_job(http, stack.urls.entry, 300_000)
    seen = await follow(http, f"{stack.urls.entry}{job['links']['events']}")
    assert not streamed_to_the_end(seen)
    # The snapshot, and the worker's claim if it came after the stream opened: then silence.
    assert [e.event for e in seen.events] in (["snapshot"], ["snapshot", "processing"])
    # Cut by the edge's idle limit: about one limit after the stream began, in silence.
    assert 0.9 * EDGE_LIMIT_S <= seen.ended_at - seen.connected_at < 1.6 * EDGE_LIMIT_S
    assert seen.silence_before_end_s >= 0.5 * EDGE_LIMIT_S


async def test_forced_disconnect_resumes_each_event_exactly_once(http: aiohttp.ClientSession, stacks: Stacks) -> None:
    stack = stacks.get("cloudflare+nginx-tuned")
    assert stack.urls is not None
    _, job = await start_job(http, stack.urls.entry, PAST_THE_EDGE_MS)
    url = f"{stack.urls.entry}{job['links']['events']}"
    first = await follow(http, url, stop_after=3)
    rest = await follow(http, url, last_event_id=first.events[-1].id)
    ids = [int(e.id) for e in first.events[1:] + rest.events if e.id]
    assert ids == sorted(set(ids)), ids
    assert rest.events[-1].event == "completed"
    whole = await follow(http, url, last_event_id="0")
    assert set(ids) <= {int(e.id) for e in whole.events if e.id}
    assert [int(e.id) for e in whole.events if e.id] == list(range(1, len(whole.events) + 1))


async def test_stock_nginx_buffering_is_detected_without_the_accel_header(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    job_s = 1.0
    told = stacks.get("nginx-default")
    untold = stacks.get("nginx-default", SSE_X_ACCEL_BUFFERING="false")
    results = {}
    for name, stack in (("with header", told), ("without header", untold)):
        assert stack.urls is not None
        _, job = await start_job(http, stack.urls.entry, int(job_s * 100_000))
        results[name] = await follow(http, f"{stack.urls.entry}{job['links']['events']}")
        assert streamed_to_the_end(results[name])
    # The server's X-Accel-Buffering: no switches stock nginx's buffering off for the stream...
    assert events_timely(results["with header"], job_s)
    # ...and without it the same events arrive late and bunched.
    assert not events_timely(results["without header"], job_s)
