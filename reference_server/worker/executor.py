"""Runs queued jobs: claim with a lease, do the simulated work, upload the artifact, finish.

At-least-once delivery from the queue plus a fenced lease gives "completed once": a
worker that dies leaves its queue entry pending and its lease running out; another
worker reclaims both and starts over, and anything the first one might still write is
refused because its fencing token is stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import random
import time
from collections.abc import Callable

from ..artifacts.base import ArtifactStore, StorageUnavailable
from ..config import Settings
from ..contract import TERMINAL_STATES, progress_percent
from ..jobs import transitions
from ..jobs.model import Artifact, FileResult, Job, JobError
from ..jobs.transitions import Change
from ..jobs.workload import build_artifact, draw_delay_s, file_exists
from ..metrics import Metrics, metric
from ..store.base import JobStore, Message
from .consume import consume
from .leases import LeaseKeeper
from .retry import Retrying

STORAGE_ATTEMPTS = 3
# Counted by the store in the write that claims or finishes the job (`Change.counted`).
STARTED = metric("dl_executions_started_total", api="async")
RECLAIMED = metric("dl_executions_reclaimed_total")
COMPLETED = metric("dl_executions_completed_total", api="async")


async def store_artifact(artifacts: ArtifactStore, settings: Settings, job_id: str, file_ids: list[int]) -> Artifact:
    """Build a finished job's zip and store it, trying again after a pause: the work a job's
    end waits for (the stream bench puts the same before each of nchan's messages)."""
    data, digest = await asyncio.to_thread(_built, file_ids, settings.artifact_bytes_per_file)
    key = f"downloads/{job_id}.zip"
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            await artifacts.put(key, data)
            break
        except StorageUnavailable:
            if attempt == STORAGE_ATTEMPTS:
                raise
            await asyncio.sleep(settings.scaled(2.0) * attempt)
    return Artifact(key=key, size=len(data), sha256=digest)


def _built(file_ids: list[int], size_per_file: int) -> tuple[bytes, str]:
    """The zip and its digest, both off the event loop."""
    data = build_artifact(file_ids, size_per_file)
    return data, hashlib.sha256(data).hexdigest()


class Fenced(Exception):
    """This execution no longer holds the job (lease taken over, or job cancelled)."""


class Executor:
    def __init__(
        self, settings: Settings, store: JobStore, artifacts: ArtifactStore, metrics: Metrics, owner: str
    ) -> None:
        self.s = settings
        self.store = store
        self.artifacts = artifacts
        self.metrics = metrics
        self.owner = owner
        self.lease_s = settings.scaled(settings.lease_s)
        self.leases = LeaseKeeper(store, self.lease_s)
        self._retry = Retrying(self.lease_s, metrics)
        self._rng = random.Random()

    async def run(self, concurrency: int) -> None:
        keeper = asyncio.create_task(self.leases.run())
        try:
            await consume(self.store.jobs, self.owner, self.lease_s, self.handle, slots=concurrency)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _update(self, job_id: str, fn: Callable[[Job], Change | None], known: Job | None = None) -> Change | None:
        return await self._retry(lambda: self.store.update(job_id, fn, known))

    async def _get(self, job_id: str) -> Job | None:
        return await self._retry(lambda: self.store.get(job_id))

    async def handle(self, consumer: str, message: Message) -> None:
        change = await self._update(
            message.job_id, lambda j: _counted_claim(transitions.claim(j, consumer, time.time(), self.lease_s))
        )
        if change is None:
            job = await self._get(message.job_id)
            if job is None or job.state in TERMINAL_STATES:
                await self._retry(lambda: self.store.jobs.ack(message))
            # Otherwise another execution holds a live lease; the entry comes back if it dies.
            return
        job = change.job
        assert job.lease is not None
        token = job.lease.token
        self.leases.hold(consumer, message, token)
        started = time.monotonic()
        try:
            await self._execute(job, token)
        except Fenced:
            current = await self._get(job.id)
            if current is not None and current.state != "cancelled":
                await self._retry.count("dl_duplicate_executions_total", api="async")
                await self._retry.count("dl_wasted_worker_seconds_total", time.monotonic() - started, api="async")
        finally:
            self.leases.release(job.id)
        await self._retry(lambda: self.store.jobs.ack(message))

    async def _write(self, job: Job, fn: Callable[[Job], Change | None]) -> Job:
        """The job as `fn` changed it, the job this execution last wrote."""
        change = await self._update(job.id, fn, known=job)
        if change is None:
            raise Fenced(job.id)
        return change.job

    async def _execute(self, job: Job, token: int) -> None:
        files = [FileResult(f.file_id) for f in job.files]
        steps = self.s.progress_steps
        total = len(files) * steps
        done = 0
        shown = job.progress
        # Steps are timed against the start, so the progress writes between them do not
        # add up: a job given 60 s of work takes 60 s, not 60 s plus ten store round trips.
        clock = time.monotonic()
        for item in files:
            work_s = draw_delay_s(self.s.delay, self._rng) if job.work_s is None else job.work_s
            step_s = self.s.scaled(work_s) / steps
            for _ in range(steps):
                clock += step_s
                await asyncio.sleep(max(0.0, clock - time.monotonic()))
                done += 1
                progress = progress_percent(done, total)
                if progress > shown:
                    shown = progress
                    report = functools.partial(transitions.report_progress, token=token, files=files, progress=progress)
                    job = await self._write(job, report)
            item.status = "ready" if file_exists(item.file_id) else "not_found"
            item.size = self.s.artifact_bytes_per_file if item.status == "ready" else None
        ready = [f.file_id for f in files if f.status == "ready"]
        artifact, error = None, None
        if not ready:
            error = JobError("FILE_NOT_FOUND", "None of the requested files exists", retryable=False)
        else:
            try:
                artifact = await store_artifact(self.artifacts, self.s, job.id, ready)
            except StorageUnavailable as exc:
                error = JobError("STORAGE_UNAVAILABLE", f"Could not store the artifact: {exc}", retryable=True)
        ttl = self.s.scaled(self.s.job_ttl_s)
        change = await self._update(
            job.id,
            lambda j: _counted(transitions.finish(j, token, time.time(), ttl, files, artifact, error), COMPLETED),
            known=job,
        )
        if change is None and not await self._landed_earlier(job.id, token):
            raise Fenced(job.id)

    async def _landed_earlier(self, job_id: str, token: int) -> bool:
        # A retried write after a lost reply may find its own first attempt already applied.
        job = await self._get(job_id)
        return job is not None and job.state in ("completed", "failed") and job.executions == token


def _counted(change: Change | None, *series: str) -> Change | None:
    if change is not None:
        change.counted.extend(series)
    return change


def _counted_claim(change: Change | None) -> Change | None:
    reclaimed = change is not None and change.events[-1].data.get("reclaimed")
    return _counted(change, STARTED, *([RECLAIMED] if reclaimed else []))
