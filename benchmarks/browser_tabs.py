"""Many tabs of one browser: real headless Chromium through the TLS edge, over HTTP/1.1 and
over HTTP/2.

Over HTTP/1.1 a browser opens at most 6 connections per origin, shared by all its tabs; a
held event stream keeps one. Over HTTP/2 every request of the origin shares one connection.
For each case (how the page follows its jobs, the protocol, K tabs), one browser context
opens K tabs of `/app/?channel=<channel>`; each starts a job of its own, and each tab's
page reports when it first heard of its job (`data-first-event-ms`, from its click) and
whether the job reached it. A tab stalls when it heard nothing within the job's time plus
the page's watchdog.

    python -m benchmarks.browser_tabs [--quick] --out results/browser-tabs.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser as Chromium
from playwright.sync_api import Request
from tqdm import tqdm

from loadtests.collect import server_view
from reference_server.config import Settings
from reference_server.jobs.workload import existing_file_id
from reference_server.webapp_page import page_constant_s
from simulations.browser_pool import Browser, tab_rows
from stack.chromium import chromium
from stack.full_stack import Stack, StackSpec, StackUrls
from stack.processes import stop_services_on_sigterm

# How a tab follows its jobs (app.js's `?channel=`): the shared stream first, then per tab.
CHANNELS = ("shared", "hybrid", "sse", "longpoll", "websocket", "polling")
PROTOCOLS = ("h1", "h2")
TABS = (1, 6, 7, 10, 20)
TIME_SCALE = 0.01  # the edge's 100 s -> 1 s, a 25 s long poll -> 0.25 s
JOB_WORK_MS = 200_000  # unscaled: 2 s of work at the time scale, on average
# Each tab's work is the average times a factor drawn from this range (the same draw for every
# case with as many tabs): a tab whose stream waits for a connection waits for whichever held
# job ends first, and may hear of its own end late.
WORK_SPREAD = (0.25, 1.75)
FIRST_FILE_ID = 70_000  # tab i asks for the i-th file that exists from here
# Each tab's job has a slot of its own, so a job's time is its work, not a queue's.
SERVER_ENV = {"SSE_HEARTBEAT_S": "10", "LEASE_S": "100", "WORKERS": str(2 * max(TABS))}
TERMINAL = ("completed", "failed", "cancelled", "expired")
OBSERVE_STALLS = 2  # a case is watched for this many of its longest stall limit before what has not arrived is lost


def watchdog_s() -> float:
    """The page's own wait for a first event."""
    return page_constant_s("FIRST_EVENT_MS")


@dataclass(frozen=True)
class TabsCase:
    channel: str
    protocol: str  # "h1" or "h2"
    tabs: int


@dataclass(frozen=True)
class TabsPlan:
    channels: tuple[str, ...] = CHANNELS
    protocols: tuple[str, ...] = PROTOCOLS
    tabs: tuple[int, ...] = TABS

    def cases(self, protocol: str) -> Iterator[TabsCase]:
        for channel in self.channels:
            for tabs in self.tabs:
                yield TabsCase(channel, protocol, tabs)

    @property
    def count(self) -> int:
        return len(self.channels) * len(self.protocols) * len(self.tabs)


FULL_TABS = TabsPlan()
# One tab and the first past the limit, for the shared stream and a stream per tab.
QUICK_TABS = TabsPlan(channels=("shared", "sse"), tabs=(1, 7))


@dataclass(frozen=True)
class Limits:
    job_work_ms: int  # unscaled, as the initiates' X-Simulated-Work-Ms, on average
    spread: tuple[float, float]  # each tab's work is the average times a factor in this range
    job_s: float  # the average job, real seconds
    watchdog_s: float  # a tab that heard nothing within its job's time and this has stalled
    observe_s: float  # not completed by then: not delivered

    def works_ms(self, tabs: int) -> list[int]:
        """Each tab's work, drawn alike for every case with as many tabs."""
        draw = random.Random(tabs)
        return [round(self.job_work_ms * draw.uniform(*self.spread)) for _ in range(tabs)]

    def stalled(self, first_event_s: float | None, work_ms: int) -> bool:
        return first_event_s is None or first_event_s > work_ms / 1000 * TIME_SCALE + self.watchdog_s


def limits(job_work_ms: int = JOB_WORK_MS, spread: tuple[float, float] = WORK_SPREAD) -> Limits:
    job_s = job_work_ms / 1000 * TIME_SCALE
    longest_stall_s = spread[1] * job_s + watchdog_s()
    return Limits(job_work_ms, spread, job_s, watchdog_s(), OBSERVE_STALLS * longest_stall_s)


_START = "() => document.getElementById('start').click()"
_ROWS = "() => [...document.querySelectorAll('#jobs tbody tr')].map((r) => ({ ...r.dataset }))"


