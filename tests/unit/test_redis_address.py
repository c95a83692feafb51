"""REDIS_URL's two forms: one server as redis-py reads it, or the master that Sentinels name."""

from __future__ import annotations

import pytest

from reference_server.config import ConfigError, from_env
from reference_server.store.redis_address import SentinelAddress, parse


def test_a_plain_url_is_redis_pys_to_read() -> None:
    assert parse("redis://127.0.0.1:6379/2") == "redis://127.0.0.1:6379/2"


def test_a_sentinel_url_names_its_sentinels_master_database_and_password() -> None:
    found = parse("redis+sentinel://:p%40ss@198.18.0.5:26379,[::1]:26380/orders/3")
    assert found == SentinelAddress((("198.18.0.5", 26379), ("::1", 26380)), "orders", 3, "p@ss")
    assert parse("redis+sentinel://h:1/orders") == SentinelAddress((("h", 1),), "orders", 0, None)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:6379", "starts with one of"),
        ("redis+sentinel://h:1", "names its master"),
        ("redis+sentinel://h:1/m/0/extra", "names its master"),
        ("redis+sentinel://h/m", "each Sentinel is host:port"),
        ("redis+sentinel://h:1/m/zero", "database is a number"),
    ],
)
def test_a_bad_url_is_refused_at_start_with_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"REDIS_URL: .*{says}"):
        from_env({"REDIS_URL": url})
