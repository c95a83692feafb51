"""The hybrid: follow the job over SSE; once as many connections as the policy tolerates
have ended before their first byte (none within `first_byte_s`), poll instead
(honouring Retry-After). With `webhook = true` a signed webhook
also comes; the client knows as soon as either channel tells it."""

from __future__ import annotations

import gevent

from .base import JobRun
from .polling import poll_until_known
from .sse import follow_stream
from .webhook import webhook_horizon_s


def follow(job: JobRun, job_id: str) -> None:
    policy = job.scenario.clients.hybrid
    given_up = not follow_stream(job, job_id, policy.stream_failures_before_polling, policy.first_byte_s)
    if given_up and not job.past_deadline():
        poll_until_known(job, job_id)


def run(job: JobRun) -> None:
    with_webhook = job.scenario.clients.hybrid.webhook
    job_id = job.initiate(callback=with_webhook)
    if job_id is None:
        return
    if not with_webhook:
        follow(job, job_id)
        return
    assert job.receiver is not None
    channel = gevent.spawn(follow, job, job_id)
    left = job.time_left()
    hook = gevent.spawn(job.receiver.wait, job_id, webhook_horizon_s(job) if left is None else left)
    gevent.wait([channel, hook], count=1)
    if hook.ready() and hook.value is not None:
        job.learned(hook.value.status, hook.value.received)
    channel.kill()  # whichever channel told first, the other is no longer needed
    hook.kill()
