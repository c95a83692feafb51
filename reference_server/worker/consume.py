"""The loop every queue consumer runs: one reader per queue and process takes a message
(or reclaims one whose holder went silent for a lease) whenever one of its slots is free,
and runs it in a task of its own. An idle process therefore waits in a single blocking
read, whatever its slot count (with one reader per slot, 20,000 idle slots kept most of a
core busy waking up), and store outages are ridden out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..store.base import Message, Queue
from ..store.redis import TRANSIENT

log = logging.getLogger(__name__)
OUTAGE_PAUSE_S = 0.2


async def consume(
    queue: Queue, consumer: str, lease_s: float, handle: Callable[[str, Message], Awaitable[None]], slots: int
) -> None:
    block_s = min(1.0, max(0.05, lease_s / 2))
    free = asyncio.Semaphore(slots)
    running: set[asyncio.Task[None]] = set()

    async def run(message: Message) -> None:
        try:
            await handle(consumer, message)
        except TRANSIENT as exc:
            log.warning("%s: store unavailable (%s); the message stays queued", consumer, exc)
        except Exception:
            # Unacknowledged, the message comes back to a consumer once its lease runs out.
            log.exception("%s: unexpected error; the message stays queued for another try", consumer)
        finally:
            free.release()

    try:
        while True:
            await free.acquire()
            try:
                message = await queue.get(consumer, block_s, reclaim_idle_s=lease_s)
            except TRANSIENT as exc:
                free.release()
                log.warning("%s: store unavailable (%s); retrying", consumer, exc)
                await asyncio.sleep(OUTAGE_PAUSE_S)
                continue
            except asyncio.CancelledError:
                free.release()
                raise
            except Exception:
                free.release()
                log.exception("%s: unexpected error reading the queue; retrying", consumer)
                await asyncio.sleep(OUTAGE_PAUSE_S)
                continue
            if message is None:
                free.release()
                continue
            task = asyncio.create_task(run(message))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
