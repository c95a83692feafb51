"""An engine measured in several rounds, as one row: its median round, every round's failures,
and ratios taken within a round."""

from __future__ import annotations

from typing import Any

from benchmarks.stream_rounds import one_row, p99, rss, versus


def run(p99_ms: float, rss_kib: float = 11.0, resets: int = 0, cut: int = 0, held: int = 100) -> dict[str, Any]:
    return {
        "streams_held": held,
        "resets": resets,
        "ended_without_terminal_event": cut,
        "unfinished": 0,
        "rss_per_stream_kib": rss_kib,
        "terminal_events_per_s": 250,
        "delay": {"p50_ms": p99_ms / 4, "p99_ms": p99_ms, "max_ms": p99_ms * 2},
        "processes": 1,
    }


def test_one_round_is_its_own_row() -> None:
    only = run(14.3)
    assert one_row([only]) is only
    assert versus([only], [run(2.0)], "p99_delay", p99) == {"p99_delay": 7.15}


def test_the_row_is_the_median_round_and_no_rounds_failure_hides_behind_it() -> None:
    rounds = [run(25.8, resets=1), run(9.0, held=99), run(14.3, rss_kib=11.5, cut=2)]
    row = one_row(rounds)
    assert row["delay"]["p99_ms"] == 14.3 and row["rss_per_stream_kib"] == 11.5  # the median round's figures
    assert row["p99_ms_range"] == [9.0, 25.8]
    assert (row["resets"], row["ended_without_terminal_event"], row["streams_held"]) == (1, 2, 99)
    assert [r["delay"]["p99_ms"] for r in row["rounds"]] == [25.8, 9.0, 14.3]  # each round, in the order run


def test_ratios_are_taken_within_each_round_then_summarised() -> None:
    mine = [run(10.0), run(20.0), run(30.0)]
    # The reference was slow in the second round too: that round's ratio is 2, not 20 / 1.
    theirs = [run(1.0), run(10.0), run(3.0)]
    assert versus(mine, theirs, "p99_delay", p99) == {"p99_delay": 10.0, "p99_delay_range": [2.0, 10.0]}
    # A difference, as a WebSocket's memory beyond an event stream's.
    sockets, streams = [run(1.0, rss_kib=12.0), run(1.0, rss_kib=12.4)], [run(1.0), run(1.0, rss_kib=11.2)]
    extra = versus(sockets, streams, "extra", rss, lambda a, b: round(a - b, 2))
    assert extra == {"extra": 1.1, "extra_range": [1.0, 1.2]}


def test_an_engine_that_was_not_measured_keeps_its_reason_and_has_no_ratio() -> None:
    missing = [{"not_measured": "nginx is not installed"}] * 2
    assert one_row(missing) == missing[0]
    assert versus([run(1.0), run(2.0)], missing, "p99_delay", p99) == {"p99_delay": None}
