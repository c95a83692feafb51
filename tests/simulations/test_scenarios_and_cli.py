"""Every shipped scenario loads and runs; bad scenario files fail naming the field; the
command line prints one JSON object and a sweep writes a tidy table."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.scenario import ScenarioError, load
from simulations.patterns import PATTERNS
from simulations.run import run

SCENARIOS = sorted(Path("scenarios").glob("*.toml"))


def test_the_shipped_scenarios_cover_the_cases_the_issue_names() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"original-cloudflare-nginx", "tuned-stack", "flaky-mobile", "server-to-server", "overload"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_every_scenario_runs_every_pattern(path: Path, pattern: str) -> None:
    result = run(load(path), pattern, 500)
    assert result["jobs"] == 500 and 0 <= result["success_rate"] <= 1
    assert result["cost_per_million_jobs_usd"] > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nmae = 'x'", "unknown field"),
        ("[arrivals]\nrate_per_s = 'fast'", "arrivals.rate_per_s must be a number"),
        ("[arrivals]\nrate_per_s = 0", "arrivals.rate_per_s must be positive"),
        ("[arrivals]\nprocess = 'weibull'", "arrivals.process must be one of"),
        ("[workload]\nduration = { kind = 'empirical', csv = 'missing.csv' }", "workload.duration.csv"),
        ("[workers]\ncount = 1.5", "workers.count must be an integer"),
        ("[clients.sse]\nresume = 'yes'", "clients.sse.resume must be true or false"),
        ("[clients.webhook]\nfailure_probability = 2", "failure_probability"),
        (
            "proxies = 'cloudflare'\n[proxy_overrides.cloudflare]\nread_timeout_s = -1",
            "read_timeout_s must be positive",
        ),
        ("proxies = 'cloudflare+squid'", "unknown proxy profile"),
        (
            "proxies = 'cloudflare'\n[proxy_overrides.alb]\nread_timeout_s = 5",
            "proxy_overrides name hops not in the chain: alb",
        ),
        ("[arrivals", "Expected"),
    ],
)
def test_bad_scenarios_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load(path)


def test_overrides_reach_nested_fields_and_refuse_unknown_ones() -> None:
    s = load("scenarios/tuned-stack.toml")
    assert s.with_overrides({"clients.polling.interval_s": 2}).clients.polling.interval_s == 2
    with pytest.raises(ScenarioError, match="no scenario field"):
        s.with_overrides({"clients.polling.intervall_s": 2})


def test_run_prints_one_json_object() -> None:
    argv = [sys.executable, "-m", "simulations", "run", "--scenario", "scenarios/tuned-stack.toml"]
    out = subprocess.run([*argv, "--pattern", "polling", "--jobs", "2000", "--seed", "3", "--json"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    result = json.loads(out)
    for key in ("notify_delay_p95_s", "requests_per_job", "success_rate", "duplicate_executions_per_job",
                "connection_seconds_per_job", "cost_per_million_jobs_usd"):  # fmt: skip
        assert key in result
    assert result["seed"] == 3 and result["jobs"] == 2000


def test_a_bad_scenario_on_the_command_line_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("oops = 1")
    argv = [sys.executable, "-m", "simulations", "run", "--scenario", str(bad), "--pattern", "sse"]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown field" in done.stderr


def test_sweep_writes_one_row_per_pattern_and_grid_point(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    argv = [sys.executable, "-m", "simulations", "sweep", "--scenario", "scenarios/original-cloudflare-nginx.toml",
            "--pattern", "polling", "--pattern", "sync", "--grid", "clients.polling.retry_after_s=1,5",
            "--grid", "clients.sync.retries=0,1", "--jobs", "1000", "--processes", "2", "--out", str(out)]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, text=True)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * 2 * 2
    assert {r["param.clients.polling.retry_after_s"] for r in rows} == {"1", "5"}
    polling = {r["param.clients.polling.retry_after_s"]: float(r["requests_per_job"]) for r in rows
               if r["pattern"] == "polling" and r["param.clients.sync.retries"] == "0"}  # fmt: skip
    assert polling["1"] > 3 * polling["5"]  # polling every second costs about five times the requests


def test_a_scenario_takes_its_hops_limits_from_the_profiles() -> None:
    tuned = load("scenarios/tuned-stack.toml")
    edge, nginx = tuned.hops
    assert (edge.name, edge.read_timeout_s, edge.idle_timeout_s, edge.timeout_status) == ("cloudflare", 100, 100, 524)
    # The tuned stream timeout is three of the scenario's heartbeats, as its template renders it.
    assert (nginx.read_timeout_s, nginx.idle_timeout_s) == (120, 3 * tuned.clients.sse.heartbeat_s)
    changed = tuned.with_overrides({"proxy_overrides": {"cloudflare": {"idle_timeout_s": 30}}})
    assert changed.hops[0].idle_timeout_s == 30 and changed.hops[0].read_timeout_s == 100
