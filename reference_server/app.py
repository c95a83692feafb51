"""The application factory: `create_app(settings)` wires routes, middlewares and services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from .api import events, jobs, legacy, ops, websocket
from .api.client_identity import ClientIdentity
from .api.context import CONTEXT, Context
from .api.heartbeats import Heartbeats
from .api.middleware import add_response_headers, build_middlewares
from .api.stream_slots import StreamSlots
from .api.validation import MAX_BODY_BYTES
from .callback_policy import CallbackPolicy
from .config import Settings
from .memory_trace import tracing
from .metrics import Metrics
from .services import build_artifacts, build_store, workers_beside_the_api
from .webapp_page import WEBAPP


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=build_middlewares(settings), client_max_size=MAX_BODY_BYTES)
    store = build_store(settings)
    identity = ClientIdentity(settings.trusted_proxies)
    streams = StreamSlots(settings.max_streams_per_client, settings.max_streams)
    callbacks = CallbackPolicy(settings.webhook_allowed_hosts)
    heartbeats = Heartbeats(settings.scaled(settings.sse_heartbeat_s))
    artifacts = build_artifacts(settings)
    ctx = Context(settings, store, artifacts, Metrics(store), identity, streams, heartbeats, callbacks)
    app[CONTEXT] = ctx
    app.on_response_prepare.append(add_response_headers(settings))
    for table in (ops.routes, legacy.routes, jobs.routes, events.routes, websocket.routes):
        app.add_routes(table)
    # The browser download manager: static files, no build step.
    app.router.add_static("/app/", WEBAPP, append_version=False)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await ctx.store.start()
        pinging = asyncio.create_task(heartbeats.run())
        try:
            async with (
                tracing(settings.memory_trace_s),
                workers_beside_the_api(settings, ctx.store, ctx.artifacts, ctx.metrics),
            ):
                yield
        finally:
            pinging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinging
            await ctx.metrics.flush()
            await ctx.artifacts.close()
            await ctx.store.close()

    app.cleanup_ctx.append(lifecycle)
    return app
