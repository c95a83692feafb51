"""Operational endpoints: the original's root and health check, metrics, the OpenAPI
document, and (embedded mode) the signed artifact links."""

from __future__ import annotations

from aiohttp import web

from ..artifacts.local import LocalArtifacts
from ..store.redis import TRANSIENT
from ..webapp_page import WEBAPP
from .context import context
from .errors import ApiError
from .openapi import document

routes = web.RouteTableDef()


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    return web.json_response({"message": "Hello Hono!"})


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    ctx = context(request)
    checks = {"storage": "ok" if await ctx.artifacts.check() else "error"}
    if not ctx.settings.embedded:
        try:
            await ctx.store.ping()
            checks["redis"] = "ok"
        except TRANSIENT:
            checks["redis"] = "error"
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "healthy" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    text = await context(request).metrics.render()
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-store"})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    ctx = context(request)
    s = ctx.settings
    return web.json_response(document(ctx.callbacks, s.scaled(s.longpoll_max_wait_s)))


@routes.get("/app")
async def app_redirect(request: web.Request) -> web.Response:
    return web.Response(status=308, headers={"Location": "/app/"})


@routes.get("/app/")
async def app_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEBAPP / "index.html", headers={"Cache-Control": "no-cache"})


@routes.get("/v1/artifacts/{key:.+}")
async def artifact(request: web.Request) -> web.StreamResponse:
    store = context(request).artifacts
    if not isinstance(store, LocalArtifacts):
        raise ApiError(404, "not_found", "Artifacts are served by the object store in this mode")
    key = request.match_info["key"]
    expires = request.query.get("expires", "")
    signature = request.query.get("signature", "")
    try:
        path = store.path(key)
    except ValueError:
        raise ApiError(404, "not_found", "No such artifact") from None
    if not store.verify(key, expires, signature):
        raise ApiError(403, "invalid_signature", "The link is invalid or has expired; fetch a fresh one from the job")
    if not path.exists():
        raise ApiError(404, "not_found", "No such artifact")
    return web.FileResponse(path, headers={"Content-Type": "application/zip"})
