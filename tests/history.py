"""What the chaos suites' clients saw, and the checks of it against what the service must
guarantee: one job per Idempotency-Key, every job ended once, every event of every job seen
once and in order, every artifact intact. The clients keep trying for `PATIENCE_S` before
the checker calls a job lost."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import aiohttp

from core.sse import SseEvent, read_stream
from reference_server.contract import TERMINAL_STATES
from tests.helpers import eventually, job

PATIENCE_S = 120.0  # how long any client keeps trying before the checker calls it lost


@dataclass
class History:
    answers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # key -> job ids
    seen: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))  # job -> (id, event)
    resumes: int = 0
    retried_initiates: int = 0
    hooks: list[tuple[str, str, int]] = field(default_factory=list)  # (webhook-id, job id, status answered)
    faults: Counter[str] = field(default_factory=Counter)


async def start_job(http: aiohttp.ClientSession, url: str, file_id: int, callback: str | None, history: History) -> str:
    """Initiate until the service answers, with one Idempotency-Key however many tries it takes."""
    key = str(uuid.uuid4())
    body: dict[str, object] = {"file_ids": [file_id]}
    if callback is not None:
        body["callback_url"] = callback
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        try:
            async with http.post(f"{url}/v1/download/initiate", json=body, headers={"Idempotency-Key": key}) as resp:
                if resp.status in (200, 202):
                    job_id = (await resp.json())["jobId"]
                    history.answers[key].add(job_id)
                    return job_id
        except (aiohttp.ClientError, TimeoutError):
            pass
        history.retried_initiates += 1
        await asyncio.sleep(0.1)
    raise AssertionError(f"initiate for file {file_id} never accepted in {PATIENCE_S:g} s")


async def follow(http: aiohttp.ClientSession, url: str, job_id: str, history: History) -> None:
    """An SSE client that starts from the job's first event and resumes with Last-Event-ID
    after every cut, until it has seen the terminal event."""
    last = "0"
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        try:
            async with http.get(f"{url}/v1/download/jobs/{job_id}/events", headers={"Last-Event-ID": last}) as resp:
                if resp.status == 204:
                    return  # it has seen the end already
                if resp.status == 200:
                    async for item in read_stream(resp):
                        if isinstance(item, SseEvent) and item.id is not None:
                            history.seen[job_id].append((int(item.id), item.event))
                            last = item.id
                            if item.event in TERMINAL_STATES:
                                return
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass
        history.resumes += 1
        await asyncio.sleep(0.1)
    raise AssertionError(f"the event stream of job {job_id} never reached its end")


async def settled(http: aiohttp.ClientSession, url: str, job_id: str) -> dict:
    """The job once it has ended and its webhook, if it has one, is settled."""
    return await eventually(
        lambda: job(http, url, job_id),
        lambda j: j["status"] in TERMINAL_STATES and (j.get("webhook") or {}).get("status") != "pending",
        f"job {job_id} ended with its webhook settled",
        timeout_s=PATIENCE_S,
    )


async def check_artifacts(http: aiohttp.ClientSession, final: dict[str, dict]) -> int:
    verified = 0
    for ended in final.values():
        if ended["status"] != "completed":
            continue
        async with http.get(ended["downloadUrl"]) as resp:
            assert resp.status == 200, f"job {ended['jobId']}: download answered {resp.status}"
            assert hashlib.sha256(await resp.read()).hexdigest() == ended["artifact"]["sha256"]
        verified += 1
    return verified


def judge_streams(history: History, job_ids: list[str], final: dict[str, dict]) -> None:
    """Every stream: every event once, in order, ending with the one terminal event."""
    for job_id in job_ids:
        ids = [seq for seq, _ in history.seen[job_id]]
        events = [name for _, name in history.seen[job_id]]
        assert ids == list(range(1, len(ids) + 1)), f"job {job_id}: events {ids}"
        assert events[-1] == final[job_id]["status"] and sum(e in TERMINAL_STATES for e in events) == 1
