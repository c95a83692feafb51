"""Cross-cutting HTTP behaviour: one middleware (`guard`) answers anything that goes wrong
in the JSON error shape, answers CORS preflights, counts the rate limit and bounds how long
an answer may take; and the request id, security, CORS and rate-limit headers go on every
response.

Headers are added in `on_response_prepare`, so streamed responses (SSE) and error
responses get them too.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import Settings
from ..contract import PREFERENCE_APPLIED_HEADER, RETRY_AFTER_MS_HEADER
from ..store.base import NotReplicated, RateHit
from .context import context
from .errors import ApiError, error_response, from_http_exception, request_id

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# On every answer: what protects a JSON body too (OWASP's REST Security Cheat Sheet).
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=15552000; includeSubDomains",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# On HTML pages only: each governs what a document does (its referrers, prefetches, opener,
# agent cluster, legacy XSS filter, IE's open-in-place, Flash's policy files). A poll carried
# them for nothing, 230 bytes an answer, through every proxy and cache on the way.
DOCUMENT_SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-XSS-Protection": "0",
    "X-DNS-Prefetch-Control": "off",
    "X-Download-Options": "noopen",
    "X-Permitted-Cross-Domain-Policies": "none",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
}
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = "Content-Type, Authorization, X-Request-ID, Idempotency-Key, Last-Event-ID, If-None-Match"
# The original exposed X-RateLimit-* while sending RateLimit-*; expose what is sent.
CORS_EXPOSE = (
    "X-Request-ID, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, "
    f"{RETRY_AFTER_MS_HEADER}, Location, ETag, Idempotent-Replayed, X-Job-Reused, "
    f"{PREFERENCE_APPLIED_HEADER}"
)
RATE = web.RequestKey("rate_limit", RateHit)
# Probes and scrapes must not eat a client budget or be refused under load.
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})


def reads_job_ahead(handler: Handler) -> Handler:
    """Mark a handler of `{job_id}` whose job the rate limit reads in its own store round
    trip (in `request[RATE].job`), so that a status poll costs the store one."""
    handler.reads_job_ahead = True  # type: ignore[attr-defined]
    return handler


def build_middlewares(settings: Settings) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    timeout_s = settings.scaled(settings.request_timeout_s)

    async def count(request: web.Request) -> None:
        """The rate limit: one more request in the client's window, or 429."""
        ctx = context(request)
        match = request.match_info
        ahead = match.get("job_id") if getattr(match.handler, "reads_job_ahead", False) else None
        hit = await ctx.store.hit_rate(ctx.identity.of(request), settings.rate_limit_window_s, ahead)
        request[RATE] = hit
        if hit.count > settings.rate_limit_max:
            raise ApiError(
                429,
                "rate_limited",
                "Too many requests, please try again later.",
                {"Retry-After": str(max(1, math.ceil(hit.reset_s)))},
            )

    # One middleware, not one per concern: each one adds a call and a frame to every request.
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                return web.Response(status=204)  # a CORS preflight: answered at once, not counted
            if request.path not in UNLIMITED_PATHS:
                await count(request)
            # Event streams and sockets too: their handlers answer at once, and the stream is
            # sent afterwards, from the response's `prepare` (events.EventStream).
            try:
                async with asyncio.timeout(timeout_s):
                    return await handler(request)
            except TimeoutError:
                # The original answered 500 here; a timeout is a 504, and the work may go on.
                raise ApiError(504, "request_timeout", f"The request took longer than {timeout_s:g} s") from None
        except ApiError as err:
            return error_response(request, err)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(request, from_http_exception(request, exc))
        except NotReplicated as exc:
            log.warning("a new job is not on enough replicas yet: %s", exc)
            return error_response(
                request,
                ApiError(
                    503,
                    "store_not_durable",
                    "The job is not yet on enough replicas to survive a failover; retry with the same Idempotency-Key",
                    {"Retry-After": "1"},
                ),
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("job store unavailable: %s", exc)
            unavailable = ApiError(
                503, "store_unavailable", "The job store is unreachable; retry shortly", {"Retry-After": "1"}
            )
            return error_response(request, unavailable)

    return [guard]


def add_response_headers(settings: Settings) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    origins = settings.cors_origins

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        h = response.headers
        h["X-Request-ID"] = request_id(request)
        for name, value in SECURITY_HEADERS.items():
            h.setdefault(name, value)
        if response.content_type == "text/html":
            for name, value in DOCUMENT_SECURITY_HEADERS.items():
                h.setdefault(name, value)
        h.popall("Server", None)
        origin = request.headers.get("Origin")
        if "*" in origins:
            h["Access-Control-Allow-Origin"] = "*"
        elif origin in origins:
            h["Access-Control-Allow-Origin"] = origin
            h.add("Vary", "Origin")
        h["Access-Control-Expose-Headers"] = CORS_EXPOSE
        if request.method == "OPTIONS":
            h["Access-Control-Allow-Methods"] = CORS_METHODS
            h["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
            h["Access-Control-Max-Age"] = "86400"
        hit = request.get(RATE)
        if hit is not None:
            h["RateLimit-Policy"] = f"{settings.rate_limit_max};w={math.ceil(settings.rate_limit_window_s)}"
            h["RateLimit-Limit"] = str(settings.rate_limit_max)
            h["RateLimit-Remaining"] = str(max(settings.rate_limit_max - hit.count, 0))
            h["RateLimit-Reset"] = str(max(0, math.ceil(hit.reset_s)))

    return on_prepare
