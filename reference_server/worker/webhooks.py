"""Delivers one signed webhook per finished job (Standard Webhooks), retrying on a schedule.

The delivery is queued in the same transaction that ends the job, so it cannot be lost,
and it is one logical delivery however many worker attempts the job took. Each attempt
is one message: it is claimed on the job (so two dispatchers holding copies never both
send it), sent, recorded, and the next attempt is deferred on the queue to its due time.
No slot waits out a retry delay, so a dead receiver never holds up another's deliveries.
A dispatcher that dies mid-schedule is replaced by another that carries on from the
next attempt, with the same `webhook-id`.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from standardwebhooks import Webhook

from ..api.representation import job_body
from ..artifacts.base import ArtifactStore
from ..callback_policy import CallbackPolicy, CheckedResolver
from ..config import Settings
from ..jobs import transitions
from ..jobs.model import Job
from ..metrics import Metrics
from ..store.base import JobStore, Message
from .consume import consume
from .retry import Retrying


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
        self.policy = CallbackPolicy(settings.webhook_allowed_hosts)
        self._retry = Retrying(self.lease_s, metrics)

    async def run(self, concurrency: int) -> None:
        timeout = aiohttp.ClientTimeout(total=max(0.05, self.s.scaled(self.s.webhook_timeout_s)))
        # No DNS cache: every attempt resolves afresh and connects only to addresses the policy allows.
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(self.policy), use_dns_cache=False)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            async def deliver(_consumer: str, message: Message) -> None:
                await self._deliver(session, message)

            await consume(self.store.webhooks, f"{self.owner}-hook", self.lease_s, deliver, slots=concurrency)

    def payload(self, job: Job) -> bytes:
        data: dict[str, Any] = job_body(job, self.s, self.artifacts, self.s.base_url, time.time())
        event = {"type": f"download.job.{job.state}", "timestamp": datetime.now(UTC).isoformat(), "data": data}
        return json.dumps(event, separators=(",", ":")).encode()

    async def _deliver(self, session: aiohttp.ClientSession, message: Message) -> None:
        queue = self.store.webhooks
        job = await self._retry(lambda: self.store.get(message.job_id))
        hook = job.webhook if job is not None else None
        if job is None or hook is None or hook.status != "pending":
            await self._retry(lambda: queue.ack(message))
            return
        now = time.time()
        attempt = hook.attempts
        schedule = self.s.webhook_schedule_s
        due = hook.next_at if hook.next_at is not None else (job.completed_at or now) + self.s.scaled(schedule[0])
        send_until = now + self.s.scaled(self.s.webhook_timeout_s) + self.lease_s
        claim = functools.partial(transitions.webhook_claim, attempt=attempt, due=due, now=now, until=send_until)
        if await self._retry(lambda: self.store.update(job.id, claim)) is None:
            # Not due yet, or another dispatcher is sending it: look again when that settles.
            await self._retry(lambda: queue.defer(message, max(due, hook.sending_until or 0) - now))
            return
        # The allow-list may have changed since the job was accepted; what it refuses now is not sent.
        refusal = self.policy.url_refusal(urlsplit(hook.url))
        if refusal is None:
            status, error = await self._post(session, hook.url, hook.id, self.payload(job))
        else:
            status, error = None, refusal
        delivered = status is not None and 200 <= status < 300
        gave_up = not delivered and (status == 410 or attempt >= len(schedule) - 1)
        next_in_s = 0.0 if delivered or gave_up else self.s.scaled(schedule[attempt + 1])
        record = functools.partial(
            transitions.webhook_attempt,
            attempt=attempt,
            status=status,
            error=error,
            delivered=delivered,
            gave_up=gave_up,
            now=time.time(),
            next_in_s=next_in_s,
        )
        await self._retry.count("dl_webhook_attempts_total")
        if not delivered:
            await self._retry.count("dl_webhook_attempt_failures_total")
        if await self._retry(lambda: self.store.update(job.id, record)) is None:
            # The claim ran out and another dispatcher recorded this attempt.
            await self._retry(lambda: queue.ack(message))
        elif delivered or gave_up:
            await self._retry.count("dl_webhook_deliveries_total", result="delivered" if delivered else "failed")
            await self._retry(lambda: queue.ack(message))
        else:
            await self._retry(lambda: queue.defer(message, next_in_s))

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
