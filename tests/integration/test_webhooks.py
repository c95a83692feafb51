"""Signed webhooks: retried until the receiver accepts, one logical delivery per job,
the same webhook-id on every attempt, signatures that verify (Standard Webhooks)."""

from __future__ import annotations

from functools import partial
from typing import Any

import aiohttp
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.conftest import FAST_ENV, MODES, Running, ServerFactory, WebhookReceiver
from tests.helpers import eventually, initiate, job, metrics

pytestmark = pytest.mark.integration


async def webhook_settled(http: aiohttp.ClientSession, url: str, job_id: str) -> dict[str, Any]:
    """The completed job once its webhook is no longer pending."""
    return await eventually(
        lambda: job(http, url, job_id),
        lambda j: j["status"] == "completed" and j["webhook"]["status"] != "pending",
        f"job {job_id}'s webhook settled",
    )


async def test_receiver_fails_twice_then_succeeds(
    http: aiohttp.ClientSession, server: Running, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_first = 2
    before = await metrics(http, server.url)
    _, body, _ = await initiate(http, server.url, [70000], callback=webhook_receiver.url)
    job = await webhook_settled(http, server.url, body["jobId"])
    assert job["webhook"]["status"] == "delivered" and job["webhook"]["attempts"] == 3
    assert len(webhook_receiver.calls) == 3
    assert len(set(webhook_receiver.ids)) == 1
    verifier = Webhook(FAST_ENV["WEBHOOK_SECRET"])
    for headers, raw in webhook_receiver.calls:
        event = verifier.verify(raw, headers)
        assert event["type"] == "download.job.completed"
        assert event["data"]["jobId"] == body["jobId"] and event["data"]["downloadUrl"]
    after = await metrics(http, server.url)

    def delta(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert delta('dl_webhook_deliveries_total{result="delivered"}') == 1
    assert delta("dl_webhook_attempts_total") == 3
    assert delta("dl_webhook_attempt_failures_total") == 2


async def test_tampered_payload_does_not_verify(
    http: aiohttp.ClientSession, server: Running, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_first = 0
    _, body, _ = await initiate(http, server.url, [70007], callback=webhook_receiver.url)
    await webhook_settled(http, server.url, body["jobId"])
    headers, raw = webhook_receiver.calls[0]
    verifier = Webhook(FAST_ENV["WEBHOOK_SECRET"])
    # As sent, it verifies; with one word changed, it does not.
    assert verifier.verify(raw, headers)["data"]["jobId"] == body["jobId"]
    with pytest.raises(WebhookVerificationError, match=r"(?i)signature"):
        verifier.verify(raw.replace(b"completed", b"failed"), headers)


async def test_a_receiver_that_hangs_is_timed_out_and_retried(
    http: aiohttp.ClientSession, server: Running, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_first, webhook_receiver.stall_s = 1, 2.0  # far past WEBHOOK_TIMEOUT_S (15 s x 0.01)
    _, body, _ = await initiate(http, server.url, [70014], callback=webhook_receiver.url)
    job = await webhook_settled(http, server.url, body["jobId"])
    assert job["webhook"]["status"] == "delivered" and job["webhook"]["attempts"] == 2
    assert job["webhook"]["lastStatus"] == 204
    assert len(set(webhook_receiver.ids)) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_dead_receivers_do_not_hold_up_a_healthy_one(
    http: aiohttp.ClientSession, servers: ServerFactory, webhook_receiver: WebhookReceiver, mode: str
) -> None:
    # Retries 30 s apart (scaled): a dispatcher that slept through them in its slots would
    # hold the healthy delivery until the dead ones' schedules ran out.
    server = servers.start(mode, WEBHOOK_SCHEDULE_S="0,3000,3000")
    dead = [(await initiate(http, server.url, [71000 + i], callback=webhook_receiver.dead_url))[1] for i in range(10)]
    for body in dead:
        await eventually(
            partial(job, http, server.url, body["jobId"]),
            lambda j: j["webhook"]["attempts"] >= 1,
            "a dead receiver's first attempt",
        )
    _, healthy, _ = await initiate(http, server.url, [70021], callback=webhook_receiver.url)
    settled = await webhook_settled(http, server.url, healthy["jobId"])
    assert settled["webhook"]["status"] == "delivered" and len(webhook_receiver.calls) == 1
    for body in dead:  # each still waits for its own second attempt
        hook = (await job(http, server.url, body["jobId"]))["webhook"]
        assert (hook["status"], hook["attempts"]) == ("pending", 1)
    assert webhook_receiver.dead_calls == 10


@pytest.mark.parametrize("mode", MODES)
async def test_callbacks_go_only_where_the_allow_list_names_the_port_and_address(
    http: aiohttp.ClientSession, servers: ServerFactory, webhook_receiver: WebhookReceiver, mode: str
) -> None:
    port = webhook_receiver.port
    server = servers.start(mode, WEBHOOK_ALLOWED_HOSTS=f"localhost,localhost:{port}")
    status, body, _ = await initiate(http, server.url, [71200], callback=f"http://localhost:{port + 1}/hook")
    assert (status, body["error"]) == (422, "callback_host_not_allowed"), body
    # Allowed by name, but the name resolves to loopback, which no entry names: never sent.
    status, body, _ = await initiate(http, server.url, [71201], callback=f"http://localhost:{port}/hook")
    assert status == 202, body
    refused = await eventually(
        lambda: job(http, server.url, body["jobId"]),
        lambda j: j["webhook"]["attempts"] >= 1,
        "the first attempt at a name that resolves inward",
    )
    assert "internal address" in refused["webhook"]["lastError"] and webhook_receiver.calls == []
    # Named by address, the same receiver gets its delivery.
    allowed = servers.start(mode, WEBHOOK_ALLOWED_HOSTS=f"127.0.0.1:{port}")
    _, body, _ = await initiate(http, allowed.url, [70028], callback=webhook_receiver.url)
    assert (await webhook_settled(http, allowed.url, body["jobId"]))["webhook"]["status"] == "delivered"


async def test_an_ended_job_keeps_its_expiry_through_webhook_attempts(
    http: aiohttp.ClientSession, servers: ServerFactory, webhook_receiver: WebhookReceiver
) -> None:
    # Each attempt rewrites the job; a plain SET there cleared the expiry set when the job
    # ended, so every job with a webhook stayed in Redis for ever (found by the soak).
    import redis

    server = servers.start("redis+minio")
    webhook_receiver.fail_first = 1
    _, body, _ = await initiate(http, server.url, [70035], callback=webhook_receiver.url)
    await webhook_settled(http, server.url, body["jobId"])
    client = redis.Redis.from_url(server.env["REDIS_URL"])
    try:
        assert client.pttl(f"dl:job:{body['jobId']}") > 0
    finally:
        client.close()
