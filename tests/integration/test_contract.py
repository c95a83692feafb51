"""The HTTP contract, checked on a real server process in each mode (embedded, and on
real Redis + MinIO): every endpoint, header and status, and every response against the
server's own OpenAPI document."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile

import aiohttp
import pytest

from tests.conftest import Running, ServerFactory
from tests.helpers import OpenApi, initiate, job, metrics, wait_state

pytestmark = pytest.mark.integration
JOB = "/v1/download/jobs/{job_id}"


@pytest.fixture
async def api(http: aiohttp.ClientSession, server: Running) -> OpenApi:
    async with http.get(f"{server.url}/openapi.json") as resp:
        assert resp.status == 200
        return OpenApi(await resp.json())


async def test_root_and_health(http: aiohttp.ClientSession, server: Running, api: OpenApi) -> None:
    async with http.get(f"{server.url}/") as resp:
        assert await resp.json() == {"message": "Hello Hono!"}
    async with http.get(f"{server.url}/health") as resp:
        body = await resp.json()
        api.check("/health", "GET", resp.status, body)
    expected = {"storage": "ok"} if server.mode == "embedded" else {"storage": "ok", "redis": "ok"}
    assert (resp.status, body) == (200, {"status": "healthy", "checks": expected})


async def test_common_headers(http: aiohttp.ClientSession, server: Running) -> None:
    async with http.get(f"{server.url}/", headers={"X-Request-ID": "trace-abc.123"}) as resp:
        h = resp.headers
        assert h["X-Request-ID"] == "trace-abc.123"
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["X-Frame-Options"] == "SAMEORIGIN"
        assert h["Strict-Transport-Security"].startswith("max-age=")
        assert h["Access-Control-Allow-Origin"] == "*"
        assert int(h["RateLimit-Limit"]) == 1_000_000
        assert 0 <= int(h["RateLimit-Remaining"]) < 1_000_000
        assert "RateLimit-Remaining" in h["Access-Control-Expose-Headers"]
        # A document's policies are the page's, not a JSON answer's.
        assert "Referrer-Policy" not in h and "Cross-Origin-Opener-Policy" not in h
    async with http.get(f"{server.url}/app/") as resp:
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(f"{server.url}/health") as resp:
        uuid.UUID(resp.headers["X-Request-ID"])  # generated when the client sent none
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    async with http.options(f"{server.url}/v1/download/initiate", headers=preflight) as resp:
        assert resp.status == 204
        assert "Idempotency-Key" in resp.headers["Access-Control-Allow-Headers"]
        assert "DELETE" in resp.headers["Access-Control-Allow-Methods"]


async def test_check(http: aiohttp.ClientSession, server: Running, api: OpenApi) -> None:
    for file_id, available in ((70000, True), (99999, False)):
        async with http.post(f"{server.url}/v1/download/check", json={"file_id": file_id}) as resp:
            body = await resp.json()
            api.check("/v1/download/check", "POST", resp.status, body)
        assert body["available"] is available
        assert body["s3Key"] == (f"downloads/{file_id}.zip" if available else None)


async def test_sync_start_prepares_a_real_file(http: aiohttp.ClientSession, server: Running, api: OpenApi) -> None:
    async with http.post(f"{server.url}/v1/download/start", json={"file_id": 70007}) as resp:
        body = await resp.json()
        api.check("/v1/download/start", "POST", resp.status, body)
    assert body["status"] == "completed" and body["processingTimeMs"] >= 200
    async with http.get(body["downloadUrl"]) as resp:
        data = await resp.read()
    assert resp.status == 200 and len(data) == body["size"]
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["file-70007.bin"]
    async with http.post(f"{server.url}/v1/download/start", json={"file_id": 70001}) as resp:
        body = await resp.json()
    assert (body["status"], body["downloadUrl"]) == ("failed", None)
    assert body["message"].startswith("File not found after")


async def test_job_lifecycle(http: aiohttp.ClientSession, server: Running, api: OpenApi) -> None:
    status, body, headers = await initiate(http, server.url, [70000, 70001, 70014])
    api.check("/v1/download/initiate", "POST", status, body)
    assert status == 202 and body["status"] == "queued" and body["totalFileIds"] == 3
    job_id = body["jobId"]
    assert headers["Location"] == f"/v1/download/jobs/{job_id}" == body["links"]["status"]
    assert int(headers["Retry-After"]) >= 1 and int(headers["X-Retry-After-Ms"]) > 0

    async with http.get(f"{server.url}/v1/download/jobs/{job_id}/download", allow_redirects=False) as resp:
        err = await resp.json()
        api.check(JOB + "/download", "GET", resp.status, err)
    assert resp.status == 409 and err["error"] == "job_not_ready"

    async with http.get(f"{server.url}/v1/download/jobs/{job_id}") as resp:
        pending = await resp.json()
        api.check(JOB, "GET", resp.status, pending)
        assert "Retry-After" in resp.headers and "s-maxage=1" in resp.headers["Cache-Control"]
        tag = resp.headers["ETag"]
    async with http.get(f"{server.url}/v1/download/jobs/{job_id}", headers={"If-None-Match": tag}) as resp:
        assert resp.status in (200, 304)  # 200 only if the job moved on in between

    done = await wait_state(http, server.url, job_id, {"completed"})
    api.check(JOB, "GET", 200, done)
    assert [f["status"] for f in done["files"]] == ["ready", "not_found", "ready"]
    assert done["progress"] == 100 and done["executions"] == 1 and "Retry-After" not in done
    async with http.get(f"{server.url}/v1/download/jobs/{job_id}") as resp:
        tag = resp.headers["ETag"]
        assert "Retry-After" not in resp.headers
    async with http.get(f"{server.url}/v1/download/jobs/{job_id}", headers={"If-None-Match": tag}) as resp:
        assert resp.status == 304

    async with http.get(f"{server.url}/v1/download/jobs/{job_id}/download", allow_redirects=False) as resp:
        assert resp.status == 303
        location = resp.headers["Location"]
    assert location == done["downloadUrl"]  # same signing window, so the same link
    async with http.get(location) as resp:
        data = await resp.read()
    assert resp.status == 200
    assert hashlib.sha256(data).hexdigest() == done["artifact"]["sha256"]
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["file-70000.bin", "file-70014.bin"]

    async with http.delete(f"{server.url}/v1/download/jobs/{job_id}") as resp:
        err = await resp.json()
        api.check(JOB, "DELETE", resp.status, err)
    assert resp.status == 409 and err["error"] == "job_finished"


async def test_job_of_missing_files_fails_without_retry(http: aiohttp.ClientSession, server: Running) -> None:
    _, body, _ = await initiate(http, server.url, [70001])
    done = await wait_state(http, server.url, body["jobId"], {"failed"})
    assert done["error"] == {"code": "FILE_NOT_FOUND", "message": done["error"]["message"], "retryable": False}
    assert done["executions"] == 1
    async with http.get(f"{server.url}/v1/download/jobs/{body['jobId']}/download") as resp:
        assert (resp.status, (await resp.json())["error"]) == (409, "job_failed")


async def test_cancel_stops_the_worker(http: aiohttp.ClientSession, servers: ServerFactory, server: Running) -> None:
    slow = servers.start(server.mode, DOWNLOAD_DELAY_MIN_MS="100000", DOWNLOAD_DELAY_MAX_MS="100000")
    _, body, _ = await initiate(http, slow.url, [70000])
    job_id = body["jobId"]
    await wait_state(http, slow.url, job_id, {"processing"})
    async with http.delete(f"{slow.url}/v1/download/jobs/{job_id}") as resp:
        assert (resp.status, (await resp.json())["status"]) == (200, "cancelled")
    await wait_state(http, slow.url, job_id, {"cancelled"})
    after = await metrics(http, slow.url)
    assert after.get('dl_executions_completed_total{api="async"}', 0) == 0
    assert after.get('dl_duplicate_executions_total{api="async"}', 0) == 0
    assert (await job(http, slow.url, job_id))["status"] == "cancelled"


async def test_idempotency_key(http: aiohttp.ClientSession, server: Running, api: OpenApi) -> None:
    key = str(uuid.uuid4())
    first = await initiate(http, server.url, [70000], key=key)
    again = await initiate(http, server.url, [70000], key=key)
    assert first[0] == again[0] == 202
    assert again[1] == first[1] and again[2]["Idempotent-Replayed"] == "true"
    status, err, _ = await initiate(http, server.url, [70007], key=key)
    api.check("/v1/download/initiate", "POST", status, err)
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    await wait_state(http, server.url, first[1]["jobId"], {"completed"})
    late = await initiate(http, server.url, [70000], key=key)
    assert late[1]["jobId"] == first[1]["jobId"]  # replayed after completion too


async def test_active_job_is_reused_without_a_key(http: aiohttp.ClientSession, server: Running) -> None:
    first = await initiate(http, server.url, [70021, 70028])
    second = await initiate(http, server.url, [70028, 70021])
    assert first[0] == 202
    assert (second[0], second[1]["jobId"], second[2]["X-Job-Reused"]) == (200, first[1]["jobId"], "active-job")
    await wait_state(http, server.url, first[1]["jobId"], {"completed"})
    third = await initiate(http, server.url, [70021, 70028])
    assert third[0] == 202 and third[1]["jobId"] != first[1]["jobId"]


async def test_expired_job(http: aiohttp.ClientSession, servers: ServerFactory, server: Running) -> None:
    short = servers.start(server.mode, JOB_TTL_S="30")  # 0.3 s at this time scale
    _, body, _ = await initiate(http, short.url, [70000])
    await wait_state(http, short.url, body["jobId"], {"expired"})
    async with http.get(f"{short.url}/v1/download/jobs/{body['jobId']}/download") as resp:
        assert (resp.status, (await resp.json())["error"]) == (410, "job_expired")


async def test_queue_full(http: aiohttp.ClientSession, servers: ServerFactory, server: Running) -> None:
    full = servers.start(
        server.mode, WORKERS="1", MAX_QUEUED_JOBS="1", DOWNLOAD_DELAY_MIN_MS="300000", DOWNLOAD_DELAY_MAX_MS="300000"
    )
    running = await initiate(http, full.url, [70000])
    await wait_state(http, full.url, running[1]["jobId"], {"processing"})
    assert (await initiate(http, full.url, [70007]))[0] == 202
    status, err, headers = await initiate(http, full.url, [70014])
    assert (status, err["error"]) == (503, "queue_full") and "Retry-After" in headers


async def test_rate_limit(http: aiohttp.ClientSession, servers: ServerFactory, server: Running) -> None:
    limited = servers.start(server.mode, RATE_LIMIT_MAX_REQUESTS="3")
    statuses = []
    for _ in range(4):
        async with http.get(f"{limited.url}/") as resp:
            statuses.append(resp.status)
            last = resp
            body = await resp.json() if resp.status == 429 else None
    assert statuses == [200, 200, 200, 429]
    assert int(last.headers["Retry-After"]) >= 1 and last.headers["RateLimit-Remaining"] == "0"
    assert body is not None and body["error"] == "rate_limited" and body["requestId"]


async def test_metrics_count_jobs(http: aiohttp.ClientSession, servers: ServerFactory, server: Running) -> None:
    fresh = servers.start(server.mode)
    _, body, _ = await initiate(http, fresh.url, [70000])
    await wait_state(http, fresh.url, body["jobId"], {"completed"})
    m = await metrics(http, fresh.url)
    assert m["dl_jobs_created_total"] == 1
    assert m['dl_executions_started_total{api="async"}'] == 1
    assert m['dl_executions_completed_total{api="async"}'] == 1
    assert m['dl_jobs_finished_total{state="completed"}'] == 1
    assert m['dl_status_requests_total{result="200"}'] >= 1
    assert m["dl_duplicate_executions_total"] == 0


def _big_body() -> bytes:
    return json.dumps({"file_ids": [70000], "pad": "x" * (1024 * 1024 + 10)}).encode()


BAD = "/v1/download/initiate"
JSON_CT = {"Content-Type": "application/json"}
UNKNOWN = str(uuid.uuid4())
# (name, method, path, raw body or JSON, extra headers, status, error code)
BAD_INPUTS = [
    ("text content type", "POST", BAD, b"file_ids=1", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ("form content type", "POST", BAD, b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, None),
    ("malformed json", "POST", BAD, b'{"file_ids": [70000', JSON_CT, 400, "malformed_json"),
    ("empty body", "POST", BAD, b"", JSON_CT, 400, "malformed_json"),
    ("not utf-8", "POST", BAD, b'{"file_ids": "\xff"}', JSON_CT, 400, "malformed_json"),
    ("array body", "POST", BAD, [70000], None, 400, "validation_error"),
    ("missing file_ids", "POST", BAD, {}, None, 400, "validation_error"),
    ("file_ids a string", "POST", BAD, {"file_ids": "70000"}, None, 400, "validation_error"),
    ("file_ids empty", "POST", BAD, {"file_ids": []}, None, 400, "validation_error"),
    ("too many ids", "POST", BAD, {"file_ids": list(range(10000, 11001))}, None, 400, "validation_error"),
    ("id below range", "POST", BAD, {"file_ids": [9999]}, None, 400, "validation_error"),
    ("id above range", "POST", BAD, {"file_ids": [100000001]}, None, 400, "validation_error"),
    ("id a float", "POST", BAD, {"file_ids": [70000.5]}, None, 400, "validation_error"),
    ("id a string", "POST", BAD, {"file_ids": ["70000"]}, None, 400, "validation_error"),
    ("id a boolean", "POST", BAD, {"file_ids": [True]}, None, 400, "validation_error"),
    ("id null", "POST", BAD, {"file_ids": [None]}, None, 400, "validation_error"),
    ("repeated id", "POST", BAD, {"file_ids": [70000, 70000]}, None, 400, "validation_error"),
    ("callback not a string", "POST", BAD, {"file_ids": [70000], "callback_url": 5}, None, 400, "validation_error"),
    ("callback ftp", "POST", BAD, {"file_ids": [70000], "callback_url": "ftp://127.0.0.1/x"}, None, 400, None),
    ("callback with credentials", "POST", BAD, {"file_ids": [70000], "callback_url": "http://u:p@127.0.0.1/"}, None,
     400, "validation_error"),
    ("callback metadata host", "POST", BAD, {"file_ids": [70000], "callback_url": "http://169.254.169.254/latest"},
     None, 422, "callback_host_not_allowed"),
    ("callback internal name", "POST", BAD, {"file_ids": [70000], "callback_url": "http://redis.internal:6379/"},
     None, 422, "callback_host_not_allowed"),
    ("huge body", "POST", BAD, _big_body(), JSON_CT, 413, "body_too_large"),
    ("deeply nested json", "POST", BAD, b'{"file_ids": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON_CT, 400,
     "malformed_json"),
    ("5000-digit id", "POST", BAD, b'{"file_ids": [' + b"7" * 5000 + b"]}", JSON_CT, 400, "malformed_json"),
    ("callback unclosed ipv6", "POST", BAD, {"file_ids": [70000], "callback_url": "http://[::1"}, None, 400,
     "validation_error"),
    ("callback port out of range", "POST", BAD, {"file_ids": [70000], "callback_url": "http://127.0.0.1:99999/"},
     None, 400, "validation_error"),
    ("callback port not a number", "POST", BAD, {"file_ids": [70000], "callback_url": "http://127.0.0.1:abc/"},
     None, 400, "validation_error"),
    ("callback port zero", "POST", BAD, {"file_ids": [70000], "callback_url": "http://127.0.0.1:0/"},
     None, 400, "validation_error"),
    ("idempotency key too long", "POST", BAD, {"file_ids": [70000]}, {"Idempotency-Key": '"' + "k" * 300 + '"'},
     400, "validation_error"),
    ("idempotency key with spaces", "POST", BAD, {"file_ids": [70000]}, {"Idempotency-Key": "a b"}, 400, None),
    ("check without file_id", "POST", "/v1/download/check", {"fileId": 70000}, None, 400, "validation_error"),
    ("check out of range", "POST", "/v1/download/check", {"file_id": 1}, None, 400, "validation_error"),
    ("start with a string id", "POST", "/v1/download/start", {"file_id": "70000"}, None, 400, "validation_error"),
    ("start malformed json", "POST", "/v1/download/start", b"{", JSON_CT, 400, "malformed_json"),
    ("unknown job", "GET", f"/v1/download/jobs/{UNKNOWN}", None, None, 404, "job_not_found"),
    ("malformed job id", "GET", "/v1/download/jobs/../../etc", None, None, 404, None),
    ("download unknown job", "GET", f"/v1/download/jobs/{UNKNOWN}/download", None, None, 404, "job_not_found"),
    ("cancel unknown job", "DELETE", f"/v1/download/jobs/{UNKNOWN}", None, None, 404, "job_not_found"),
    ("events of unknown job", "GET", f"/v1/download/jobs/{UNKNOWN}/events", None, None, 404, "job_not_found"),
    ("multi-stream without jobs", "GET", "/v1/download/events", None, None, 400, "validation_error"),
    ("multi-stream too many jobs", "GET", "/v1/download/events?jobs=" + ",".join(str(uuid.uuid4()) for _ in range(51)),
     None, None, 400, "validation_error"),
    ("unknown route", "GET", "/v2/nothing", None, None, 404, "not_found"),
    ("wrong method", "GET", "/v1/download/initiate", None, None, 405, "method_not_allowed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
async def test_bad_input(
    http: aiohttp.ClientSession,
    server: Running,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str] | None,
    status: int,
    code: str | None,
) -> None:
    raw = body if isinstance(body, bytes) else None
    parsed = body if raw is None else None
    async with http.request(method, f"{server.url}{path}", headers=headers or {}, data=raw, json=parsed) as resp:
        assert resp.status == status, await resp.text()
        assert resp.content_type == "application/json"
        err = await resp.json()
    assert set(err) == {"error", "message", "requestId"} and err["message"] and err["requestId"]
    if code is not None:
        assert err["error"] == code


async def test_bad_last_event_id(http: aiohttp.ClientSession, server: Running) -> None:
    _, body, _ = await initiate(http, server.url, [70035])
    url = f"{server.url}/v1/download/jobs/{body['jobId']}/events"
    for value in ("abc", "-1", "1.2", "999999", "\u00b2"):
        async with http.get(url, headers={"Last-Event-ID": value}) as resp:
            assert resp.status == 400, value
            assert (await resp.json())["error"] == "invalid_last_event_id"
    # Digits that str.isdigit() accepts and int() refuses: superscript two, Arabic-Indic one-two.
    for value in ("\u00b2", "\u0661\u0662"):
        async with http.get(url, params={"lastEventId": value}) as resp:
            assert resp.status == 400, value
            assert (await resp.json())["error"] == "invalid_last_event_id"


async def test_idempotency_keys_expire(http: aiohttp.ClientSession, servers: ServerFactory, server: Running) -> None:
    short = servers.start(server.mode, IDEMPOTENCY_TTL_S="50")  # 0.5 s at this time scale
    key = str(uuid.uuid4())
    first = await initiate(http, short.url, [70000], key=key)
    await wait_state(http, short.url, first[1]["jobId"], {"completed"})
    await asyncio.sleep(0.6)  # time passing past the key's lifetime is what is tested
    later = await initiate(http, short.url, [70000], key=key)
    assert later[0] == 202 and later[1]["jobId"] != first[1]["jobId"] and "Idempotent-Replayed" not in later[2]


async def test_links_are_signed_for_the_public_endpoint(http: aiohttp.ClientSession, servers: ServerFactory) -> None:
    internal = servers.env_for("redis+minio")["S3_ENDPOINT"]
    public = internal.replace("127.0.0.1", "localhost")
    signed = servers.start("redis+minio", S3_PUBLIC_ENDPOINT=public)
    _, body, _ = await initiate(http, signed.url, [70000])
    done = await wait_state(http, signed.url, body["jobId"], {"completed"})
    assert done["downloadUrl"].startswith(public + "/downloads/")
    async with http.get(done["downloadUrl"]) as resp:
        assert resp.status == 200
    # The same signature through another host name is refused: links are bound to their host.
    async with http.get(done["downloadUrl"].replace(public, internal)) as resp:
        assert resp.status == 403


async def test_a_status_poll_costs_redis_one_round_trip(http: aiohttp.ClientSession, servers: ServerFactory) -> None:
    """The rate limit and the job's read go in one script call, so a poll is one round
    trip (it was two: the script, then GET). Watched with MONITOR, which shows the
    commands a client sends apart from those its script runs."""
    import redis

    target = servers.start("redis+minio")
    _, body, _ = await initiate(http, target.url, [70000])
    job_id = body["jobId"]
    await wait_state(http, target.url, job_id, {"completed"})
    admin = redis.Redis.from_url(target.env["REDIS_URL"], decode_responses=True)
    sent: list[str] = []

    def watch() -> None:
        with admin.monitor() as monitor:
            for entry in monitor.listen():
                if entry["command"] == "ECHO end-of-polls":
                    return
                if entry["client_type"] != "lua" and ("dl:rate:" in entry["command"] or job_id in entry["command"]):
                    sent.append(entry["command"])

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    await asyncio.sleep(0.3)  # MONITOR is on
    polls = 10
    for _ in range(polls):
        assert (await job(http, target.url, job_id))["status"] == "completed"
    await asyncio.to_thread(admin.echo, "end-of-polls")  # on a connection of its own from the pool
    await asyncio.wait_for(watcher, 10)
    admin.close()
    assert len(sent) == polls, sent
    assert all(c.startswith("EVALSHA") and job_id in c for c in sent), sent


async def test_polls_through_two_host_names_each_get_links_on_their_own(
    http: aiohttp.ClientSession, servers: ServerFactory
) -> None:
    """Embedded links are on the host the client asked through. A job's body is encoded
    once per version, so this checks that the host is part of what is kept."""
    target = servers.start("embedded")
    _, body, _ = await initiate(http, target.url, [70000])
    await wait_state(http, target.url, body["jobId"], {"completed"})
    by_name = target.url.replace("127.0.0.1", "localhost")
    for base in (target.url, by_name, target.url, by_name):
        polled = await job(http, base, body["jobId"])
        assert polled["downloadUrl"].startswith(base + "/"), (base, polled["downloadUrl"])
