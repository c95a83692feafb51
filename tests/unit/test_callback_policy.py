"""The webhook allow-list: which callback URLs are accepted and which addresses a send may reach."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_server.callback_policy import CallbackPolicy, CheckedResolver, parse_entry
from reference_server.config import ConfigError, from_env


def policy(*entries: str) -> CallbackPolicy:
    return CallbackPolicy(tuple(parse_entry(e) for e in entries))


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        (("hooks.example.com",), "https://hooks.example.com/x", True),
        (("hooks.example.com",), "http://hooks.example.com/x", True),
        (("hooks.example.com",), "http://hooks.example.com:8080/x", False),  # a bare host means 80 and 443
        (("hooks.example.com:8080",), "http://HOOKS.example.com:8080/x", True),
        (("hooks.example.com:8080",), "http://hooks.example.com:8081/x", False),
        (("127.0.0.1:*",), "http://127.0.0.1:5/x", True),
        (("[::1]:9000",), "http://[::1]:9000/x", True),
        (("localhost",), "http://localhost:6379/", False),
        ((), "https://hooks.example.com/x", False),
    ],
)
def test_urls_are_allowed_by_host_and_port(entries: tuple[str, ...], url: str, allowed: bool) -> None:
    assert (policy(*entries).url_refusal(urlsplit(url)) is None) is allowed


@pytest.mark.parametrize(
    ("entries", "address", "allowed"),
    [
        (("hooks.example.com",), "93.184.215.14", True),
        (("hooks.example.com",), "127.0.0.1", False),
        (("hooks.example.com",), "10.1.2.3", False),
        (("hooks.example.com",), "169.254.169.254", False),  # cloud metadata
        (("hooks.example.com",), "::ffff:127.0.0.1", False),  # loopback dressed as v6
        (("hooks.example.com",), "fd00:ec2::254", False),
        (("hooks.example.com", "127.0.0.1:443"), "127.0.0.1", True),  # named by address and port
        (("hooks.example.com", "127.0.0.1:8443"), "127.0.0.1", False),  # named, but for another port
    ],
)
def test_resolved_addresses_must_be_public_or_named(entries: tuple[str, ...], address: str, allowed: bool) -> None:
    assert (policy(*entries).address_refusal("hooks.example.com", 443, address) is None) is allowed


async def test_the_resolver_refuses_a_name_that_resolves_inward() -> None:
    resolver = CheckedResolver(policy("localhost:8080"))
    try:
        with pytest.raises(OSError, match="internal address"):
            await resolver.resolve("localhost", 8080)
    finally:
        await resolver.close()


@pytest.mark.parametrize("entry", ["host:99999", "host:abc", "http://host", "user@host", ":80"])
def test_bad_entries_stop_the_server_at_start(entry: str) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_HOSTS"):
        from_env({"WEBHOOK_ALLOWED_HOSTS": entry})


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_url_the_served_pattern_admits_is_accepted(data: st.DataObject) -> None:
    allowed = policy("hooks.example.com", "127.0.0.1:*", "[::1]:9000", "api.example.org:8443")
    pattern = allowed.url_pattern()
    assert pattern is not None
    url = data.draw(st.from_regex(pattern, fullmatch=True))
    assert allowed.url_refusal(urlsplit(url)) is None and allowed.matches(url), url


def test_an_empty_list_has_no_pattern() -> None:
    assert policy().url_pattern() is None
