"""The reference server and its separate workers as real processes, configured the way a
user would: environment variables and flags."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from .hosts import LOCAL, Place
from .minio_server import ACCESS_KEY, SECRET_KEY, MinioServer
from .processes import ManagedProcess, ProcessService, http_ok

PORT = 8000


def service_env(redis_url: str | None, minio: MinioServer | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if redis_url:
        env["REDIS_URL"] = redis_url
    if minio is not None:
        env.update(
            S3_ENDPOINT=minio.endpoint,
            S3_ACCESS_KEY_ID=ACCESS_KEY,
            S3_SECRET_ACCESS_KEY=SECRET_KEY,
            S3_BUCKET_NAME="downloads",
        )
    return env


class ReferenceServer(ProcessService):
    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        port: int | None = None,
        name: str = "server",
        host: str | None = None,
        place: Place = LOCAL,
    ) -> None:
        """`host`: the address to listen on, if not the place's own (0.0.0.0 for containers)."""
        self.place = place
        self.port = port or place.port(PORT)
        argv = [sys.executable, "-m", "reference_server", "--host", host or place.address, "--port", str(self.port)]
        # /health may be 503 while a dependency is down; any answer means the server is up.
        ready = http_ok(f"{self.url}/health")
        self.process = ManagedProcess(name, place.argv(argv), workdir, env=dict(env), ready=ready)

    @property
    def url(self) -> str:
        return f"http://{self.place.address}:{self.port}"


class ReferenceWorker(ProcessService):
    def __init__(self, workdir: Path, env: Mapping[str, str], name: str = "worker", place: Place = LOCAL) -> None:
        argv = [sys.executable, "-m", "reference_server.worker"]
        self.process = ManagedProcess(name, place.argv(argv), workdir, env=dict(env))
