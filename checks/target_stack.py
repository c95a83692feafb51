"""A target service running behind a real proxy chain: the one given by URL, or one the
harness starts from the target's command, with the chain's proxies as local processes.
Both `proxybench check` and `proxybench loadtest --target` stand on it."""

from __future__ import annotations

import contextlib
import string
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from proxies.render import Hop, Profile
from stack.backends import ProcessBackend
from stack.processes import ManagedProcess, ServiceError, free_port
from stack.proxy_chain import chain_configs
from stack.tls import StackCa

from .target import DEFAULT_SERVICE_URL, Target


class BadTarget(Exception):
    """The target cannot be checked as given; the message says why."""


class Health:
    """The service's readiness probe (any answer below 500 is up), which keeps what the health
    path last answered for the message when it never came up."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.last = f"{url} was not asked"

    def __call__(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                status, body = int(resp.status), resp.read(200)
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read(200)
        except (urllib.error.URLError, OSError) as exc:
            self.last = f"{self.url} did not answer ({getattr(exc, 'reason', exc)})"
            return False
        text = " ".join(body.decode(errors="replace").split())[:120]
        self.last = f"{self.url} answered {status}" + (f": {text!r}" if text else " with no body")
        return status < 500


def origin_hop(origin: str) -> Hop:
    try:
        return Hop.from_url(origin)
    except ValueError:
        raise BadTarget(f"the service URL {origin} needs an explicit port for the proxies to reach it") from None


@contextlib.contextmanager
def running_service(target: Target, workdir: Path) -> Iterator[str]:
    """The service's own URL: the one given, or a process started from the target's command."""
    health = target.service.health_path
    if not target.service.command:
        url = target.service.url or DEFAULT_SERVICE_URL
        probe = Health(f"{url}{health}")
        if not probe():
            raise BadTarget(f"the service is not up: {probe.last}")
        yield url
        return
    port = free_port()
    argv = [string.Template(part).safe_substitute(port=port) for part in target.service.command]
    url = f"http://127.0.0.1:{port}"
    probe = Health(f"{url}{health}")
    process = ManagedProcess(
        "target",
        argv,
        workdir,
        env={**target.service.env, "PORT": str(port)},
        cwd=Path(target.service.directory),
        ready=probe,
    )
    try:
        process.start(target.service.startup_timeout_s)
    except (ServiceError, OSError) as exc:
        raise BadTarget(f"the target's command did not start a healthy service: {probe.last}; {exc}") from None
    try:
        yield url
    finally:
        process.stop()


@contextlib.contextmanager
def behind_proxies(
    chain: list[Profile], origin: str, target: Target, time_scale: float, workdir: Path, ca: StackCa | None = None
) -> Iterator[str]:
    """The chain in front of `origin` (on this machine's loopback); yields the entry URL, which
    speaks TLS with a certificate from `ca` when one is given."""
    upstream = origin_hop(origin)
    backend = ProcessBackend()
    stops = []
    try:
        tls = ca.edge if ca else None
        configs = chain_configs(chain, (upstream,), backend.reach, time_scale, target.heartbeat_s, tls=tls)
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
