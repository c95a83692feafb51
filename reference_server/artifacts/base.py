"""Where finished downloads are kept and how clients get a link to one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


class StorageUnavailable(Exception):
    """The artifact store did not answer in time or refused the call."""


@dataclass(frozen=True)
class SigningWindow:
    """A link's validity, aligned to half-TTL steps.

    Links minted within one step are identical (so a status ETag stays valid), and a
    link handed out always has at least half its lifetime left.
    """

    start: int
    ttl: int

    @property
    def expires_at(self) -> int:
        return self.start + self.ttl

    @classmethod
    def at(cls, now: float, ttl_s: float) -> SigningWindow:
        half = max(1, int(ttl_s // 2))
        return cls(start=math.floor(now / half) * half, ttl=2 * half)


class ArtifactStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    def url(self, key: str, window: SigningWindow, origin: str) -> str: ...
    async def check(self) -> bool: ...
    async def close(self) -> None: ...
