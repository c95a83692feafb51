"""The original service's synchronous contract: check a file, or prepare it while the
client waits. `/start` stays synchronous on purpose: it is the baseline the harness
shows failing behind proxy timeouts, so it also counts the work nobody received."""

from __future__ import annotations

import asyncio
import random
import time

from aiohttp import web

from ..artifacts.base import StorageUnavailable
from ..jobs.workload import build_artifact, draw_delay_s, file_exists
from . import validation
from .context import Context, context
from .errors import ApiError
from .jobs import origin
from .representation import iso, signing_window

routes = web.RouteTableDef()
_rng = random.Random()
# Work that outlives its request is kept referenced here until it ends.
_running: set[asyncio.Task[tuple[bool, int | None]]] = set()


def _forget(task: asyncio.Task[tuple[bool, int | None]]) -> None:
    _running.discard(task)
    if not task.cancelled():
        task.exception()  # already counted or answered; do not log it as never retrieved


def s3_key(file_id: int) -> str:
    return f"downloads/{file_id}.zip"


@routes.post("/v1/download/check")
async def check(request: web.Request) -> web.Response:
    ctx = context(request)
    file_id = validation.single_file_id(await validation.json_object(request, ctx.settings.body_timeout_s))
    available = file_exists(file_id)
    return web.json_response(
        {
            "file_id": file_id,
            "available": available,
            "s3Key": s3_key(file_id) if available else None,
            "size": ctx.settings.artifact_bytes_per_file if available else None,
        }
    )


async def _prepare(ctx: Context, file_id: int, delay_s: float) -> tuple[bool, int | None]:
    await asyncio.sleep(delay_s)
    if not file_exists(file_id):
        return False, None
    data = await asyncio.to_thread(build_artifact, [file_id], ctx.settings.artifact_bytes_per_file)
    await ctx.artifacts.put(s3_key(file_id), data)
    return True, len(data)


async def _execute(
    ctx: Context, request: web.Request, file_id: int, delay_s: float, abandoned: asyncio.Event
) -> tuple[bool, int | None]:
    """The work itself; it runs to the end even when the client or a proxy gave up."""
    started = time.monotonic()
    if await ctx.store.sync_started(file_id) > 1:
        await ctx.metrics.inc("dl_duplicate_executions_total", api="sync")
    await ctx.metrics.inc("dl_executions_started_total", api="sync")
    try:
        result = await _prepare(ctx, file_id, delay_s)
    finally:
        await ctx.store.sync_finished(file_id)
    transport = request.transport
    if abandoned.is_set() or transport is None or transport.is_closing():
        await ctx.metrics.inc("dl_sync_undelivered_total")
        await ctx.metrics.inc("dl_wasted_worker_seconds_total", time.monotonic() - started, api="sync")
    # Last, so that a reader who sees the completion also sees the waste counted.
    await ctx.metrics.inc("dl_executions_completed_total", api="sync")
    return result


@routes.post("/v1/download/start")
async def start(request: web.Request) -> web.Response:
    ctx = context(request)
    file_id = validation.single_file_id(await validation.json_object(request, ctx.settings.body_timeout_s))
    work_s = validation.simulated_work_s(request, ctx.settings.simulated_work_header)
    delay_s = ctx.settings.scaled(draw_delay_s(ctx.settings.delay, _rng) if work_s is None else work_s)
    began = time.monotonic()
    abandoned = asyncio.Event()
    work = asyncio.create_task(_execute(ctx, request, file_id, delay_s, abandoned))
    _running.add(work)
    work.add_done_callback(_forget)
    try:
        found, size = await asyncio.shield(work)
    except asyncio.CancelledError:
        abandoned.set()  # request timeout or client gone: the result will reach nobody
        raise
    except StorageUnavailable as exc:
        raise ApiError(503, "storage_unavailable", f"Could not store the file: {exc}", {"Retry-After": "1"}) from None
    elapsed_ms = round((time.monotonic() - began) * 1000)
    completed_at = iso(time.time())
    seconds = f"{elapsed_ms / 1000:.1f}"
    if not found:
        return web.json_response(
            {
                "file_id": file_id,
                "status": "failed",
                "downloadUrl": None,
                "size": None,
                "processingTimeMs": elapsed_ms,
                "completedAt": completed_at,
                "message": f"File not found after {seconds} seconds of processing",
            }
        )
    url = ctx.artifacts.url(s3_key(file_id), signing_window(ctx.settings, time.time()), origin(request))
    return web.json_response(
        {
            "file_id": file_id,
            "status": "completed",
            "downloadUrl": url,
            "size": size,
            "processingTimeMs": elapsed_ms,
            "completedAt": completed_at,
            "message": f"Download ready after {seconds} seconds",
        }
    )
