"""The browser's connection pool, as a SimPy resource shared by the tabs of one browser.

Over HTTP/1.1 Chromium opens at most 6 connections per origin, for all of a site's tabs
together; a request waits, first come first served, until one is free, and a held event
stream or long poll keeps its connection until it ends. Over HTTP/2 every request is a stream
of one connection, up to the server's SETTINGS_MAX_CONCURRENT_STREAMS. WebSockets have a pool
of their own (255), so they never wait here. Every tab starts one job at the same moment;
what is modelled is when each tab first hears of its job, and whether it hears of its end.

The one fitted parameter is a request's time (`request_s`: the request, the proxies, the
server and the answer), taken from the measured one-tab cases; every case with more tabs is
a prediction. `tab_rows` writes rows shaped like the bench's, so that
`benchmarks.browser_tabs.summarize` judges both alike.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from proxies.render import HTTP2_STREAMS
from reference_server.webapp_page import page_constant_s

HTTP1_CONNECTIONS = 6  # per origin, all tabs (Chromium's client_socket_pool_manager.cc)
# app.js's lead(): the leader waits this long for the set of jobs to settle.
SHARED_DEBOUNCE_S = page_constant_s("LEAD_SETTLE_MS")

Process = Generator[simpy.Event, Any, None]


@dataclass(frozen=True)
class Browser:
    protocol: str  # "h1" or "h2"
    request_s: float  # one request's round trip, fitted from the one-tab cases
    longpoll_hold_s: float  # the longest the server holds a long poll
    poll_every_s: float  # the server's Retry-After for polls
    progress_steps: int  # events a job sends while it runs, evenly spaced
    watchdog_s: float  # the hybrid page's wait for a first event before it polls
    observe_s: float  # how long a case is watched

    @property
    def connections(self) -> int:
        return HTTP1_CONNECTIONS if self.protocol == "h1" else HTTP2_STREAMS


@dataclass
class Tab:
    click: float  # when it clicked
    work_s: float  # its job's work
    job_end: float = math.inf  # when its job ended, once it has started
    first_event_at: float | None = None
    ended_at: float | None = None  # when the tab heard its job had ended
    requests: int = 0

    def heard(self, at: float) -> None:
        if self.first_event_at is None:
            self.first_event_at = at


class Tabs:
    """One browser's tabs, each following its own job on `channel`."""

    def __init__(self, browser: Browser, channel: str, clicks_s: list[float], works_s: list[float]) -> None:
        self.env = simpy.Environment()
        self.pool = simpy.Resource(self.env, capacity=browser.connections)
        self.browser = browser
        self.channel = channel
        self.tabs = [Tab(click, work) for click, work in zip(clicks_s, works_s, strict=True)]
        self._shared: simpy.Event | None = None  # the shared stream's connection, once open
        self._last_join = 0.0  # when a tab last gave the leader a job to follow

    def run(self) -> list[Tab]:
        for tab in self.tabs:
            self.env.process(self._follow(tab))
        self.env.run(until=max(t.click for t in self.tabs) + self.browser.observe_s)
        return self.tabs

    def _request(self, tab: Tab, hold_s: float) -> Generator[simpy.Event, Any, float]:
        """Wait for a connection and hold it `hold_s`: when the answer came."""
        tab.requests += 1
        with self.pool.request() as connection:
            yield connection
            yield self.env.timeout(hold_s)
        return self.env.now

    def _follow(self, tab: Tab) -> Process:
        b = self.browser
        yield self.env.timeout(tab.click)
        started = yield from self._request(tab, b.request_s)  # the initiate
        tab.job_end = started - b.request_s / 2 + tab.work_s
        if self.channel == "websocket":
            tab.requests += 1
            tab.heard(started + b.request_s)
            tab.ended_at = max(tab.job_end, started) + b.request_s / 2
        elif self.channel == "shared":
            # The leader opens the stream again once no job has joined for the debounce.
            self._last_join = self.env.now
            while self.env.now < self._last_join + SHARED_DEBOUNCE_S:
                yield self.env.timeout(self._last_join + SHARED_DEBOUNCE_S - self.env.now)
            yield self._shared_stream()
            tab.heard(self.env.now + b.request_s)
            tab.ended_at = max(tab.job_end + b.request_s / 2, self.env.now + b.request_s)
        elif self.channel in ("sse", "hybrid"):
            yield from self._stream(tab)
        else:
            yield from self._polls(tab, long=self.channel == "longpoll")

    def _shared_stream(self) -> simpy.Event:
        """Opened by the first tab to get here, on one connection, held for the whole case."""
        if self._shared is None:
            self._shared = self.env.event()
            self.env.process(self._hold_shared(self._shared))
        return self._shared

    def _hold_shared(self, opened: simpy.Event) -> Process:
        with self.pool.request() as connection:
            yield connection
            opened.succeed()
            yield self.env.event()  # held until the case ends

    def _stream(self, tab: Tab) -> Process:
        b = self.browser
        tab.requests += 1
        with self.pool.request() as connection:
            if self.channel == "hybrid":  # nothing by the watchdog: poll instead
                got = yield connection | self.env.timeout(b.watchdog_s)
                if connection not in got:
                    connection.cancel()
                    yield from self._polls(tab, long=False)
                    return
            else:
                yield connection
            opened = self.env.now + b.request_s
            tab.heard(opened)
            yield self.env.timeout(max(opened, tab.job_end + b.request_s / 2) - self.env.now)
            tab.ended_at = self.env.now

    def _polls(self, tab: Tab, long: bool) -> Process:
        b = self.browser
        while True:
            held = self._until_change(tab) if long else 0.0
            answered = yield from self._request(tab, held + b.request_s)
            tab.heard(answered)
            if answered - b.request_s / 2 >= tab.job_end:
                tab.ended_at = answered
                return
            if not long:
                yield self.env.timeout(b.poll_every_s)

    def _until_change(self, tab: Tab) -> float:
        """A long poll is held until the job's next event (its progress steps, its end) or the cap."""
        b = self.browser
        every = tab.work_s / b.progress_steps
        started = tab.job_end - tab.work_s
        next_change = started + (math.floor((self.env.now - started) / every) + 1) * every
        return max(0.0, min(b.longpoll_hold_s, next_change - self.env.now, tab.job_end - self.env.now))


def tab_rows(browser: Browser, channel: str, clicks_s: list[float], works_s: list[float]) -> list[dict[str, Any]]:
    """The model's rows for one case (a tab for each click and work), shaped like the bench's."""
    rows = []
    for i, tab in enumerate(Tabs(browser, channel, clicks_s, works_s).run()):
        first = None if tab.first_event_at is None else round(tab.first_event_at - tab.click, 4)
        delivered = tab.ended_at is not None and tab.ended_at - tab.click <= browser.observe_s
        rows.append({
            "channel": channel, "protocol": browser.protocol, "tabs": len(clicks_s), "tab": i + 1,
            "started": True, "delivered": delivered, "first_event_s": first,
            "notify_delay_s": round(tab.ended_at - tab.job_end, 4) if delivered and tab.ended_at else None,
            "stalled": first is None or first > tab.work_s + browser.watchdog_s, "via": channel, "job": None,
            "requests": tab.requests, "clicked_s": tab.click, "work_s": tab.work_s,
        })  # fmt: skip
    return rows
