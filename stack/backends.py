"""Two ways to run the stack's services, behind one interface.

- `ProcessBackend`: binaries from `make setup` as local processes, configs in a temp dir.
- `ContainerBackend`: testcontainers (RedisContainer, MinioContainer, generic containers
  for nginx and HAProxy) on locally built images; the reference servers stay on the
  host and the proxies reach them through the host gateway.

Caddy runs as a local process on both, like Toxiproxy: it comes from Debian through
`make setup`, and the images stay as they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from proxies.render import Hop, Profile, ProxyConfig, render

from .engine import engine_answers, use_engine
from .hosts import LOCAL, Network, Place
from .minio_server import ACCESS_KEY, SECRET_KEY, MinioServer
from .processes import ManagedProcess, ServiceError, free_port, tcp_open, wait_until
from .redis_sentinel import SentinelRedis
from .redis_server import RedisServer

CONTAINER_CONFIG_DIR = "/etc/proxy"
CONTAINER_LISTEN_PORT = 8080
NOFILE = 16384


@dataclass
class Service:
    name: str
    url: str
    port: int
    stop: Callable[[], None]


class Backend(Protocol):
    name: str
    proxy_peers: str  # where the proxies' connections come from: the servers' TRUSTED_PROXIES

    @property
    def server_bind(self) -> str | None: ...  # where reference servers listen (None: their place's own address)
    @property
    def proxy_places(self) -> Callable[[Profile], Place] | None: ...  # a host per proxy; None: all here

    def redis(self, workdir: Path) -> Service: ...
    def minio(self, workdir: Path) -> Service: ...
    def proxy(self, config: ProxyConfig, workdir: Path) -> Service: ...
    def place(self, role: str) -> Place: ...  # where a reference server or worker process runs
    def reach(self, place: Place, port: int) -> Hop: ...  # how a proxy reaches a server or proxy there
    def hosts(self) -> dict[str, str]: ...  # each role's host address, with hosts of their own
    def close(self) -> None: ...


class SharedHost:
    """Every service on this machine's own network: servers and workers run locally."""

    upstream_host: str  # how a proxy reaches a service published on this machine
    proxy_places = None

    def place(self, role: str) -> Place:
        return LOCAL

    def reach(self, place: Place, port: int) -> Hop:
        return Hop(self.upstream_host, port)

    def hosts(self) -> dict[str, str]:
        return {}


def proxy_argv(profile: Profile, main: str, root: str) -> list[str]:
    if profile.engine == "nginx":
        return ["nginx", "-p", root, "-c", main, "-g", "daemon off;"]
    if profile.engine == "caddy":
        return ["caddy", "run", "--adapter", "caddyfile", "--config", main]
    return ["haproxy", "-db", "-f", main]


def local_proxy(config: ProxyConfig, workdir: Path, place: Place = LOCAL) -> Service:
    """A proxy as a process of ours (on `place`), its config rendered into `workdir`."""
    main = render(config, workdir)
    argv = place.argv(proxy_argv(config.profile, str(main), str(workdir)))
    # Caddy keeps an autosaved config and its state under these; a run's own folder, not ~.
    env = {"XDG_CONFIG_HOME": str(workdir), "XDG_DATA_HOME": str(workdir)}
    ready = tcp_open(config.listen.port, config.listen.host)
    process = ManagedProcess(config.profile.name, argv, workdir, env=env, ready=ready).start()
    url = f"{config.scheme}://{config.listen.host}:{config.listen.port}"
    return Service(config.profile.name, url, config.listen.port, process.stop)


class ProcessBackend(SharedHost):
    name = "processes"
    upstream_host = "127.0.0.1"
    server_bind = "127.0.0.1"
    proxy_peers = "127.0.0.0/8,::1"

    def redis(self, workdir: Path) -> Service:
        server = RedisServer(workdir).start()
        return Service("redis", server.url, server.port, server.stop)

    def minio(self, workdir: Path) -> Service:
        server = MinioServer(workdir).start()
        return Service("minio", server.endpoint, server.port, server.stop)

    def proxy(self, config: ProxyConfig, workdir: Path) -> Service:
        return local_proxy(config, workdir)

    def close(self) -> None:
        return None


