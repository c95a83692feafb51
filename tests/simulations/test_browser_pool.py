"""The browser connection-pool model: six connections over HTTP/1.1 shared by every tab, one
multiplexed connection over HTTP/2, WebSockets in a pool of their own, and one shared stream."""

from __future__ import annotations

import pytest

from simulations.browser_pool import HTTP1_CONNECTIONS, Browser, tab_rows

JOB_S = 2.0
TABS = 8


def browser(protocol: str) -> Browser:
    return Browser(protocol=protocol, request_s=0.02, longpoll_hold_s=0.25, poll_every_s=0.05,
                   progress_steps=10, watchdog_s=2.5, observe_s=9.0)  # fmt: skip


def first_events(protocol: str, channel: str) -> list[float]:
    rows = tab_rows(browser(protocol), channel, [0.001 * i for i in range(TABS)], [JOB_S] * TABS)
    assert all(r["delivered"] for r in rows)
    return [r["first_event_s"] for r in rows]


def test_over_http1_streams_past_six_wait_for_a_job_to_end() -> None:
    waited = [t for t in first_events("h1", "sse") if t >= JOB_S]
    assert len(waited) == TABS - HTTP1_CONNECTIONS


@pytest.mark.parametrize(("protocol", "channel"), [("h2", "sse"), ("h1", "shared"), ("h1", "websocket")])
def test_no_tab_waits_over_http2_with_a_shared_stream_or_on_websockets(protocol: str, channel: str) -> None:
    assert max(first_events(protocol, channel)) < 0.2


def test_a_tab_whose_stream_waits_hears_of_its_short_job_only_when_a_longer_one_ends() -> None:
    works = [JOB_S] * HTTP1_CONNECTIONS + [JOB_S / 4]  # the seventh tab's job is short
    rows = tab_rows(browser("h1"), "sse", [0.001 * i for i in range(len(works))], works)
    assert rows[-1]["notify_delay_s"] >= JOB_S - JOB_S / 4 - 0.1
    assert all(r["notify_delay_s"] < 0.1 for r in rows[: HTTP1_CONNECTIONS - 1])


def test_a_long_poll_is_first_answered_at_the_jobs_first_progress_event() -> None:
    assert first_events("h1", "longpoll")[0] == pytest.approx(JOB_S / 10, abs=0.05)
