"""CI regression checks on timeout and event-stream behaviour, on the real stack (both
backends), at a time scale of 0.01: the edge's 100 s is 1 s, stock nginx's 60 s is 0.6 s.

Each test runs a check from `checks.suite` (the same one `python -m checks`
runs against any service) and asserts its verdict; where the reference server tells
more (its headers, its /metrics), the test reads the check's own observation for it.

Run alone with `pytest -m timeouts`.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from checks.suite import CHECKS, long_socket_job, long_streamed_job, resumed_stream, run_check, sync_with_retries
from checks.target import DEFAULT_SCOPE
from proxies.render import PLATFORMS, PROFILES
from tests.helpers import metric_reaches, metrics
from tests.stack.clients import events_timely
from tests.stack.conftest import EDGE_LIMIT_S, LATE_S, TIME_SCALE, WHOLE_API, Stacks

pytestmark = pytest.mark.timeouts
# One progress step per file: a job is silent from start to end, but for heartbeats.
SILENT_JOBS = {"PROGRESS_STEPS": "1"}


async def test_sync_start_past_the_edge_limit_gets_524_and_the_work_goes_on(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    s = stacks.session(http, scope=WHOLE_API)
    server = s.client.origin
    before = await metrics(http, server)
    result = await run_check(s, "timeouts/sync_answers_through_the_proxies")
    assert result.verdict == "fail" and result.evidence.startswith("524 after"), result
    tries = await s.observe(sync_with_retries)
    first = tries.answers[0]
    assert "524" in str(first.body)
    assert first.headers["server"] == "cloudflare" and first.headers["cf-ray"].endswith("-LHR")
    assert 0.9 * EDGE_LIMIT_S <= first.elapsed_s < 1.4 * EDGE_LIMIT_S
    # Every cut try's work still ran to its end, for nobody.
    tried = len(tries.answers)
    done = 'dl_executions_completed_total{api="sync"}'
    after = await metric_reaches(http, server, done, before.get(done, 0) + tried)
    assert after["dl_sync_undelivered_total"] - before.get("dl_sync_undelivered_total", 0) == tried
    wasted = 'dl_wasted_worker_seconds_total{api="sync"}'
    assert after[wasted] - before.get(wasted, 0) >= 0.95 * tried * tries.work_s


async def test_sync_start_past_stock_nginx_limit_gets_504(http: aiohttp.ClientSession, stacks: Stacks) -> None:
    s = stacks.session(http, "nginx-default", scope=WHOLE_API)
    result = await run_check(s, "timeouts/sync_answers_through_the_proxies")
    assert result.verdict == "fail" and result.evidence.startswith("504 after"), result
    first = (await s.observe(sync_with_retries)).answers[0]
    assert "Gateway Time-out" in str(first.body)
    limit = PROFILES["nginx-default"].read_s * TIME_SCALE
    assert 0.9 * limit <= first.elapsed_s < 1.4 * limit


# One platform per template: cloud-run and max-lifetime-proxy are gcp-lb's with other limits
# (test_proxy_profiles.py checks each one's answer). The antivirus has no limit of its own.
@pytest.mark.parametrize(
    "platform", [p for p in PLATFORMS if p not in ("cloud-run", "max-lifetime-proxy", "antivirus-proxy")]
)
async def test_each_platform_cuts_a_long_sync_request_with_its_documented_status(
    http: aiohttp.ClientSession, stacks: Stacks, platform: str
) -> None:
    s = stacks.session(http, platform, scope=WHOLE_API)
    result = await run_check(s, "timeouts/sync_answers_through_the_proxies")
    status = PROFILES[platform].timeout_status
    assert result.verdict == "fail" and result.evidence.startswith(f"{status} after"), result


# Heroku's 30 s is the strictest limit in proxies/, the one the cap is set below.
@pytest.mark.parametrize("profile", ["heroku", "cloudflare+nginx-tuned"])
async def test_a_long_poll_asking_past_every_limit_is_held_within_them(
    http: aiohttp.ClientSession, stacks: Stacks, profile: str
) -> None:
    s = stacks.session(http, profile, env=SILENT_JOBS)
    result = await run_check(s, "timeouts/long_poll_within_the_limits")
    assert result.verdict == "pass", result


async def test_the_long_poll_check_catches_a_wait_past_the_platform_limit(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    # Heroku's router gives up after 30 s; this server would hold a read for 40.
    past = str(PROFILES["heroku"].read_s + 10)
    result = await run_check(
        stacks.session(http, "heroku", env={"LONGPOLL_MAX_WAIT_S": past, **SILENT_JOBS}),
        "timeouts/long_poll_within_the_limits",
    )
    assert result.verdict == "fail" and "503 after" in result.evidence, result


@pytest.mark.parametrize("profile", ["cloudflare+nginx-tuned", "nginx-default"])
async def test_sync_start_within_every_limit_succeeds(
    http: aiohttp.ClientSession, stacks: Stacks, profile: str
) -> None:
    s = stacks.session(http, profile, scope=WHOLE_API)
    got = await s.client.sync(s.file_id(), work_s=s.work_s(0.2))
    assert got.status == 200 and got.body["status"] == "completed"


@pytest.mark.parametrize("profile", ["cloudflare+nginx-tuned", "cloudflare", "nginx-tuned", "nginx-default", "alb"])
async def test_slow_job_completes_for_polling_and_sse_clients(
    http: aiohttp.ClientSession, stacks: Stacks, profile: str
) -> None:
    # Two sessions, so the polled job and the streamed one run side by side.
    polled, streamed = stacks.session(http, profile), stacks.session(http, profile)
    results = list(
        await asyncio.gather(
            run_check(polled, "timeouts/slow_job_completes_by_polling"),
            run_check(streamed, "sse/stream_outlives_the_idle_limit"),
        )
    )
    results.append(await run_check(polled, "timeouts/download_through_the_proxies"))
    assert [r.verdict for r in results] == ["pass"] * 3, results
    assert "matching the status's sha256" in results[2].evidence


async def test_heartbeats_carry_a_stream_three_times_past_the_edge_limit(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    s = stacks.session(http, "cloudflare", env=SILENT_JOBS)
    result = await run_check(s, "sse/stream_outlives_the_idle_limit")
    assert result.verdict == "pass", result
    seen = (await s.observe(long_streamed_job)).seen
    assert seen.lasted_s > 2.5 * EDGE_LIMIT_S
    assert seen.heartbeats  # what crossed the silences longer than the edge's limit


async def test_a_total_lifetime_cuts_the_stream_whatever_its_heartbeats(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    gcp = PROFILES["gcp-lb"]
    assert gcp.lifetime_s is not None
    beats = {"SSE_HEARTBEAT_S": str(gcp.lifetime_s / 10), **SILENT_JOBS}  # ten heartbeats per lifetime
    cut = stacks.session(http, "gcp-lb", env=beats)
    result = await run_check(cut, "sse/stream_outlives_the_idle_limit")
    assert result.verdict == "fail" and "total time" in result.evidence, result
    seen = (await cut.observe(long_streamed_job)).seen
    assert seen is not None and seen.status == 200 and seen.broken and len(seen.heartbeats) >= 5
    lifetime = gcp.lifetime_s * TIME_SCALE
    assert 0.9 * lifetime <= seen.lasted_s < lifetime + LATE_S
    # The same stream through the Cloudflare-like edge, which times out only on silence.
    whole = await run_check(stacks.session(http, "cloudflare", env=beats), "sse/stream_outlives_the_idle_limit")
    assert whole.verdict == "pass", whole


async def test_the_api_gateway_passes_no_event_before_the_response_ends(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    s = stacks.session(http, "api-gateway")
    job_s = 0.5 * PROFILES["api-gateway"].read_s * TIME_SCALE
    started = await s.client.initiate(s.file_id(), job_s)
    job = s.client.job(started)
    assert job is not None
    seen = await s.client.follow(job)
    assert seen.finished(s.target.answers.terminal) and len(seen.events) > 2
    assert not events_timely(seen, job_s)
    # All at once: the first event came no sooner than the last.
    assert seen.events[-1].received - seen.events[0].received < 0.25 * job_s


async def test_the_heartbeat_check_catches_a_server_without_heartbeats(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    s = stacks.session(http, "cloudflare", env={"SSE_HEARTBEAT_S": "0", **SILENT_JOBS})
    result = await run_check(s, "sse/stream_outlives_the_idle_limit")
    assert result.verdict == "fail" and "without a terminal event" in result.evidence, result
    seen = (await s.observe(long_streamed_job)).seen
    # The snapshot, and the worker's claim if it came after the stream opened: then silence.
    assert [e.event for e in seen.events] in (["snapshot"], ["snapshot", "processing"])
    # Cut by the edge's idle limit: about one limit after the stream began, in silence.
    assert 0.9 * EDGE_LIMIT_S <= seen.lasted_s < 1.6 * EDGE_LIMIT_S
    assert seen.silence_before_end_s >= 0.5 * EDGE_LIMIT_S


async def test_forced_disconnect_resumes_each_event_exactly_once(http: aiohttp.ClientSession, stacks: Stacks) -> None:
    s = stacks.session(http)
    result = await run_check(s, "sse/resume_without_loss_or_repetition")
    assert result.verdict == "pass", result
    assert "0 missed, 0 repeated" in result.evidence
    got = await s.observe(resumed_stream)
    ids = [int(e.id) for e in got.first.events + got.rest.events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive: nothing lost, nothing twice


async def test_stock_nginx_buffering_is_detected_without_the_accel_header(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    job_s = 1.0
    results = {}
    for name, env in (("with header", {}), ("without header", {"SSE_X_ACCEL_BUFFERING": "false"})):
        s = stacks.session(http, "nginx-default", env=env)
        started = await s.client.initiate(s.file_id(), job_s)
        job = s.client.job(started)
        assert job is not None
        results[name] = await s.client.follow(job)
        assert results[name].finished(s.target.answers.terminal)
    # The server's X-Accel-Buffering: no switches stock nginx's buffering off for the stream...
    assert events_timely(results["with header"], job_s)
    # ...and without it the same events arrive late and bunched.
    assert not events_timely(results["without header"], job_s)


async def test_the_buffering_proxy_holds_events_whatever_the_accel_header_says(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    job_s = 1.0
    s = stacks.session(http, "buffering-proxy")  # the server sends X-Accel-Buffering: no
    started = await s.client.initiate(s.file_id(), job_s)
    job = s.client.job(started)
    assert job is not None
    seen = await s.client.follow(job)
    assert seen.finished(s.target.answers.terminal)  # delivered when the response ended...
    assert not events_timely(seen, job_s)  # ...but not as the job went


WITH_SOCKETS = (*DEFAULT_SCOPE, "websocket")


# Through nginx's Upgrade handling, and through HAProxy's tunnel at the shortest idle limit.
@pytest.mark.parametrize("profile", ["cloudflare+nginx-tuned", "heroku"])
async def test_pings_carry_a_websocket_past_the_idle_limit_and_it_resumes_without_loss(
    http: aiohttp.ClientSession, stacks: Stacks, profile: str
) -> None:
    s = stacks.session(http, profile, scope=WITH_SOCKETS, env=SILENT_JOBS)
    results = [await run_check(s, name) for name in CHECKS if name.startswith("websocket/")]
    assert [r.verdict for r in results] == ["pass", "pass"], results
    assert (await s.observe(long_socket_job)).seen.heartbeats  # what crossed the silences


@pytest.mark.parametrize("profile", ["nginx-default", "buffering-proxy"])
async def test_a_proxy_that_drops_upgrade_fails_the_websocket_checks_with_426(
    http: aiohttp.ClientSession, stacks: Stacks, profile: str
) -> None:
    result = await run_check(
        stacks.session(http, profile, scope=WITH_SOCKETS), "websocket/socket_outlives_the_idle_limit"
    )
    assert result.verdict == "fail" and "answered 426" in result.evidence, result
