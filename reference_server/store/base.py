"""What the service needs from its job store, whatever backs it.

`MemoryStore` (embedded mode) and `RedisStore` implement it; the API and the workers
only see this interface.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
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
class RateHit:
    """One request counted in its client's fixed window, and the job read with it."""

    count: int  # requests in the window so far, this one included
    reset_s: float  # seconds until the window resets
    job: Job | None = None  # the job asked to be read, if it exists


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
    async def events(self, job_id: str, after_seq: int) -> tuple[list[Event], Job | None]:
        """The job's events after `after_seq`, and the job they lead to, read together in one
        round trip (a stream woken by a completion needs both for its terminal event)."""
        ...

    async def update(self, job_id: str, fn: Callable[[Job], Change | None]) -> Change | None: ...
    async def incr(self, name: str, by: float = 1) -> None: ...
    async def counters(self) -> dict[str, float]: ...
    async def hit_rate(self, client: str, window_s: float, read: str | None = None) -> RateHit:
        """Count one request of a client in its fixed window, kept in the store so that
        processes sharing it share one limit; and read job `read` in the same round trip,
        so that a status poll costs the store one."""
        ...

    async def sync_started(self, file_id: int) -> int: ...
    async def sync_finished(self, file_id: int) -> None: ...
    async def ping(self) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class Notifier:
    """Wakes event-stream handlers when a job they follow gets a new event.

    One per process, fed by the store's single subscription (Redis pub/sub, or the
    in-memory store itself) and fanned out here to the streams that follow each job, so a
    held stream costs no store reads and no timer until its job changes. A hint only: the
    event log is the truth, and a stream reads it after every wake-up. A stream registers
    before it reads, so a change between its read and its wait still wakes it; and when the
    subscription comes back after an outage, every stream is woken once to catch up on what
    the gap may have carried.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def notify(self, job_id: str) -> None:
        for waiter in self._waiters.get(job_id, ()):
            waiter.set()

    def resync(self) -> None:
        for group in self._waiters.values():
            for waiter in group:
                waiter.set()

    @contextlib.contextmanager
    def watching(self, job_ids: Iterable[str]) -> Iterator[asyncio.Event]:
        """An event set whenever one of these jobs may have changed; clear it before each
        read of the log, and wait on it once the read finds nothing new."""
        waiter = asyncio.Event()
        ids = list(job_ids)
        for job_id in ids:
            self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            for job_id in ids:
                group = self._waiters.get(job_id)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[job_id]
