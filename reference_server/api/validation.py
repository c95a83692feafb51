"""Parsing and checking request input; every problem becomes an `ApiError` naming it."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..contract import SIMULATED_WORK_HEADER
from .errors import ApiError

FILE_ID_MIN = 10_000
FILE_ID_MAX = 100_000_000
MAX_FILE_IDS = 1000
MAX_BODY_BYTES = 1024 * 1024
# RFC 8941 sf-string (as the IETF draft requires) or, leniently, a bare token; at most 255 chars like Stripe.
_IDEM_QUOTED = re.compile(r'^"([\x20\x21\x23-\x5b\x5d-\x7e]{1,255})"$')
_IDEM_BARE = re.compile(r"^[A-Za-z0-9._~:/+=-]{1,255}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def invalid(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


async def json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type must be application/json, got {request.content_type!r}"
        )
    raw = await request.read()  # aiohttp answers 413 past client_max_size
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


def file_id(value: Any, where: str) -> int:
    # bool is an int subclass in Python; JSON true is not a file id.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{where} must be an integer, got {json.dumps(value)}")
    if not FILE_ID_MIN <= value <= FILE_ID_MAX:
        raise invalid(f"{where} must be between {FILE_ID_MIN} and {FILE_ID_MAX}, got {value}")
    return value


def single_file_id(body: dict[str, Any]) -> int:
    if "file_id" not in body:
        raise invalid("file_id is required")
    return file_id(body["file_id"], "file_id")


def file_ids(body: dict[str, Any]) -> list[int]:
    if "file_ids" not in body:
        raise invalid("file_ids is required")
    values = body["file_ids"]
    if not isinstance(values, list):
        raise invalid("file_ids must be an array of integers")
    if not 1 <= len(values) <= MAX_FILE_IDS:
        raise invalid(f"file_ids must hold 1 to {MAX_FILE_IDS} ids, got {len(values)}")
    ids = [file_id(v, f"file_ids[{i}]") for i, v in enumerate(values)]
    if len(set(ids)) != len(ids):
        raise invalid("file_ids must not repeat an id")
    return ids


def callback_url(body: dict[str, Any], allowed_hosts: tuple[str, ...]) -> str | None:
    value = body.get("callback_url")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2048:
        raise invalid("callback_url must be a URL string of at most 2048 characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("callback_url must be an absolute http or https URL")
    if parts.username or parts.password:
        raise invalid("callback_url must not carry credentials")
    if parts.hostname.lower() not in allowed_hosts:
        # An allow-list of names, so the server cannot be aimed at internal addresses.
        raise ApiError(
            422,
            "callback_host_not_allowed",
            f"callback_url host {parts.hostname!r} is not in the server's WEBHOOK_ALLOWED_HOSTS",
        )
    return value


def idempotency_key(request: web.Request) -> str | None:
    values = request.headers.getall("Idempotency-Key", [])
    if not values:
        return None
    if len(values) > 1:
        raise invalid("Send one Idempotency-Key header, not several")
    raw = values[0].strip()
    match = _IDEM_QUOTED.match(raw)
    if match:
        return match.group(1)
    if _IDEM_BARE.match(raw):
        return raw
    raise invalid('Idempotency-Key must be a quoted string of 1-255 printable characters, e.g. "8e03978e-..."')


def job_id(request: web.Request) -> str:
    value = request.match_info["job_id"]
    if not UUID.match(value):
        raise ApiError(404, "job_not_found", f"No job with id {value!r}")
    return value


def last_event_id(request: web.Request, parts: int) -> list[int] | None:
    """The resume cursor: one sequence number per followed job, joined by dots."""
    raw = request.headers.get("Last-Event-ID", request.query.get("lastEventId"))
    if raw is None or raw == "":
        return None
    pieces = raw.split(".")
    if len(pieces) != parts or not all(p.isdigit() and len(p) <= 12 for p in pieces):
        raise ApiError(400, "invalid_last_event_id", f"Last-Event-ID {raw[:64]!r} is not an id this stream sent")
    return [int(p) for p in pieces]


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
