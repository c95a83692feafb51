"""Exact counters, kept in the job store so every process adds to the same numbers,
rendered in Prometheus text format at /metrics. The harness counts duplicate work from
these, so each one is incremented exactly where the thing happens."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import defaultdict

from .cache_bounds import METRIC_SERIES_KEPT
from .jobs.transitions import Change
from .store.base import JobStore

# Counted by the store, in the transaction that ends the job (see `jobs_finished`).
JOBS_FINISHED = "dl_jobs_finished_total"

HELP: dict[str, tuple[str, str]] = {
    "dl_jobs_created_total": ("counter", "Jobs created by POST /v1/download/initiate."),
    JOBS_FINISHED: ("counter", "Jobs that reached a terminal state, by state."),
    "dl_initiate_replays_total": (
        "counter",
        "Initiates answered from an earlier one, by reason (idempotency_key, active_job).",
    ),
    "dl_executions_started_total": ("counter", "Executions of work started, by api (async job, sync /start)."),
    "dl_executions_completed_total": ("counter", "Executions of work that ran to the end, by api."),
    "dl_executions_reclaimed_total": (
        "counter",
        "Async executions started on a job whose previous holder lost its lease.",
    ),
    "dl_duplicate_executions_total": (
        "counter",
        "Executions of work that another execution was doing or had done: for async jobs, an execution fenced off "
        "after its lease was taken over; for sync /start, a start for a file already being prepared.",
    ),
    "dl_wasted_worker_seconds_total": ("counter", "Worker seconds whose result no client received, by api."),
    "dl_sync_undelivered_total": ("counter", "Sync /start results finished after the client had gone."),
    "dl_webhook_attempts_total": ("counter", "Webhook HTTP attempts."),
    "dl_webhook_attempt_failures_total": ("counter", "Webhook attempts that failed (non-2xx, timeout, refused)."),
    "dl_webhook_deliveries_total": ("counter", "Logical webhook deliveries (one per job), by result."),
    "dl_status_requests_total": ("counter", "GET /v1/download/jobs/{id} requests, by result (200, 304)."),
    "dl_event_streams_opened_total": ("counter", "Event streams opened (SSE and WebSocket)."),
    "dl_event_streams_closed_total": ("counter", "Event streams closed (SSE and WebSocket)."),
    "dl_events_sent_total": ("counter", "Events written to event streams and WebSockets."),
    "dl_stream_read_retries_total": (
        "counter",
        "Event-stream reads tried again because the job store was busy or unreachable; the stream stays open.",
    ),
    "dl_worker_store_retries_total": (
        "counter",
        "Worker store calls (job writes, reads, counters, queue acknowledgements) tried again because the job "
        "store was busy or unreachable; the execution or webhook attempt carries on.",
    ),
}


@functools.lru_cache(maxsize=METRIC_SERIES_KEPT)  # named on every poll and event
def metric(name: str, **labels: str) -> str:
    if name not in HELP:
        raise KeyError(f"unknown metric {name}")
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def jobs_finished(state: str) -> str:
    """The series a job's end is counted in. The store adds to it in the transaction that ends
    the job, so the end is counted once: a write retried after a lost reply finds the job
    ended and changes nothing, and a store that loses the end loses its count with it."""
    return metric(JOBS_FINISHED, state=state)


def counted_by(change: Change) -> list[str]:
    """The series a store adds one to in the write that makes `change`: those it names, and a
    job's end by its state."""
    return [*change.counted, *([jobs_finished(change.job.state)] if change.terminal else [])]


# Counted on every poll, stream or event: buffered in the process and written in batches,
# so a status poll or a stream's opening costs no store round trip of its own. Everything
# else is written at once, so a process killed mid-job has already counted what it started.
BUFFERED = frozenset(
    {
        "dl_status_requests_total",
        "dl_events_sent_total",
        "dl_event_streams_opened_total",
        "dl_event_streams_closed_total",
        "dl_stream_read_retries_total",  # counted while the store is short, so never a write of its own
        "dl_worker_store_retries_total",  # the same
    }
)
FLUSH_EVERY_S = 0.2


class Metrics:
    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._pending: defaultdict[str, float] = defaultdict(float)
        self._flusher: asyncio.Task[None] | None = None

    async def inc(self, name: str, by: float = 1, **labels: str) -> None:
        series = metric(name, **labels)
        if name not in BUFFERED:
            await self._store.incr(series, by)
            return
        self._pending[series] += by
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_EVERY_S)
        with contextlib.suppress(Exception):  # kept for the next flush; see flush()
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(float)
        try:
            for series in list(pending):
                await self._store.incr(series, pending.pop(series))
        finally:
            for series, by in pending.items():  # what could not be written waits for the next flush
                self._pending[series] += by

    async def values(self) -> dict[str, float]:
        await self.flush()
        return await self._store.counters()

    async def render(self) -> str:
        values = await self.values()
        by_name: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for series, value in values.items():
            by_name[series.split("{", 1)[0]].append((series, value))
        opened = values.get("dl_event_streams_opened_total", 0.0)
        closed = values.get("dl_event_streams_closed_total", 0.0)
        lines: list[str] = []
        for name, (kind, text) in HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            for series, value in sorted(by_name.get(name, [(name, 0.0)])):
                lines.append(f"{series} {_fmt(value)}")
        lines += [
            "# HELP dl_event_streams_open Event streams open now, across all server processes.",
            "# TYPE dl_event_streams_open gauge",
            f"dl_event_streams_open {_fmt(opened - closed)}",
        ]
        return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
