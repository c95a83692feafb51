"""One module per delivery pattern, each a client over the shared engine."""

from __future__ import annotations

from reference_server.contract import HYBRID, LONGPOLL, POLLING, SSE, SYNC, WEBHOOK, WEBSOCKET

from ..engine import Pattern
from . import hybrid, longpoll, polling, sse, sync, webhook, websocket

PATTERNS: dict[str, Pattern] = {
    p.name: p
    for p in (
        Pattern(SYNC, client=sync.client),
        Pattern(POLLING, observe=polling.observe),
        Pattern(LONGPOLL, observe=longpoll.observe),
        Pattern(SSE, observe=sse.observe),
        Pattern(WEBSOCKET, observe=websocket.observe),
        Pattern(WEBHOOK, observe=webhook.observe),
        Pattern(HYBRID, observe=hybrid.observe),
    )
}
