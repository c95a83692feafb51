"""The tabs bench's summary and the report's table: a tab that heard nothing counts as the whole
observed time, and then the p95 says it is a lower bound."""

from __future__ import annotations

from benchmarks.browser_tabs import Limits, summarize
from reports.browsers import table

LIMIT = Limits(job_work_ms=200_000, spread=(1.0, 1.0), job_s=2.0, watchdog_s=2.5, observe_s=9.0)


def tab(n: int, first_event_s: float | None, delivered: bool = True) -> dict[str, object]:
    return {
        "channel": "sse", "protocol": "h1", "tabs": 3, "tab": n, "started": True, "delivered": delivered,
        "first_event_s": first_event_s, "stalled": LIMIT.stalled(first_event_s, LIMIT.job_work_ms),
        "notify_delay_s": 0.01 if delivered else None,
        "via": "stream", "job": f"job-{n}", "requests": 2, "clicked_s": 0.001 * n,
    }  # fmt: skip


def test_a_tab_that_heard_nothing_makes_the_p95_a_lower_bound() -> None:
    (case,) = summarize([tab(1, 0.1), tab(2, 2.0), tab(3, None, delivered=False)], LIMIT)
    assert (case["delivered"], case["stalled"], case["p95_is_lower_bound"]) == (2, 1, True)
    assert case["first_event_p95_s"] > 2.0  # the silent tab counted at the observed 9 s
    results = {"limits": vars(LIMIT), "time_scale": 0.01, "cases": [case]}
    headers, rows = table(results)
    assert headers[-1] == "3 tabs"
    p95 = case["first_event_p95_s"]
    assert rows == [["a stream per tab", "HTTP/1.1", f"2/3 delivered, first event p95 ≥ {p95:.2f} s "
                     f"({p95 / 2:.2f} of a job), job end heard p95 0.01 s after it, 1 stalled"]]  # fmt: skip
