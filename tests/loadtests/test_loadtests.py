"""Every pattern end to end through the real stack with Locust, at a time scale of 0.02
(the edge's 100 s is 2 s): the clients' counts must add up to the server's /metrics, and
each proxy chain must fail sync requests with its own status."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from core.scenario import load
from loadtests.collect import read_metrics
from loadtests.protocol import USER_CLASSES
from loadtests.run import LAPSED, MIN_REAL_LEASE_S, PACE_WARNINGS, LoadTest, run, stack_spec
from stack.full_stack import Stack

pytestmark = pytest.mark.integration
SMALL = Path(__file__).with_name("small.toml")
SCALE = 0.02
PROFILES = {"cloudflare+nginx-tuned": "524", "cloudflare+nginx-default": "504"}  # which proxy cuts a long sync
# A real edge serves its clients over TLS: through this chain every pattern's client verifies
# the stack's own CA (and the WebSocket is wss).
TLS_ENTRY = "cloudflare+nginx-tuned"
STARTED = 'dl_executions_started_total{api="async"}'


def run_small(tmp_path: Path, pattern: str, profile: str, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    options.setdefault("backend", "processes")
    test = LoadTest(SMALL, pattern, duration_s=5.0, time_scale=SCALE, profile=profile, out=tmp_path / pattern,
                    **options)  # fmt: skip
    out = run(test)
    return json.loads((out / "summary.json").read_text()), json.loads((out / "meta.json").read_text())


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("pattern", USER_CLASSES)
def test_every_pattern_runs_and_its_counts_match_the_server(tmp_path: Path, pattern: str, profile: str) -> None:
    summary, meta = run_small(tmp_path, pattern, profile, tls=profile == TLS_ENTRY)
    assert meta["stack"]["tls"] == (profile == TLS_ENTRY)
    assert [w for w in summary["warnings"] if not w.startswith(PACE_WARNINGS)] == [], summary["warnings"]
    assert summary["jobs"] == meta["jobs"] > 40
    mismatched = {name: check for name, check in summary["accounting"].items() if not check["match"]}
    assert not mismatched, mismatched
    if pattern == "websocket" and "nginx-default" in profile:
        # Stock nginx sends no Upgrade on: every handshake reaches the server as a plain GET.
        assert summary["success_rate"] == 0
        assert summary["requests_per_job"] == 2  # the initiate and the one refused handshake
        return
    if pattern == "sync":
        # Work up to 120 s against a 60 s (nginx) or 100 s (edge) limit: some requests are
        # cut, by the proxy that owns the shorter limit, and every retry is work done again.
        assert set(summary["timeouts_per_job"]) == {PROFILES[profile]}
        assert summary["success_rate"] < 1
        assert summary["duplicate_executions_per_job"] > 0
    else:
        assert summary["success_rate"] == 1.0
        # Work runs twice only where a lease ran out: the machine stalled for that long (a warning
        # says so), which a shared CI machine did once with 5 s leases.
        assert summary["duplicate_executions_per_job"] == summary["reclaimed_executions_per_job"]
        assert summary["timeouts_per_job"] == {}
    if pattern in ("webhook", "hybrid"):
        assert summary["webhook_attempts_per_job"] > 1.05  # a fifth of the attempts fail and are retried
    if pattern == "polling":
        assert summary["requests_per_job"] > 5
    # What the server side spent, read from the real processes and Redis.
    cost = summary["server_cost"]
    assert cost["jobs"] == summary["jobs"] and cost["peak_clients"] >= 1
    assert cost["api_cpu_s_per_job"] > 0
    if pattern != "sync":  # sync's work runs in the API's request handler: CI saw its worker spend 0.0
        assert cost["worker_cpu_s_per_job"] > 0
    assert cost["redis_commands_per_job"] > 0
    assert cost["cost_parts_per_million_jobs_usd"]["requests"] > 0


def test_locust_master_with_two_workers_shares_the_schedule(tmp_path: Path) -> None:
    summary, meta = run_small(tmp_path, "polling", "cloudflare+nginx-tuned", workers=2)
    assert [p["jobs"] for p in sorted(meta["load_generators"], key=lambda p: p["share"])] == [
        (meta["jobs"] + 1) // 2,
        meta["jobs"] // 2,
    ]
    assert summary["jobs"] == meta["jobs"]
    assert all(check["match"] for check in summary["accounting"].values())


def test_a_worker_stalled_past_its_lease_is_reported_as_the_machines_duplicate_work(tmp_path: Path) -> None:
    """What a shared machine did once in CI, on purpose: one of two workers stops for longer
    than a lease while it runs jobs. The other takes them over, each job still completes, and
    the run counts the work done twice as reclaimed and warns, beside the pattern's own figures."""
    scenario = tmp_path / "two-workers.toml"
    scenario.write_text(SMALL.read_text().replace("count = 1", "count = 2"))
    test = LoadTest(scenario, "polling", duration_s=5.0, time_scale=SCALE, profile="cloudflare+nginx-tuned",
                    backend="processes", out=tmp_path / "polling")  # fmt: skip
    with Stack(stack_spec(test, load(scenario))) as stack:
        assert stack.urls is not None
        origin, stalled, done = stack.urls.servers[0], stack.workers[0].process, threading.Event()

        def stall_while_busy() -> None:
            # Ten jobs started, taken in turn by the two workers' blocking reads, and each runs
            # at least 0.2 s: the stopped worker holds some.
            while not done.is_set() and read_metrics(origin).get(STARTED, 0) < 10:
                done.wait(0.05)
            stalled.signal(signal.SIGSTOP)
            done.wait(MIN_REAL_LEASE_S + 3.0)
            stalled.signal(signal.SIGCONT)

        staller = threading.Thread(target=stall_while_busy)
        staller.start()
        try:
            out = run(test, given=stack)
        finally:
            done.set()
            staller.join()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == 1.0
    assert all(check["match"] for check in summary["accounting"].values()), summary["accounting"]
    assert summary["reclaimed_executions_per_job"] > 0
    assert summary["duplicate_executions_per_job"] == summary["reclaimed_executions_per_job"]
    assert [w for w in summary["warnings"] if w.startswith(LAPSED)], summary["warnings"]


