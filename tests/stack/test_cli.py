"""`python -m stack up` starts a stack a person can poke, and Ctrl-C leaves nothing
behind; a load test stopped with SIGTERM midway leaves nothing behind either."""

from __future__ import annotations

import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from stack.processes import tcp_open
from tests.sigterm import end_midway
from tests.stack.stack_cli import printed_summary, stack_up

NETWORK_SCENARIO = Path(__file__).parents[1] / "loadtests" / "blackholes.toml"

pytestmark = pytest.mark.integration


def test_stack_up_prints_urls_serves_and_tears_down_on_ctrl_c() -> None:
    proc = stack_up("--profile", "cloudflare+nginx-tuned", "--backend", "processes")
    try:
        info = printed_summary(proc)
        urls = info["urls"]
        assert info["backend"] == "processes" and set(urls["proxies"]) == {"cloudflare", "nginx-tuned"}
        with urllib.request.urlopen(urls["entry"] + "/health", timeout=5) as resp:
            assert resp.status == 200 and resp.headers["server"] == "cloudflare"
        ports = [int(u.rsplit(":", 1)[1].split("/")[0]) for u in [urls["entry"], *urls["servers"], urls["minio"]]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert not any(tcp_open(port)() for port in ports), "something still listens after Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_load_test_ended_by_sigterm_stops_every_service_it_started(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "loadtests", "run", "--scenario", str(NETWORK_SCENARIO), "--pattern", "polling",
            "--duration", "60", "--backend", "processes", "--out", str(tmp_path)]  # fmt: skip
    # Locust starts once the stack and the network are up.
    names = end_midway(argv, lambda _: (tmp_path / "locust.log").exists())
    assert {"redis-server", "nginx", "haproxy", "server"} <= names, names  # server: Toxiproxy's binary
