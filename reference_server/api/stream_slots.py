"""How many event streams this process holds, per client and in all. A stream costs a
connection and memory for as long as a job runs, so one client cannot hold thousands
(429 with Retry-After: close some first) and the process refuses new ones when full (503:
another process, or later). The counts are per process: each process guards its own
memory."""

from __future__ import annotations

from collections import Counter

from .errors import ApiError

RETRY_AFTER_S = 5  # a client over its cap usually has streams that will end; try again soon


class StreamSlots:
    def __init__(self, per_client: int, total: int) -> None:
        """0 means no limit (benchmarks hold thousands of streams from one address)."""
        self.per_client = per_client
        self.total = total
        self._held: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return sum(self._held.values())

    def take(self, client: str) -> Slot:
        """A slot, held until its `give_back()`; refused (429, 503) when the client or the
        process holds the most it may."""
        if self.per_client and self._held[client] >= self.per_client:
            raise ApiError(
                429,
                "too_many_streams",
                f"This client holds {self._held[client]} event streams, the most one client may; close one first "
                "or follow several jobs on one stream (/v1/download/events?jobs=...)",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        if self.total and self.open >= self.total:
            raise ApiError(503, "streams_full", "This server holds as many event streams as it can; retry shortly",
                           {"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
        self._held[client] += 1
        return Slot(self, client)

    def _give_back(self, client: str) -> None:
        self._held[client] -= 1
        if not self._held[client]:
            del self._held[client]


class Slot:
    """One held stream's slot. Given back by whatever sends the stream, which may outlive
    the handler that took it (`events.EventStream`)."""

    __slots__ = ("_client", "_slots")

    def __init__(self, slots: StreamSlots, client: str) -> None:
        self._slots = slots
        self._client = client

    def give_back(self) -> None:
        self._slots._give_back(self._client)
