"""What the regression checks do as clients, and the checkers that judge the result.

Each checker is a plain function of what was observed, so a test can show it passing on
a good configuration and failing on a broken one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict

from harness.sse import SseComment, SseEvent, read_stream
from tests.helpers import JSON

TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class SyncResult:
    status: int
    headers: CIMultiDict[str]
    text: str
    elapsed_s: float


async def sync_start(http: aiohttp.ClientSession, url: str, work_ms: int, file_id: int = 70000) -> SyncResult:
    began = time.monotonic()
    headers = {"X-Simulated-Work-Ms": str(work_ms)}
    async with http.post(f"{url}/v1/download/start", json={"file_id": file_id}, headers=headers) as resp:
        text = await resp.text()
        return SyncResult(resp.status, CIMultiDict(resp.headers), text, time.monotonic() - began)


async def start_job(
    http: aiohttp.ClientSession, url: str, work_ms: int, file_ids: list[int] | None = None, **extra: str
) -> tuple[int, JSON]:
    headers = {"X-Simulated-Work-Ms": str(work_ms)}
    if "key" in extra:
        headers["Idempotency-Key"] = f'"{extra["key"]}"'
    body: JSON = {"file_ids": file_ids or [70000]}
    if "callback" in extra:
        body["callback_url"] = extra["callback"]
    async with http.post(f"{url}/v1/download/initiate", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def poll_until_done(http: aiohttp.ClientSession, url: str, job_id: str, limit_s: float = 30) -> JSON:
    """A polling client that waits as long as the server's Retry-After advice says."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        async with http.get(f"{url}/v1/download/jobs/{job_id}") as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            if body["status"] in TERMINAL:
                return body
            await asyncio.sleep(int(resp.headers["X-Retry-After-Ms"]) / 1000)
    raise AssertionError(f"job {job_id} did not finish within {limit_s} s of polling")


@dataclass
class Followed:
    """One event-stream connection: what arrived, when, and how it ended."""

    connected_at: float
    events: list[SseEvent] = field(default_factory=list)
    heartbeats: list[SseComment] = field(default_factory=list)
    ended_at: float = 0.0
    status: int = 0

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1].event in TERMINAL

    @property
    def silence_before_end_s(self) -> float:
        last = max([e.received for e in self.events] + [c.received for c in self.heartbeats] + [self.connected_at])
        return self.ended_at - last


async def follow(
    http: aiohttp.ClientSession, url: str, last_event_id: str | None = None, stop_after: int | None = None
) -> Followed:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    seen = Followed(time.monotonic())
    async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as resp:
        seen.status = resp.status
        if resp.status == 200:
            try:
                async for item in read_stream(resp):
                    if isinstance(item, SseComment):
                        seen.heartbeats.append(item)
                        continue
                    seen.events.append(item)
                    if stop_after is not None and len(seen.events) >= stop_after:
                        break
            except aiohttp.ClientPayloadError:
                pass  # a proxy cut the stream mid-chunk: that is an ending like any other
    seen.ended_at = time.monotonic()
    return seen


def streamed_to_the_end(seen: Followed) -> bool:
    """The heartbeat check: the stream carried the job to its terminal event."""
    return seen.status == 200 and seen.finished


def events_timely(seen: Followed, job_s: float) -> bool:
    """The buffering check: the first event arrives at once and the rest spread over the job,
    instead of arriving late and bunched when a proxy flushes its buffer."""
    if not seen.events:
        return False
    arrivals = [e.received for e in seen.events]
    first_delay = arrivals[0] - seen.connected_at
    spread = arrivals[-1] - arrivals[0]
    return first_delay < 0.25 * job_s and spread > 0.5 * job_s


async def downloaded_sha256(http: aiohttp.ClientSession, link: str) -> str:
    async with http.get(link) as resp:
        assert resp.status == 200, f"presigned URL answered {resp.status}"
        return hashlib.sha256(await resp.read()).hexdigest()


def extra_executions(before: dict[str, float], after: dict[str, float], api: str, logical_requests: int) -> float:
    """The duplicate check: executions beyond one per logical request, read from /metrics."""
    series = f'dl_executions_started_total{{api="{api}"}}'
    return after.get(series, 0) - before.get(series, 0) - logical_requests
