"""The stream bench's plan: how long its first job waits, so every stream is open and held
before any job ends, and the one schedule every engine's jobs end on."""

from __future__ import annotations

from benchmarks.stream_bench import MADE_PER_S, StreamPlan


def test_the_first_job_ends_after_every_job_is_made_and_every_stream_held() -> None:
    assert StreamPlan.shortest_job_s(10_000, 1000.0) == StreamPlan.job_s  # the default is enough
    streams = 100_000
    needed = streams / MADE_PER_S + streams / 1000.0 + StreamPlan.hold_s
    assert needed < StreamPlan.shortest_job_s(streams, 1000.0) <= needed + 2
    assert needed < StreamPlan.needed_job_s(streams, 1000.0) <= needed + 2


def test_every_engine_ends_its_jobs_on_one_schedule_at_the_rate_asked() -> None:
    plan = StreamPlan(2_000, ends_per_s=250.0)
    offsets = plan.end_offsets()
    assert offsets == StreamPlan(2_000, ends_per_s=250.0).end_offsets()  # seeded: the same for each engine
    assert len(offsets) == 2_000 and offsets == sorted(offsets)
    assert offsets[0] >= 0 and offsets[-1] <= plan.spread_s == 8.0
    # About the rate asked in every second of the spread, not bunched where the jobs were made.
    per_second = [sum(1 for o in offsets if s <= o < s + 1) for s in range(8)]
    assert all(180 < n < 320 for n in per_second), per_second
