"""The request bodies, described once as JSON Schema: the server validates requests with
these documents and serves the very same ones in /openapi.json, so the spec and the
validator cannot disagree. Checks a schema cannot express (the webhook host allow-list,
credentials in a URL) stay in `validation`."""

from __future__ import annotations

from collections import deque
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

FILE_ID_MIN = 10_000
FILE_ID_MAX = 100_000_000
MAX_FILE_IDS = 1000
MAX_URL_CHARS = 2048
MAX_MESSAGE_CHARS = 300  # a rule's message quotes the offending value; keep an error short

FILE_ID = {"type": "integer", "minimum": FILE_ID_MIN, "maximum": FILE_ID_MAX}
REQUESTS: dict[str, dict[str, Any]] = {
    "InitiateRequest": {
        "type": "object",
        "required": ["file_ids"],
        "properties": {
            "file_ids": {
                "type": "array",
                "items": FILE_ID,
                "minItems": 1,
                "maxItems": MAX_FILE_IDS,
                "uniqueItems": True,
            },
            "callback_url": {
                "type": "string",
                "format": "uri",
                "maxLength": MAX_URL_CHARS,
                "description": "Webhook target: an absolute http(s) URL without credentials, whose host and port an "
                "entry of the server's WEBHOOK_ALLOWED_HOSTS allows (else 422 callback_host_not_allowed)",
            },
        },
    },
    "FileRequest": {"type": "object", "required": ["file_id"], "properties": {"file_id": FILE_ID}},
}
_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in REQUESTS.items()}


def _where(path: deque[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "request body"


def problem(schema: str, body: Any) -> str | None:
    """What is wrong with `body` against the named schema, naming the field and the rule;
    None when nothing is."""
    error = best_match(_VALIDATORS[schema].iter_errors(body))
    if error is None:
        return None
    message = error.message if len(error.message) <= MAX_MESSAGE_CHARS else error.message[:MAX_MESSAGE_CHARS] + "..."
    return f"{_where(error.absolute_path)} breaks the rule '{error.validator}': {message}"
