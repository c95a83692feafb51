"""Initiate, then poll the status until it is final: every interval, or as the server's
Retry-After says, growing by the backoff factor, with jitter."""

from __future__ import annotations

import gevent

from reference_server.contract import RETRY_AFTER_MS_HEADER

from .base import JobRun


def poll_until_known(job: JobRun, job_id: str) -> None:
    policy = job.scenario.clients.polling
    step = job.scaled(policy.retry_after_s if policy.obey_retry_after else policy.interval_s)
    path, name = job.path("status", job_id)
    while True:
        wait = step * (1 + policy.jitter * (2 * job.rng.random() - 1))
        if job.past_deadline(wait):
            job.give_up("abandoned")
            return
        gevent.sleep(wait)
        resp = job.request("GET", path, name, timely=True)
        if resp.status_code == 200:
            status = job.state(resp.json())
            if status is not None and status in job.target.answers.terminal:
                job.learned(status)
                return
            advice = resp.headers.get(RETRY_AFTER_MS_HEADER) if resp.headers and policy.obey_retry_after else None
            if isinstance(advice, str) and advice:
                step = float(advice) / 1000
        step = min(step * policy.backoff, job.scaled(policy.max_interval_s))


def run(job: JobRun) -> None:
    job_id = job.initiate()
    if job_id is not None:
        poll_until_known(job, job_id)
