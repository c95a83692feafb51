"""A private redis-server on a free port, persisting with an fsync'd append-only file so a
restart mid-test loses nothing (the tests restart it on purpose)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .processes import ManagedProcess, ProcessService, ServiceError, free_port, tcp_open


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server is not installed; run `make setup` (Debian package redis-server)")
    return binary


class RedisServer(ProcessService):
    def __init__(self, workdir: Path, port: int | None = None, replica_of: int | None = None) -> None:
        """`replica_of`: the port of a master on this machine to replicate."""
        binary = redis_binary()
        self.port = port or free_port()
        self.workdir = workdir
        argv = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--protected-mode", "no",
            *(["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []),
        ]  # fmt: skip
        self.process = ManagedProcess("redis", argv, workdir, ready=tcp_open(self.port))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restart(self) -> None:
        self.process.stop()
        self.process.start()
