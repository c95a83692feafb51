"""The job state machine and the admission rules both stores share."""

from __future__ import annotations

from reference_server.jobs import transitions as t
from reference_server.jobs.model import Artifact, FileResult, Job, JobError, Webhook
from reference_server.store.base import StoredResponse, decide_create


def new_job(**kw: object) -> Job:
    job = Job(id="j", file_ids=[70000], client="c", created_at=0.0, files=[FileResult(70000)], **kw)  # type: ignore[arg-type]
    return t.created(job).job


def test_claim_fences_the_previous_holder_after_its_lease_runs_out() -> None:
    first = t.claim(new_job(), "a", now=0, lease_s=10)
    assert first is not None and first.job.lease is not None and first.job.lease.token == 1
    assert t.claim(first.job, "b", now=5, lease_s=10) is None  # lease still live
    second = t.claim(first.job, "b", now=10, lease_s=10)
    assert second is not None and second.job.executions == 2
    assert second.events[-1].data["reclaimed"] is True
    # The old holder's writes are refused; the new holder's go through.
    assert t.report_progress(second.job, 1, [], 50) is None
    assert t.finish(second.job, 1, 11, 60, [], Artifact("k", 1, "s"), None) is None
    done = t.finish(second.job, 2, 11, 60, [], Artifact("k", 1, "s"), None)
    assert done is not None and done.job.state == "completed" and done.terminal


def test_progress_never_goes_back_and_only_rises_emit_events() -> None:
    claimed = t.claim(new_job(), "a", 0, 10)
    assert claimed is not None
    up = t.report_progress(claimed.job, 1, [], 40)
    assert up is not None and [e.type for e in up.events] == ["progress"]
    same = t.report_progress(up.job, 1, [], 30)
    assert same is not None and same.job.progress == 40 and same.events == []


def test_event_sequence_is_gap_free() -> None:
    job = new_job()
    seqs = [1]
    for change in (t.claim(job, "a", 0, 10),):
        assert change is not None
        job = change.job
        seqs += [e.seq for e in change.events]
    for p in (10, 20):
        change = t.report_progress(job, 1, [], p)
        assert change is not None
        job = change.job
        seqs += [e.seq for e in change.events]
    change = t.finish(job, 1, 1, 1, [], None, JobError("X", "x", False))
    assert change is not None
    seqs += [e.seq for e in change.events]
    assert seqs == list(range(1, len(seqs) + 1)) and change.job.seq == seqs[-1]


def test_cancel_only_active_jobs_and_webhook_is_due_on_every_terminal_state() -> None:
    job = new_job(webhook=Webhook(url="http://h/", id="msg_1"))
    cancelled = t.cancel(job, 1, 60)
    assert cancelled is not None and cancelled.terminal
    assert cancelled.job.webhook is not None and cancelled.job.webhook.status == "pending"
    assert t.cancel(cancelled.job, 2, 60) is None
    assert t.claim(cancelled.job, "a", 3, 10) is None


def test_webhook_attempts_are_recorded_once_each_and_scheduled() -> None:
    job = new_job(webhook=Webhook(url="http://h/", id="msg_1", status="pending"))
    failed = t.webhook_attempt(job, 0, 500, "HTTP 500", delivered=False, gave_up=False, now=1, next_in_s=10)
    assert failed is not None and failed.job.webhook is not None
    assert (failed.job.webhook.status, failed.job.webhook.attempts, failed.job.webhook.next_at) == ("pending", 1, 11)
    # A second report of the same attempt (a dispatcher that lost its claim) changes nothing.
    assert t.webhook_attempt(failed.job, 0, 204, None, delivered=True, gave_up=False, now=2, next_in_s=0) is None
    ok = t.webhook_attempt(failed.job, 1, 204, None, delivered=True, gave_up=False, now=12, next_in_s=0)
    assert ok is not None and ok.job.webhook is not None
    assert (ok.job.webhook.status, ok.job.webhook.attempts) == ("delivered", 2)


def test_a_webhook_attempt_is_claimed_by_one_dispatcher_and_only_when_due() -> None:
    job = new_job(webhook=Webhook(url="http://h/", id="msg_1", status="pending", attempts=1, next_at=10))
    assert t.webhook_claim(job, 1, due=10, now=9, until=20) is None  # not yet due
    assert t.webhook_claim(job, 0, due=10, now=10, until=20) is None  # an attempt already made
    first = t.webhook_claim(job, 1, due=10, now=10, until=20)
    assert first is not None
    assert t.webhook_claim(first.job, 1, due=10, now=15, until=25) is None  # held by the first
    assert t.webhook_claim(first.job, 1, due=10, now=20, until=30) is not None  # the holder went silent


def test_expiry_is_derived_from_the_clock() -> None:
    claimed = t.claim(new_job(), "a", 0, 10)
    assert claimed is not None
    done = t.finish(claimed.job, 1, now=100, ttl_s=50, files=[], artifact=Artifact("k", 1, "s"), error=None)
    assert done is not None
    assert done.job.state_at(149) == "completed" and done.job.state_at(150) == "expired"


def test_job_round_trips_through_json() -> None:
    claimed = t.claim(new_job(webhook=Webhook(url="http://h/", id="msg_1")), "a", 0, 10)
    assert claimed is not None
    assert Job.from_json(claimed.job.to_json()) == claimed.job


def test_admission_rules() -> None:
    stored = StoredResponse("fp", 202, {"jobId": "j"})
    assert decide_create(stored, "fp", None, 0, 10) == "replayed"
    assert decide_create(stored, "other", None, 0, 10) == "payload_mismatch"
    assert decide_create(None, "fp", new_job(), 0, 10) == "active"
    assert decide_create(None, "fp", None, 10, 10) == "queue_full"
    assert decide_create(None, "fp", None, 9, 10) == "created"


def test_a_transition_leaves_the_job_it_was_given_as_it_was() -> None:
    # Transitions copy a job shallowly: whatever one changes in place must be its own.
    job = new_job(webhook=Webhook(url="http://h/", id="msg_1"))
    claimed = t.claim(job, "a", 0, 10)
    assert claimed is not None
    before = claimed.job.to_json()
    changes = [
        t.renew(claimed.job, 1, now=5, lease_s=10),
        t.report_progress(claimed.job, 1, [FileResult(70000, "ready", 1)], 50),
        t.finish(claimed.job, 1, 9, 60, [FileResult(70000, "ready", 1)], Artifact("k", 1, "s"), None),
        t.cancel(claimed.job, 9, 60),
    ]
    assert all(c is not None for c in changes)
    assert claimed.job.to_json() == before
    ended = changes[2]
    assert ended is not None
    before = ended.job.to_json()
    attempted = t.webhook_attempt(ended.job, 0, 204, None, delivered=True, gave_up=False, now=10, next_in_s=0)
    assert attempted is not None and t.webhook_claim(ended.job, 0, due=0, now=10, until=20) is not None
    assert ended.job.to_json() == before
