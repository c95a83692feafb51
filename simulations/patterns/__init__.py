"""One module per delivery pattern, each a client over the shared engine."""

from __future__ import annotations

from ..engine import Pattern
from . import hybrid, polling, sse, sync, webhook

PATTERNS: dict[str, Pattern] = {
    p.name: p
    for p in (
        Pattern("sync", client=sync.client),
        Pattern("polling", observe=polling.observe),
        Pattern("sse", observe=sse.observe),
        Pattern("webhook", observe=webhook.observe),
        Pattern("hybrid", observe=hybrid.observe),
    )
}