def test_a_load_test_across_hosts_refuses_what_it_cannot_wire_yet(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="takes webhooks"):
        run_small(tmp_path, "webhook", "cloudflare+nginx-tuned", backend="hosts")


NAIVE = Path(__file__).resolve().parent.parent / "targets" / "naive.toml"


def test_a_foreign_target_is_loaded_and_its_own_counter_is_the_truth(tmp_path: Path) -> None:
    """The same Locust users against the naive service: retried sync calls show up as work
    it counted twice, its job API as one execution per job."""
    sync, meta = run_small(tmp_path, "sync", "cloudflare+nginx-tuned", target=NAIVE)
    assert meta["target"]["name"] == "naive export service"
    assert sync["accounting"]["attempts_vs_sync_executions"]["match"]
    assert sync["duplicate_executions_per_job"] > 0 and set(sync["timeouts_per_job"]) == {"524"}
    polling, _ = run_small(tmp_path, "polling", "cloudflare+nginx-tuned", target=NAIVE)
    assert polling["success_rate"] == 1.0 and polling["executions_per_job"] == 1.0
    assert "server_cost" not in polling  # a target's processes are not the harness's to read
    # It says nothing of when a job's work ended, so notification delays are not measured, not zero.
    assert polling["notify_delay_p50_s"] is None


def test_a_target_without_the_paths_a_pattern_needs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("the sse pattern needs the target's paths.events")):
        run_small(tmp_path, "sse", "cloudflare+nginx-tuned", target=NAIVE)


def test_cli_refuses_bad_input_with_a_message(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "loadtests", "run", "--pattern", "polling", "--duration", "1"]
    missing = subprocess.run([*base, "--scenario", str(tmp_path / "nope.toml")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.read_text().replace("rate_per_s = 0.2", "rate_per_s = -1"))
    negative = subprocess.run([*base, "--scenario", str(bad)], capture_output=True, text=True)
    assert negative.returncode == 2 and "arrivals.rate_per_s must be positive" in negative.stderr
    pattern = subprocess.run([*base[:4], "push", "--duration", "1", "--scenario", str(SMALL)], capture_output=True)
    assert pattern.returncode == 2
