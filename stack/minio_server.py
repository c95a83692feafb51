"""A private MinIO server on a free port, with a data folder that survives a stop/start."""

from __future__ import annotations

from pathlib import Path

from .go_build import MINIO
from .processes import ManagedProcess, ProcessService, ServiceError, free_port, http_ok

ACCESS_KEY = "minioadmin"
SECRET_KEY = "minioadmin"


class MinioServer(ProcessService):
    start_timeout_s = 60.0

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = MINIO.path
        if not binary.exists():
            raise ServiceError(f"MinIO is not built at {binary}; run `make setup` (or python -m stack.go_build)")
        self.port = port or free_port()
        console = free_port()
        argv = [
            str(binary), "server", str(workdir / "data"),
            "--address", f"127.0.0.1:{self.port}",
            "--console-address", f"127.0.0.1:{console}",
            "--quiet",
        ]  # fmt: skip
        env = {"MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY, "MINIO_BROWSER": "off"}
        probe = http_ok(f"{self.endpoint}/minio/health/live", accept=lambda status: status == 200)
        self.process = ManagedProcess("minio", argv, workdir, env=env, ready=probe)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"
