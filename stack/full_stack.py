"""The whole stack: Redis, MinIO, N reference servers (with in-process or separate workers)
and a proxy chain, on free ports, healthy before use, torn down in reverse order.

    with Stack(StackSpec(profile="cloudflare+nginx-tuned", time_scale=0.02)) as stack:
        stack.urls.entry   # what a client talks to: the outermost proxy

Teardown runs on normal exit, on exceptions (a failing test) and, in the CLI, on
Ctrl-C or SIGTERM; every process runs in its own session and is stopped by pid, and
every container is removed.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from proxies.render import RECOMMENDED_HEARTBEAT_S, parse_chain

from .backends import Backend, make_backend
from .proxy_chain import chain_configs
from .reference_process import ReferenceServer, ReferenceWorker, service_env
from .tls import StackCa, make_stack_ca

# The harness is one client address and brings its own limits: the server's own rate
# limit and request timeout would otherwise hide the proxies' behaviour it measures.
T = TypeVar("T")
STACK_SERVER_ENV = {
    "RATE_LIMIT_MAX_REQUESTS": "1000000000",
    "MAX_STREAMS_PER_CLIENT": "0",
    "REQUEST_TIMEOUT_MS": "36000000",
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1:*",  # the receivers take free ports
    "WEBHOOK_SECRET": "whsec_cHJveHliZW5jaC1zdGFjay1zaGFyZWQtc2VjcmV0",
    "SIMULATED_WORK_HEADER": "true",
}


@dataclass(frozen=True)
class StackSpec:
    profile: str = "cloudflare+nginx-tuned"  # proxies from the client inwards; "direct" for none
    time_scale: float = 0.02
    servers: int = 1
    worker_processes: int = 0  # 0: each server runs its own workers
    workers_per_process: int = 4
    server_env: Mapping[str, str] = field(default_factory=dict)
    micro_cache: bool = False
    backend: str = "auto"
    tls: bool = False  # the entry speaks TLS, HTTP/2 first, with a certificate from a CA made for the run


@dataclass
class StackUrls:
    entry: str
    servers: list[str]
    proxies: dict[str, str]
    redis: str
    minio: str


class Stack:
    def __init__(self, spec: StackSpec, workdir: Path | None = None, backend: Backend | None = None) -> None:
        """`backend`: share one (and its engine) across stacks; then the caller closes it."""
        self.spec = spec
        self._given_backend = backend
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="proxybench-stack-"))
        self._stops: list[Callable[[], None]] = []
        self.backend: Backend | None = None
        self.servers: list[ReferenceServer] = []
        self.workers: list[ReferenceWorker] = []
        self.urls: StackUrls | None = None
        self.server_env: dict[str, str] = {}
        self.startup_s: dict[str, float] = {}
        self.ca: StackCa | None = None

    def _timed(self, name: str, start: Callable[[], T]) -> T:
        began = time.monotonic()
        result = start()
        self.startup_s[name] = round(time.monotonic() - began, 3)
        return result

    def up(self) -> Stack:
        spec = self.spec
        chain = [] if spec.profile == "direct" else parse_chain(spec.profile)
        if spec.tls and not chain:
            raise ValueError("TLS is spoken by the entry proxy: give a profile, not direct")
        if spec.tls and spec.backend == "hosts":
            raise ValueError(
                "--tls names 127.0.0.1 in its certificate; with --hosts the entry has an address of its own"
            )
        began = time.monotonic()
        try:
            if spec.tls:
                self.ca = make_stack_ca(self.workdir / "tls")
            backend = self.backend = self._given_backend or make_backend(spec.backend, self.workdir)
            if self._given_backend is None:
                self._stops.append(backend.close)
            redis = self._timed("redis", lambda: backend.redis(self.workdir / "redis"))
            self._stops.append(redis.stop)
            minio = self._timed("minio", lambda: backend.minio(self.workdir / "minio"))
            self._stops.append(minio.stop)
            env = {
                **STACK_SERVER_ENV,
                **service_env(redis.url, None),
                "S3_ENDPOINT": minio.url,
                "S3_ACCESS_KEY_ID": "minioadmin",
                "S3_SECRET_ACCESS_KEY": "minioadmin",
                "TIME_SCALE": str(spec.time_scale),
                "TRUSTED_PROXIES": backend.proxy_peers,
                **({"WORKERS": "0"} if spec.worker_processes else {}),
                **spec.server_env,
            }
            self.server_env = env
            for i in range(spec.servers):
                server = ReferenceServer(
                    self.workdir / f"server{i}",
                    env,
                    name=f"server{i}",
                    host=backend.server_bind,
                    place=backend.place(f"server{i}"),
                )
                self._timed(f"server{i}", server.start)
                self._stops.append(server.stop)
                self.servers.append(server)
            for i in range(spec.worker_processes):
                worker_env = {**env, "WORKERS": str(spec.workers_per_process)}
                worker = ReferenceWorker(
                    self.workdir / f"worker{i}", worker_env, name=f"worker{i}", place=backend.place(f"worker{i}")
                )
                self._timed(f"worker{i}", worker.start)
                self._stops.append(worker.stop)
                self.workers.append(worker)
            # A stream timeout sized by heartbeats assumes the recommended one when this server
            # sends none: that a silent stream then gets cut is what a run should show.
            heartbeat = float(env.get("SSE_HEARTBEAT_S", RECOMMENDED_HEARTBEAT_S))
            hops = tuple(backend.reach(s.place, s.port) for s in self.servers)
            proxies: dict[str, str] = {}
            for config in chain_configs(
                chain,
                hops,
                backend.reach,
                spec.time_scale,
                heartbeat,
                spec.micro_cache,
                self.ca.edge if self.ca else None,
                backend.proxy_places,
            ):
                start = functools.partial(backend.proxy, config, self.workdir / config.profile.name)
                service = self._timed(config.profile.name, start)
                self._stops.append(service.stop)
                proxies[config.profile.name] = service.url
            entry = proxies[chain[0].name] if chain else self.servers[0].url
            self.urls = StackUrls(entry, [s.url for s in self.servers], proxies, redis.url, minio.url)
        except BaseException:
            self.down()
            raise
        self.startup_s["total"] = round(time.monotonic() - began, 3)
        return self

    def down(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
