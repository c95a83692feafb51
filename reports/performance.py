"""The performance figures: what each pattern costs the server with thousands of clients
waiting (the scale step's load tests), event streams held by one server process against
nginx+nchan measured in the same run (`benchmarks.stream_bench`), and where a held stream's
memory goes (`benchmarks.stream_memory`). The report shows them; a full bench also writes the
stream table into the docs' performance page, between its markers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

STREAMS_FILE = Path("streams") / "stream-bench.json"
MEMORY_FILE = Path("streams") / "memory.json"
PAGE_MARKERS = ("<!-- performance table: written by `make bench` -->", "<!-- end of performance table -->")
ENGINES = {
    "embedded": "reference server, embedded",
    "embedded-websocket": "reference server, embedded, WebSocket clients",
    "redis": "reference server, Redis + MinIO",
    "redis-websocket": "reference server, Redis + MinIO, WebSocket clients",
    # Its RSS is its 200 running jobs' as well, so it has no memory ratio.
    "redis-inline-workers": "reference server, Redis + MinIO, 200 job slots in the same process",
    "nchan": "nginx + nchan (reference engine)",
    "nchan-with-artifacts": "nginx + nchan, each message after its job's artifact is stored in MinIO",
}
HEADERS = [
    "engine",
    "streams held",
    "resets while connecting",
    "ended without their terminal event",
    "RSS per stream",
    "CPU holding them idle",
    "jobs ending per s",
    "end → client p50 / p99",
    "vs nchan (RSS, p99)",
    "p99 vs nchan with artifacts",
]
# The memory breakdown's columns: what `benchmarks.stream_memory.breakdown` measured, by key.
MEMORY_COLUMNS = {
    "reference_server": "reference server",
    "aiohttp_floor": "aiohttp floor",
    "reference_server_websocket": "reference server, WebSocket",
    "aiohttp_websocket_floor": "aiohttp floor, WebSocket",
}


def load(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stream bench's results and the memory breakdown, each empty if it did not run."""

    def read(path: Path) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return found

    return read(folder / STREAMS_FILE), read(folder / MEMORY_FILE)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g} ms"


def _spread(text: str, span: list[float] | None, unit: str) -> str:
    """A figure and, from a bench of several rounds, its lowest and highest round."""
    return text if not span else f"{text} ({span[0]:g}-{span[1]:g}{unit})"


def _times(ratios: dict[str, Any], key: str) -> str | None:
    value = ratios.get(key)
    return _spread(f"{value:g}x", ratios.get(f"{key}_range"), "x") if value else None


def rows(streams: dict[str, Any]) -> list[list[str]]:
    out = []
    for engine, label in ENGINES.items():
        r = streams.get("engines", {}).get(engine)
        if r is None:
            continue
        if "not_measured" in r:
            out.append([label, f"not measured: {r['not_measured']}", *[""] * (len(HEADERS) - 2)])
            continue
        ratio = r.get("vs_nchan", {})
        p99_ratio = _times(ratio, "p99_delay")
        versus = f"{_times(ratio, 'rss_per_stream') or '-'}, {p99_ratio}" if p99_ratio else "-"
        loaded = _times(r.get("vs_nchan_with_artifacts", {}), "p99_delay")
        out.append(
            [
                label,
                f"{r['streams_held']:,}",
                str(r["resets"]),
                str(r["ended_without_terminal_event"]),
                f"{r['rss_per_stream_kib']:.1f} KiB",
                f"{r['cpu_share_holding']:.1%} of a core",
                f"{r['terminal_events_per_s']:g}",
                _spread(f"{_ms(r['delay']['p50_ms'])} / {_ms(r['delay']['p99_ms'])}", r.get("p99_ms_range"), " ms"),
                versus,
                loaded or "-",
            ]
        )
    return out


