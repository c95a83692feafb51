"""What the service needs from its job store, whatever backs it.

`MemoryStore` (embedded mode) and `RedisStore` implement it; the API and the workers
only see this interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..jobs.model import Event, Job
from ..jobs.transitions import Change

CreateKind = Literal["created", "replayed", "payload_mismatch", "active", "queue_full"]


@dataclass(frozen=True)
class StoredResponse:
    """What an Idempotency-Key replays: the first response, as it was sent."""

    fingerprint: str
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class CreateOutcome:
    kind: CreateKind
    job: Job | None = None
    response: StoredResponse | None = None


@dataclass(frozen=True)
class Message:
    """One queue entry held by a consumer until it is acknowledged."""

    id: str
    job_id: str


def decide_create(
    stored: StoredResponse | None, fingerprint: str, active: Job | None, queued: int, max_queued: int
) -> CreateKind:
    """The idempotency and admission rules, shared by both stores."""
    if stored is not None:
        return "replayed" if stored.fingerprint == fingerprint else "payload_mismatch"
    if active is not None:
        return "active"
    if queued >= max_queued:
        return "queue_full"
    return "created"


class Queue(Protocol):
    async def get(self, consumer: str, block_s: float, reclaim_idle_s: float) -> Message | None: ...
    async def ack(self, message: Message) -> None: ...
    async def touch(self, consumer: str, message: Message) -> None: ...
    async def defer(self, message: Message, delay_s: float) -> None:
        """Acknowledge the message and queue its job again in `delay_s`. A job has at most
        one deferred entry: deferring it again moves that entry, never adds a second."""
        ...


class JobStore(Protocol):
    notifier: Notifier

    # Read-only, so that each store may hold its own kind of queue.
    @property
    def jobs(self) -> Queue: ...
    @property
    def webhooks(self) -> Queue: ...

    async def create(
        self, job: Job, idempotency_key: str | None, response: StoredResponse, ttl_s: float, idem_ttl_s: float
    ) -> CreateOutcome: ...
    async def get(self, job_id: str) -> Job | None: ...
    async def events(self, job_id: str, after_seq: int) -> list[Event]: ...
    async def update(self, job_id: str, fn: Callable[[Job], Change | None]) -> Change | None: ...
    async def incr(self, name: str, by: float = 1) -> None: ...
    async def counters(self) -> dict[str, float]: ...
    async def hit_rate(self, client: str, window_s: float) -> tuple[int, float]:
        """Count one request of a client in its fixed window: (requests in the window so far,
        seconds until it resets). Kept in the store so that processes sharing it share one limit."""
        ...

    async def sync_started(self, file_id: int) -> int: ...
    async def sync_finished(self, file_id: int) -> None: ...
    async def ping(self) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class Notifier:
    """Wakes event-stream handlers when a job they follow gets a new event.

    A hint only: the event log is the truth, and waiters also wake on a timeout, so a
    lost notification delays an event by at most that timeout and never loses it.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def notify(self, job_id: str) -> None:
        for waiter in self._waiters.get(job_id, ()):
            waiter.set()

    async def wait(self, job_ids: Iterable[str], within_s: float) -> None:
        waiter = asyncio.Event()
        ids = list(job_ids)
        for job_id in ids:
            self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), within_s)
        except TimeoutError:
            pass
        finally:
            for job_id in ids:
                group = self._waiters.get(job_id)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[job_id]
