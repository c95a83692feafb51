"""A private MinIO server on a free port, with a data folder that survives a stop/start."""

from __future__ import annotations

from pathlib import Path

from .go_build import MINIO
from .hosts import LOCAL, Place
from .processes import ManagedProcess, ProcessService, ServiceError, http_ok

PORT, CONSOLE_PORT = 9000, 9001
ACCESS_KEY = "minioadmin"
SECRET_KEY = "minioadmin"


class MinioServer(ProcessService):
    start_timeout_s = 60.0

    def __init__(self, workdir: Path, port: int | None = None, place: Place = LOCAL) -> None:
        binary = MINIO.path
        if not binary.exists():
            raise ServiceError(f"MinIO is not built at {binary}; run `make setup` (or python -m stack.go_build)")
        self.place = place
        self.port = port or place.port(PORT)
        console = place.port(CONSOLE_PORT)
        argv = [
            str(binary), "server", str(workdir / "data"),
            "--address", f"{place.address}:{self.port}",
            "--console-address", f"{place.address}:{console}",
            "--quiet",
        ]  # fmt: skip
        env = {"MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY, "MINIO_BROWSER": "off"}
        probe = http_ok(f"{self.endpoint}/minio/health/live", accept=lambda status: status == 200)
        self.process = ManagedProcess("minio", place.argv(argv), workdir, env=env, ready=probe)

    @property
    def endpoint(self) -> str:
        return f"http://{self.place.address}:{self.port}"
