"""The async request-reply API: start a job, read its status, fetch its result, cancel it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid

from aiohttp import web

from ..contract import PREFERENCE_APPLIED_HEADER
from ..jobs import transitions
from ..jobs.model import ACTIVE, FileResult, Job, Webhook
from ..jobs.workload import mean_delay_s
from ..store.base import StoredResponse
from . import validation
from .context import Context, context
from .errors import ApiError, request_id
from .middleware import RATE, reads_job_ahead
from .representation import BASE, etag, job_body, links, retry_after_headers

routes = web.RouteTableDef()


def origin(request: web.Request) -> str:
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    return f"{proto}://{request.host}"


def _fingerprint(file_ids: list[int], callback: str | None) -> str:
    return hashlib.sha256(json.dumps([file_ids, callback]).encode()).hexdigest()


def _dedupe_key(client: str, file_ids: list[int], callback: str | None) -> str:
    return hashlib.sha256(json.dumps([client, sorted(file_ids), callback]).encode()).hexdigest()


def _accepted_body(job: Job) -> dict[str, object]:
    return {
        "jobId": job.id,
        "status": job.state,
        "totalFileIds": len(job.file_ids),
        "estimatedTime": round(job.estimated_s, 3),
        "links": links(job.id),
    }


@routes.post("/v1/download/initiate")
async def initiate(request: web.Request) -> web.Response:
    ctx = context(request)
    s = ctx.settings
    body = await validation.json_object(request, s.body_timeout_s)
    file_ids = validation.file_ids(body)
    callback = validation.callback_url(body, ctx.callbacks)
    key = validation.idempotency_key(request)
    work_s = validation.simulated_work_s(request, s.simulated_work_header)
    client = ctx.identity.of(request)
    now = time.time()
    job_id = str(uuid.uuid4())
    job = Job(
        id=job_id,
        file_ids=file_ids,
        client=client,
        created_at=now,
        files=[FileResult(f) for f in file_ids],
        estimated_s=s.scaled(mean_delay_s(s.delay) if work_s is None else work_s) * len(file_ids),
        work_s=work_s,
        webhook=Webhook(url=callback, id=f"msg_{job_id.replace('-', '')}") if callback else None,
        # Without a key, the same client asking for the same files while a job runs gets that job.
        dedupe_key=None if key else _dedupe_key(client, file_ids, callback),
        request_id=request_id(request),
    )
    response = StoredResponse(_fingerprint(file_ids, callback), 202, _accepted_body(job))
    outcome = await ctx.store.create(
        job,
        f"{client}\n{key}" if key else None,
        response,
        ttl_s=s.scaled(s.job_ttl_s),
        idem_ttl_s=s.scaled(s.idempotency_ttl_s),
    )
    if outcome.kind == "payload_mismatch":
        raise ApiError(422, "idempotency_key_reused", "This Idempotency-Key was used with a different request body")
    if outcome.kind == "queue_full":
        raise ApiError(503, "queue_full", "Queue is full. Please try again later.", retry_after_headers(s))
    if outcome.kind == "active":
        assert outcome.job is not None
        await ctx.metrics.inc("dl_initiate_replays_total", reason="active_job")
        headers = {"Location": links(outcome.job.id)["status"], "X-Job-Reused": "active-job", **retry_after_headers(s)}
        return web.json_response(_accepted_body(outcome.job), status=200, headers=headers)
    assert outcome.response is not None
    stored = outcome.response
    headers = {"Location": links(stored.body["jobId"])["status"], **retry_after_headers(s)}
    if outcome.kind == "replayed":
        await ctx.metrics.inc("dl_initiate_replays_total", reason="idempotency_key")
        headers["Idempotent-Replayed"] = "true"
    else:
        await ctx.metrics.inc("dl_jobs_created_total")
    return web.json_response(stored.body, status=stored.status, headers=headers)


async def _read(ctx: Context, job_id: str) -> Job:
    job = await ctx.store.get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"No job with id {job_id!r} (it may have been removed after expiry)")
    return job


async def _job(request: web.Request) -> Job:
    return await _read(context(request), validation.job_id(request))


def _client_tags(request: web.Request) -> set[str]:
    return {t.strip() for t in request.headers.get("If-None-Match", "").split(",") if t.strip()}


async def _held(ctx: Context, job_id: str, seen: set[str], wait_s: float) -> Job:
    """The job once it differs from what the client has seen (its If-None-Match, else the
    job as this read found it), or once it is no longer active, or after `wait_s`."""
    # Registered before the first read, so a change between a read and the wait still wakes it.
    with ctx.store.notifier.watching([job_id]) as woken:
        job = await _read(ctx, job_id)
        seen = seen or {etag(job, ctx.settings, time.time())}
        try:
            async with asyncio.timeout(wait_s):
                while job.state_at(time.time()) in ACTIVE and etag(job, ctx.settings, time.time()) in seen:
                    await woken.wait()
                    woken.clear()
                    job = await _read(ctx, job_id)
        except TimeoutError:
            pass  # nothing changed: answered as it stands (304 to a client that sent its ETag)
        return job


@routes.get(BASE + "/{job_id}")
@reads_job_ahead
async def status(request: web.Request) -> web.Response:
    """The job's status; with `wait` (a long poll), held until the job changes or the wait
    (capped at LONGPOLL_MAX_WAIT_S, below every proxy's limit) passes."""
    ctx = context(request)
    s = ctx.settings
    job_id = validation.job_id(request)
    asked = validation.wait_s(request)
    seen = _client_tags(request)
    if asked is None:
        job = request[RATE].job or await _read(ctx, job_id)  # read with the rate limit; None: 404
        headers = {"Cache-Control": "public, max-age=0, s-maxage=1"}
    else:
        applied = min(asked, s.scaled(s.longpoll_max_wait_s))
        job = await _held(ctx, job_id, seen, applied)
        # A held answer is one client's; the next long poll comes at once, so no Retry-After.
        headers = {"Cache-Control": "no-store", PREFERENCE_APPLIED_HEADER: f"wait={applied:g}"}
    now = time.time()
    tag = etag(job, s, now)
    headers["ETag"] = tag
    if asked is None and job.state_at(now) in ACTIVE:
        headers.update(retry_after_headers(s))
    if tag in seen:
        await ctx.metrics.inc("dl_status_requests_total", result="304")
        return web.Response(status=304, headers=headers)
    await ctx.metrics.inc("dl_status_requests_total", result="200")
    host = origin(request)
    text = ctx.bodies.get(tag, host, lambda: job_body(job, s, ctx.artifacts, host, now))
    return web.json_response(text=text, headers=headers)


@routes.get(BASE + "/{job_id}/download")
async def download(request: web.Request) -> web.Response:
    ctx = context(request)
    job = await _job(request)
    now = time.time()
    state = job.state_at(now)
    if state == "expired":
        raise ApiError(410, "job_expired", "The result of this job has expired; start a new job")
    if state in ACTIVE:
        raise ApiError(
            409, "job_not_ready", f"The job is {state}; follow its status or events", retry_after_headers(ctx.settings)
        )
    if state != "completed":
        raise ApiError(409, f"job_{state}", f"The job is {state}; there is nothing to download")
    body = job_body(job, ctx.settings, ctx.artifacts, origin(request), now)
    # 303: the client fetches the presigned URL with GET whatever it sent here. Built by
    # hand because aiohttp's redirect classes re-encode the URL, and a signature covers its bytes.
    return web.Response(status=303, headers={"Location": body["downloadUrl"], "Cache-Control": "no-store"})


@routes.delete(BASE + "/{job_id}")
async def cancel(request: web.Request) -> web.Response:
    ctx = context(request)
    job = await _job(request)
    ttl = ctx.settings.scaled(ctx.settings.job_ttl_s)
    change = await ctx.store.update(job.id, lambda j: transitions.cancel(j, time.time(), ttl))
    if change is None:
        current = await ctx.store.get(job.id) or job
        raise ApiError(
            409, "job_finished", f"The job is already {current.state_at(time.time())}; it cannot be cancelled"
        )
    return web.json_response({"jobId": job.id, "status": "cancelled", "message": "Job cancelled successfully"})
