"""Long polling on a real server process, in each mode: a status read with `wait` is held
until the job changes, for no longer than the advertised cap, and answers as a plain read
would; a bad wait is a 400 naming it."""

from __future__ import annotations

import time

import aiohttp
import pytest
from multidict import CIMultiDict

from reference_server.contract import TERMINAL_STATES
from tests.conftest import Running, ServerFactory
from tests.helpers import initiate

pytestmark = pytest.mark.integration
CAP_S = 100  # unscaled: 1 s at the tests' time scale of 1/100
JOB_MS = 300_000  # 3 s of work, in one silent step: no progress event in between


@pytest.fixture(scope="module")
def held(servers: ServerFactory, server: Running) -> Running:
    return servers.start(
        server.mode,
        LONGPOLL_MAX_WAIT_S=str(CAP_S),
        PROGRESS_STEPS="1",
        DOWNLOAD_DELAY_MIN_MS=str(JOB_MS),
        DOWNLOAD_DELAY_MAX_MS=str(JOB_MS),
    )


async def _read(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], dict | None, float]:
    began = time.monotonic()
    async with http.get(url, headers=headers or {}) as resp:
        body = await resp.json() if resp.status != 304 else None
        return resp.status, resp.headers.copy(), body, time.monotonic() - began


async def test_a_long_poll_follows_the_job_in_a_few_requests(http: aiohttp.ClientSession, held: Running) -> None:
    _, accepted, _ = await initiate(http, held.url, [70000])
    url = f"{held.url}{accepted['links']['status']}?wait=1000"
    tags: dict[str, str] = {}
    states: list[str] = []
    requests = 0
    while not states or states[-1] not in TERMINAL_STATES:
        requests += 1
        assert requests <= 12, f"a long poll should be held, not answered at once: {states}"
        status, headers, body, _ = await _read(http, url, tags)
        assert headers["Cache-Control"] == "no-store" and "Retry-After" not in headers
        assert headers["Preference-Applied"] == "wait=1"  # the cap, time-scaled
        tags = {"If-None-Match": headers["ETag"]}
        if status == 200:
            assert body is not None
            states.append(body["status"])
    assert states[-1] == "completed"
    assert requests >= 3, "a 3 s job cannot be followed by fewer held reads of at most 1 s"


async def test_an_unchanged_job_is_held_for_the_capped_wait_then_304(
    http: aiohttp.ClientSession, held: Running
) -> None:
    _, accepted, _ = await initiate(http, held.url, [70000])
    url = f"{held.url}{accepted['links']['status']}"
    _, first, _, _ = await _read(http, url)
    status, headers, _, took = await _read(
        http, url, {"If-None-Match": first["ETag"], "Prefer": "respond-async, wait=5000"}
    )
    if status == 304:  # the job did not start meanwhile: the whole capped wait passed
        assert took >= 0.9 and headers["Preference-Applied"] == "wait=1"
    else:
        assert status == 200 and headers["ETag"] != first["ETag"]


async def test_a_finished_job_is_answered_at_once(http: aiohttp.ClientSession, server: Running) -> None:
    _, accepted, _ = await initiate(http, server.url, [70000])
    url = f"{server.url}{accepted['links']['status']}"
    for _ in range(200):
        status, headers, body, _ = await _read(http, f"{url}?wait=1000")
        assert status == 200 and body is not None
        if body["status"] in TERMINAL_STATES:
            break
    else:
        pytest.fail("the job never finished")
    status, _, again, _ = await _read(http, f"{url}?wait=1000", {"If-None-Match": headers["ETag"]})
    assert status == 304 and again is None


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?wait=soon", {}), ("?wait=-1", {}), ("?wait=1e3", {}), ("", {"Prefer": "wait=forever"})],
)
async def test_a_bad_wait_is_a_400_naming_it(
    http: aiohttp.ClientSession, server: Running, query: str, headers: dict[str, str]
) -> None:
    _, accepted, _ = await initiate(http, server.url, [70000])
    async with http.get(f"{server.url}{accepted['links']['status']}{query}", headers=headers) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["error"] == "invalid_wait" and "wait" in body["message"]