class Tabs:
    """K tabs of `/app/?channel=<channel>` in one browser context (one connection pool, one
    localStorage), each about to start a job of its own; every API request each sends is kept."""

    def __init__(self, browser: Chromium, entry: str, channel: str, works_ms: list[int]) -> None:
        self.context = browser.new_context()
        self.works_ms = works_ms
        self.requests: list[list[str]] = [[] for _ in works_ms]
        self.clicks_s: list[float] = []
        self.pages = [self.context.new_page() for _ in works_ms]
        for i, page in enumerate(self.pages):  # the tabs load together, each waited for after
            page.on("request", self._keep(i))
            page.set_extra_http_headers({"x-simulated-work-ms": str(works_ms[i])})
            page.goto(f"{entry}/app/?channel={channel}", wait_until="commit")
        for i, page in enumerate(self.pages):
            page.wait_for_load_state()
            page.fill("#file-ids", str(existing_file_id(i, FIRST_FILE_ID)))

    def _keep(self, tab: int) -> Callable[[Request], None]:
        def keep(request: Request) -> None:
            if "/v1/" in request.url:  # the API's, not the page's own files
                self.requests[tab].append(request.url)

        return keep

    def start(self) -> None:
        """Every tab clicks, one right after another (`clicks_s`: when, after the first).
        Playwright's click waits on each page in turn, so the first jobs could end before the
        last tab clicked; a script's click does not."""
        began = time.monotonic()
        for page in self.pages:
            self.clicks_s.append(round(time.monotonic() - began, 4))
            page.evaluate(_START)

    def rows(self) -> list[list[dict[str, str]]]:
        """Each open tab's table rows, as their data attributes."""
        return [[] if page.is_closed() else page.evaluate(_ROWS) for page in self.pages]

    def wait(self, seconds: float) -> list[list[dict[str, str]]]:
        """The rows once every open tab's jobs have ended, or after `seconds`."""
        deadline = time.monotonic() + seconds
        rows = self.rows()
        while time.monotonic() < deadline and not all(
            _settled(r) for r, p in zip(rows, self.pages, strict=True) if not p.is_closed()
        ):
            time.sleep(0.1)
            rows = self.rows()
        return rows

    def close(self) -> None:
        self.context.close()


def run_case(browser: Chromium, urls: StackUrls, case: TabsCase, limit: Limits) -> list[dict[str, Any]]:
    tabs = Tabs(browser, urls.entry, case.channel, limit.works_ms(case.tabs))
    try:
        tabs.start()
        rows = tabs.wait(limit.observe_s)
    finally:
        tabs.close()
    return [_tab_row(case, i, r, tabs, limit, urls.servers[0]) for i, r in enumerate(rows)]


def _settled(rows: list[dict[str, str]]) -> bool:
    return bool(rows) and all(r.get("status") in TERMINAL for r in rows)


