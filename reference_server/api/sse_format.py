"""The text/event-stream wire format (WHATWG HTML, "Server-sent events"): the response
headers, the opening block, one event, and the comment sent as a heartbeat."""

from __future__ import annotations

SEP = "\r\n"
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}
PING = f": ping{SEP}{SEP}".encode()  # a comment: clients ignore it, proxies see bytes


def opening(retry_ms: int) -> bytes:
    """What every stream starts with, at once: the reconnection advice, which dispatches no
    event. A resumed stream may owe no event for a while; this first byte tells a client
    that the path passes the stream, where a proxy that holds responses passes nothing."""
    return f"retry: {retry_ms}{SEP}{SEP}".encode()


def event(cursor: str, name: str, data: str) -> bytes:
    """One event. No field can hold a line break: cursors are digits and dots, names are
    ours, and the data is JSON, which escapes them."""
    return (SEP.join([f"id: {cursor}", f"event: {name}", f"data: {data}"]) + SEP + SEP).encode()
