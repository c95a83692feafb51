"""Signed webhooks: retried until the receiver accepts, one logical delivery per job,
the same webhook-id on every attempt, signatures that verify (Standard Webhooks)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.conftest import FAST_ENV, Running, WebhookReceiver
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
