"""The performance table the report shows and a full bench writes into the docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports.performance import PAGE_MARKERS, markdown, plan_sentence, update_page

ONE_RUN: dict[str, Any] = {
    "plan": {"streams": 100, "connect_per_s": 50.0, "hold_s": 1.0, "ends_per_s": 20.0},
    "engines": {
        "embedded": {
            "streams_held": 100,
            "resets": 0,
            "ended_without_terminal_event": 0,
            "rss_per_stream_kib": 20.0,
            "cpu_share_holding": 0.001,
            "terminal_events_per_s": 19,
            "delay": {"p50_ms": 1.0, "p99_ms": 3.0},
            "vs_nchan": {"rss_per_stream": 2.0, "p99_delay": 1.5},
            "vs_nchan_with_artifacts": {"p99_delay": 0.5},
        },
        "nchan": {"not_measured": "nginx is not installed"},
    },
}


def test_the_table_has_a_row_per_engine_and_says_what_was_not_measured() -> None:
    table = markdown(ONE_RUN)
    row = (
        "| reference server, embedded | 100 | 0 | 0 | 20.0 KiB | 0.1% of a core | 19 | 1 ms / 3 ms | 2x, 1.5x | 0.5x |"
    )
    assert row in table
    assert "not measured: nginx is not installed" in table
    assert "Redis" not in table  # an engine that did not run has no row


def test_the_table_is_replaced_between_its_markers_only(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    start, end = PAGE_MARKERS
    page.write_text(f"before\n{start}\nold table\n{end}\nafter\n")
    update_page(page, ONE_RUN, "Measured now.")
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("after\n")
    assert "old table" not in text and "Measured now." in text and "| reference server, embedded |" in text
    update_page(page, ONE_RUN, "Measured again.")
    assert page.read_text().count(start) == 1 and "Measured now." not in page.read_text()


def test_a_page_without_the_markers_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text("no table here\n")
    with pytest.raises(ValueError, match="has no performance markers"):
        update_page(page, ONE_RUN, "")


def test_the_plan_says_how_redis_synced_and_an_older_run_synced_every_write() -> None:
    plan: dict[str, object] = {"streams": 100, "connect_per_s": 50.0, "hold_s": 1.0, "ends_per_s": 20.0}
    assert "`appendfsync everysec`" in plan_sentence({"plan": {**plan, "redis_fsync": "everysec"}})
    assert "`appendfsync always`" in plan_sentence({"plan": plan})


def test_a_bench_of_several_rounds_shows_each_figure_with_its_lowest_and_highest_round() -> None:
    embedded = {
        **ONE_RUN["engines"]["embedded"],
        "p99_ms_range": [2.5, 4.0],
        "vs_nchan": {
            "rss_per_stream": 2.0,
            "rss_per_stream_range": [1.9, 2.1],
            "p99_delay": 1.5,
            "p99_delay_range": [0.8, 3.0],
        },
        "vs_nchan_with_artifacts": {"p99_delay": 0.5, "p99_delay_range": [0.4, 0.7]},
    }
    rounds = {"plan": {**ONE_RUN["plan"], "rounds": 3}, "engines": {"embedded": embedded}}
    row = "| 1 ms / 3 ms (2.5-4 ms) | 2x (1.9-2.1x), 1.5x (0.8-3x) | 0.5x (0.4-0.7x) |"
    assert row in markdown(rounds)
    sentence = plan_sentence(rounds)
    assert "in one run of 3 rounds" in sentence and "summed over every round" in sentence
    assert "in one run." in plan_sentence(ONE_RUN)  # before rounds, or with one
