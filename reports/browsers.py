"""The browser tabs bench's results (`benchmarks.browser_tabs`): for each way the page follows
its jobs, each protocol and each number of tabs of one browser, the jobs that reached their
tab and the p95 delay from a tab's click to the first thing it heard of its job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulations.browser_pool import HTTP1_CONNECTIONS

TABS_FILE = Path("browsers") / "tabs.json"
CHANNELS = {
    "shared": "one event stream per browser (the page's default)",
    "hybrid": "a stream per tab, polling when it fails",
    "sse": "a stream per tab",
    "longpoll": "long polling per tab",
    "websocket": "a WebSocket per tab",
    "polling": "polling per tab",
}
PROTOCOLS = {"h1": "HTTP/1.1", "h2": "HTTP/2"}


# The condition the decision matrices are rebuilt on: one tab past HTTP/1.1's six connections.
CONDITION_TABS = 7
CONDITION_PREFIX = "browser-tabs/"


def measured_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The tabs bench as rows of the measured table, one per pattern and protocol, at
    CONDITION_TABS tabs: scenario `browser-tabs/h1` or `browser-tabs/h2`. Each per-tab way is
    its pattern (the page's shared stream is not one of the matrices' patterns); delays in
    scenario seconds, as every run's."""
    scale = results.get("time_scale", 1.0)
    rows = []
    for case in results.get("cases", []):
        if case["tabs"] != CONDITION_TABS or case["channel"] == "shared":
            continue
        delays = {
            k: None if case.get(k) is None else round(case[k] / scale, 4)
            for k in ("notify_delay_p50_s", "notify_delay_p95_s")
        }
        rows.append({
            "scenario": f"{CONDITION_PREFIX}{case['protocol']}", "pattern": case["channel"],
            "jobs": case["tabs"], "success_rate": case["delivered"] / case["tabs"],
            "requests_per_job": case["requests_per_tab"], **delays, "warnings": "", "folder": str(TABS_FILE),
        })  # fmt: skip
    return rows


def load(folder: Path) -> dict[str, Any]:
    path = folder / TABS_FILE
    found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return found


def _cell(case: dict[str, Any], job_s: float) -> str:
    bound = "≥ " if case["p95_is_lower_bound"] else ""
    p95 = case["first_event_p95_s"]
    text = (
        f"{case['delivered']}/{case['tabs']} delivered, first event p95 {bound}{p95:.2f} s ({p95 / job_s:.2f} of a job)"
    )
    if case.get("notify_delay_p95_s") is not None:
        text += f", job end heard p95 {case['notify_delay_p95_s']:.2f} s after it"
    return text + (f", {case['stalled']} stalled" if case["stalled"] else "")


def table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per way of following and protocol, one column per number of tabs."""
    cases = results.get("cases", [])
    counts = sorted({c["tabs"] for c in cases})
    by_key = {(c["channel"], c["protocol"], c["tabs"]): c for c in cases}
    headers = ["the page follows its job with", "protocol", *[f"{k} tab{'s' if k > 1 else ''}" for k in counts]]
    rows = []
    for channel, label in CHANNELS.items():
        for protocol, name in PROTOCOLS.items():
            cells = [
                _cell(by_key[key], results["limits"]["job_s"]) if (key := (channel, protocol, k)) in by_key else "-"
                for k in counts
            ]
            if any(cell != "-" for cell in cells):
                rows.append([label, name, *cells])
    return headers, rows


def sentence(results: dict[str, Any]) -> str:
    limits, scale = results["limits"], results["time_scale"]
    low, high = (limits["job_s"] * f for f in limits["spread"])
    return (
        f"Real headless Chromium through the TLS edge (cloudflare+nginx-tuned, time scale {scale:g}): K tabs of "
        f"`/app/` in one browser context (one connection pool), each starting a job at once, of {low:g} to {high:g} s "
        f"({limits['job_s']:g} s on average, {limits['job_s'] / scale:g} s in the scenario's time; the same jobs for "
        "every case with as many tabs). A tab stalls when it heard nothing of its job within the job's time plus "
        f"the page's watchdog, its own {limits['watchdog_s']:g} s; a job not completed in its tab within "
        f"{limits['observe_s']:g} s is not delivered, and a p95 marked ≥ counts those tabs at that time. A delay "
        "of about one job means a tab waited for another tab's job to end. Over HTTP/1.1 Chromium opens at most "
        f"{HTTP1_CONNECTIONS} connections per origin for all tabs together. Source: `browsers/tabs.json`."
    )


MODEL_HEADERS = [
    "the page follows its job with",
    "protocol",
    "tabs",
    "first event p95: Chromium",
    "model",
    "job end heard p95: Chromium",
    "model",
    "delivered (Chromium / model)",
    "agrees",
]


def model_rows(results: dict[str, Any]) -> list[list[str]]:
    """The connection-pool model beside Chromium, case by case."""
    return [
        [
            CHANNELS[c["channel"]], PROTOCOLS[c["protocol"]], str(c["tabs"]),
            f"{c['measured_p95_s']:.2f} s", f"{c['model_p95_s']:.2f} s",
            _s(c["measured_notify_p95_s"]), _s(c["model_notify_p95_s"]),
            f"{c['measured_delivered']} / {c['model_delivered']}", "yes" if c["agrees"] else "**no**",
        ]
        for c in results.get("model", {}).get("cases", [])
    ]  # fmt: skip


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def model_sentence(results: dict[str, Any]) -> str:
    m = results["model"]
    fitted = ", ".join(f"{PROTOCOLS[p]} {s * 1000:.1f} ms" for p, s in m["request_s"].items())
    agree = sum(c["agrees"] for c in m["cases"])
    within = m["agrees_within"]
    return (
        "The model of the browser's connection pool (`simulations/browser_pool.py`: SimPy, "
        f"{HTTP1_CONNECTIONS} connections per origin over HTTP/1.1 for all tabs, one multiplexed connection "
        "over HTTP/2, WebSockets apart), run with "
        f"each case's measured clicks. Its one fitted parameter, a request's time, comes from the one-tab cases "
        f"({fitted}); every other case is a prediction. It agrees with Chromium on {agree} of {len(m['cases'])} "
        f"cases (first-event p95 within {within['s']:g} s or {within['share']:.0%}, and the same jobs "
        "delivered). It has no CPU: where many tabs, the edge and the server share this machine's cores, "
        "Chromium is slower than it."
    )
