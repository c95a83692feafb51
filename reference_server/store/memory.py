"""Embedded mode: jobs, event logs and queues in this process's memory.

One lock makes each operation atomic, the way WATCH/MULTI does in Redis. Nothing
survives a restart and no other process can take work; that is the price of zero setup.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from ..jobs.model import ACTIVE, Event, Job
from ..jobs.transitions import Change, created
from ..metrics import counted_by
from .base import CreateOutcome, Message, News, Notifier, RateHit, StoredResponse, decide_create

PRUNE_EVERY = 1024  # creates between sweeps of ended jobs


class MemoryQueue:
    def __init__(self) -> None:
        self._items: asyncio.Queue[str] = asyncio.Queue()
        self._next = 0
        self._deferred: dict[str, asyncio.TimerHandle] = {}

    def put(self, job_id: str) -> None:
        self._items.put_nowait(job_id)

    async def get(self, consumer: str, block_s: float, reclaim_idle_s: float) -> Message | None:
        try:
            job_id = await asyncio.wait_for(self._items.get(), block_s)
        except TimeoutError:
            return None
        self._next += 1
        return Message(str(self._next), job_id)

    async def ack(self, message: Message) -> None:
        return None

    async def touch(self, consumer: str, message: Message) -> None:
        return None

    async def defer(self, message: Message, delay_s: float) -> None:
        job_id = message.job_id
        if (earlier := self._deferred.pop(job_id, None)) is not None:
            earlier.cancel()

        def due() -> None:
            del self._deferred[job_id]
            self.put(job_id)

        self._deferred[job_id] = asyncio.get_running_loop().call_later(max(0.0, delay_s), due)


class MemoryStore:
    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self.jobs = MemoryQueue()
        self.webhooks = MemoryQueue()
        self.notifier = Notifier()
        self._lock = asyncio.Lock()
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, list[Event]] = {}
        self._idempotency: dict[str, tuple[StoredResponse, float]] = {}
        self._active: dict[str, str] = {}
        self._queued: set[str] = set()
        self._counters: defaultdict[str, float] = defaultdict(float)
        self._sync_running: Counter[int] = Counter()
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window start, requests)

    async def start(self, listen: bool = True) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def create(
        self, job: Job, idempotency_key: str | None, response: StoredResponse, ttl_s: float, idem_ttl_s: float
    ) -> CreateOutcome:
        async with self._lock:
            now = time.time()
            stored = None
            if idempotency_key is not None:
                entry = self._idempotency.get(idempotency_key)
                if entry is not None and entry[1] > now:
                    stored = entry[0]
            active_id = self._active.get(job.dedupe_key) if job.dedupe_key else None
            active = self._jobs.get(active_id) if active_id else None
            if active is not None and active.state not in ACTIVE:
                active = None
            kind = decide_create(stored, response.fingerprint, active, len(self._queued), self.max_queued)
            if kind == "replayed":
                assert stored is not None
                return CreateOutcome(kind, self._jobs.get(stored.body["jobId"]), stored)
            if kind == "active":
                return CreateOutcome(kind, active)
            if kind != "created":
                return CreateOutcome(kind)
            change = created(job)
            if len(self._jobs) % PRUNE_EVERY == 0:
                self._prune(now)
            self._jobs[job.id] = job
            self._events[job.id] = list(change.events)
            if idempotency_key is not None:
                self._idempotency[idempotency_key] = (response, now + idem_ttl_s)
            if job.dedupe_key:
                self._active[job.dedupe_key] = job.id
            self._queued.add(job.id)
            self.jobs.put(job.id)
        self.notifier.notify(job.id, News.of(change))
        return CreateOutcome("created", job, response)

    def _prune(self, now: float) -> None:
        """Forget what Redis would have expired: ended jobs one TTL past expiry, old keys."""
        for job_id, job in list(self._jobs.items()):
            if job.forget_at is not None and now >= job.forget_at:
                del self._jobs[job_id]
                del self._events[job_id]
        for key, (_, until) in list(self._idempotency.items()):
            if until <= now:
                del self._idempotency[key]

    async def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def events(self, job_id: str, after_seq: int) -> tuple[list[Event], Job | None]:
        return [e for e in self._events.get(job_id, ()) if e.seq > after_seq], self._jobs.get(job_id)

    async def update(self, job_id: str, fn: Callable[[Job], Change | None], known: Job | None = None) -> Change | None:
        # Decided on the job as it stands, under the lock: `known` saves nothing here.
        async with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            change = fn(job)
            if change is None:
                return None
            self._jobs[job_id] = change.job
            self._events[job_id].extend(change.events)
            if change.job.state != "queued":
                self._queued.discard(job_id)
            for series in counted_by(change):
                self._counters[series] += 1
            if change.terminal:
                if job.dedupe_key and self._active.get(job.dedupe_key) == job_id:
                    del self._active[job.dedupe_key]
                if change.job.webhook is not None:
                    self.webhooks.put(job_id)
        if change.events:
            self.notifier.notify(job_id, News.of(change))
        return change

    async def incr(self, name: str, by: float = 1) -> None:
        self._counters[name] += by

    async def counters(self) -> dict[str, float]:
        return dict(self._counters)

    async def hit_rate(self, client: str, window_s: float, read: str | None = None) -> RateHit:
        now = time.monotonic()
        start, count = self._windows.get(client, (now, 0))
        if now - start >= window_s:
            start, count = now, 0
            if len(self._windows) > 10_000:  # drop finished windows so the table stays small
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window_s}
        self._windows[client] = (start, count + 1)
        return RateHit(count + 1, start + window_s - now, None if read is None else self._jobs.get(read))

    async def sync_started(self, file_id: int) -> int:
        self._sync_running[file_id] += 1
        return self._sync_running[file_id]

    async def sync_finished(self, file_id: int) -> None:
        self._sync_running[file_id] -= 1
        if self._sync_running[file_id] <= 0:
            del self._sync_running[file_id]
