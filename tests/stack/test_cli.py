"""`python -m harness stack up` starts a stack a person can poke, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from harness.processes import tcp_open

pytestmark = pytest.mark.integration


def test_stack_up_prints_urls_serves_and_tears_down_on_ctrl_c() -> None:
    argv = [sys.executable, "-m", "harness", "stack", "up", "--profile", "cloudflare+nginx-tuned"]
    proc = subprocess.Popen([*argv, "--backend", "processes"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        text = ""
        while True:  # the JSON document ends with a closing brace alone on its line
            line = proc.stdout.readline()
            assert line, "the stack exited before printing its URLs"
            text += line
            if line.rstrip() == "}":
                break
        info = json.loads(text)
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
