"""Delivers one signed webhook per finished job (Standard Webhooks), retrying on a schedule.

The delivery is queued in the same transaction that ends the job, so it cannot be lost,
and it is one logical delivery however many worker attempts the job took. Attempts
already made are recorded on the job, so a dispatcher that dies mid-schedule is
replaced by another that carries on from the next attempt, with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from standardwebhooks import Webhook

from ..api.representation import job_body
from ..artifacts.base import ArtifactStore
from ..config import Settings
from ..jobs import transitions
from ..jobs.model import Job
from ..metrics import Metrics
from ..store.base import JobStore, Message
from ..store.redis import TRANSIENT
from .consume import consume


class WebhookDispatcher:
    def __init__(
        self, settings: Settings, store: JobStore, artifacts: ArtifactStore, metrics: Metrics, owner: str
    ) -> None:
        self.s = settings
        self.store = store
        self.artifacts = artifacts
        self.metrics = metrics
        self.owner = owner
        self.lease_s = settings.scaled(settings.lease_s)
        self._signer = Webhook(settings.webhook_secret)

    async def run(self, concurrency: int) -> None:
        timeout = aiohttp.ClientTimeout(total=max(0.05, self.s.scaled(self.s.webhook_timeout_s)))
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def deliver(consumer: str, message: Message) -> None:
                await self._deliver(session, consumer, message)

            await consume(self.store.webhooks, f"{self.owner}-hook", self.lease_s, deliver, slots=concurrency)

    def payload(self, job: Job) -> bytes:
        data: dict[str, Any] = job_body(job, self.s, self.artifacts, self.s.base_url, time.time())
        event = {"type": f"download.job.{job.state}", "timestamp": datetime.now(UTC).isoformat(), "data": data}
        return json.dumps(event, separators=(",", ":")).encode()

    async def _deliver(self, session: aiohttp.ClientSession, consumer: str, message: Message) -> None:
        job = await self.store.get(message.job_id)
        if job is None or job.webhook is None or job.webhook.status in ("delivered", "failed"):
            await self.store.webhooks.ack(message)
            return
        hook = job.webhook
        body = self.payload(job)  # signed and sent byte for byte as built, on every attempt
        schedule = self.s.webhook_schedule_s
        for attempt in range(hook.attempts, len(schedule)):
            await self._wait(consumer, message, self.s.scaled(schedule[attempt]))
            status, error = await self._post(session, hook.url, hook.id, body)
            delivered = status is not None and 200 <= status < 300
            gave_up = not delivered and (status == 410 or attempt == len(schedule) - 1)
            await self.metrics.inc("dl_webhook_attempts_total")
            if not delivered:
                await self.metrics.inc("dl_webhook_attempt_failures_total")
            record = functools.partial(
                transitions.webhook_attempt, status=status, error=error, delivered=delivered, gave_up=gave_up
            )
            await self.store.update(job.id, functools.partial(record, now=time.time()))
            if delivered or gave_up:
                await self.metrics.inc("dl_webhook_deliveries_total", result="delivered" if delivered else "failed")
                break
        await self.store.webhooks.ack(message)

    async def _wait(self, consumer: str, message: Message, seconds: float) -> None:
        # Keep the queue entry ours while waiting, or another dispatcher would take it over.
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self.lease_s / 3))
            with contextlib.suppress(*TRANSIENT):
                await self.store.webhooks.touch(consumer, message)

    async def _post(
        self, session: aiohttp.ClientSession, url: str, webhook_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(webhook_id, now, body.decode()),
        }
        try:
            # Redirects are failures (Standard Webhooks), and following them would defeat the allow-list.
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                return resp.status, None if resp.status < 300 else f"HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
