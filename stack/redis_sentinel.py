"""Redis with a replica and three Sentinels: the highly available store a deployment on
several machines would run, as processes on free ports of this machine, or each on a host of
its own (`stack.hosts`).

    with SentinelRedis(workdir) as store:
        store.url          # redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/proxybench/0
        store.master.process.kill()   # the Sentinels promote the replica

Failover is quick on purpose (the master is judged down after `DOWN_AFTER_MS` of silence),
so a test sees it within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis

from .hosts import LOCAL, Place
from .processes import ManagedProcess, ServiceError, tcp_open
from .redis_server import RedisServer, redis_binary

SENTINEL_PORT = 26379
MASTER_NAME = "proxybench"
SENTINELS = 3
QUORUM = 2  # Sentinels that must agree the master is down
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
# The roles `place` is asked about, which name the hosts on a stack of hosts.
MASTER_ROLE = "redis-master"
REPLICA_ROLE = "redis-replica"
SENTINEL_ROLES = tuple(f"sentinel{i}" for i in range(SENTINELS))
ROLES = (MASTER_ROLE, REPLICA_ROLE, *SENTINEL_ROLES)


class SentinelRedis:
    def __init__(self, workdir: Path, place: Callable[[str], Place] = lambda role: LOCAL) -> None:
        """`place(role)`: where each of them runs, by role."""
        self.workdir = workdir
        self.master = RedisServer(workdir / "master", place=place(MASTER_ROLE))
        self.replica = RedisServer(workdir / "replica", replica_of=self.master, place=place(REPLICA_ROLE))
        self.sentinel_at = []
        self.sentinels = []
        for role in SENTINEL_ROLES:
            where = place(role)
            self.sentinel_at.append((where.address, where.port(SENTINEL_PORT)))
            self.sentinels.append(self._sentinel(role, where, self.sentinel_at[-1][1]))

    def _sentinel(self, role: str, place: Place, port: int) -> ManagedProcess:
        folder = self.workdir / role
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "sentinel.conf"  # a Sentinel rewrites its own file as it learns
        config.write_text(
            f"port {port}\nbind {place.address}\ndir {folder}\n"
            f"sentinel monitor {MASTER_NAME} {self.master.place.address} {self.master.port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
        )
        argv = place.argv([redis_binary(), str(config), "--sentinel"])
        return ManagedProcess(role, argv, folder, ready=tcp_open(port, place.address))

    @property
    def url(self) -> str:
        sentinels = ",".join(f"{host}:{port}" for host, port in self.sentinel_at)
        return f"redis+sentinel://{sentinels}/{MASTER_NAME}/0"

    def master_at(self) -> tuple[str, int]:
        """The master's address and port as the first Sentinel that answers names them."""
        for host, port in self.sentinel_at:
            try:
                with redis.Redis(host=host, port=port, socket_timeout=1, decode_responses=True) as sentinel:
                    address, master = sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)
                    return address, int(master)
            except redis.ConnectionError:
                continue
        raise ServiceError("no Sentinel answered")

    def wait_for_master(self, server: RedisServer, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.master_at() != (server.place.address, server.port):
            if time.monotonic() > deadline:
                raise ServiceError(f"the Sentinels did not name {server.url} the master within {timeout_s:g} s")
            time.sleep(0.1)

    @staticmethod
    def replicates(server: RedisServer, master: RedisServer) -> bool:
        """Whether `server` is `master`'s replica, in sync with it (its link up)."""
        with redis.Redis(host=server.place.address, port=server.port, socket_timeout=1, decode_responses=True) as r:
            info = r.info("replication")
        at = (info.get("master_host"), info.get("master_port"))
        return at == (master.place.address, master.port) and info.get("master_link_status") == "up"

    def wait_for_replica(self, server: RedisServer, master: RedisServer, timeout_s: float = 30.0) -> None:
        """Until `server` replicates `master`: a master that rejoins after a failover has then
        dropped what it took alone and holds what the new master holds."""
        deadline = time.monotonic() + timeout_s
        while not self.replicates(server, master):
            if time.monotonic() > deadline:
                raise ServiceError(f"{server.url} did not become {master.url}'s replica:\n{server.process.log_tail()}")
            time.sleep(0.05)

    def start(self) -> SentinelRedis:
        try:
            self.master.start()
            self.replica.start()
            self.wait_for_replica(self.replica, self.master)
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
