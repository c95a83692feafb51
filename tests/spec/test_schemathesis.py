"""The server against its own /openapi.json, with schemathesis: no input gets a server
error, no request the document calls valid is refused, no invalid one is accepted, and
every answer is one the document describes. Embedded mode, real time, no simulated work;
a bounded number of examples per operation, with a fixed seed so a failure replays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ServerFactory

pytestmark = pytest.mark.spec
EXAMPLES_PER_OPERATION = 60
SEED = 20261129
CONFIG = Path(__file__).with_name("schemathesis.toml")  # what the WebSocket routes answer


def test_every_answer_matches_the_document(servers: ServerFactory, tmp_path: Path) -> None:
    server = servers.start(
        "embedded",
        TIME_SCALE="1",
        DOWNLOAD_DELAY_MIN_MS="0",
        DOWNLOAD_DELAY_MAX_MS="0",
        WEBHOOK_ALLOWED_HOSTS="hooks.example.com,hooks.example.com:8443",
    )
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.spec.schemathesis_hooks"}
    run = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.url}/openapi.json",
            ),
            *("--checks", "all", "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED)),
            *("--mode", "all", "--report", "junit", "--report-dir", str(tmp_path)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
