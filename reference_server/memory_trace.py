"""MEMORY_TRACE_S: what grows inside a server or worker process, for finding a leak.

Off by default (tracemalloc slows allocation). When on, the process takes a snapshot one
interval after it starts, past start-up, and then every interval logs the allocation sites that
grew most since that baseline, with their size and block count. The interval is real time,
never scaled: it paces a diagnosis, not the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tracemalloc
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)
TOP_SITES = 10


def growth_report(baseline: tracemalloc.Snapshot, now: tracemalloc.Snapshot) -> str:
    """The traced memory gained since the baseline, and the sites that gained most."""
    stats = now.compare_to(baseline, "lineno")
    total = sum(s.size_diff for s in stats)
    sites = "; ".join(
        f"{s.traceback[0].filename}:{s.traceback[0].lineno} {s.size_diff / 1024:+.1f} KiB in {s.count_diff:+d} blocks"
        for s in stats[:TOP_SITES]
    )
    return f"{total / 1024:+.1f} KiB traced since the baseline; most grown: {sites}"


def _report_since(baseline: tracemalloc.Snapshot) -> str:
    return growth_report(baseline, tracemalloc.take_snapshot())


async def _trace(interval_s: float) -> None:
    # Off the event loop: comparing snapshots of a large heap takes seconds, long enough for a
    # proxy to cut the process's event streams for missed heartbeats (the soak saw it happen).
    await asyncio.sleep(interval_s)
    baseline = await asyncio.to_thread(tracemalloc.take_snapshot)
    while True:
        await asyncio.sleep(interval_s)
        log.info("memory trace: %s", await asyncio.to_thread(_report_since, baseline))


@contextlib.asynccontextmanager
async def tracing(interval_s: float) -> AsyncIterator[None]:
    """Trace allocations while the block runs, reporting every `interval_s` (0: off)."""
    if interval_s <= 0:
        yield
        return
    tracemalloc.start()
    task = asyncio.create_task(_trace(interval_s))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        tracemalloc.stop()
