"""Lease renewal for every job a worker process is running, by one task per process.

A running job's lease is renewed a third of a lease after its last renewal, so two renewals
can fail before another worker may reclaim the job. One task renews them all: a task per
job, with its `wait_for` (a task more), timer and event, made every job in flight cost
about forty objects more, and each full garbage collection walks all of them. At 10,000
jobs in flight the worker paused for up to 0.36 s, and the completions held back by each
pause reached their streams together (`python -m benchmarks.stream_bench --engines redis`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass

from ..jobs import transitions
from ..store.base import JobStore, Message
from ..store.redis import TRANSIENT

RENEWALS_PER_LEASE = 3


@dataclass(slots=True)
class _Held:
    consumer: str
    message: Message
    token: int
    renewed: float  # monotonic


class LeaseKeeper:
    def __init__(self, store: JobStore, lease_s: float) -> None:
        self.store = store
        self.lease_s = lease_s
        self.every_s = lease_s / RENEWALS_PER_LEASE
        # Jobs by their last renewal, the longest ago first: each is due `every_s` after it.
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._not_empty = asyncio.Event()

    def hold(self, consumer: str, message: Message, token: int) -> None:
        """Renew the lease of the job in `message`, taken with `token`, until `release`."""
        self._held[message.job_id] = _Held(consumer, message, token, time.monotonic())
        self._not_empty.set()

    def release(self, job_id: str) -> None:
        self._held.pop(job_id, None)

    async def run(self) -> None:
        while True:
            if not self._held:
                self._not_empty.clear()
                await self._not_empty.wait()
            first = next(iter(self._held.values()))
            await asyncio.sleep(max(0.0, first.renewed + self.every_s - time.monotonic()))
            now = time.monotonic()
            due: list[tuple[str, _Held]] = []
            for job_id, held in self._held.items():
                if held.renewed + self.every_s > now:
                    break
                due.append((job_id, held))
            for job_id, held in due:
                held.renewed = now
                self._held.move_to_end(job_id)
            await asyncio.gather(*(self._renew(job_id, held) for job_id, held in due))

    async def _renew(self, job_id: str, held: _Held) -> None:
        # A renewal that fails is tried again a third of a lease later; a job whose lease was
        # taken over is refused by its fencing token, and its execution finds out when it writes.
        with contextlib.suppress(*TRANSIENT):
            await self.store.jobs.touch(held.consumer, held.message)
            await self.store.update(job_id, lambda j: transitions.renew(j, held.token, time.time(), self.lease_s))
