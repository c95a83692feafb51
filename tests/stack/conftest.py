"""The real stack for the CI regression checks, on both backends.

Stacks are started on first use and shared by every test that asks for the same
profile and settings on the same backend; all of them stop when the backend's tests end.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from checks.suite import CheckSession, Limits
from checks.target import DEFAULT_SCOPE, ENDPOINTS, reference_target
from checks.target_client import TargetClient
from proxies.render import PROFILES, parse_chain
from stack.backends import Backend, make_backend
from stack.full_stack import Stack, StackSpec

TIME_SCALE = 0.01  # the edge's 100 s -> 1 s, stock nginx's 60 s -> 0.6 s
EDGE_LIMIT_S = PROFILES["cloudflare"].read_s * TIME_SCALE
# How long after its limit a proxy's timer may be seen to fire on a busy machine (real time):
# engines fire on time, but the client's loop and the proxy's may both be late to run.
LATE_S = 0.5
BASE_ENV = {"SSE_HEARTBEAT_S": "10", "LEASE_S": "100", "WEBHOOK_SCHEDULE_S": "0,10,20,40"}
# The reference server's clients use all of it; the sync endpoint is the failing baseline.
WHOLE_API = ENDPOINTS


class Stacks:
    def __init__(self, backend: Backend, root: Path) -> None:
        self.backend = backend
        self.root = root
        self._running: dict[tuple[str, tuple[tuple[str, str], ...], bool, bool], Stack] = {}

    def get(
        self, profile: str, micro_cache: bool = False, tls: bool = False, env: Mapping[str, str] | None = None
    ) -> Stack:
        env = env or {}
        key = (profile, tuple(sorted(env.items())), micro_cache, tls)
        if key not in self._running:
            spec = StackSpec(
                profile=profile,
                time_scale=TIME_SCALE,
                server_env={**BASE_ENV, **env},
                micro_cache=micro_cache,
                tls=tls,
            )
            folder = self.root / f"stack{len(self._running)}"
            self._running[key] = Stack(spec, workdir=folder, backend=self.backend).up()
        return self._running[key]

    def session(
        self,
        http: aiohttp.ClientSession,
        profile: str = "cloudflare+nginx-tuned",
        scope: tuple[str, ...] = DEFAULT_SCOPE,
        env: Mapping[str, str] | None = None,
    ) -> CheckSession:
        """The checks' view of a stack (the server with `env` on top of the stack's own): the
        reference server as a target behind its chain."""
        stack = self.get(profile, env=env)
        assert stack.urls is not None
        target = replace(reference_target(stack.urls.servers[0]), scope=scope)
        client = TargetClient(http, target, stack.urls.entry, stack.urls.servers[0], TIME_SCALE)
        return CheckSession(client, Limits(tuple(parse_chain(profile)), TIME_SCALE))

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
