"""A process's memory stops growing with jobs once its caches are full: the status path keeps
per-job state only in the bounded caches of `reference_server.cache_bounds`. The soak found
caches of 65,536 entries still filling, at about 4 KiB a job, after 25 minutes."""

from __future__ import annotations

import functools
import time
import tracemalloc
import uuid
from pathlib import Path

from reference_server.api.representation import EncodedBodies, etag, job_body
from reference_server.artifacts.local import LocalArtifacts
from reference_server.cache_bounds import RECENT_JOBS
from reference_server.config import Settings
from reference_server.jobs.model import Artifact, FileResult, Job

ORIGIN = "http://127.0.0.1:3000"
# What a job may leave behind past warm-up, on average: far below one cached timestamp or link.
ALLOWED_BYTES_PER_JOB = 64


def _completed_job(n: int) -> Job:
    """A finished job with its own id, times and artifact, as a poll reads it from the store."""
    began = 1_800_000_000 + n * 1.001
    return Job(
        id=str(uuid.uuid4()),
        file_ids=[70000 + 7 * n],
        client="127.0.0.1",
        created_at=began,
        state="completed",
        progress=100,
        files=[FileResult(70000 + 7 * n, "ready", 65536)],
        seq=4,
        executions=1,
        started_at=began + 0.25,
        completed_at=began + 12.5,
        expires_at=began + 86_412.5,
        artifact=Artifact(f"downloads/{n}.zip", 65536, "0" * 64),
    )


def test_polled_jobs_leave_nothing_behind_once_the_caches_are_full(tmp_path: Path) -> None:
    settings = Settings()
    artifacts = LocalArtifacts(tmp_path, b"secret")
    bodies = EncodedBodies()
    now = time.time()

    def poll(jobs: range) -> None:
        for n in jobs:
            job = _completed_job(n)
            body = functools.partial(job_body, job, settings, artifacts, ORIGIN, now)
            bodies.get(etag(job, settings, now), ORIGIN, body)

    tracemalloc.start()
    try:
        poll(range(2 * RECENT_JOBS))  # every cache full, whatever earlier tests left in the shared ones
        before = tracemalloc.take_snapshot()
        poll(range(2 * RECENT_JOBS, 3 * RECENT_JOBS))
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ours = [tracemalloc.Filter(True, "*/reference_server/*"), tracemalloc.Filter(True, "*/functools.py")]
    grown = after.filter_traces(ours).compare_to(before.filter_traces(ours), "lineno")
    per_job = sum(stat.size_diff for stat in grown) / RECENT_JOBS
    top = "; ".join(f"{s.traceback} {s.size_diff:+d} B" for s in grown[:3])
    assert per_job < ALLOWED_BYTES_PER_JOB, f"{per_job:.0f} B per job past warm-up ({top})"
