"""Parsing and checking request input; every problem becomes an `ApiError` naming it."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..callback_policy import CallbackPolicy
from ..contract import SIMULATED_WORK_HEADER
from . import schemas
from .errors import ApiError

MAX_BODY_BYTES = 1024 * 1024
# RFC 8941 sf-string (as the IETF draft requires) or, leniently, a bare token; at most 255 chars like Stripe.
IDEMPOTENCY_KEY_PATTERN = r'^"([\x20\x21\x23-\x5b\x5d-\x7e]{1,255})"$|^([A-Za-z0-9._~:/+=-]{1,255})$'
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
# One job's resume cursor: its last event's sequence number, in ASCII digits.
EVENT_ID_PATTERN = "[0-9]{1,12}"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def invalid(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


async def json_object(request: web.Request, timeout_s: float) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type must be application/json, got {request.content_type!r}"
        )
    try:
        # aiohttp answers 413 past client_max_size, but waits for a trickling body for ever.
        async with asyncio.timeout(timeout_s):
            raw = await request.read()
    except TimeoutError:
        raise ApiError(408, "body_timeout", f"The request body did not arrive within {timeout_s:g} s") from None
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "malformed_json", "Request body is nested too deeply") from None
    except ValueError as exc:  # not JSON, not UTF-8, or an integer past Python's 4300-digit limit
        raise ApiError(400, "malformed_json", f"Request body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


def checked(schema: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body, once it satisfies the named request schema (the one /openapi.json serves)."""
    problem = schemas.problem(schema, body)
    if problem is not None:
        raise invalid(problem)
    return body


def single_file_id(body: dict[str, Any]) -> int:
    return int(checked("FileRequest", body)["file_id"])


def file_ids(body: dict[str, Any]) -> list[int]:
    return [int(v) for v in checked("InitiateRequest", body)["file_ids"]]


def callback_url(body: dict[str, Any], policy: CallbackPolicy) -> str | None:
    value = body.get("callback_url")
    if value is None:
        return None
    try:
        parts = urlsplit(str(value))  # its type and length were checked with the rest of the body
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise invalid(f"callback_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("callback_url must be an absolute http or https URL")
    if port == 0:
        raise invalid("callback_url port must be from 1 to 65535")
    if parts.username or parts.password:
        raise invalid("callback_url must not carry credentials")
    if (refusal := policy.url_refusal(parts)) is not None:
        raise ApiError(422, "callback_host_not_allowed", refusal)
    if not policy.matches(str(value)):
        raise invalid(
            "callback_url must be the host as listed in WEBHOOK_ALLOWED_HOSTS, in lower case, then a path and "
            "query of URL characters (the pattern in /openapi.json)"
        )
    return str(value)


def idempotency_key(request: web.Request) -> str | None:
    values = request.headers.getall("Idempotency-Key", [])
    if not values:
        return None
    if len(values) > 1:
        raise invalid("Send one Idempotency-Key header, not several")
    match = _IDEMPOTENCY_KEY.fullmatch(values[0])
    if match:
        return match.group(1) or match.group(2)
    raise invalid('Idempotency-Key must be a quoted string of 1-255 printable characters, e.g. "8e03978e-..."')


def job_id(request: web.Request) -> str:
    value = request.match_info["job_id"]
    if not UUID.match(value):
        raise ApiError(404, "job_not_found", f"No job with id {value!r}")
    return value


def last_event_id(request: web.Request, parts: int) -> list[int] | None:
    """The resume cursor: one sequence number per followed job, joined by dots."""
    raw = request.headers.get("Last-Event-ID") or None
    if request.query_string:  # only then parsed: a held stream keeps its parsed query
        # The query is checked even when the header wins: a malformed cursor is never let through.
        query = request.query.get("lastEventId") or None
        if query is not None and raw is not None:
            _cursor(query, parts)
        raw = raw or query
    return None if raw is None else _cursor(raw, parts)


def _cursor(raw: str, parts: int) -> list[int]:
    pieces = raw.split(".")
    # ASCII digits only: str.isdigit() would also accept digits such as "²" that int() refuses.
    if len(pieces) != parts or not all(_EVENT_ID.fullmatch(p) for p in pieces):
        raise ApiError(400, "invalid_last_event_id", f"Last-Event-ID {raw[:64]!r} is not an id this stream sent")
    return [int(p) for p in pieces]


# A long poll's wait: seconds, whole or decimal (time-scaled runs wait fractions of one).
_WAIT = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")
WAIT_PATTERN = _WAIT.pattern


def _prefer_wait(request: web.Request) -> str | None:
    """The `wait` preference of RFC 7240 (`Prefer: respond-async, wait=10`), if sent."""
    for header in request.headers.getall("Prefer", []):
        for preference in header.split(","):
            name, _, value = preference.split(";")[0].strip().partition("=")
            if name.strip().lower() == "wait":
                return value.strip().strip('"')
    return None


def wait_s(request: web.Request) -> float | None:
    """How long the client asks a status read to be held for a change: `?wait=S` or
    `Prefer: wait=S` (the query wins); None for a plain read."""
    raw = request.query.get("wait")
    if raw is None:
        raw = _prefer_wait(request)
    if raw is None:
        return None
    if not _WAIT.fullmatch(raw):
        raise ApiError(400, "invalid_wait", f"wait must be seconds, e.g. wait=20 or wait=2.5; got {raw[:32]!r}")
    return float(raw)


MAX_SIMULATED_WORK_MS = 3_600_000


def simulated_work_s(request: web.Request, enabled: bool) -> float | None:
    """The simulated-work header (unscaled work per file), where the server allows it."""
    raw = request.headers.get(SIMULATED_WORK_HEADER)
    if raw is None:
        return None
    if not enabled:
        raise invalid(f"{SIMULATED_WORK_HEADER} is not accepted by this server (SIMULATED_WORK_HEADER is off)")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_SIMULATED_WORK_MS:
        raise invalid(f"{SIMULATED_WORK_HEADER} must be whole milliseconds from 0 to {MAX_SIMULATED_WORK_MS}")
    return int(raw) / 1000
