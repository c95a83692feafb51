"""The OpenAPI 3.1 document served at /openapi.json. Its request schemas are the ones the
server validates with (`schemas`); tests validate real responses against the response
schemas here, so neither can drift from the behaviour unnoticed."""

from __future__ import annotations

import copy
from typing import Any

from ..callback_policy import CallbackPolicy
from .events import MAX_STREAM_JOBS
from .schemas import FILE_ID, REQUESTS
from .validation import EVENT_ID_PATTERN, IDEMPOTENCY_KEY_PATTERN, UUID, WAIT_PATTERN

NULLABLE_STR = {"type": ["string", "null"]}
TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
JOB_STATES = ["queued", "processing", "completed", "failed", "cancelled", "expired"]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message", "requestId"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "requestId": {"type": "string"}},
    },
    "Links": {
        "type": "object",
        "required": ["status", "events", "download"],
        "properties": {k: {"type": "string"} for k in ("status", "events", "download")},
    },
    **REQUESTS,
    "Accepted": {
        "type": "object",
        "required": ["jobId", "status", "totalFileIds", "estimatedTime", "links"],
        "properties": {
            "jobId": {"type": "string", "format": "uuid"},
            "status": {"enum": JOB_STATES},
            "totalFileIds": {"type": "integer"},
            "estimatedTime": {"type": "number", "description": "expected seconds of work (time-scaled)"},
            "links": {"$ref": "#/components/schemas/Links"},
        },
    },
    "Job": {
        "type": "object",
        "required": ["jobId", "status", "progress", "totalFileIds", "files", "createdAt", "executions", "links"],
        "properties": {
            "jobId": {"type": "string", "format": "uuid"},
            "status": {"enum": JOB_STATES},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "totalFileIds": {"type": "integer"},
            "files": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["fileId", "status", "size"],
                    "properties": {
                        "fileId": FILE_ID,
                        "status": {"enum": ["pending", "ready", "not_found"]},
                        "size": {"type": ["integer", "null"]},
                    },
                },
            },
            "createdAt": {"type": "string", "format": "date-time"},
            "startedAt": TIMESTAMP,
            "completedAt": TIMESTAMP,
            "expiresAt": TIMESTAMP,
            "estimatedCompletion": TIMESTAMP,
            "executions": {"type": "integer", "description": "executions started (more than 1 after a worker died)"},
            "downloadUrl": {"type": "string", "description": "presigned GET URL, at least half its lifetime left"},
            "downloadUrlExpiresAt": {"type": "string", "format": "date-time"},
            "artifact": {
                "type": "object",
                "required": ["size", "sha256"],
                "properties": {"size": {"type": "integer"}, "sha256": {"type": "string"}},
            },
            "error": {
                "type": "object",
                "required": ["code", "message", "retryable"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "retryable": {"type": "boolean"},
                },
            },
            "webhook": {
                "type": "object",
                "required": ["status", "attempts"],
                "properties": {
                    "status": {"enum": ["idle", "pending", "delivered", "failed"]},
                    "attempts": {"type": "integer"},
                    "lastStatus": {"type": ["integer", "null"]},
                    "lastError": NULLABLE_STR,
                    "deliveredAt": TIMESTAMP,
                },
            },
            "links": {"$ref": "#/components/schemas/Links"},
        },
    },
    "Cancelled": {
        "type": "object",
        "required": ["jobId", "status", "message"],
        "properties": {"jobId": {"type": "string"}, "status": {"const": "cancelled"}, "message": {"type": "string"}},
    },
    "CheckResponse": {
        "type": "object",
        "required": ["file_id", "available", "s3Key", "size"],
        "properties": {
            "file_id": FILE_ID,
            "available": {"type": "boolean"},
            "s3Key": NULLABLE_STR,
            "size": {"type": ["integer", "null"]},
        },
    },
    "StartResponse": {
        "type": "object",
        "required": ["file_id", "status", "downloadUrl", "size", "processingTimeMs", "message"],
        "properties": {
            "file_id": FILE_ID,
            "status": {"enum": ["completed", "failed"]},
            "downloadUrl": NULLABLE_STR,
            "size": {"type": ["integer", "null"]},
            "processingTimeMs": {"type": "integer"},
            "completedAt": {"type": "string", "format": "date-time", "description": "when the work ended"},
            "message": {"type": "string"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"enum": ["healthy", "unhealthy"]},
            "checks": {"type": "object", "additionalProperties": {"enum": ["ok", "error"]}},
        },
    },
    "Root": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json("Error", "error") for code in codes}


