"""A private redis-server on a free port, persisting with an fsync'd append-only file so a
restart mid-test loses nothing (the tests restart it on purpose)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .hosts import LOCAL, Place
from .processes import ManagedProcess, ProcessService, ServiceError, tcp_open

PORT = 6379


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server is not installed; run `make setup` (Debian package redis-server)")
    return binary


class RedisServer(ProcessService):
    def __init__(
        self, workdir: Path, port: int | None = None, replica_of: RedisServer | None = None, place: Place = LOCAL
    ) -> None:
        """`replica_of`: a master to replicate."""
        binary = redis_binary()
        self.place = place
        self.port = port or place.port(PORT)
        self.workdir = workdir
        argv = [
            binary,
            "--port", str(self.port),
            "--bind", place.address,
            "--dir", str(workdir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--protected-mode", "no",
            *(["--replicaof", replica_of.place.address, str(replica_of.port)] if replica_of else []),
        ]  # fmt: skip
        self.process = ManagedProcess("redis", place.argv(argv), workdir, ready=tcp_open(self.port, place.address))

    @property
    def url(self) -> str:
        return f"redis://{self.place.address}:{self.port}/0"

    def restart(self) -> None:
        self.process.stop()
        self.process.start()
