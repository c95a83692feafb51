"""The webhook receiver each load-generator process runs: it verifies every delivery's
Standard Webhooks signature, keeps the first delivery of each `webhook-id` and counts
the rest as duplicates, and fails attempts as the scenario says (at random, and during
outages) so the server's retries are exercised."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from core.scenario import WebhookPolicy

PATH = "/hooks"


@dataclass(frozen=True)
class Delivery:
    job_id: str
    status: str  # the job's final state
    received: float  # time.time()


class Receiver:
    def __init__(
        self, secret: str, policy: WebhookPolicy, elapsed_s: Callable[[], float], rng: Any, host: str = "127.0.0.1"
    ) -> None:
        """elapsed_s: scenario seconds since the run started (for the policy's outages)."""
        self._verifier = Webhook(secret)
        self.policy = policy
        self.elapsed_s = elapsed_s
        self.rng = rng
        self._seen: set[str] = set()
        self._deliveries: dict[str, Delivery] = {}
        self._arrived: dict[str, gevent.event.Event] = {}
        self.duplicates: dict[str, int] = {}  # job id -> redeliveries of an accepted webhook
        self.refused = 0  # attempts failed on purpose
        self.invalid = 0  # bad signatures
        self._server = WSGIServer((host, 0), self._app, log=None, error_log=None)
        self._server.start()
        self.url = f"http://{host}:{self._server.server_port}{PATH}"

    def stop(self) -> None:
        self._server.stop(timeout=1)

    def _event(self, job_id: str) -> gevent.event.Event:
        return self._arrived.setdefault(job_id, gevent.event.Event())

    def wait(self, job_id: str, timeout: float) -> Delivery | None:
        self._event(job_id).wait(timeout)
        return self._deliveries.get(job_id)

    def duplicates_of(self, job_id: str) -> int:
        return self.duplicates.get(job_id, 0)

    def _down(self) -> bool:
        now = self.elapsed_s()
        return any(o.start_s <= now < o.end_s for o in self.policy.outages)

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        received = time.time()

        def answer(status: str, problem: str = "") -> list[bytes]:
            start(status, [("Content-Type", "application/json")])
            return [json.dumps({"error": problem} if problem else {"ok": True}).encode()]

        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != PATH:
            return answer("404 Not Found", "not_found")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if self._down() or self.rng.random() < self.policy.failure_probability:
            self.refused += 1
            return answer("503 Service Unavailable", "receiver_unavailable")
        try:
            event = self._verifier.verify(body, headers)
        except WebhookVerificationError:
            self.invalid += 1
            return answer("400 Bad Request", "invalid_signature")
        webhook_id = headers["webhook-id"]
        job = event["data"]
        if webhook_id in self._seen:
            self.duplicates[job["jobId"]] = self.duplicates.get(job["jobId"], 0) + 1
            return answer("200 OK")
        self._seen.add(webhook_id)
        self._deliveries[job["jobId"]] = Delivery(job["jobId"], job["status"], received)
        self._event(job["jobId"]).set()
        return answer("200 OK")
