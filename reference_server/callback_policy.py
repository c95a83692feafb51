"""Where webhooks may go (WEBHOOK_ALLOWED_HOSTS), checked twice: on the callback URL when
a job is accepted, and on the addresses its host resolves to when each attempt connects.

An entry is `host` (ports 80 and 443 only), `host:port`, or `host:*` (any port, for test
rigs whose receivers take free ports). Names are not trusted to stay where they pointed:
an address that is loopback, private, link-local (cloud metadata lives there) or
otherwise not public is refused unless an entry names that very address, so neither a
name that resolves inward nor one that rebinds between check and connect reaches an
internal service. The connection goes to the checked addresses, never to a second lookup.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

ANY_PORT = "*"
DEFAULT_PORT = {"http": 80, "https": 443}
BARE_HOST_PORTS = frozenset(DEFAULT_PORT.values())  # what an entry without a port allows
_PORT_1_65535 = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_URL_CHAR = r"([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})"  # RFC 3986 pchar, plus "/"
_PATH_QUERY = rf"(/{_URL_CHAR}*)?(\?({_URL_CHAR}|\?)*)?"


@dataclass(frozen=True)
class Entry:
    host: str  # lower case; an address in its canonical form
    ports: frozenset[int] | None  # None: any port


def _canonical(host: str) -> str:
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_entry(raw: str) -> Entry:
    """One allow-list entry; ValueError naming what is wrong with it."""
    text = raw.strip()
    host, port = text, ""
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        host, port = text[: end + 1], text[end + 2 :] if text[end + 1 : end + 2] == ":" else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or any(c in host for c in "/@?#"):
        raise ValueError(f"WEBHOOK_ALLOWED_HOSTS entry {raw!r} is not a host, host:port or host:*")
    if port == ANY_PORT:
        return Entry(_canonical(host), None)
    if not port:
        return Entry(_canonical(host), BARE_HOST_PORTS)
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"WEBHOOK_ALLOWED_HOSTS entry {raw!r}: the port must be 1-65535 or *")
    return Entry(_canonical(host), frozenset({int(port)}))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])  # a v6 scope id is not part of the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class CallbackPolicy:
    def __init__(self, entries: tuple[Entry, ...]) -> None:
        self.entries = entries
        pattern = self.url_pattern()
        self._url = re.compile(pattern) if pattern is not None else None

    def matches(self, url: str) -> bool:
        """Whether the URL has the form /openapi.json states (url_pattern)."""
        return self._url is not None and self._url.fullmatch(url) is not None

    def _allows(self, host: str, port: int) -> bool:
        host = _canonical(host)
        return any(e.host == host and (e.ports is None or port in e.ports) for e in self.entries)

    def url_refusal(self, parts: SplitResult) -> str | None:
        """Why this (already well-formed) callback URL may not be used, or None."""
        assert parts.hostname is not None
        port = parts.port or DEFAULT_PORT[parts.scheme]
        if not self._allows(parts.hostname, port):
            return f"callback_url {parts.hostname}:{port} is not allowed by the server's WEBHOOK_ALLOWED_HOSTS"
        return None

    def url_pattern(self) -> str | None:
        """The regular expression callback URLs must match: a listed host (as listed, in
        lower case) and port, then a path and query of URL characters; None when the list
        allows nothing. /openapi.json states it and the server enforces it."""
        if not self.entries:
            return None
        forms = []
        for e in self.entries:
            host = re.escape(f"[{e.host}]" if ":" in e.host else e.host)
            if e.ports is None:
                forms.append(f"https?://{host}(:{_PORT_1_65535})?")
                continue
            forms.extend(f"https?://{host}:{port}" for port in sorted(e.ports))
            forms.extend(f"{scheme}://{host}" for scheme, port in DEFAULT_PORT.items() if port in e.ports)
        return f"^({'|'.join(forms)}){_PATH_QUERY}$"

    def address_refusal(self, host: str, port: int, address: str) -> str | None:
        """Why a connection for `host:port` may not go to `address`, or None."""
        if _public(address) or self._allows(address, port):
            return None
        return f"{host} resolves to {address}, an internal address WEBHOOK_ALLOWED_HOSTS does not name"


class CheckedResolver(AbstractResolver):
    """Resolves callback hosts and refuses the lookup if any address is not allowed; the
    connector then connects only to the addresses returned here."""

    def __init__(self, policy: CallbackPolicy) -> None:
        self._policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if (refusal := self._policy.address_refusal(host, port, result["host"])) is not None:
                # aiohttp reports it as a connection error (showing strerror): an attempt that failed.
                raise OSError(errno.EACCES, refusal)
        return results

    async def close(self) -> None:
        await self._inner.close()
