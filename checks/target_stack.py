"""A target service running behind a real proxy chain: the one given by URL, or one the
harness starts from the target's command, with the chain's proxies as local processes.
Both `proxybench check` and `proxybench loadtest --target` stand on it."""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterator
from pathlib import Path

from proxies.render import Hop, Profile
from stack.backends import ProcessBackend
from stack.processes import ManagedProcess, ServiceError, free_port, http_ok
from stack.proxy_chain import chain_configs

from .target import DEFAULT_SERVICE_URL, Target


class BadTarget(Exception):
    """The target cannot be checked as given; the message says why."""


@contextlib.contextmanager
def running_service(target: Target, workdir: Path) -> Iterator[str]:
    """The service's own URL: the one given, or a process started from the target's command."""
    health = target.service.health_path
    if not target.service.command:
        url = target.service.url or DEFAULT_SERVICE_URL
        if not http_ok(f"{url}{health}")():
            raise BadTarget(f"nothing answers at {url}{health}")
        yield url
        return
    port = free_port()
    argv = [string.Template(part).safe_substitute(port=port) for part in target.service.command]
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        "target",
        argv,
        workdir,
        env={**target.service.env, "PORT": str(port)},
        cwd=Path(target.service.directory),
        ready=http_ok(f"{url}{health}"),
    )
    try:
        process.start(target.service.startup_timeout_s)
    except (ServiceError, OSError) as exc:
        raise BadTarget(f"the target's command did not start a healthy service: {exc}") from None
    try:
        yield url
    finally:
        process.stop()


@contextlib.contextmanager
def behind_proxies(
    chain: list[Profile], origin: str, target: Target, time_scale: float, workdir: Path
) -> Iterator[str]:
    """The chain in front of `origin` (on this machine's loopback); yields the entry URL."""
    try:
        upstream = Hop.from_url(origin)
    except ValueError:
        raise BadTarget(f"the service URL {origin} needs an explicit port for the proxies to reach it") from None
    backend = ProcessBackend()
    stops = []
    try:
        configs = chain_configs(chain, (upstream,), backend.upstream_host, time_scale, target.heartbeat_s)
        entry = origin
        for config in configs:
            service = backend.proxy(config, workdir / config.profile.name)
            stops.append(service.stop)
            entry = service.url
        yield entry
    finally:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()
