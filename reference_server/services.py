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
from .store.redis import TRANSIENT, RedisStore
from .worker.executor import Executor
from .worker.webhooks import WebhookDispatcher

# Deliveries sent at once per process. A slot is held only for one attempt (at most the webhook
# timeout), so this bounds how many blackholed receivers can delay the others, by one timeout.
WEBHOOK_CONCURRENCY = 64


def build_store(settings: Settings) -> JobStore:
    if settings.redis_url:
        return _redis_store(settings, settings.redis_url)
    return MemoryStore(settings.max_queued_jobs)


def _redis_store(settings: Settings, url: str) -> RedisStore:
    return RedisStore(
        url,
        settings.max_queued_jobs,
        settings.redis_pool_size,
        settings.redis_pool_timeout_s,
        settings.redis_ack_replicas,
        settings.redis_ack_timeout_s,
    )


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


@contextlib.asynccontextmanager
async def workers_beside_the_api(
    settings: Settings, store: JobStore, artifacts: ArtifactStore, metrics: Metrics
) -> AsyncIterator[None]:
    """The job slots of a process that serves the API too. On Redis they get a client and a
    pool of their own: every job holds a connection for a round trip or two at each of its
    store calls (taking its queue entry, each change, the acknowledgement), and 200 slots
    whose jobs ended together held two thirds of a shared pool while the event streams
    queued behind them to read (a stream waiting past the pool's timeout was cut). In
    embedded mode the store is the jobs themselves, so they share it."""
    if settings.redis_url is None or settings.workers == 0:
        async with running_workers(settings, store, artifacts, metrics):
            yield
        return
    own = _redis_store(settings, settings.redis_url)
    await own.start(listen=False)  # workers follow no stream, so they need no notifications
    own_metrics = Metrics(own)
    try:
        async with running_workers(settings, own, artifacts, own_metrics):
            yield
    finally:
        with contextlib.suppress(*TRANSIENT):
            await own_metrics.flush()
        await own.close()
