"""Many tabs of one headless Chromium through the TLS edge: over HTTP/1.1 the six connections
per origin hold back a seventh tab's stream until another tab's job ends; over HTTP/2, and with
the page's shared stream, no tab waits; and when the tab holding the shared stream closes,
another takes it over and resumes it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from benchmarks.browser_tabs import SERVER_ENV, TIME_SCALE, Limits, Tabs, limits
from simulations.browser_pool import HTTP1_CONNECTIONS
from stack.chromium import chromium
from stack.full_stack import Stack, StackSpec

pytestmark = pytest.mark.browser
LIMIT = limits(400_000, spread=(1.0, 1.0))  # jobs of 4 s each: every tab clicks within a small share of one
TABS = 8  # two past the six connections of HTTP/1.1


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    spec = StackSpec(
        profile="cloudflare+nginx-tuned", time_scale=TIME_SCALE, server_env=SERVER_ENV, tls=True, backend="processes"
    )
    with Stack(spec) as running:
        yield running


def run_tabs(stack: Stack, channel: str, http2: bool, limit: Limits = LIMIT) -> tuple[list[dict[str, str]], Tabs]:
    """Each tab's own row once every job has ended, and the tabs (closed) with their requests."""
    assert stack.urls is not None
    with chromium(stack.ca, http2=http2) as browser:
        tabs = Tabs(browser, stack.urls.entry, channel, limit.works_ms(TABS))
        try:
            tabs.start()
            rows = tabs.wait(limit.observe_s)
        finally:
            tabs.close()
    assert all(len(r) == 1 for r in rows), rows  # every tab's start got through
    return [r[0] for r in rows], tabs


def first_event_s(row: dict[str, str]) -> float:
    return int(row["firstEventMs"]) / 1000


def test_over_http1_tabs_past_six_wait_for_another_tabs_job_to_end(stack: Stack) -> None:
    rows, _ = run_tabs(stack, "sse", http2=False)
    assert all(r["status"] == "completed" for r in rows)
    # A stream keeps its connection until its job ends: the tabs without one heard nothing
    # for most of a job, however fast the machine.
    waited = [r for r in rows if first_event_s(r) > LIMIT.job_s / 2]
    assert len(waited) >= TABS - HTTP1_CONNECTIONS, [first_event_s(r) for r in rows]


@pytest.mark.parametrize(
    ("channel", "http2"), [("sse", True), ("shared", False)], ids=["stream-per-tab-h2", "shared-h1"]
)
def test_no_tab_waits_for_another_over_http2_or_with_one_shared_stream(stack: Stack, channel: str, http2: bool) -> None:
    rows, tabs = run_tabs(stack, channel, http2)
    assert all(r["status"] == "completed" and r["channel"] == "stream" for r in rows)
    assert all(first_event_s(r) < LIMIT.job_s / 2 for r in rows), [first_event_s(r) for r in rows]
    streaming = [i for i, sent in enumerate(tabs.requests) if any("/events" in url for url in sent)]
    assert len(streaming) == (TABS if channel == "sse" else 1)


def test_when_the_leading_tab_closes_another_resumes_the_shared_stream(stack: Stack) -> None:
    assert stack.urls is not None
    with chromium(stack.ca, http2=False) as browser:
        tabs = Tabs(browser, stack.urls.entry, "shared", LIMIT.works_ms(3))
        try:
            tabs.start()
            deadline = time.monotonic() + LIMIT.observe_s
            while not all(r and "firstEventMs" in r[0] for r in tabs.rows()) and time.monotonic() < deadline:
                time.sleep(0.05)  # until every tab has heard of its job through the leader
            (leader,) = [p for p in tabs.pages if p.evaluate("document.documentElement.dataset.leader") == "true"]
            led_before = tabs.requests[tabs.pages.index(leader)]
            leader.close()
            rows = tabs.wait(LIMIT.observe_s)
            rest = [p for p in tabs.pages if not p.is_closed()]
            successor = [p for p in rest if p.evaluate("document.documentElement.dataset.leader") == "true"]
        finally:
            tabs.close()
    assert any("/events" in url for url in led_before)
    assert len(successor) == 1
    streams = [url for url in tabs.requests[tabs.pages.index(successor[0])] if "/events" in url]
    # It resumed from the last event each job had, not from a snapshot.
    assert streams and all("lastEventId=" in url for url in streams), streams
    assert [r[0]["status"] for r in rows if r] == ["completed", "completed"]
