"""The reference server and its separate workers as real processes, configured the way a
user would: environment variables and flags."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from .minio_server import ACCESS_KEY, SECRET_KEY, MinioServer
from .processes import ManagedProcess, ProcessService, free_port, http_ok


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
        host: str = "127.0.0.1",
    ) -> None:
        self.port = port or free_port()
        argv = [sys.executable, "-m", "reference_server", "--host", host, "--port", str(self.port)]
        # /health may be 503 while a dependency is down; any answer means the server is up.
        self.process = ManagedProcess(name, argv, workdir, env=dict(env), ready=http_ok(f"{self.url}/health"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ReferenceWorker(ProcessService):
    def __init__(self, workdir: Path, env: Mapping[str, str], name: str = "worker") -> None:
        argv = [sys.executable, "-m", "reference_server.worker"]
        self.process = ManagedProcess(name, argv, workdir, env=dict(env))
