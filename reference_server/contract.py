"""The names and rules that the server, the models and the clients share. The server owns
them and imports nothing else here, so every other package can import this module while
the server stays installable alone."""

from __future__ import annotations

import math
from datetime import datetime

# The delivery patterns the project compares.
SYNC, POLLING, LONGPOLL, SSE, WEBSOCKET, WEBHOOK, HYBRID = (
    "sync", "polling", "longpoll", "sse", "websocket", "webhook", "hybrid",
)  # fmt: skip
PATTERNS = (SYNC, POLLING, LONGPOLL, SSE, WEBSOCKET, WEBHOOK, HYBRID)


def epoch_s(wire_time: str) -> float:
    """A time in a job's body (`createdAt`, `completedAt`…: ISO 8601 in UTC, `Z`-suffixed) as
    seconds since the epoch, for clients that compare it with their own clocks."""
    return datetime.fromisoformat(wire_time).timestamp()


# Job states that end a job, well or badly: a client stops following there.
COMPLETED = "completed"
FAILED_STATES = ("failed", "cancelled", "expired")
TERMINAL_STATES: frozenset[str] = frozenset({COMPLETED, *FAILED_STATES})

# The fast/medium/slow work mix of the design brief: (share, min s, max s) per file.
DURATION_MIX: tuple[tuple[float, float, float], ...] = ((0.5, 10.0, 15.0), (0.3, 30.0, 60.0), (0.2, 60.0, 120.0))

# The request header through which a load generator fixes a job's work per file, in
# scenario milliseconds (the server multiplies them by its time scale).
SIMULATED_WORK_HEADER = "X-Simulated-Work-Ms"

# The poll advice in milliseconds, beside Retry-After's whole seconds (time-scaled runs
# advise less than a second); clients that know it honour it.
RETRY_AFTER_MS_HEADER = "X-Retry-After-Ms"

# The longest a status read is held for a long poll (unscaled seconds): below the strictest
# proxy limit the project knows (Heroku's router, 30 s to the first byte) and below the
# server's own request timeout, so a held read never meets either.
LONGPOLL_MAX_WAIT_S = 25.0
# Answer headers about one request or one client: a cache shared by clients must never replay
# them to another (a request id traces one request; the rate-limit count is one client's).
PER_REQUEST_HEADERS = ("X-Request-ID", "RateLimit-Remaining", "RateLimit-Reset")
# The answer header that says a long poll was held, and for how long (RFC 7240): `wait=<s>`.
PREFERENCE_APPLIED_HEADER = "Preference-Applied"


def progress_percent(done: int, total: int) -> int:
    """The progress shown after `done` of `total` steps: whole tens only, below 100 until
    the job ends, so a job sends at most nine progress events whatever its size."""
    return min(99, 10 * math.floor(10 * done / total))
