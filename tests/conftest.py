"""Real services for the tests: Redis and MinIO as local processes, and the reference
server as a process in each mode (embedded, and on Redis + MinIO)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from harness.minio_server import MinioServer
from harness.redis_server import RedisServer
from harness.reference_process import ReferenceServer, service_env

# Jobs of 0.2-0.4 s, leases of 0.5 s, heartbeats every 0.1 s: the whole API at 1/100 speed.
FAST_ENV = {
    "TIME_SCALE": "0.01",
    "DOWNLOAD_DELAY_MIN_MS": "20000",
    "DOWNLOAD_DELAY_MAX_MS": "40000",
    "REQUEST_TIMEOUT_MS": "600000",
    "RATE_LIMIT_MAX_REQUESTS": "1000000",
    "LEASE_S": "50",
    "SSE_HEARTBEAT_S": "10",
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "WEBHOOK_SCHEDULE_S": "0,10,20,40",
    "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "STORAGE_TIMEOUT_S": "1",
    "WORKERS": "4",
}
MODES = ("embedded", "redis+minio")
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    with MinioServer(tmp_path_factory.mktemp("minio")) as server:
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
