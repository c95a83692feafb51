"""The hostile-network checks: a buffering corporate proxy and a network that silences
connections (Toxiproxy), through the real stack with Locust. The hybrid must deliver every
job through both; what an SSE-only client suffers is measured and reported, not hidden.

Run alone with `pytest -m networks`.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.scenario import load
from loadtests.run import PACE_WARNINGS, LoadTest, run
from proxies.render import Hop
from stack.go_build import TOXIPROXY
from stack.toxiproxy import impaired_network

pytestmark = pytest.mark.networks
HERE = Path(__file__).parent
CORPORATE = HERE.parents[1] / "scenarios" / "corporate-proxy.toml"
BLACKHOLES = HERE / "blackholes.toml"
SCALE = 0.02


def _run(tmp_path: Path, scenario: Path, pattern: str) -> tuple[dict[str, Any], dict[str, Any]]:
    test = LoadTest(scenario, pattern, duration_s=4.0, time_scale=SCALE, backend="processes", out=tmp_path / pattern)
    out = run(test)
    summary = json.loads((out / "summary.json").read_text())
    assert [w for w in summary["warnings"] if not w.startswith(PACE_WARNINGS)] == [], summary["warnings"]
    mismatched = {name: check for name, check in summary["accounting"].items() if not check["match"]}
    assert not mismatched, mismatched
    return summary, json.loads((out / "meta.json").read_text())


def test_the_hybrid_delivers_every_job_through_a_buffering_proxy_by_falling_back_to_polling(tmp_path: Path) -> None:
    summary, _ = _run(tmp_path, CORPORATE, "hybrid")
    assert summary["success_rate"] == 1.0
    # Streams of jobs longer than the watchdog (45 s) went silent, and polls took over.
    sent = {
        row["name"]: row["num_requests"] for row in json.loads((tmp_path / "hybrid" / "locust_stats.json").read_text())
    }
    assert sent["GET /v1/download/jobs/[id]"] > 0


def test_an_sse_client_behind_a_buffering_proxy_gets_its_delay_reported(tmp_path: Path) -> None:
    summary, _ = _run(tmp_path, CORPORATE, "sse")
    # Progress never arrives while the job runs; each stream of a long job is taken for dead
    # by the watchdog and opened again, and the terminal event comes when the response ends.
    assert summary["stream_reconnects_per_job"] > 0
    assert summary["notify_delay_p95_s"] is not None
    assert summary["success_rate"] == 1.0


@pytest.mark.parametrize("pattern", ["hybrid", "sse"])
def test_a_silenced_stream_recovers_through_the_watchdog(tmp_path: Path, pattern: str) -> None:
    summary, meta = _run(tmp_path, BLACKHOLES, pattern)
    assert summary["success_rate"] == 1.0
    assert summary["stream_reconnects_per_job"] > 0  # the network's, not a timer in the client
    network = meta["network"]
    assert network == summary["network"] and network["kind"] == "toxiproxy"
    assert [t["type"] for t in network["toxics"]] == ["latency", "latency", "latency"]
    assert network["windows"]["blackholes"] >= 1


def _toxiproxies() -> list[psutil.Process]:
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.exe() == str(TOXIPROXY.path):
                found.append(process)
        except psutil.Error:
            continue  # it ended while we looked
    return found


def test_a_failing_run_leaves_no_toxiproxy_or_proxy_behind(tmp_path: Path) -> None:
    network = load(BLACKHOLES).network
    assert network is not None
    before = _toxiproxies()
    with (
        pytest.raises(RuntimeError, match="a test failing midway"),
        impaired_network(network, 0.05, Hop("127.0.0.1", 9), SCALE, tmp_path, seed=1) as running,
    ):
        assert len(_toxiproxies()) == len(before) + 1
        entry = running.entry
        raise RuntimeError("a test failing midway")
    assert _toxiproxies() == before
    hop = Hop.from_url(entry)
    with pytest.raises(ConnectionRefusedError), socket.create_connection((hop.host, hop.port), timeout=1):
        pass  # nobody listens where the clients connected
