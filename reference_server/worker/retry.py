"""Store calls a worker must see through: every read, write, counter and acknowledgement of
an execution or a webhook attempt. One that gave up midway (a dropped connection, a Redis
restart, a pool with no connection to spare) left its message unacknowledged until the
lease ran out, to be reclaimed and looked at again, and the counters short: at 100,000
jobs in flight one worker's pool was short 23,082 times."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..metrics import Metrics
from ..store.redis import TRANSIENT

T = TypeVar("T")
MIN_PATIENCE_S = 30.0
LEASES_OF_PATIENCE = 4
FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 1.0


class Retrying:
    """Calls a store function until it goes through, for a worker whose leases last `lease_s`:
    past any outage a lease could ride out, then the error is let through."""

    def __init__(self, lease_s: float, metrics: Metrics) -> None:
        self.patience_s = max(MIN_PATIENCE_S, LEASES_OF_PATIENCE * lease_s)
        self.metrics = metrics

    async def __call__(self, fn: Callable[[], Awaitable[T]]) -> T:
        delay = FIRST_PAUSE_S
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                return await fn()
            except TRANSIENT:
                if time.monotonic() > deadline:
                    raise
                await self.metrics.inc("dl_worker_store_retries_total")
                await asyncio.sleep(delay)
                delay = min(LONGEST_PAUSE_S, delay * 2)

    async def count(self, name: str, by: float = 1, **labels: str) -> None:
        await self(lambda: self.metrics.inc(name, by, **labels))
