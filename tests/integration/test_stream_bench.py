"""The stream bench's machinery on a small scale, against real processes: each engine holds
every stream it is given, every stream gets its terminal event, and each delay is measured
(the figures themselves are `make bench`'s to record, not this test's to judge)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.stream_bench import ENGINES, StreamPlan, measure
from benchmarks.stream_memory import breakdown
from tests.sigterm import commands, end_midway

pytestmark = pytest.mark.integration
SMALL = StreamPlan(streams=60, connect_per_s=200.0, hold_s=0.5, job_s=4.0, ends_per_s=60.0, grace_s=20.0)


async def test_every_engine_holds_every_stream_and_delivers_every_end(tmp_path: Path) -> None:
    results = await measure(SMALL, tmp_path)
    for engine in ENGINES:
        r = results["engines"][engine]
        assert r["streams_held"] == SMALL.streams, (engine, r)
        assert r["resets"] == 0 and r["ended_without_terminal_event"] == 0 and r["unfinished"] == 0, (engine, r)
        assert r["delay"]["p99_ms"] is not None and r["delay"]["p50_ms"] <= r["delay"]["p99_ms"], (engine, r)
        assert r["rss_per_stream_kib"] > 0, (engine, r)
    for engine in ("embedded", "embedded-websocket", "redis", "redis-websocket"):
        assert set(results["engines"][engine]["vs_nchan"]) == {"rss_per_stream", "p99_delay"}
        assert set(results["engines"][engine]["vs_nchan_with_artifacts"]) == {"p99_delay"}
    # The loaded reference engine stored every message's artifact before publishing it.
    assert results["engines"]["nchan-with-artifacts"]["artifacts_stored"] == SMALL.streams
    # A WebSocket's cost beyond an event stream's, in the same mode and run.
    for mode in ("embedded", "redis"):
        socket, stream = results["engines"][f"{mode}-websocket"], results["engines"][mode]
        extra = socket["vs_event_stream"]["extra_kib_per_stream"]
        assert extra == pytest.approx(socket["rss_per_stream_kib"] - stream["rss_per_stream_kib"], abs=0.01)
    # Jobs queued behind in-process slots: its memory is theirs too, so only its delay compares.
    assert set(results["engines"]["redis-inline-workers"]["vs_nchan"]) == {"p99_delay"}


async def test_in_rounds_every_engine_runs_each_round_and_its_ratios_are_taken_within_rounds(tmp_path: Path) -> None:
    results = await measure(replace(SMALL, rounds=2), tmp_path, ("embedded", "nchan"))
    embedded, nchan = results["engines"]["embedded"], results["engines"]["nchan"]
    for row in (embedded, nchan):
        assert len(row["rounds"]) == 2 and all(r["streams_held"] == SMALL.streams for r in row["rounds"]), row
        low, high = row["p99_ms_range"]
        assert low <= row["delay"]["p99_ms"] <= high
        assert row["resets"] == row["ended_without_terminal_event"] == 0, row
    low, high = embedded["vs_nchan"]["p99_delay_range"]
    assert low <= embedded["vs_nchan"]["p99_delay"] <= high
    assert results["plan"]["rounds"] == 2


async def test_past_one_process_the_streams_spread_over_processes_on_one_port_and_client_addresses(
    tmp_path: Path,
) -> None:
    """As 100,000 streams would be on this machine, with 60 and at most 25 a process: three
    server processes sharing a port on Redis, with the jobs over two worker processes, three
    nginx workers, three probes each from an address of its own. Embedded mode cannot spread
    its jobs, and says so."""
    spread = replace(SMALL, per_process=25, worker_processes=2)
    results = await measure(spread, tmp_path, ("embedded", "redis", "nchan"))
    assert "embedded mode keeps a job in the process that made it" in results["engines"]["embedded"]["not_measured"]
    for engine in ("redis", "nchan"):
        r = results["engines"][engine]
        assert r["processes"] == 3 and r["client_addresses"] == 3, (engine, r)
        assert r["streams_held"] == sum(r["streams_per_process"]) == 60, (engine, r)
        assert r["resets"] == 0 and r["ended_without_terminal_event"] == 0 and r["unfinished"] == 0, (engine, r)
    # The kernel spreads connections over the processes that share the port.
    assert len(results["engines"]["redis"]["streams_per_process"]) > 1
    assert results["engines"]["redis"]["worker_processes"] == 2


async def test_a_held_streams_memory_is_accounted_by_package_against_the_floor() -> None:
    found = await breakdown(50, redis=True)
    floor = found["aiohttp_floor"]
    for mode in ("reference_server", "reference_server_websocket", "reference_server_redis"):
        ours = found[mode]
        assert ours["streams"] == floor["streams"] == 50
        assert ours["by_package_kib"]["reference_server"] > 0, mode
    for bare in ("aiohttp_floor", "aiohttp_websocket_floor"):
        assert found[bare]["by_package_kib"].get("reference_server", 0.0) < 0.5  # the floor runs none of our code
        assert found[bare]["by_package_kib"]["aiohttp"] > 0


def test_a_stream_bench_ended_by_sigterm_stops_every_service_it_started(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "benchmarks.stream_bench", "--streams", "60", "--job-s", "60", "--engines", "redis",
            "--out", str(tmp_path / "stream-bench.json")]  # fmt: skip
    # Once the probe runs, Redis, MinIO, the API and its worker are all up.
    names = end_midway(argv, lambda started: any("benchmarks.stream_probe" in c for c in commands(started)))
    assert {"redis-server", "minio"} <= names, names
