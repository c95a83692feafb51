"""Real services for the tests: Redis and MinIO as local processes, and the reference
server as a process in each mode (embedded, and on Redis + MinIO)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from stack.minio_server import MinioServer
from stack.processes import free_port
from stack.redis_server import RedisServer
from stack.reference_process import ReferenceServer, service_env
from tests.helpers import serving

# Jobs of 0.2-0.4 s, leases of 0.5 s, heartbeats every 0.1 s: the whole API at 1/100 speed.
FAST_ENV = {
    "TIME_SCALE": "0.01",
    "DOWNLOAD_DELAY_MIN_MS": "20000",
    "DOWNLOAD_DELAY_MAX_MS": "40000",
    "REQUEST_TIMEOUT_MS": "600000",
    "RATE_LIMIT_MAX_REQUESTS": "1000000",
    "LEASE_S": "50",
    "SSE_HEARTBEAT_S": "10",
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1:*",  # the receivers take free ports
    "WEBHOOK_SCHEDULE_S": "0,10,20,40",
    "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "STORAGE_TIMEOUT_S": "1",
    "WORKERS": "4",
}
MODES = ("embedded", "redis+minio")
_databases = itertools.count(1)

# `make test` runs two pytest-xdist workers (--dist loadgroup). A module's tests stay on one
# worker, so its servers start once. The tests that add network interfaces (podman's container
# network, which tests/stack uses, and the hosts topology's namespaces) share one worker with the
# browser tests: Chromium drops its connections (ERR_NETWORK_CHANGED) when an interface appears.
ONE_WORKER = "interfaces-and-browsers"
ADD_INTERFACES = ("tests/stack/", "tests/integration/test_partitions.py", "tests/loadtests/test_load_hosts.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.has_plugin("xdist"):  # `-p no:xdist`: one process, nothing to group
        return
    for item in items:
        path = item.nodeid.split("::")[0]
        apart = item.get_closest_marker("browser") or path.startswith(ADD_INTERFACES)
        item.add_marker(pytest.mark.xdist_group(ONE_WORKER if apart else path))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    with MinioServer(tmp_path_factory.mktemp("minio")) as server:
        yield server


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, for tests that stop and restart it."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def private_minio(tmp_path: Path) -> Iterator[MinioServer]:
    """A MinIO of the test's own, for tests that stop and restart it."""
    with MinioServer(tmp_path / "minio") as server:
        yield server


@dataclass
class Running:
    url: str
    mode: str
    env: dict[str, str]
    server: ReferenceServer


class ServerFactory:
    """Starts reference servers in a mode with extra settings, and stops them all at the end."""

    def __init__(self, tmp: Path, request: pytest.FixtureRequest) -> None:
        self.tmp = tmp
        self.request = request
        self.started: list[ReferenceServer] = []

    def env_for(self, mode: str, **overrides: str) -> dict[str, str]:
        env = dict(FAST_ENV)
        if mode == "redis+minio":
            redis: RedisServer = self.request.getfixturevalue("redis_server")
            minio: MinioServer = self.request.getfixturevalue("minio_server")
            # A database of its own, so counters and queues start empty for each server.
            env.update(service_env(f"redis://127.0.0.1:{redis.port}/{next(_databases) % 16}", minio))
        env.update(overrides)
        return env

    def start(self, mode: str, **overrides: str) -> Running:
        env = self.env_for(mode, **overrides)
        if "REDIS_URL" in env:
            _flush(env["REDIS_URL"])
        server = ReferenceServer(self.tmp / f"server{len(self.started)}", env).start()
        self.started.append(server)
        return Running(server.url, mode, env, server)

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path_factory.mktemp("servers"), request)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module", params=MODES)
def server(request: pytest.FixtureRequest, servers: ServerFactory) -> Running:
    """The reference server with the default test settings, in each mode."""
    return servers.start(request.param)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@dataclass
class WebhookReceiver:
    """A webhook endpoint on loopback that fails its first `fail_first` attempts (each after
    hanging `stall_s`) and keeps every attempt's headers and body; `dead_url` always fails."""

    url: str
    fail_first: int = 0
    stall_s: float = 0.0
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    dead_calls: int = 0

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    @property
    def dead_url(self) -> str:
        return self.url.replace("/hook", "/dead")

    @property
    def ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.calls]


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    port = free_port()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: web.Request) -> web.Response:
        receiver.calls.append((dict(request.headers), await request.read()))
        failing = len(receiver.calls) <= receiver.fail_first
        if failing and receiver.stall_s:
            await asyncio.sleep(receiver.stall_s)
        return web.Response(status=500 if failing else 204)

    async def dead(request: web.Request) -> web.Response:
        receiver.dead_calls += 1
        return web.Response(status=500)

    async with serving(port, hook=hook, dead=dead):
        yield receiver
