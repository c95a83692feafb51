"""The synchronous call (the reference server's `POST /v1/download/start`): the client holds
the request while the work runs; a proxy that times out first answers its status, and the
client retries the same file as the policy says, which the server sees as the same work
started again."""

from __future__ import annotations

from reference_server.contract import epoch_s

from .base import JobRun


def run(job: JobRun) -> None:
    policy = job.scenario.clients.sync
    path, name = job.path("sync")
    body = job.target.bodies.render("sync", job.arrival.file_ids)
    for attempt in range(policy.retries + 1):
        resp = job.request("POST", path, name, json=body, headers=job.work_headers(files=1))
        if resp.status_code == 200:
            answer = resp.json()
            if "completedAt" in answer:  # the reference server says when the work ended
                job.log.server_completed = epoch_s(answer["completedAt"])
            job.learned(job.state(answer) or "")
            return
        job.log.error = f"start answered {resp.status_code}"
        if attempt < policy.retries:
            job.sleep(policy.retry_delay_s)
    job.give_up("gave_up")