def _tab_row(
    case: TabsCase, tab: int, rows: list[dict[str, str]], tabs: Tabs, limit: Limits, origin: str
) -> dict[str, Any]:
    own = rows[0] if rows else {}  # each tab starts one job; none if its start never got through
    first = own.get("firstEventMs")
    first_s = int(first) / 1000 if first else None
    delivered = own.get("status") == "completed"
    notify_s = None
    if delivered:  # from the job's end, as the server stamped it, to the tab hearing of it
        known_at = (int(own["clickedAt"]) + int(own["knownMs"])) / 1000
        notify_s = round(known_at - server_view(origin, own["jobId"])["server_completed"], 4)
    return {
        **asdict(case),
        "tab": tab + 1,
        "started": bool(own),
        "delivered": delivered,
        "first_event_s": first_s,
        "notify_delay_s": notify_s,
        "stalled": limit.stalled(first_s, tabs.works_ms[tab]),
        "work_s": tabs.works_ms[tab] / 1000 * TIME_SCALE,
        "via": own.get("channel", ""),
        "job": own.get("jobId"),
        "requests": len(tabs.requests[tab]),
        "clicked_s": tabs.clicks_s[tab],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _p(values: list[float], n: int) -> float | None:
    """The n-th percentile of what there is (inclusive), or None."""
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[n - 1]


def summarize(rows: list[dict[str, Any]], limit: Limits) -> list[dict[str, Any]]:
    """Per case: jobs delivered, stalled tabs, the p95 first-event delay (a tab that heard
    nothing counts as the whole observed time, and then the p95 is a lower bound)."""
    cases: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        cases.setdefault((row["channel"], row["protocol"], row["tabs"]), []).append(row)
    out = []
    for (channel, protocol, tabs), case_rows in cases.items():
        delays = [r["first_event_s"] if r["first_event_s"] is not None else limit.observe_s for r in case_rows]
        p95 = _p(delays, 95)
        assert p95 is not None
        notified = [r["notify_delay_s"] for r in case_rows if r.get("notify_delay_s") is not None]
        out.append({
            "channel": channel, "protocol": protocol, "tabs": tabs,
            "delivered": sum(r["delivered"] for r in case_rows),
            "stalled": sum(r["stalled"] for r in case_rows),
            "first_event_p95_s": round(p95, 3),
            "p95_is_lower_bound": any(r["first_event_s"] is None for r in case_rows),
            "requests_per_tab": round(sum(r["requests"] for r in case_rows) / tabs, 1),
            # Of the jobs delivered: from the job's end to its tab hearing of it.
            "notify_delay_p50_s": _round(_p(notified, 50)), "notify_delay_p95_s": _round(_p(notified, 95)),
            # When each tab clicked, after the first: the model starts its tabs so.
            "clicks_s": [r["clicked_s"] for r in case_rows],
        })  # fmt: skip
    return out


# The one-tab cases whose first event is two requests (the initiate, then one more), from
# which the model's request time is fitted.
FIT_CHANNELS = ("sse", "hybrid", "polling", "websocket")
# The model agrees with Chromium on a case when its p95 is this close (absolute or relative).
AGREES_S, AGREES_SHARE = 0.1, 0.25


def model(measured: list[dict[str, Any]], limit: Limits) -> dict[str, Any]:
    """The connection-pool model on every measured case, its request time fitted per protocol
    from the measured one-tab cases, and whether it agrees with Chromium on each."""
    settings = Settings(time_scale=TIME_SCALE)
    fitted: dict[str, float] = {}
    for protocol in PROTOCOLS:
        ones = [c["first_event_p95_s"] for c in measured if c["protocol"] == protocol and c["tabs"] == 1
                and c["channel"] in FIT_CHANNELS]  # fmt: skip
        if ones:
            fitted[protocol] = round(statistics.median(ones) / 2, 4)
    rows: list[dict[str, Any]] = []
    for case in measured:
        if case["protocol"] not in fitted:
            continue
        browser = Browser(
            protocol=case["protocol"], request_s=fitted[case["protocol"]],
            longpoll_hold_s=settings.scaled(settings.longpoll_max_wait_s),
            poll_every_s=settings.scaled(settings.poll_retry_after_s),
            progress_steps=settings.progress_steps, watchdog_s=limit.watchdog_s, observe_s=limit.observe_s,
        )  # fmt: skip
        works_s = [w / 1000 * TIME_SCALE for w in limit.works_ms(case["tabs"])]
        rows += tab_rows(browser, case["channel"], case["clicks_s"], works_s)
    simulated = {(c["channel"], c["protocol"], c["tabs"]): c for c in summarize(rows, limit)}
    compared = []
    for case in measured:
        sim = simulated.get((case["channel"], case["protocol"], case["tabs"]))
        if sim is None:
            continue
        gap = abs(sim["first_event_p95_s"] - case["first_event_p95_s"])
        agrees = (
            gap <= max(AGREES_S, AGREES_SHARE * case["first_event_p95_s"]) and sim["delivered"] == case["delivered"]
        )
        compared.append({**{k: case[k] for k in ("channel", "protocol", "tabs")},
                         "measured_p95_s": case["first_event_p95_s"], "model_p95_s": sim["first_event_p95_s"],
                         "measured_notify_p95_s": case["notify_delay_p95_s"],
                         "model_notify_p95_s": sim["notify_delay_p95_s"],
                         "measured_delivered": case["delivered"], "model_delivered": sim["delivered"],
                         "agrees": agrees})  # fmt: skip
    return {"request_s": fitted, "agrees_within": {"s": AGREES_S, "share": AGREES_SHARE}, "cases": compared}


def measure(plan: TabsPlan, workdir: Path | None = None) -> dict[str, Any]:
    limit = limits()
    spec = StackSpec(profile="cloudflare+nginx-tuned", time_scale=TIME_SCALE, server_env=SERVER_ENV, tls=True)
    rows: list[dict[str, Any]] = []
    desc = f"browser tabs ({plan.count} cases, jobs of {limit.job_s:g} s)"
    with Stack(spec, workdir=workdir) as stack, tqdm(total=plan.count, desc=desc, unit="case", file=sys.stderr) as bar:
        assert stack.urls is not None
        for protocol in plan.protocols:
            with chromium(stack.ca, http2=protocol == "h2") as browser:
                for case in plan.cases(protocol):
                    bar.set_postfix_str(f"{case.channel} {protocol} x{case.tabs}")
                    rows += run_case(browser, stack.urls, case, limit)
                    bar.update()
    cases = summarize(rows, limit)
    return {
        "limits": asdict(limit),
        "time_scale": TIME_SCALE,
        "cases": cases,
        "model": model(cases, limit),
        "tabs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.browser_tabs", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the quick bench's cases")
    parser.add_argument("--channels", nargs="+", choices=CHANNELS, help="only these (default: the plan's)")
    parser.add_argument("--tabs", nargs="+", type=int, help="only these counts of tabs (default: the plan's)")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, help="only these (default: both)")
    parser.add_argument("--out", type=Path, help="write the results here as JSON (default: stdout)")
    args = parser.parse_args(argv)
    stop_services_on_sigterm()
    plan = QUICK_TABS if args.quick else FULL_TABS
    plan = TabsPlan(
        tuple(args.channels or plan.channels), tuple(args.protocols or plan.protocols), tuple(args.tabs or plan.tabs)
    )
    text = json.dumps(measure(plan), indent=2) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
