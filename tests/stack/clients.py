"""What the regression tests judge beyond the checks in `checks.suite`: event timing
through a buffering proxy."""

from __future__ import annotations

from checks.target_client import Followed


def events_timely(seen: Followed, job_s: float) -> bool:
    """The buffering check: the first event arrives at once and the rest spread over the job,
    instead of arriving late and bunched when a proxy flushes its buffer."""
    if not seen.events:
        return False
    arrivals = [e.received for e in seen.events]
    first_delay = arrivals[0] - seen.connected_at
    spread = arrivals[-1] - arrivals[0]
    return first_delay < 0.25 * job_s and spread > 0.5 * job_s
