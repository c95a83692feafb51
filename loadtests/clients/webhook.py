"""Initiate with a callback URL on the load generator's own receiver, then wait for the
signed webhook (the receiver checks the signature and drops redeliveries)."""

from __future__ import annotations

from .base import JobRun


def webhook_horizon_s(job: JobRun) -> float:
    """Real seconds after which the server's whole retry schedule is surely over: a client
    that never abandons stops waiting there, and the job counts as not delivered."""
    schedule = job.scenario.clients.webhook.retry_schedule_s
    return job.scaled(job.arrival.work_s + sum(schedule) + 120)


def wait_for_webhook(job: JobRun, job_id: str) -> None:
    assert job.receiver is not None
    left = job.time_left()
    delivery = job.receiver.wait(job_id, webhook_horizon_s(job) if left is None else left)
    if delivery is None:
        job.give_up("gave_up" if left is None else "abandoned")
        return
    job.learned(delivery.status, delivery.received)


def run(job: JobRun) -> None:
    job_id = job.initiate(callback=True)
    if job_id is not None:
        wait_for_webhook(job, job_id)