def _resume_params(pattern: str, what: str) -> list[dict[str, Any]]:
    """The resume cursor, as EventSource sends it (a header) and as a query parameter; empty
    means none."""
    schema = {"type": "string", "pattern": pattern}
    return [
        {"name": "Last-Event-ID", "in": "header", "required": False, "description": what, "schema": schema},
        {"name": "lastEventId", "in": "query", "required": False, "description": what, "schema": schema},
    ]


JOB_ID_PARAM = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
BODY = {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FileRequest"}}}}
COMMON = (400, 408, 413, 415, 429)  # 408: the body did not arrive within BODY_TIMEOUT_S
# 429 also when the client holds MAX_STREAMS_PER_CLIENT streams; 503 when the process holds MAX_STREAMS.
STREAM_ERRORS = _errors(400, 404, 429, 503)

WAIT_SCHEMA = {"type": "string", "pattern": f"^{WAIT_PATTERN}$"}
# The cap is the server's setting: document() states it in each description.
WAIT_WHAT = (
    "seconds to hold the read until the job differs from If-None-Match (or from the job as the read found "
    "it), or ends; at most {cap:g} s, and the wait applied comes back in Preference-Applied"
)
WAIT_PARAMS = [
    {"name": "wait", "in": "query", "required": False, "schema": WAIT_SCHEMA},
    {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"}},
]

JOBS_PARAM = {
    "name": "jobs",
    "in": "query",
    "required": True,
    "style": "form",
    "explode": False,
    "schema": {
        "type": "array",
        "items": {"type": "string", "pattern": UUID.pattern},
        "minItems": 1,
        "maxItems": MAX_STREAM_JOBS,
        "uniqueItems": True,
    },
}
MANY_RESUME_PARAMS = _resume_params(
    f"^({EVENT_ID_PATTERN}(\\.{EVENT_ID_PATTERN}){{0,{MAX_STREAM_JOBS - 1}}})?$",
    "the last id this stream sent: one sequence number per job of `jobs`, in its order, joined by dots",
)
WEBSOCKET_RESPONSES = {
    "101": {"description": "switched to WebSocket; closed with 1000 once every job has ended"},
    **_errors(426),  # a request that is not a WebSocket handshake (RFC 6455, section 4.1)
    **STREAM_ERRORS,
}
# The handshake a client must send (RFC 6455, section 4.1); a GET without it is answered 426.
WEBSOCKET_HANDSHAKE = [
    {"name": "Upgrade", "in": "header", "required": True, "schema": {"type": "string", "const": "websocket"}},
    {"name": "Connection", "in": "header", "required": True, "schema": {"type": "string", "const": "Upgrade"}},
    {"name": "Sec-WebSocket-Version", "in": "header", "required": True, "schema": {"type": "string", "const": "13"}},
    {
        "name": "Sec-WebSocket-Key",
        "in": "header",
        "required": True,
        "description": "a random 16-byte nonce, base64-encoded",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9+/]{21}[AQgw]==$"},
    },
]

PATHS: dict[str, Any] = {
    "/": {"get": {"summary": "Liveness greeting (original contract)", "responses": {"200": _json("Root", "greeting")}}},
    "/health": {
        "get": {
            "summary": "Health of every real dependency in use",
            "responses": {"200": _json("Health", "healthy"), "503": _json("Health", "unhealthy")},
        }
    },
    "/v1/download/check": {
        "post": {
            "summary": "Whether a file exists",
            "requestBody": BODY,
            "responses": {"200": _json("CheckResponse", "availability"), **_errors(*COMMON)},
        }
    },
    "/v1/download/start": {
        "post": {
            "summary": "Prepare one file while the client waits (the synchronous baseline)",
            "requestBody": BODY,
            "responses": {"200": _json("StartResponse", "prepared or not found"), **_errors(*COMMON, 503, 504)},
        }
    },
    "/v1/download/initiate": {
        "post": {
            "summary": "Start a job for 1-1000 files",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InitiateRequest"}}},
            },
            "responses": {
                "202": _json("Accepted", "job created (or replayed for a repeated Idempotency-Key)"),
                "200": _json("Accepted", "an active job for the same client and files, returned instead of a new one"),
                **_errors(*COMMON, 422, 503),
            },
        }
    },
    "/v1/download/jobs/{job_id}": {
        "parameters": [JOB_ID_PARAM],
        "get": {
            "summary": "Job status (ETag / If-None-Match, Retry-After while pending); with wait, a long poll",
            "parameters": WAIT_PARAMS,
            "responses": {
                "200": _json("Job", "status"),
                "304": {"description": "unchanged (after the whole wait, for a long poll)"},
                **_errors(400, 404, 429),
            },
        },
        "delete": {
            "summary": "Cancel a queued or running job",
            "responses": {"200": _json("Cancelled", "cancelled"), **_errors(404, 409, 429)},
        },
    },
    "/v1/download/jobs/{job_id}/download": {
        "parameters": [JOB_ID_PARAM],
        "get": {
            "summary": "Redirect to the presigned artifact URL",
            "responses": {"303": {"description": "see the Location header"}, **_errors(404, 409, 410, 429)},
        },
    },
    "/v1/download/jobs/{job_id}/events": {
        "parameters": [JOB_ID_PARAM, *_resume_params(f"^({EVENT_ID_PATTERN})?$", "the last event id this stream sent")],
        "get": {
            "summary": "Server-Sent Events for one job (snapshot, progress, terminal; Last-Event-ID resumes)",
            "responses": {
                "204": {"description": "the client has already seen the terminal event: stop reconnecting"},
                "200": {"description": "text/event-stream", "content": {"text/event-stream": {}}},
                **STREAM_ERRORS,
            },
        },
    },
    "/v1/download/events": {
        "get": {
            "summary": "One event stream for several jobs (ids joined by dots per job)",
            "parameters": [JOBS_PARAM, *MANY_RESUME_PARAMS],
            "responses": {
                "204": {"description": "the client has already seen every terminal event: stop reconnecting"},
                "200": {"description": "text/event-stream", "content": {"text/event-stream": {}}},
                **STREAM_ERRORS,
            },
        }
    },
    "/v1/download/jobs/{job_id}/ws": {
        "parameters": [
            JOB_ID_PARAM,
            *_resume_params(f"^({EVENT_ID_PATTERN})?$", "the last event id this socket sent"),
            *WEBSOCKET_HANDSHAKE,
        ],
        "get": {
            "summary": "WebSocket for one job: the event stream's events as JSON messages {id, event, data}",
            "responses": WEBSOCKET_RESPONSES,
        },
    },
    "/v1/download/ws": {
        "get": {
            "summary": "One WebSocket for several jobs (ids joined by dots per job)",
            "parameters": [JOBS_PARAM, *MANY_RESUME_PARAMS, *WEBSOCKET_HANDSHAKE],
            "responses": WEBSOCKET_RESPONSES,
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus counters",
            "responses": {"200": {"description": "text", "content": {"text/plain": {}}}},
        }
    },
}


def document(callbacks: CallbackPolicy, longpoll_max_wait_s: float) -> dict[str, Any]:
    """The document for this server: where its callbacks may go, and how long it holds a
    long poll (time-scaled seconds), are part of the contract."""
    schemas = copy.deepcopy(SCHEMAS)
    paths = copy.deepcopy(PATHS)
    what = WAIT_WHAT.format(cap=longpoll_max_wait_s)
    for param in paths["/v1/download/jobs/{job_id}"]["get"]["parameters"]:
        param["description"] = f"wait={what}" if param["in"] == "header" else what
    callback = schemas["InitiateRequest"]["properties"]["callback_url"]
    pattern = callbacks.url_pattern()
    if pattern is None:
        callback["not"] = {}  # this server takes no webhooks (WEBHOOK_ALLOWED_HOSTS is empty)
    else:
        callback["pattern"] = pattern
    return {
        "openapi": "3.1.0",
        "info": {"title": "Long-running download reference server", "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
