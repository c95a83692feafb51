"""A load test as on several machines: the stack's roles, Locust's master and its workers
each on a host of its own (`stack.hosts`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.run import PACE_WARNINGS
from tests.loadtests.test_loadtests import run_small

pytestmark = pytest.mark.integration


def test_a_load_test_from_three_load_hosts_on_a_stack_of_hosts_matches_the_server(tmp_path: Path) -> None:
    """As on several machines: the stack's roles and Locust's master and three workers each on
    a host of its own (`stack.hosts`); the per-job rows reach the master and add up as on one."""
    summary, meta = run_small(tmp_path, "polling", "cloudflare+nginx-tuned", workers=3, backend="hosts")
    hosts = meta["stack"]["hosts"]
    load_hosts = {hosts[role] for role in ("locust-master", "locust-worker0", "locust-worker1", "locust-worker2")}
    assert len(load_hosts) == 4 and not load_hosts & {hosts["server0"], hosts["cloudflare"]}
    assert sorted(p["share"] for p in meta["load_generators"]) == [0, 1, 2]
    assert sum(p["jobs"] for p in meta["load_generators"]) == meta["jobs"] == summary["jobs"] > 40
    assert [w for w in summary["warnings"] if not w.startswith(PACE_WARNINGS)] == [], summary["warnings"]
    mismatched = {name: check for name, check in summary["accounting"].items() if not check["match"]}
    assert not mismatched, mismatched
    assert summary["success_rate"] == 1.0
    assert summary["duplicate_executions_per_job"] == summary["reclaimed_executions_per_job"]  # a stalled lease
