"""One JSON error shape for every failure: {"error", "message", "requestId"}."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(request: web.Request) -> str:
    """The client's X-Request-ID if it is well-formed, else one made up; the same for the
    whole request, whoever asks first (a handler, an error, the response headers)."""
    known = request.get(REQUEST_ID)
    if known is None:
        given = request.headers.get("X-Request-ID", "")
        known = request[REQUEST_ID] = given if _REQUEST_ID_OK.match(given) else str(uuid.uuid4())
    return known


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})


def error_response(request: web.Request, err: ApiError) -> web.Response:
    body = {"error": err.error, "message": err.message, "requestId": request_id(request)}
    return web.json_response(body, status=err.status, headers=err.headers)


# Errors aiohttp raises itself (routing, body size) mapped to our shape.
HTTP_EXCEPTION_CODES = {
    404: ("not_found", "No such resource: {method} {path}"),
    405: ("method_not_allowed", "{method} is not allowed on {path}"),
    413: ("body_too_large", "Request body is larger than the server accepts"),
}


def from_http_exception(request: web.Request, exc: web.HTTPException) -> ApiError:
    code, template = HTTP_EXCEPTION_CODES.get(exc.status, ("http_error", exc.reason))
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    return ApiError(exc.status, code, template.format(method=request.method, path=request.path), headers)
