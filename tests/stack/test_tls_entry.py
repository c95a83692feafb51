"""The entry with --tls, through curl as a user would: HTTP/2 over TLS with the run's own CA,
an event stream that delivers its job over it, and no trust without that CA."""

from __future__ import annotations

import json
import subprocess

import pytest

from stack.full_stack import Stack

from .conftest import Stacks

pytestmark = pytest.mark.integration
CURL_FAILED_TO_VERIFY = 60  # curl's exit status for a certificate it cannot verify
WORK_MS = "100000"  # 1 s at the stacks' time scale: a stream with progress events to carry


def curl(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    assert stack.ca is not None
    argv = ["curl", "--silent", "--show-error", "--http2", "--cacert", str(stack.ca.ca_cert), "--max-time", "15"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("profile", ["cloudflare+nginx-tuned", "nginx-tuned"])
def test_the_tls_entry_speaks_http2_and_an_event_stream_delivers_its_job(stacks: Stacks, profile: str) -> None:
    stack = stacks.get(profile, tls=True)
    assert stack.urls is not None
    entry = stack.urls.entry
    assert entry.startswith("https://")
    health = curl(stack, "--output", "/dev/null", "--write-out", "%{http_version} %{http_code}", f"{entry}/health")
    assert health.stdout == "2 200", health.stderr
    headers = ["--header", "Content-Type: application/json", "--header", f"X-Simulated-Work-Ms: {WORK_MS}"]
    started = curl(stack, *headers, "--data", '{"file_ids": [70000]}', f"{entry}/v1/download/initiate")
    job = json.loads(started.stdout)
    stream = curl(stack, "--no-buffer", "--write-out", "\n%{http_version}", entry + job["links"]["events"])
    lines = stream.stdout.splitlines()
    assert lines[-1] == "2", stream.stderr
    assert "event: progress" in lines and lines.count("event: completed") == 1


def test_a_client_without_the_runs_ca_is_refused(stacks: Stacks) -> None:
    stack = stacks.get("cloudflare+nginx-tuned", tls=True)
    assert stack.urls is not None
    untrusting = subprocess.run(
        ["curl", "--silent", "--http2", "--max-time", "15", f"{stack.urls.entry}/health"], timeout=30, check=False
    )
    assert untrusting.returncode == CURL_FAILED_TO_VERIFY
