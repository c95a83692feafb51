"""The job resource and its event log entries, as stored and as shown to clients."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["queued", "processing", "completed", "failed", "cancelled", "expired"]
ACTIVE: frozenset[str] = frozenset({"queued", "processing"})


@dataclass
class FileResult:
    file_id: int
    status: Literal["pending", "ready", "not_found"] = "pending"
    size: int | None = None


@dataclass
class Lease:
    token: int  # the execution number; a stale token is fenced off
    owner: str
    until: float


@dataclass
class Webhook:
    url: str
    id: str
    status: Literal["idle", "pending", "delivered", "failed"] = "idle"
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None
    next_at: float | None = None  # when the next attempt is due (None: now)
    sending_until: float | None = None  # an attempt is in flight until then; fences a second sender


@dataclass
class Artifact:
    key: str
    size: int
    sha256: str


@dataclass
class JobError:
    code: str
    message: str
    retryable: bool


@dataclass
class Job:
    id: str
    file_ids: list[int]
    client: str
    created_at: float
    state: State = "queued"
    progress: int = 0
    files: list[FileResult] = field(default_factory=list)
    seq: int = 0  # id of the last event in this job's log
    executions: int = 0
    lease: Lease | None = None
    started_at: float | None = None
    completed_at: float | None = None
    expires_at: float | None = None
    estimated_s: float = 0.0
    work_s: float | None = None  # fixed simulated work per file (unscaled), else drawn
    artifact: Artifact | None = None
    error: JobError | None = None
    webhook: Webhook | None = None
    dedupe_key: str | None = None
    request_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Job:
        data = json.loads(raw)
        data["files"] = [FileResult(**f) for f in data["files"]]
        for name, kind in (("lease", Lease), ("webhook", Webhook), ("error", JobError), ("artifact", Artifact)):
            if data[name] is not None:
                data[name] = kind(**data[name])
        return cls(**data)

    @property
    def forget_at(self) -> float | None:
        """When an ended job's record may go: one TTL past expiry, so late clients learn
        "expired" rather than "unknown"."""
        if self.expires_at is None or self.completed_at is None:
            return None
        return 2 * self.expires_at - self.completed_at

    def state_at(self, now: float) -> State:
        if self.state == "completed" and self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return self.state


EventType = Literal["queued", "processing", "progress", "completed", "failed", "cancelled"]


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "type": self.type, "data": self.data}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        d = json.loads(raw)
        return cls(d["seq"], d["type"], d["data"])
