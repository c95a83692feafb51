"""Presigned links are signed once per key and signing window, then served from memory."""

from __future__ import annotations

from reference_server.artifacts.base import SigningWindow
from reference_server.artifacts.s3 import S3Artifacts


def test_a_link_is_signed_once_per_window() -> None:
    store = S3Artifacts("127.0.0.1:9", None, "access", "secret-key", "downloads", "us-east-1", 1.0)
    window = SigningWindow.at(1_800_000_000, 3600)
    first = store.url("downloads/a.zip", window, "http://origin")
    assert store.url("downloads/a.zip", window, "http://origin") is first  # from the cache, not signed again
    later = store.url("downloads/a.zip", SigningWindow.at(1_800_001_800, 3600), "http://origin")
    assert later != first and "X-Amz-Signature=" in later
    assert store.url("downloads/b.zip", window, "http://origin") != first
