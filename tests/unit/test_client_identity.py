"""Who a request comes from: X-Forwarded-For is believed only from a trusted proxy, and
then only to the right of the first address that is not one."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp.test_utils import make_mocked_request

from reference_server.api.client_identity import ClientIdentity
from reference_server.config import ConfigError, from_env


class Peer:
    def __init__(self, address: str) -> None:
        self.address = address

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.address, 40000) if name == "peername" else default


def identity_of(peer: str, trusted: str, **headers: str) -> str:
    networks = tuple(ipaddress.ip_network(n) for n in trusted.split(",") if n)
    request = make_mocked_request("GET", "/", headers=headers, transport=Peer(peer))
    return ClientIdentity(networks).of(request)


def test_an_untrusted_peer_is_the_client_whatever_it_says() -> None:
    assert identity_of("203.0.113.9", "", **{"X-Forwarded-For": "1.2.3.4"}) == "203.0.113.9"
    assert identity_of("203.0.113.9", "127.0.0.1", **{"X-Real-IP": "1.2.3.4"}) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() -> None:
    # The client wrote "6.6.6.6" itself; nginx appended the address it saw.
    forwarded = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
    assert identity_of("127.0.0.1", "127.0.0.0/8", **forwarded) == "198.51.100.7"
    # Two trusted hops (edge, then nginx): skip both.
    chained = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.88.0.5"}
    assert identity_of("127.0.0.1", "127.0.0.0/8,10.88.0.0/16", **chained) == "198.51.100.7"


def test_a_trusted_peer_without_forwarding_headers_is_the_client() -> None:
    assert identity_of("127.0.0.1", "127.0.0.0/8") == "127.0.0.1"
    assert identity_of("127.0.0.1", "127.0.0.0/8", **{"X-Real-IP": "198.51.100.7"}) == "198.51.100.7"


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert from_env({"TRUSTED_PROXIES": "127.0.0.1, 10.88.0.0/16"}).trusted_proxies[1].prefixlen == 16
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES must list IP addresses or networks"):
        from_env({"TRUSTED_PROXIES": "localhost"})
