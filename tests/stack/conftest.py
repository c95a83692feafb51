"""The real stack for the CI regression checks, on both backends.

Stacks are started on first use and shared by every test that asks for the same
profile and settings on the same backend; all of them stop when the backend's tests end.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from harness.backends import Backend, make_backend
from harness.stack import Stack, StackSpec
from tests.helpers import metrics

TIME_SCALE = 0.01  # edge 100 s -> 1 s, nginx default 60 s -> 0.6 s
EDGE_LIMIT_S = 100 * TIME_SCALE
NGINX_DEFAULT_LIMIT_S = 60 * TIME_SCALE
BASE_ENV = {"SSE_HEARTBEAT_S": "10", "LEASE_S": "100", "WEBHOOK_SCHEDULE_S": "0,10,20,40"}


@dataclass(frozen=True)
class Watched:
    """A stack's entry, the server whose /metrics tell the truth, and those metrics before a check."""

    entry: str
    server: str
    before: dict[str, float]


class Stacks:
    def __init__(self, backend: Backend, root: Path) -> None:
        self.backend = backend
        self.root = root
        self._running: dict[tuple[str, tuple[tuple[str, str], ...], bool], Stack] = {}

    def get(self, profile: str, micro_cache: bool = False, **env: str) -> Stack:
        key = (profile, tuple(sorted(env.items())), micro_cache)
        if key not in self._running:
            spec = StackSpec(
                profile=profile, time_scale=TIME_SCALE, server_env={**BASE_ENV, **env}, micro_cache=micro_cache
            )
            folder = self.root / f"stack{len(self._running)}"
            self._running[key] = Stack(spec, workdir=folder, backend=self.backend).up()
        return self._running[key]

    async def watch(self, http: aiohttp.ClientSession, profile: str = "cloudflare+nginx-tuned", **env: str) -> Watched:
        urls = self.get(profile, **env).urls
        assert urls is not None
        return Watched(urls.entry, urls.servers[0], await metrics(http, urls.servers[0]))

    def close(self) -> None:
        for stack in self._running.values():
            stack.down()
        self._running.clear()


# Both by default (CI runs both); a user's CI without podman can set PROXYBENCH_BACKENDS=processes.
BACKENDS = [b.strip() for b in os.environ.get("PROXYBENCH_BACKENDS", "processes,containers").split(",") if b.strip()]


@pytest.fixture(scope="session", params=BACKENDS)
def stacks(request: pytest.FixtureRequest) -> Iterator[Stacks]:
    root = Path(tempfile.mkdtemp(prefix=f"proxybench-{request.param}-"))
    backend = make_backend(request.param, root)
    running = Stacks(backend, root)
    try:
        yield running
    finally:
        running.close()
        backend.close()
