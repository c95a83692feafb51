"""The loop every queue consumer runs: take a message (or reclaim one whose holder went
silent for a lease), hand it over, and ride out store outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..store.base import Message, Queue
from ..store.redis import TRANSIENT

log = logging.getLogger(__name__)


async def consume(
    queue: Queue, consumer: str, lease_s: float, handle: Callable[[str, Message], Awaitable[None]]
) -> None:
    block_s = min(1.0, max(0.05, lease_s / 2))
    while True:
        try:
            message = await queue.get(consumer, block_s, reclaim_idle_s=lease_s)
            if message is not None:
                await handle(consumer, message)
        except asyncio.CancelledError:
            raise
        except TRANSIENT as exc:
            log.warning("%s: store unavailable (%s); retrying", consumer, exc)
            await asyncio.sleep(0.2)
        except Exception:
            # Unacknowledged, the message comes back to a consumer once its lease runs out.
            log.exception("%s: unexpected error; the message stays queued for another try", consumer)
            await asyncio.sleep(0.2)
