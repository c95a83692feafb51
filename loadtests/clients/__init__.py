"""One module per delivery pattern: what a client of that pattern does for one job,
following the scenario's client policy. `PATTERNS` maps a pattern to its client."""

from __future__ import annotations

from collections.abc import Callable

from reference_server.contract import HYBRID, LONGPOLL, POLLING, SSE, SYNC, WEBHOOK, WEBSOCKET

from . import hybrid, longpoll, polling, sse, sync, webhook, websocket
from .base import JobRun

PATTERNS: dict[str, Callable[[JobRun], None]] = {
    SYNC: sync.run,
    POLLING: polling.run,
    LONGPOLL: longpoll.run,
    SSE: sse.run,
    WEBSOCKET: websocket.run,
    WEBHOOK: webhook.run,
    HYBRID: hybrid.run,
}
