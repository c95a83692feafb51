"""The browser download manager (/app/) in headless Chromium (Debian's), driven by
Playwright, through the real proxies at a time scale of 0.01 (the edge's 100 s is 1 s)."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from loadtests.collect import read_metrics
from proxies.render import Hop
from reference_server.contract import epoch_s
from stack.chromium import chromium
from stack.full_stack import Stack, StackSpec
from stack.processes import free_port
from stack.toxiproxy import REQUESTS, Toxic, ToxiproxyApi, ToxiproxyServer
from tests.stack.conftest import EDGE_LIMIT_S, TIME_SCALE

pytestmark = pytest.mark.browser
ARTIFACTS = Path("test-artifacts")
SERVER_ENV = {"SSE_HEARTBEAT_S": "10", "LEASE_S": "100", "SIMULATED_WORK_HEADER": "true"}
# Work per file id, unscaled ms, added to the page's initiate requests by the test.
WORK_MS = {70000: 20_000, 70007: 50_000, 70014: 150_000}  # the last one outlasts the edge (1.5 s > 1 s)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _stack(profile: str, **env: str) -> Stack:
    spec = StackSpec(profile=profile, time_scale=TIME_SCALE, backend="processes", server_env={**SERVER_ENV, **env})
    return Stack(spec).up()


@pytest.fixture(scope="module")
def tuned() -> Iterator[Stack]:
    stack = _stack("cloudflare+nginx-tuned")
    yield stack
    stack.down()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def with_work(page: Page, work_ms: dict[int, int]) -> None:
    """Give each initiate the simulated work of its file, as a load generator would."""

    def route(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        ms = work_ms.get(body.get("file_ids", [0])[0], 20_000)
        route.continue_(headers={**route.request.headers, "x-simulated-work-ms": str(ms)})

    page.route("**/v1/download/initiate", route)


def metrics(stack: Stack) -> dict[str, float]:
    assert stack.urls is not None
    return read_metrics(stack.urls.servers[0])


def job_status(stack: Stack, job_id: str) -> dict:
    assert stack.urls is not None
    with urllib.request.urlopen(f"{stack.urls.entry}/v1/download/jobs/{job_id}") as resp:
        return json.loads(resp.read())


def start(page: Page, stack: Stack, file_ids: str) -> None:
    assert stack.urls is not None
    page.goto(stack.urls.entry + "/app/")
    page.fill("#file-ids", file_ids)
    page.click("#start")


def test_three_downloads_complete_and_download_byte_for_byte(page: Page, tuned: Stack) -> None:
    with_work(page, WORK_MS)
    start(page, tuned, "70000, 70007, 70014")
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(3)
    for row in rows.all():
        expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
        expect(row).to_have_attribute("data-channel", "stream")
    slow = job_status(tuned, page.locator('tr[data-file-id="70014"]').get_attribute("data-job-id") or "")
    took = epoch_s(slow["completedAt"]) - epoch_s(slow["startedAt"])
    assert took > EDGE_LIMIT_S  # this one outlasted the edge's limit and still arrived
    for row in rows.all():
        job_id = row.get_attribute("data-job-id") or ""
        with page.expect_download() as info:
            row.locator("a.download").click()
        data = Path(info.value.path()).read_bytes()
        assert hashlib.sha256(data).hexdigest() == job_status(tuned, job_id)["artifact"]["sha256"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "download-manager-completed.png", full_page=True)


def test_a_buffering_proxy_makes_the_page_fall_back_to_polling(page: Page) -> None:
    # Stock nginx holds the stream back when the server does not say X-Accel-Buffering: no.
    buffered = _stack("nginx-default", SSE_X_ACCEL_BUFFERING="false")
    try:
        with_work(page, {70021: 400_000})  # 4 s: longer than the page waits for a first event
        start(page, buffered, "70021")
        row = page.locator("#jobs tbody tr")
        expect(row).to_have_attribute("data-channel", "polling", timeout=10_000)
        expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "download-manager-polling.png", full_page=True)
    finally:
        buffered.down()


def test_a_blackholed_stream_makes_the_page_fall_back_to_polling(page: Page, tuned: Stack, tmp_path: Path) -> None:
    # Toxiproxy between the browser and the edge. Once the page has its job, every request
    # is held and nobody is told, so the event stream it opens brings nothing; the page's
    # watchdog gives up on it, and its polls get through when the network does.
    assert tuned.urls is not None
    with ToxiproxyServer(tmp_path) as server:
        api = ToxiproxyApi(server.api)
        listen = Hop("127.0.0.1", free_port())
        api.create("browser", listen, Hop.from_url(tuned.urls.entry))
        hold = Toxic("blackhole", "latency", REQUESTS, {"latency": 60_000, "jitter": 0})

        def initiate_then_blackhole(route: Route) -> None:
            answer = route.fetch(headers={**route.request.headers, "x-simulated-work-ms": "300000"})
            api.add("browser", hold)  # from here on, the network swallows what the page sends
            route.fulfill(response=answer)

        page.route("**/v1/download/initiate", initiate_then_blackhole)
        page.goto(f"http://{listen}/app/")
        page.fill("#file-ids", "70049")
        page.click("#start")
        row = page.locator("#jobs tbody tr")
        expect(row).to_have_attribute("data-channel", "polling", timeout=10_000)
        api.remove("browser", hold.name)  # the network comes back; the held polls go through
        expect(row).to_have_attribute("data-status", "completed", timeout=15_000)


def test_a_reload_mid_download_resumes_without_a_new_job(page: Page, tuned: Stack) -> None:
    before = metrics(tuned)
    with_work(page, {70028: 300_000})  # 3 s
    start(page, tuned, "70028")
    row = page.locator("#jobs tbody tr")
    expect(row).to_have_attribute("data-status", "processing", timeout=10_000)
    job_id = row.get_attribute("data-job-id")
    page.reload()
    row = page.locator("#jobs tbody tr")
    expect(row).to_have_attribute("data-job-id", job_id or "")
    expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
    after = metrics(tuned)
    assert after["dl_jobs_created_total"] - before.get("dl_jobs_created_total", 0) == 1
    started = 'dl_executions_started_total{api="async"}'
    assert after[started] - before.get(started, 0) == 1


def test_a_double_clicked_start_creates_one_job(page: Page, tuned: Stack) -> None:
    before = metrics(tuned)
    with_work(page, {70035: 50_000})
    assert tuned.urls is not None
    page.goto(tuned.urls.entry + "/app/")
    page.fill("#file-ids", "70035")
    page.dblclick("#start")
    row = page.locator("#jobs tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
    after = metrics(tuned)
    assert after["dl_jobs_created_total"] - before.get("dl_jobs_created_total", 0) == 1


def test_bad_input_is_refused_on_the_page(page: Page, tuned: Stack) -> None:
    assert tuned.urls is not None
    page.goto(tuned.urls.entry + "/app/")
    page.fill("#file-ids", "12, abc")
    page.click("#start")
    expect(page.locator("#message")).to_contain_text("between 10000 and 100000000")
    expect(page.locator("#jobs tbody tr")).to_have_count(0)


def test_through_stock_nginx_the_stream_still_works(page: Page) -> None:
    # The server's X-Accel-Buffering: no turns stock nginx's buffering off for the stream,
    # and heartbeats keep its 60 s (here 0.6 s) read timeout from cutting it.
    stock = _stack("nginx-default")
    try:
        with_work(page, {70042: 150_000})
        start(page, stock, "70042")
        row = page.locator("#jobs tbody tr")
        expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
        expect(row).to_have_attribute("data-channel", "stream")
    finally:
        stock.down()


def test_a_failed_download_shows_why_and_a_retry_starts_one_new_job(page: Page, tuned: Stack) -> None:
    before = metrics(tuned)
    start(page, tuned, "70001")  # not a multiple of 7: no such file
    row = page.locator("#jobs tbody tr")
    expect(row).to_have_attribute("data-status", "failed", timeout=15_000)
    expect(row.locator(".status")).to_contain_text("None of the requested files exists")
    first_job = row.get_attribute("data-job-id")
    row.locator("button.retry").dblclick()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    # The row shows "failed" before and after the retry; only a new job id says the retry ran.
    expect(page.locator("#jobs tbody tr")).not_to_have_attribute("data-job-id", first_job or "", timeout=15_000)
    expect(page.locator("#jobs tbody tr")).to_have_attribute("data-status", "failed", timeout=15_000)
    after = metrics(tuned)
    assert after["dl_jobs_created_total"] - before.get("dl_jobs_created_total", 0) == 2
