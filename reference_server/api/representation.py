"""How a job looks to clients: the status body, its links and its ETag."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..artifacts.base import ArtifactStore, SigningWindow
from ..cache_bounds import BODIES_KEPT, TIMESTAMPS_KEPT
from ..config import Settings
from ..contract import RETRY_AFTER_MS_HEADER
from ..jobs.model import ACTIVE, Job

BASE = "/v1/download/jobs"


# A job's times are fixed once set, and a polled job is read again and again: formatting
# them was a third of building its status body.
@functools.lru_cache(maxsize=TIMESTAMPS_KEPT)
def iso(ts: float | None) -> str | None:
    return (
        None
        if ts is None
        else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def links(job_id: str) -> dict[str, str]:
    return {
        "status": f"{BASE}/{job_id}",
        "events": f"{BASE}/{job_id}/events",
        "download": f"{BASE}/{job_id}/download",
    }


def signing_window(settings: Settings, now: float) -> SigningWindow:
    return SigningWindow.at(now, settings.scaled(settings.presign_ttl_s))


def download_url(
    job: Job, settings: Settings, artifacts: ArtifactStore, origin: str, now: float
) -> tuple[str, int] | None:
    """A fresh presigned link with at least half its lifetime left, or None if not ready."""
    if job.state_at(now) != "completed" or job.artifact is None:
        return None
    window = signing_window(settings, now)
    return artifacts.url(job.artifact.key, window, origin), window.expires_at


def job_body(job: Job, settings: Settings, artifacts: ArtifactStore, origin: str, now: float) -> dict[str, Any]:
    state = job.state_at(now)
    body: dict[str, Any] = {
        "jobId": job.id,
        "status": state,
        "progress": job.progress,
        "totalFileIds": len(job.file_ids),
        "files": [{"fileId": f.file_id, "status": f.status, "size": f.size} for f in job.files],
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "expiresAt": iso(job.expires_at),
        "estimatedCompletion": iso(job.created_at + job.estimated_s) if state in ACTIVE else None,
        "executions": job.executions,
        "links": links(job.id),
    }
    link = download_url(job, settings, artifacts, origin, now)
    if link is not None:
        assert job.artifact is not None
        body["downloadUrl"], expires = link
        body["downloadUrlExpiresAt"] = iso(expires)
        body["artifact"] = {"size": job.artifact.size, "sha256": job.artifact.sha256}
    if job.error is not None:
        body["error"] = {"code": job.error.code, "message": job.error.message, "retryable": job.error.retryable}
    if job.webhook is not None:
        hook = job.webhook
        body["webhook"] = {
            "status": hook.status,
            "attempts": hook.attempts,
            "lastStatus": hook.last_status,
            "lastError": hook.last_error,
            "deliveredAt": iso(hook.delivered_at),
        }
    return body


def etag(job: Job, settings: Settings, now: float) -> str:
    # Changes with every event, on expiry, on webhook progress, and when a new link is minted.
    hook = job.webhook
    parts = [job.id, str(job.seq), job.state_at(now), str(job.executions)]
    if hook is not None:
        parts += [hook.status, str(hook.attempts)]
    if job.state == "completed":
        parts.append(str(signing_window(settings, now).start))
    return '"' + hashlib.sha256("|".join(parts).encode()).hexdigest()[:20] + '"'


class EncodedBodies:
    """Status bodies encoded once per version of a job. A job polled again and again looks
    the same until its ETag changes, and building and encoding its body was a sixth of a
    poll's cost. Kept by ETag and origin (links name the host they were asked through),
    the least recently polled dropped first."""

    def __init__(self, kept: int = BODIES_KEPT) -> None:
        self._kept = kept
        self._bodies: OrderedDict[tuple[str, str], str] = OrderedDict()

    def get(self, tag: str, origin: str, build: Callable[[], dict[str, Any]]) -> str:
        key = (tag, origin)
        text = self._bodies.get(key)
        if text is not None:
            self._bodies.move_to_end(key)
            return text
        text = self._bodies[key] = json.dumps(build())
        if len(self._bodies) > self._kept:
            self._bodies.popitem(last=False)
        return text


def retry_after_headers(settings: Settings) -> dict[str, str]:
    """Poll advice: RFC 9110 allows whole seconds only, so scaled runs also get milliseconds."""
    seconds = settings.scaled(settings.poll_retry_after_s)
    return {"Retry-After": str(max(1, math.ceil(seconds))), RETRY_AFTER_MS_HEADER: str(max(1, round(seconds * 1000)))}
