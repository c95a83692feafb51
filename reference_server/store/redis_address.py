"""Where the Redis is: one URL, whichever way it is reached.

- `redis://[:password@]host:port/db` (or `rediss://`, `unix://`): one server, as redis-py reads it.
- `redis+sentinel://[:password@]host:port,host:port,.../master-name[/db]`: the master that the
  Sentinels at those addresses name, found again after a failover. The password, if any, is the
  master's (Sentinels here take none). The same URL works on one machine and on several.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

SENTINEL_SCHEME = "redis+sentinel"
SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)


@dataclass(frozen=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    password: str | None


def parse(url: str) -> str | SentinelAddress:
    """The URL as redis-py takes it, or the Sentinels and master it names; ValueError names
    what is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"a Redis URL starts with one of {', '.join(s + '://' for s in SCHEMES)}, got {url!r}")
    if scheme != SENTINEL_SCHEME:
        return url
    credentials, _, located = rest.rpartition("@")
    hosts, _, path = located.partition("/")
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError(f"a {SENTINEL_SCHEME} URL names its master after the Sentinels (…/master[/db]), got {url!r}")
    sentinels = []
    for entry in hosts.split(","):
        host, colon, port = entry.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"each Sentinel is host:port, got {entry!r} in {url!r}")
        sentinels.append((host.strip("[]"), int(port)))
    if len(parts) == 2 and not parts[1].isdigit():
        raise ValueError(f"a Redis database is a number, got {parts[1]!r} in {url!r}")
    password = urllib.parse.unquote(credentials.partition(":")[2]) if credentials else None
    return SentinelAddress(tuple(sentinels), parts[0], int(parts[1]) if len(parts) == 2 else 0, password or None)
