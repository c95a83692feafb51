"""One module per delivery pattern: what a client of that pattern does for one job,
following the scenario's client policy. `PATTERNS` maps a pattern to its client."""

from __future__ import annotations

from collections.abc import Callable

from . import hybrid, polling, sse, sync, webhook
from .base import JobRun

PATTERNS: dict[str, Callable[[JobRun], None]] = {
    "sync": sync.run,
    "polling": polling.run,
    "sse": sse.run,
    "webhook": webhook.run,
    "hybrid": hybrid.run,
}
