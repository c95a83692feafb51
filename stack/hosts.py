"""Hosts of their own on this one machine: a network namespace per role, each with one
address on a bridge the run creates, so that every role has its own network stack, ports
and links, as on separate machines.

    with Network() as network:
        redis = network.host("redis")     # a Place: its address, and how to run a command there
        redis.argv(["redis-server", ...])  # ip netns exec <namespace> redis-server ...

The addresses come from 198.18.0.0/15 (RFC 2544, set aside for benchmark networks), one /24
per run. The bridge holds the run's first address, so the machine's own namespace reaches
every host (curl, browsers and load tests work unchanged). Closing the network removes
every namespace and link it made; a run killed outright leaves its namespaces behind, and the
next run removes those whose process is gone. Needs root (`ip netns add`).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import string
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from .processes import ServiceError, free_port

BENCHMARK_NETWORK = ipaddress.ip_network("198.18.0.0/15")
PREFIX = "pb"  # every namespace and link a run makes is named pb<its pid>…
OURS = re.compile(rf"^{PREFIX}(\d+)")


@dataclass(frozen=True)
class Place:
    """Where a service runs: the address it binds and is reached at, and the namespace its
    command runs in (None: this machine's own, where each service takes a free port)."""

    address: str = "127.0.0.1"
    namespace: str | None = None
    role: str = "local"

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv] if self.namespace else list(argv)

    def port(self, standard: int) -> int:
        """A host of its own takes the service's standard port; this machine, a free one."""
        return standard if self.namespace else free_port()


LOCAL = Place()


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ServiceError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _lines(*args: str) -> list[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout.splitlines()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _lines("netns", "list") if line.strip()]


def _links() -> list[str]:
    return [line.split(":")[1].strip().split("@")[0] for line in _lines("-o", "link", "show") if ":" in line]


def remove_stale() -> None:
    """Namespaces and links of runs whose process is gone (killed before they could clean up).
    Runs starting together find the same leftovers: one that another removed first is gone,
    which is what was wanted. The links are listed after the namespaces are deleted, since
    deleting a namespace deletes its veth pairs too."""
    for kind, listed in (("netns", _namespaces), ("link", _links)):
        for name in listed():
            found = OURS.match(name)
            if found and not _alive(int(found.group(1))):
                try:
                    _ip(kind, "del", name)
                except ServiceError:
                    if name in listed():
                        raise


def _free_subnet() -> ipaddress.IPv4Network:
    taken = " ".join(_lines("-o", "-4", "addr", "show"))
    for subnet in BENCHMARK_NETWORK.subnets(new_prefix=24):
        if f" {subnet.network_address + 1}/" not in taken:
            return subnet  # type: ignore[return-value]
    raise ServiceError("no /24 of 198.18.0.0/15 is free on this machine")


_networks = itertools.count()


def _tag() -> str:
    """pb<pid><a letter per network of this process>: unique while the process lives, and
    short enough for a link name (15 characters) with v<host number> after it."""
    return f"{PREFIX}{os.getpid()}{string.ascii_lowercase[next(_networks) % 26]}"


@dataclass
class Network:
    tag: str = field(default_factory=_tag)
    hosts: list[Place] = field(default_factory=list)
    subnet: ipaddress.IPv4Network | None = None

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    def start(self) -> Network:
        remove_stale()
        self.subnet = _free_subnet()
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except BaseException:
            self.close()
            raise
        return self

    def host(self, role: str) -> Place:
        """A new host on the bridge, named for its role."""
        assert self.subnet is not None, "start the network first"
        number = len(self.hosts) + 2  # .1 is the bridge's
        namespace, link = f"{self.tag}-{role}", f"{self.tag}v{number}"
        address = str(self.subnet.network_address + number)
        _ip("netns", "add", namespace)
        self.hosts.append(Place(address, namespace, role))
        _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", link, "master", self.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "route", "add", "default", "via", str(self.subnet.network_address + 1))
        return self.hosts[-1]

    def link(self, place: Place, up: bool) -> None:
        """The host's one link down (it is cut from every other host, mid-connection) or up."""
        number = int(place.address.rsplit(".", 1)[1])
        _ip("link", "set", f"{self.tag}v{number}", "up" if up else "down")

    def drop(self, place: Place, toward: Sequence[str], dropping: bool) -> None:
        """Drop what `place` sends to these addresses, or stop: a partition between it and
        them that leaves its other paths alone. Packets vanish, as on a broken network; no
        connection is refused or reset."""
        assert place.namespace is not None
        for address in toward:
            rule = ["OUTPUT", "-d", address, "-j", "DROP"]
            argv = place.argv(["iptables", "-A" if dropping else "-D", *rule])
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                raise ServiceError(f"{' '.join(argv)}: {done.stderr.strip()}")

    def close(self) -> None:
        """Every namespace (its end of each link goes with it), then the bridge."""
        for place in self.hosts:
            assert place.namespace is not None
            subprocess.run(["ip", "netns", "del", place.namespace], capture_output=True)
        self.hosts.clear()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def __enter__(self) -> Network:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
