"""The text/event-stream wire format (WHATWG HTML, "Server-sent events"): the response
headers, one event, and the comment sent as a heartbeat."""

from __future__ import annotations

SEP = "\r\n"
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}
PING = f": ping{SEP}{SEP}".encode()  # a comment: clients ignore it, proxies see bytes


def event(cursor: str, name: str, data: str, retry_ms: int | None = None) -> bytes:
    """One event. No field can hold a line break: cursors are digits and dots, names are
    ours, and the data is JSON, which escapes them."""
    lines = [f"id: {cursor}", f"event: {name}", f"data: {data}"]
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    return (SEP.join(lines) + SEP + SEP).encode()
