"""Settings from the original's environment variables, parsed correctly this time."""

from __future__ import annotations

import pytest

from reference_server.artifacts.base import SigningWindow
from reference_server.config import ConfigError, from_env, load


def test_defaults_are_the_original_service() -> None:
    s = load([], env={})
    assert (s.host, s.port, s.embedded) == ("127.0.0.1", 3000, True)
    assert (s.delay.min_s, s.delay.max_s, s.delay.enabled) == (10.0, 200.0, True)
    assert (s.request_timeout_s, s.rate_limit_window_s, s.rate_limit_max) == (30.0, 60.0, 100)
    assert s.cors_origins == ("*",)


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("0", False), ("TRUE", True), ("yes", True)])
def test_booleans_mean_what_they_say(raw: str, expected: bool) -> None:
    # The original's zod coercion made the string "false" true.
    assert from_env({"DOWNLOAD_DELAY_ENABLED": raw}).delay.enabled is expected


@pytest.mark.parametrize(
    "env",
    [
        {"DOWNLOAD_DELAY_ENABLED": "maybe"},
        {"PORT": "http"},
        {"REQUEST_TIMEOUT_MS": "10"},
        {"DOWNLOAD_DELAY_MIN_MS": "5000", "DOWNLOAD_DELAY_MAX_MS": "1000"},
        {"S3_ENDPOINT": "http://127.0.0.1:9000"},
        {"WORKERS": "0"},
        {"REUSE_PORT": "true"},  # embedded: the jobs are one process's
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_POOL_SIZE": "2"},  # both taken by the queue readers
        {"DOWNLOAD_DELAY_PROFILE": "gaussian"},
    ],
)
def test_bad_settings_are_refused_with_a_reason(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        from_env(env)


def test_flags_override_the_environment_and_empty_strings_are_unset() -> None:
    s = load(["--port", "4000", "--time-scale", "0.02"], env={"PORT": "5000", "S3_ENDPOINT": "", "CORS_ORIGINS": "a,b"})
    assert (s.port, s.time_scale, s.s3_endpoint, s.cors_origins) == (4000, 0.02, None, ("a", "b"))
    assert s.scaled(100) == 2.0
    assert s.base_url == "http://127.0.0.1:4000"


def test_signing_window_keeps_links_stable_and_never_near_expiry() -> None:
    ttl = 3600
    for now in (0.0, 1799.9, 1800.0, 5000.5):
        window = SigningWindow.at(now, ttl)
        assert window.expires_at - now >= ttl / 2
        assert window.start <= now
    assert SigningWindow.at(10, ttl) == SigningWindow.at(1700, ttl)
    assert SigningWindow.at(0.3, 0.5).ttl >= 2  # S3 presigning needs whole seconds
