"""Redis with a replica and three Sentinels, on this machine: the highly available store a
deployment on several machines would run, as local processes on free ports.

    with SentinelRedis(workdir) as store:
        store.url          # redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/proxybench/0
        store.master.process.kill()   # the Sentinels promote the replica

Failover is quick on purpose (the master is judged down after `DOWN_AFTER_MS` of silence),
so a test sees it within seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import redis

from .processes import ManagedProcess, ServiceError, free_port, tcp_open
from .redis_server import RedisServer, redis_binary

MASTER_NAME = "proxybench"
SENTINELS = 3
QUORUM = 2  # Sentinels that must agree the master is down
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


class SentinelRedis:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.master = RedisServer(workdir / "master")
        self.replica = RedisServer(workdir / "replica", replica_of=self.master.port)
        self.sentinel_ports = [free_port() for _ in range(SENTINELS)]
        self.sentinels = [self._sentinel(i, port) for i, port in enumerate(self.sentinel_ports)]

    def _sentinel(self, i: int, port: int) -> ManagedProcess:
        folder = self.workdir / f"sentinel{i}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "sentinel.conf"  # a Sentinel rewrites its own file as it learns
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
        )
        return ManagedProcess(f"sentinel{i}", [redis_binary(), str(config), "--sentinel"], folder, ready=tcp_open(port))

    @property
    def url(self) -> str:
        sentinels = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{sentinels}/{MASTER_NAME}/0"

    def master_port(self) -> int:
        """The master's port as the first Sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=1) as sentinel:
                    _, master = sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)
                    return int(master)
            except redis.ConnectionError:
                continue
        raise ServiceError("no Sentinel answered")

    def wait_for_master(self, port: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.master_port() != port:
            if time.monotonic() > deadline:
                raise ServiceError(f"the Sentinels did not name port {port} the master within {timeout_s:g} s")
            time.sleep(0.1)

    def _replicating(self) -> bool:
        with redis.Redis(port=self.replica.port, socket_timeout=1) as replica:
            return bool(replica.info("replication").get("master_link_status") == "up")

    def start(self) -> SentinelRedis:
        try:
            self.master.start()
            self.replica.start()
            deadline = time.monotonic() + 30
            while not self._replicating():
                if time.monotonic() > deadline:
                    raise ServiceError(f"the replica did not sync:\n{self.replica.process.log_tail()}")
                time.sleep(0.05)
            for sentinel in self.sentinels:
                sentinel.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in [*self.sentinels, self.replica.process, self.master.process]:
            process.stop()

    def __enter__(self) -> SentinelRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