def plan_sentence(streams: dict[str, Any]) -> str:
    p = streams["plan"]
    # A bench folder from before the count was written held each engine's streams in one process.
    processes = p.get("processes", 1)
    where = (
        "one server process each"
        if processes == 1
        else f"{processes} server processes on one port on Redis and {processes} nginx workers, the client spread "
        f"over {processes} processes and source addresses"
    )
    # Before the bench chose, its Redis synced every write; before it had rounds, it ran one.
    fsync, rounds = p.get("redis_fsync", "always"), p.get("rounds", 1)
    run = (
        "in one run"
        if rounds == 1
        else f"in one run of {rounds} rounds, the engines in turn in each. A row is its round with the median "
        "p99, with the resets and the streams cut summed over every round; in brackets, the lowest and highest "
        "round, and each ratio is taken within a round"
    )
    return (
        f"{p['streams']:,} event streams opened at {p['connect_per_s']:g}/s by a client of its own, "
        f"held {p['hold_s']:g} s idle, then every job ends ({p['ends_per_s']:g} a second asked, the rate reached in "
        f"each row; nchan publishes on the same random schedule); {where}, on this machine, {run}. "
        f"Redis syncs its append-only file with `appendfsync {fsync}`."
    )


def memory_headers(memory: dict[str, Any]) -> list[str]:
    return ["package", *(label for key, label in MEMORY_COLUMNS.items() if key in memory)]


def memory_rows(memory: dict[str, Any]) -> list[list[str]]:
    """Traced KiB per held stream, by the package that allocated it: the reference server's
    stream next to the least an aiohttp stream costs, and the same for WebSockets where measured."""
    columns = [memory[key] for key in MEMORY_COLUMNS if key in memory]
    packages = sorted(
        {k for c in columns for k in c["by_package_kib"]}, key=lambda k: -columns[0]["by_package_kib"].get(k, 0)
    )
    table = [[k, *(f"{c['by_package_kib'].get(k, 0):.2f}" for c in columns)] for k in packages]
    return [*table, ["all", *(f"{c['traced_kib_per_stream']:.2f}" for c in columns)]]


def websocket_sentence(streams: dict[str, Any]) -> str | None:
    """What a held WebSocket costs beyond a held event stream, per mode, from the same run."""
    engines = streams.get("engines", {})
    extra = [
        f"{engines[e]['vs_event_stream']['extra_kib_per_stream']:+.1f} KiB ({ENGINES[e]})"
        for e in ENGINES
        if "vs_event_stream" in engines.get(e, {})
    ]
    if not extra:
        return None
    return "A held WebSocket's RSS beyond a held event stream's, same run: " + "; ".join(extra) + "."


def markdown(streams: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(streams)]
    return "\n".join(lines)


def replace_marked(path: Path, markers: tuple[str, str], body: str, what: str) -> None:
    """Replace what stands between a page's two markers (kept) with `body`."""
    start, end = markers
    text = path.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {what} markers ({start} ... {end})")
    path.write_text(pattern.sub(lambda _: f"{start}\n{body}\n{end}", text))


def update_page(page: Path, streams: dict[str, Any], provenance: str) -> None:
    """Replace the docs' performance table with this run's."""
    body = f"{plan_sentence(streams)} {provenance}\n\n{markdown(streams)}"
    replace_marked(page, PAGE_MARKERS, body, "performance")


SCALE_HEADERS = [
    "pattern",
    "clients waiting at the peak",
    "API CPU per job",
    "API RSS per waiting client",
    "Redis commands per job",
    "Redis memory per job in flight",
    "cost per million jobs (API, requests, connections)",
    "worker CPU per job (apart: every pattern pays it)",
]


def scale_rows(scale: pd.DataFrame) -> list[list[str]]:
    """One row per pattern of the scale step's load tests."""

    def redis(row: pd.Series, key: str, unit: str) -> str:
        return f"{row[key]:g}{unit}" if key in row and pd.notna(row[key]) else "-"

    return [
        [
            str(pattern),
            f"{row['peak_clients']:,.0f}",
            f"{row['api_cpu_s_per_job'] * 1000:.1f} ms",
            f"{row['api_rss_kib_per_client']:.1f} KiB",
            redis(row, "redis_commands_per_job", ""),
            redis(row, "redis_kib_per_job_in_flight", " KiB"),
            f"${row['cost_per_million_jobs_usd']:,.2f}",
            f"{row['worker_cpu_s_per_job'] * 1000:.1f} ms (${row['worker_cost_per_million_jobs_usd']:,.2f}/M)",
        ]
        for pattern, row in scale.iterrows()
    ]
