"""A private redis-server on a free port, persisting to an append-only file.

How often that file is synced to disk is the `fsync` policy:
- `always` (the default, what the tests use): each write is on disk before Redis answers it, so a
  SIGKILL, or a crash of the machine, loses nothing acknowledged. The tests kill and restart it on
  purpose.
- `everysec` (Redis's own default): each write is handed to the kernel before Redis answers it and
  synced within a second or two, in the background, so a crash of the machine can lose that much
  (and so can a killed Redis whose last sync was slow to finish).
  The stream bench uses it (why: `benchmarks.stream_bench.StreamPlan.redis_fsync`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal, get_args

from .hosts import LOCAL, Place
from .processes import ManagedProcess, ProcessService, ServiceError, tcp_open

PORT = 6379
Fsync = Literal["always", "everysec"]
FSYNC_POLICIES: tuple[Fsync, ...] = get_args(Fsync)


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server is not installed; run `make setup` (Debian package redis-server)")
    return binary


class RedisServer(ProcessService):
    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        replica_of: RedisServer | None = None,
        place: Place = LOCAL,
        fsync: Fsync = "always",
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
            "--appendfsync", fsync,
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
