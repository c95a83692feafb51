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
import re
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

from reference_server.api.ops import WEBAPP
from reference_server.config import Settings
from simulations.browser_pool import Browser, tab_rows
from stack.chromium import chromium
from stack.full_stack import Stack, StackSpec

# How a tab follows its jobs (app.js's `?channel=`): the shared stream first, then per tab.
CHANNELS = ("shared", "hybrid", "sse", "longpoll", "websocket", "polling")
PROTOCOLS = ("h1", "h2")
TABS = (1, 6, 7, 10, 20)
TIME_SCALE = 0.01  # the edge's 100 s -> 1 s, a 25 s long poll -> 0.25 s
JOB_WORK_MS = 200_000  # unscaled: 2 s of work at the time scale
FIRST_FILE_ID = 70_000  # a multiple of 7: a file that exists; tab i asks for the i-th after it
# Each tab's job has a slot of its own, so a job's time is its work, not a queue's.
SERVER_ENV = {"SSE_HEARTBEAT_S": "10", "LEASE_S": "100", "WORKERS": str(2 * max(TABS))}
TERMINAL = ("completed", "failed", "cancelled", "expired")
OBSERVE_STALLS = 2  # a case is watched for this many stall limits before what has not arrived counts as lost


def watchdog_s() -> float:
    """The page's own wait for a first event (app.js's FIRST_EVENT_MS): stated once, there."""
    found = re.search(r"const FIRST_EVENT_MS = (\d+);", (WEBAPP / "app.js").read_text())
    if found is None:
        raise RuntimeError("app.js no longer states FIRST_EVENT_MS")
    return int(found.group(1)) / 1000


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
    job_work_ms: int  # unscaled, as the initiate's X-Simulated-Work-Ms
    job_s: float
    stall_s: float  # heard nothing by then: a stall
    observe_s: float  # not completed by then: not delivered


def limits(job_work_ms: int = JOB_WORK_MS) -> Limits:
    job_s = job_work_ms / 1000 * TIME_SCALE
    stall_s = job_s + watchdog_s()
    return Limits(job_work_ms, job_s, stall_s, OBSERVE_STALLS * stall_s)


_START = "() => document.getElementById('start').click()"
_ROWS = "() => [...document.querySelectorAll('#jobs tbody tr')].map((r) => ({ ...r.dataset }))"


class Tabs:
    """K tabs of `/app/?channel=<channel>` in one browser context (one connection pool, one
    localStorage), each about to start a job of its own; every API request each sends is kept."""

    def __init__(self, browser: Chromium, entry: str, channel: str, count: int, limit: Limits) -> None:
        self.context = browser.new_context(extra_http_headers={"x-simulated-work-ms": str(limit.job_work_ms)})
        self.requests: list[list[str]] = [[] for _ in range(count)]
        self.clicks_s: list[float] = []
        self.pages = [self.context.new_page() for _ in range(count)]
        for i, page in enumerate(self.pages):  # the tabs load together, each waited for after
            page.on("request", self._keep(i))
            page.goto(f"{entry}/app/?channel={channel}", wait_until="commit")
        for i, page in enumerate(self.pages):
            page.wait_for_load_state()
            page.fill("#file-ids", str(FIRST_FILE_ID + 7 * i))

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


def run_case(browser: Chromium, entry: str, case: TabsCase, limit: Limits) -> list[dict[str, Any]]:
    tabs = Tabs(browser, entry, case.channel, case.tabs, limit)
    try:
        tabs.start()
        rows = tabs.wait(limit.observe_s)
        return [_tab_row(case, i, r, tabs, limit) for i, r in enumerate(rows)]
    finally:
        tabs.close()


def _settled(rows: list[dict[str, str]]) -> bool:
    return bool(rows) and all(r.get("status") in TERMINAL for r in rows)


def _tab_row(case: TabsCase, tab: int, rows: list[dict[str, str]], tabs: Tabs, limit: Limits) -> dict[str, Any]:
    own = rows[0] if rows else {}  # each tab starts one job; none if its start never got through
    first = own.get("firstEventMs")
    first_s = int(first) / 1000 if first else None
    return {
        **asdict(case),
        "tab": tab + 1,
        "started": bool(own),
        "delivered": own.get("status") == "completed",
        "first_event_s": first_s,
        "stalled": first_s is None or first_s > limit.stall_s,
        "via": own.get("channel", ""),
        "job": own.get("jobId"),
        "requests": len(tabs.requests[tab]),
        "clicked_s": tabs.clicks_s[tab],
    }


def summarize(rows: list[dict[str, Any]], limit: Limits) -> list[dict[str, Any]]:
    """Per case: jobs delivered, stalled tabs, the p95 first-event delay (a tab that heard
    nothing counts as the whole observed time, and then the p95 is a lower bound)."""
    cases: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        cases.setdefault((row["channel"], row["protocol"], row["tabs"]), []).append(row)
    out = []
    for (channel, protocol, tabs), case_rows in cases.items():
        delays = [r["first_event_s"] if r["first_event_s"] is not None else limit.observe_s for r in case_rows]
        p95 = delays[0] if len(delays) == 1 else statistics.quantiles(delays, n=20, method="inclusive")[-1]
        out.append({
            "channel": channel, "protocol": protocol, "tabs": tabs,
            "delivered": sum(r["delivered"] for r in case_rows),
            "stalled": sum(r["stalled"] for r in case_rows),
            "first_event_p95_s": round(p95, 3),
            "p95_is_lower_bound": any(r["first_event_s"] is None for r in case_rows),
            "requests_per_tab": round(sum(r["requests"] for r in case_rows) / tabs, 1),
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
            protocol=case["protocol"], job_s=limit.job_s, request_s=fitted[case["protocol"]],
            longpoll_hold_s=settings.scaled(settings.longpoll_max_wait_s),
            poll_every_s=settings.scaled(settings.poll_retry_after_s),
            progress_steps=settings.progress_steps, watchdog_s=watchdog_s(), observe_s=limit.observe_s,
        )  # fmt: skip
        rows += tab_rows(browser, case["channel"], case["clicks_s"], limit.stall_s)
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
                    rows += run_case(browser, stack.urls.entry, case, limit)
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
