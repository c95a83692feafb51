"""Starting, health-checking and stopping a local service process, with no orphans.

Every process gets its own session (so a kill reaches its children), a log file in
its work folder, and is stopped by pid: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self


class ServiceError(RuntimeError):
    """A service did not start or become healthy; the message says which and why."""


TERMINATED = 128 + signal.SIGTERM  # the exit status a shell reports for a process ended by SIGTERM


def stop_services_on_sigterm() -> None:
    """Make SIGTERM unwind this process like Ctrl-C does, so every `with` stops what it
    started. Its services run in sessions of their own and outlive an abrupt exit: a
    killed bench used to leave Redis, MinIO and the proxies running."""

    def leave(*_: object) -> None:
        raise SystemExit(TERMINATED)

    signal.signal(signal.SIGTERM, leave)


def wait_until(probe: Callable[[], bool], what: str, timeout_s: float, describe: Callable[[], str]) -> None:
    """Poll a readiness probe; on timeout, fail with what the service said."""
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} not ready after {timeout_s:g} s:\n{describe()}")
        time.sleep(0.05)


# The kernel gives outgoing connections their source ports from this range.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTEN_PORTS_FROM = 10_000  # below: the standard ports services take on hosts of their own
FREE_PORT_TRIES = 100
# Ports handed out lately, not handed out again: one service's two ports, or the ports of
# services started one after another, are picked before any of them binds. MinIO once got the
# same port for its API and its console, and would not start.
_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=1024)


@functools.cache
def _listen_ports() -> tuple[int, ...]:
    low, high = (int(n) for n in EPHEMERAL_RANGE.read_text().split())
    return (*range(LISTEN_PORTS_FROM, low), *range(high + 1, 65536))


def free_port() -> int:
    """A port nothing on 127.0.0.1 listens on, outside the ephemeral range. A port from
    bind(0) is an ephemeral one, which an outgoing connection may take as its source port
    before the service it was picked for binds it: a server failed to start with "address
    already in use" beside another test worker's thousands of connections."""
    for _ in range(FREE_PORT_TRIES):
        port = random.choice(_listen_ports())
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.append(port)
        return port
    raise ServiceError(f"no free port outside the ephemeral range in {FREE_PORT_TRIES} tries")


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        workdir: Path,
        env: Mapping[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """`workdir` holds the log; the process runs there unless `cwd` says otherwise."""
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.cwd = cwd or workdir
        self.env = {**os.environ, **(env or {})}
        self.ready = ready
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> ManagedProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            if self.ready is None or self._probe():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(f"{self.name} not ready after {timeout_s:g} s; log:\n{self.log_tail()}")
            time.sleep(0.05)

    def _probe(self) -> bool:
        assert self.ready is not None
        try:
            return self.ready()
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL at once: the crash a service must survive."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, grace_s: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProcessService:
    """A service that is one managed process: `start` (until ready) and `stop`, or `with`."""

    process: ManagedProcess
    start_timeout_s = 30.0

    def start(self) -> Self:
        self.process.start(self.start_timeout_s)
        return self

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_ok(url: str, accept: Callable[[int], bool] = lambda status: status < 500) -> Callable[[], bool]:
    """A readiness probe: the URL answers with an accepted status."""
    import urllib.error
    import urllib.request

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return accept(resp.status)
        except urllib.error.HTTPError as exc:
            return accept(exc.code)
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            return False

    return probe


def tcp_open(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    def probe() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((host, port)) == 0

    return probe
