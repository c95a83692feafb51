"""Every change a job can go through, as pure functions on a `Job`.

Both stores run these same functions, inside one atomic step each (a lock in memory, a
compare-and-set script in Redis), so the rules live in one place. A function returns None
when the change does not apply (wrong state, stale lease); the caller then writes nothing.
Writes from a worker carry the fencing token it got when it claimed the job: after a
lease was taken over, the old holder's writes are refused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .model import ACTIVE, Artifact, Event, FileResult, Job, JobError, Lease


@dataclass
class Change:
    job: Job
    events: list[Event] = field(default_factory=list)
    terminal: bool = False  # leaves the active set; a webhook may be due
    # Counter series the store adds one to in the step that writes the change, so that what it
    # counts is counted once: a write retried after a lost reply finds the change made.
    counted: list[str] = field(default_factory=list)

    def emit(self, type_: str, **data: object) -> None:
        self.job.seq += 1
        self.events.append(Event(self.job.seq, type_, {"state": self.job.state, "progress": self.job.progress, **data}))


def _begin(job: Job) -> Change:
    # A shallow copy with its own lease and webhook, the parts transitions change in place; the
    # rest is replaced whole or never changed. A deep copy of each job at each change was a
    # worker's cost with nothing to show for it.
    changed = copy.copy(job)
    changed.lease = copy.copy(job.lease)
    changed.webhook = copy.copy(job.webhook)
    return Change(changed)


def created(job: Job) -> Change:
    change = Change(job)
    change.emit("queued")
    return change


def claim(job: Job, owner: str, now: float, lease_s: float) -> Change | None:
    """Take the job for one execution: fresh from the queue, or after its holder's lease ran out."""
    if job.state == "queued":
        reclaimed = False
    elif job.state == "processing" and job.lease is not None and job.lease.until <= now:
        reclaimed = True
    else:
        return None
    change = _begin(job)
    j = change.job
    j.state = "processing"
    j.executions += 1
    j.lease = Lease(token=j.executions, owner=owner, until=now + lease_s)
    if j.started_at is None:
        j.started_at = now
    change.emit("processing", attempt=j.executions, reclaimed=reclaimed)
    return change


def holds(job: Job, token: int) -> bool:
    return job.state == "processing" and job.lease is not None and job.lease.token == token


def renew(job: Job, token: int, now: float, lease_s: float) -> Change | None:
    if not holds(job, token):
        return None
    change = _begin(job)
    assert change.job.lease is not None
    change.job.lease.until = now + lease_s
    return change


def report_progress(job: Job, token: int, files: list[FileResult], progress: int) -> Change | None:
    if not holds(job, token):
        return None
    change = _begin(job)
    change.job.files = copy.deepcopy(files)
    # A re-execution after a lost lease starts over; progress shown to clients never goes back.
    if progress > change.job.progress:
        change.job.progress = progress
        change.emit("progress")
    return change


def finish(
    job: Job,
    token: int,
    now: float,
    ttl_s: float,
    files: list[FileResult],
    artifact: Artifact | None,
    error: JobError | None,
) -> Change | None:
    if not holds(job, token):
        return None
    change = _begin(job)
    j = change.job
    j.files = copy.deepcopy(files)
    j.lease = None
    j.completed_at = now
    j.expires_at = now + ttl_s
    if error is None:
        assert artifact is not None
        j.state = "completed"
        j.progress = 100
        j.artifact = artifact
    else:
        j.state = "failed"
        j.error = error
    _terminal(change)
    change.emit(j.state, **({"error": _error_dict(error)} if error else {}))
    return change


def cancel(job: Job, now: float, ttl_s: float) -> Change | None:
    if job.state not in ACTIVE:
        return None
    change = _begin(job)
    j = change.job
    j.state = "cancelled"
    j.lease = None
    j.completed_at = now
    j.expires_at = now + ttl_s
    _terminal(change)
    change.emit("cancelled")
    return change


def _terminal(change: Change) -> None:
    change.terminal = True
    if change.job.webhook is not None:
        change.job.webhook.status = "pending"


def webhook_claim(job: Job, attempt: int, due: float, now: float, until: float) -> Change | None:
    """Take attempt number `attempt` (due at `due`) for sending, unless it is done, not yet
    due, or another dispatcher holds it: two dispatchers holding copies of one delivery
    never both send it."""
    hook = job.webhook
    if hook is None or hook.status != "pending" or hook.attempts != attempt:
        return None
    if due > now or (hook.sending_until or 0) > now:
        return None
    change = _begin(job)
    assert change.job.webhook is not None
    change.job.webhook.sending_until = until
    return change


def webhook_attempt(
    job: Job,
    attempt: int,
    status: int | None,
    error: str | None,
    delivered: bool,
    gave_up: bool,
    now: float,
    next_in_s: float,
) -> Change | None:
    """Record attempt number `attempt`, once; the next is due `next_in_s` from now."""
    if job.webhook is None or job.webhook.attempts != attempt:
        return None
    change = _begin(job)
    hook = change.job.webhook
    assert hook is not None
    hook.attempts += 1
    hook.last_status = status
    hook.last_error = error
    hook.sending_until = None
    if delivered:
        hook.status = "delivered"
        hook.delivered_at = now
    elif gave_up:
        hook.status = "failed"
    else:
        hook.next_at = now + next_in_s
    return change


def _error_dict(error: JobError) -> dict[str, object]:
    return {"code": error.code, "message": error.message, "retryable": error.retryable}
