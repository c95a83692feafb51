"""Builds the store, the artifact store and the worker tasks a process runs, from settings.

Shared by the HTTP server and by `python -m reference_server.worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from .artifacts.base import ArtifactStore
from .artifacts.local import LocalArtifacts
from .artifacts.s3 import S3Artifacts
from .config import Settings
from .metrics import Metrics
from .store.base import JobStore
from .store.memory import MemoryStore
from .store.redis import RedisStore
from .worker.executor import Executor
from .worker.webhooks import WebhookDispatcher

# Deliveries sent at once per process. A slot is held only for one attempt (at most the webhook
# timeout), so this bounds how many blackholed receivers can delay the others, by one timeout.
WEBHOOK_CONCURRENCY = 64


def build_store(settings: Settings) -> JobStore:
    if settings.redis_url:
        return RedisStore(settings.redis_url, settings.max_queued_jobs)
    return MemoryStore(settings.max_queued_jobs)


def build_artifacts(settings: Settings) -> ArtifactStore:
    if settings.s3_endpoint:
        return S3Artifacts(
            settings.s3_endpoint,
            settings.s3_public_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_bucket,
            settings.s3_region,
            settings.storage_timeout_s,
        )
    root = Path(settings.data_dir) if settings.data_dir else Path(tempfile.mkdtemp(prefix="reference-server-"))
    return LocalArtifacts(root, secrets.token_bytes(32))


@contextlib.asynccontextmanager
async def running_workers(
    settings: Settings, store: JobStore, artifacts: ArtifactStore, metrics: Metrics
) -> AsyncIterator[None]:
    """Job executors and webhook dispatchers for this process, stopped on exit."""
    tasks: list[asyncio.Task[None]] = []
    if settings.workers > 0:
        owner = f"{settings.instance}"
        tasks.append(asyncio.create_task(Executor(settings, store, artifacts, metrics, owner).run(settings.workers)))
        dispatcher = WebhookDispatcher(settings, store, artifacts, metrics, owner)
        tasks.append(asyncio.create_task(dispatcher.run(WEBHOOK_CONCURRENCY)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
