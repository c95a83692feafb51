"""Embedded mode: artifacts in a local folder, served by this server behind HMAC-signed,
expiring links shaped like presigned URLs."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import os
import re
import time
from pathlib import Path

from ..cache_bounds import SIGNED_LINKS_KEPT
from .base import SigningWindow

KEY_PATTERN = re.compile(r"^downloads/[A-Za-z0-9_-]+\.zip$")
ROUTE = "/v1/artifacts/{key:.+}"


class LocalArtifacts:
    def __init__(self, root: Path, secret: bytes) -> None:
        self.root = root
        self._secret = secret
        # A link depends only on its key and expiry, so a polled job's is signed once per window.
        self._signed = functools.lru_cache(maxsize=SIGNED_LINKS_KEPT)(self.signature)

    def path(self, key: str) -> Path:
        if not KEY_PATTERN.match(key):
            raise ValueError(f"not an artifact key: {key!r}")
        return self.root / key

    async def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        await asyncio.to_thread(_write_atomically, path, data)

    def signature(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, key: str, window: SigningWindow, origin: str) -> str:
        expires = window.expires_at
        return f"{origin}/v1/artifacts/{key}?expires={expires}&signature={self._signed(key, expires)}"

    def verify(self, key: str, expires: str, signature: str) -> bool:
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self.signature(key, int(expires)), signature)

    async def check(self) -> bool:
        return os.access(self.root, os.W_OK)

    async def close(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
