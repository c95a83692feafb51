"""Initiate, then read the status with `Prefer: wait` (a long poll) until it is final:
each read is held by the server until the job changes, and the next goes out as soon as
an answer arrives, carrying the last ETag. A server that does not say `Preference-Applied`
did not hold the read, so the client waits the polling interval before the next (as after
an error or a lost connection; the HTTP client itself resends a read reset before its answer)."""

from __future__ import annotations

import gevent

from reference_server.contract import PREFERENCE_APPLIED_HEADER

from .base import JobRun


def long_poll_until_known(job: JobRun, job_id: str) -> None:
    c = job.scenario.clients
    prefer = {"Prefer": f"wait={job.scaled(c.longpoll.wait_s):.3f}"}
    path, name = job.path("status", job_id)
    tag: dict[str, str] = {}
    while not job.past_deadline():
        resp = job.request("GET", path, name, headers={**prefer, **tag})
        if resp.status_code == 200:
            status = job.state(resp.json())
            if status is not None and status in job.target.answers.terminal:
                job.learned(status)
                return
        if resp.status_code in (200, 304) and resp.headers and resp.headers.get("ETag"):
            tag = {"If-None-Match": str(resp.headers["ETag"])}
        held = resp.status_code in (200, 304) and resp.headers and resp.headers.get(PREFERENCE_APPLIED_HEADER)
        if not held:  # not held, refused or lost: do not hammer the server
            gevent.sleep(job.scaled(c.polling.interval_s))
    job.give_up("abandoned")


def run(job: JobRun) -> None:
    job_id = job.initiate()
    if job_id is not None:
        long_poll_until_known(job, job_id)