class ContainerBackend(SharedHost):
    name = "containers"
    upstream_host = "host.containers.internal"
    server_bind = "0.0.0.0"  # containers reach the host through the gateway, not loopback
    proxy_peers = "127.0.0.0/8,::1,10.88.0.0/16"  # podman's default container network

    def __init__(self, workdir: Path) -> None:
        self._engine = use_engine(workdir)  # must run before testcontainers is imported
        from .images import MINIO_IMAGE, SERVICES_IMAGE, image_exists

        self.services_image = os.environ.get("PROXYBENCH_SERVICES_IMAGE", SERVICES_IMAGE)
        self.minio_image = os.environ.get("PROXYBENCH_MINIO_IMAGE", MINIO_IMAGE)
        for image in (self.services_image, self.minio_image):
            if not image_exists(image):
                raise ServiceError(f"container image {image} is missing; run `make setup` (python -m stack.images)")

    def redis(self, workdir: Path) -> Service:
        from testcontainers.community.redis import RedisContainer

        container = RedisContainer(self.services_image).with_command(
            "redis-server --bind 0.0.0.0 --protected-mode no --save '' --appendonly no"
        )
        container.start()
        port = int(container.get_exposed_port(6379))
        return Service("redis", f"redis://127.0.0.1:{port}/0", port, container.stop)

    def minio(self, workdir: Path) -> Service:
        from testcontainers.community.minio import MinioContainer

        container = MinioContainer(self.minio_image, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        # The testcontainers module sets MinIO's legacy variable names; this build reads these.
        container.with_env("MINIO_ROOT_USER", ACCESS_KEY).with_env("MINIO_ROOT_PASSWORD", SECRET_KEY)
        container.start()
        port = int(container.get_exposed_port(9000))
        return Service("minio", f"http://127.0.0.1:{port}", port, container.stop)

    def proxy(self, config: ProxyConfig, workdir: Path) -> Service:
        from docker.types import Ulimit
        from testcontainers.core.container import DockerContainer

        if config.profile.engine == "caddy":
            # On the host it reaches the servers on loopback; a proxy container in front of
            # it comes through the host gateway, so it listens beyond loopback too.
            local = [Hop("127.0.0.1", hop.port) if hop.host == self.upstream_host else hop for hop in config.upstreams]
            return local_proxy(
                replace(config, listen=Hop(self.server_bind, config.listen.port), upstreams=tuple(local)), workdir
            )
        inside = replace(config, listen=Hop("0.0.0.0", CONTAINER_LISTEN_PORT))
        main = render(inside, workdir, root=CONTAINER_CONFIG_DIR)
        argv = proxy_argv(config.profile, f"{CONTAINER_CONFIG_DIR}/{main.name}", CONTAINER_CONFIG_DIR)
        container = (
            DockerContainer(self.services_image)
            .with_volume_mapping(str(workdir), CONTAINER_CONFIG_DIR, "rw")
            .with_bind_ports(CONTAINER_LISTEN_PORT, config.listen.port)
            .with_command(argv)
            # Podman's defaults here are 1024 files (machines.md); a proxy needs more. Giving
            # any ulimit replaces the configured defaults, so nproc is restated.
            .with_kwargs(
                ulimits=[Ulimit(name="nofile", soft=NOFILE, hard=NOFILE), Ulimit(name="nproc", soft=1024, hard=1024)]
            )
        )
        container.start()
        port_open = tcp_open(config.listen.port)

        def ready() -> bool:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status == "exited":
                raise ServiceError(f"{config.profile.name} container exited: {container.get_logs()}")
            return port_open()

        try:
            wait_until(ready, f"{config.profile.name} container", 30, lambda: str(container.get_logs()))
        except BaseException:
            container.stop()
            raise
        url = f"{config.scheme}://127.0.0.1:{config.listen.port}"
        return Service(config.profile.name, url, config.listen.port, container.stop)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.stop()


class HostsBackend:
    """Every role on a host of its own (`stack.hosts`): the proxies, each reference server and
    worker process, MinIO, and Redis as a master, a replica and three Sentinels, which the
    servers reach through a `redis+sentinel://` URL as they would across machines."""

    name = "hosts"

    def __init__(self) -> None:
        self.network = Network().start()
        assert self.network.subnet is not None
        self.proxy_peers = str(self.network.subnet)  # the proxies connect from their own hosts
        self.server_bind = None
        self._proxies: dict[str, Place] = {}
        self.proxy_places = self._proxy_place
        self.store: SentinelRedis | None = None  # for fault tests: its master to kill

    def redis(self, workdir: Path) -> Service:
        self.store = SentinelRedis(workdir, self.network.host).start()
        return Service("redis", self.store.url, self.store.master.port, self.store.stop)

    def minio(self, workdir: Path) -> Service:
        server = MinioServer(workdir, place=self.network.host("minio")).start()
        return Service("minio", server.endpoint, server.port, server.stop)

    def _proxy_place(self, profile: Profile) -> Place:
        self._proxies[profile.name] = self.network.host(profile.name)
        return self._proxies[profile.name]

    def proxy(self, config: ProxyConfig, workdir: Path) -> Service:
        return local_proxy(config, workdir, self._proxies[config.profile.name])

    def place(self, role: str) -> Place:
        return self.network.host(role)

    def reach(self, place: Place, port: int) -> Hop:
        return Hop(place.address, port)

    def hosts(self) -> dict[str, str]:
        return {place.role: place.address for place in self.network.hosts}

    def close(self) -> None:
        self.network.close()


def make_backend(name: str, workdir: Path) -> Backend:
    """`auto` takes containers when a Docker-compatible engine already answers."""
    if name == "auto":
        name = "containers" if engine_answers(os.environ.get("DOCKER_HOST")) else "processes"
    if name == "processes":
        return ProcessBackend()
    if name == "containers":
        return ContainerBackend(workdir)
    if name == "hosts":
        return HostsBackend()
    raise ValueError(f"unknown backend {name!r}: choose auto, processes, containers or hosts")


def free_listen() -> Hop:
    return Hop("127.0.0.1", free_port())
