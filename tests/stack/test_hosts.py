"""Each role on a host of its own (network namespaces on one bridge, addresses in
198.18.0.0/15): `proxybench stack --hosts` names every host, its entry answers from this
machine's own namespace and streams a job to its end, and nothing is left once it stops,
nor from a run killed before it could clean up."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from ipaddress import ip_address

import pytest

from stack import hosts, redis_sentinel
from stack.hosts import BENCHMARK_NETWORK, PREFIX, Network
from tests.stack.stack_cli import printed_summary, stack_up

pytestmark = pytest.mark.integration
ROLES = {*redis_sentinel.ROLES, "minio", "server0", "server1", "worker0", "nginx-tuned", "cloudflare"}


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


def test_stack_on_hosts_names_them_streams_a_job_and_leaves_nothing() -> None:
    proc = stack_up("--hosts", "--servers", "2", "--worker-processes", "1")
    ours = f"{PREFIX}{proc.pid}a-"  # the first network of that process
    try:
        info = printed_summary(proc)
        assert info["backend"] == "hosts" and set(info["hosts"]) == ROLES
        assert all(ip_address(a) in BENCHMARK_NETWORK for a in info["hosts"].values())
        assert len(set(info["hosts"].values())) == len(ROLES)  # one address each
        assert {n.removeprefix(ours) for n in _namespaces() if n.startswith(ours)} == ROLES
        urls = info["urls"]
        assert urls["entry"] == f"http://{info['hosts']['cloudflare']}:80"
        assert urls["redis"].startswith("redis+sentinel://")
        initiate = urllib.request.Request(
            urls["entry"] + "/v1/download/initiate",
            data=json.dumps({"file_ids": [70000]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(initiate, timeout=10) as resp:
            job_id = json.loads(resp.read())["jobId"]
        with urllib.request.urlopen(f"{urls['entry']}/v1/download/jobs/{job_id}/events", timeout=60) as stream:
            events = [line.split(b":", 1)[1].strip() for line in stream if line.startswith(b"event:")]
        assert events[0] == b"snapshot" and events[-1] == b"completed"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not [n for n in _namespaces() if n.startswith(ours)]
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
        assert f"{PREFIX}{proc.pid}" not in links
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _left_by_a_dead_run() -> str:
    """A namespace named as a run whose process has ended would have left it, created."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = f"{PREFIX}{int(dead.stdout)}-server0"
    subprocess.run(["ip", "netns", "add", left], check=True)
    return left


def test_a_run_killed_outright_has_its_namespaces_removed_by_the_next() -> None:
    left = _left_by_a_dead_run()
    try:
        with Network() as network:
            assert left not in _namespaces()
            assert network.hosts == []
    finally:
        subprocess.run(["ip", "netns", "del", left], capture_output=True)


def test_leftovers_another_run_removed_first_are_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs starting together list the same leftovers, and one deletes them first (two
    test workers did, in CI: "Cannot remove namespace file ... No such file or directory")."""
    left = _left_by_a_dead_run()
    seen_by_this_run = hosts._namespaces()
    subprocess.run(["ip", "netns", "del", left], check=True)  # the other run, in between
    real = hosts._namespaces
    listings = iter([seen_by_this_run])  # this run's first listing is from before; the later ones are now
    monkeypatch.setattr(hosts, "_namespaces", lambda: next(listings, None) or real())
    hosts.remove_stale()
    assert left not in real()
