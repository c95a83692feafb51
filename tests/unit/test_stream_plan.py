"""The stream bench's plan: how long its first job waits, so every stream is open and held
before any job ends."""

from __future__ import annotations

from benchmarks.stream_bench import MADE_PER_S, StreamPlan


def test_the_first_job_ends_after_every_job_is_made_and_every_stream_held() -> None:
    assert StreamPlan.shortest_job_s(10_000, 1000.0) == StreamPlan.job_s  # the default is enough
    streams = 100_000
    needed = streams / MADE_PER_S + streams / 1000.0 + StreamPlan.hold_s
    assert needed < StreamPlan.shortest_job_s(streams, 1000.0) <= needed + 2
    assert needed < StreamPlan.needed_job_s(streams, 1000.0) <= needed + 2
