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


class NotReplicated(Exception):
    """A new job is on the master alone: too few replicas acknowledged it in time, so a
    failover now could lose it. Answered 503; the same Idempotency-Key retried finds it."""


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


@dataclass(frozen=True, slots=True)
class News:
    """A job's new events as its store announced them, in order, with the job as of them when
    one is its completion (the event's download link needs it): what a woken stream sends
    without reading the log back. A hint like the wake-up itself: the log stays the truth."""

    job_id: str
    events: list[Event]
    job: Job | None = None

    @classmethod
    def of(cls, change: Change) -> News:
        completed = any(e.type == "completed" for e in change.events)
        return cls(change.job.id, change.events, change.job if completed else None)

    def after(self, cursor: int) -> list[Event] | None:
        """The events past `cursor`, if they follow it without a gap (those up to it were
        sent already, from a read that got ahead of this notice); None if one is missing."""
        events = [e for e in self.events if e.seq > cursor]
        if any(e.seq != cursor + 1 + i for i, e in enumerate(events)):
            return None
        return events


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

    async def update(self, job_id: str, fn: Callable[[Job], Change | None], known: Job | None = None) -> Change | None:
        """Apply `fn` to the job and write its change, unless it returns None. `known` is the job as
        this caller last wrote it: a store that writes only what was decided on the job as it
        stands may decide on `known` without reading, and on the stored job if it has changed."""
        ...

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
    async def start(self, listen: bool = True) -> None:
        """Ready the store; with `listen`, feed `notifier` (a process following no stream need not)."""
        ...

    async def close(self) -> None: ...


class Notifier:
    """Wakes event-stream handlers when a job they follow gets a new event.

    One per process, fed by the store's single subscription (Redis pub/sub, or the
    in-memory store itself) and fanned out here to the streams that follow each job, so a
    held stream costs no store reads and no timer until its job changes. A wake-up carries
    the change's events (`News`), which a stream sends when they follow what it has sent;
    otherwise, the event log being the truth, it reads the log. A stream registers before it
    reads, so a change between its read and its wait still wakes it; and when the
    subscription comes back after an outage, every stream is woken once, without news, to
    catch up on what the gap may have carried.
    """

    def __init__(self) -> None:
        # Lists, not sets: nearly every job has one follower, and an empty set is 216 bytes.
        self._waiters: dict[str, list[Watch]] = {}

    def follows(self, job_id: str) -> bool:
        return job_id in self._waiters

    def notify(self, job_id: str, news: News | None = None) -> None:
        """Wake the followers of `job_id`, with its news if the store carried them."""
        for waiter in self._waiters.get(job_id, ()):
            waiter.set(news)

    def resync(self) -> None:
        for group in self._waiters.values():
            for waiter in group:
                waiter.set()

    def watching(self, job_ids: Iterable[str]) -> Watch:
        """A flag set whenever one of these jobs may have changed, for the `with` block; clear
        it before each read of the log, and wait on it once the read finds nothing new."""
        return Watch(self, list(job_ids))

    def _add(self, watch: Watch) -> None:
        for job_id in watch.job_ids:
            self._waiters.setdefault(job_id, []).append(watch)

    def _remove(self, watch: Watch) -> None:
        for job_id in watch.job_ids:
            group = self._waiters.get(job_id)
            if group is not None:
                group.remove(watch)
                if not group:
                    del self._waiters[job_id]


class Watch:
    """asyncio.Event's set, clear and wait for the one task that follows some jobs, without
    the Event's deque of waiters, which cost every held stream 760 bytes; and its own
    context manager (registered in the `with` block), where a generator cost 250 more."""

    __slots__ = ("_flag", "_kept", "_news", "_notifier", "_waiter", "job_ids")

    def __init__(self, notifier: Notifier, job_ids: list[str]) -> None:
        self._notifier = notifier
        self.job_ids = job_ids
        self._flag = False
        self._kept = False
        self._waiter: asyncio.Future[None] | None = None
        self._news: list[News] | None = None  # None, not an empty list, while there is none: 56 bytes a stream

    def __enter__(self) -> Watch:
        self._notifier._add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._kept:
            self.close()

    def keep(self) -> None:
        """Registered past the `with` block, until `close()`: for a response sent after its
        handler has returned. Called last in the block, so a refusal before it still ends
        the watch."""
        self._kept = True

    def close(self) -> None:
        self._notifier._remove(self)

    def set(self, news: News | None = None) -> None:
        """Wake the follower, with what changed if the store said (a resync does not)."""
        if news is not None:
            if self._news is None:
                self._news = [news]
            else:
                self._news.append(news)
        self._flag = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._flag = False

    def take(self, job_id: str) -> News | None:
        """The news of `job_id` since it was last taken, merged in order, and forgotten."""
        if self._news is None:
            return None
        mine = [n for n in self._news if n.job_id == job_id]
        if not mine:
            return None
        rest = [n for n in self._news if n.job_id != job_id]
        self._news = rest or None
        return News(job_id, [e for n in mine for e in n.events], next((n.job for n in mine if n.job), None))

    def wait(self) -> asyncio.Future[None]:
        """Done once the flag is set, at once if it is. (A future, not a coroutine: a
        coroutine's frame would cost every held stream 200 bytes more.)"""
        waiter = asyncio.get_running_loop().create_future()
        if self._flag:
            waiter.set_result(None)
        else:
            self._waiter = waiter
        return waiter
