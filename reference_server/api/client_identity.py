"""Who a request comes from, behind proxies.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only when the
peer that connected is a trusted proxy (`TRUSTED_PROXIES`). Then the client is the
rightmost address in the chain that is not itself a trusted proxy: each proxy appends the
address it saw, and entries to the left of the first untrusted one are the client's own
words. With no trusted proxies, the client is the peer. This identity scopes the rate
limit, Idempotency-Keys and the reuse of a client's active job.
"""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from ..cache_bounds import TRUSTED_PEERS_KEPT
from ..config import Network


class ClientIdentity:
    def __init__(self, trusted: tuple[Network, ...]) -> None:
        self.trusted = trusted
        # Asked on every request, mostly about the same few peers; parsing was 3% of a poll.
        self._trusts = functools.lru_cache(maxsize=TRUSTED_PEERS_KEPT)(self._check)

    def trusts(self, address: str) -> bool:
        return self._trusts(address)

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def of(self, request: web.Request) -> str:
        peer = request.remote or "anonymous"
        if not self.trusts(peer):
            return peer
        hops = [h.strip() for value in request.headers.getall("X-Forwarded-For", []) for h in value.split(",")]
        hops = [h for h in hops if h]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        if hops:
            return hops[0]  # every hop a trusted proxy: the first is as far back as we can see
        return request.headers.get("X-Real-IP", "").strip() or peer
