"""Artifacts in MinIO (or any S3 API) through the `minio` SDK.

Uploads go to the endpoint the server reaches; links are signed by a second client
configured with the endpoint the *clients* reach, because a SigV4 presigned URL is only
valid for the exact Host it was signed for. That client never talks to the network
(its region is given), so signing works even when the public host is not reachable
from here.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error

from ..cache_bounds import SIGNED_LINKS_KEPT
from .base import SigningWindow, StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)
HEALTH_MARKER = "__health_check_marker__"


def _client(endpoint: str, access_key: str, secret_key: str, region: str, timeout_s: float) -> Minio:
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
        retries=urllib3.Retry(total=1, backoff_factor=0.1, status_forcelist=(500, 502, 503, 504)),
        maxsize=16,
    )
    return Minio(
        parts.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=parts.scheme == "https",
        region=region,
        http_client=http,
    )


class S3Artifacts:
    def __init__(
        self,
        endpoint: str,
        public_endpoint: str | None,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str,
        timeout_s: float,
    ) -> None:
        self.bucket = bucket
        self._client = _client(endpoint, access_key, secret_key, region, timeout_s)
        self._signer = _client(public_endpoint or endpoint, access_key, secret_key, region, timeout_s)
        self._bucket_ready = False
        # A link depends only on its key and signing window, so each is signed once per window
        # (SigV4 signing was a third of a completed job's status read).
        self._signed = functools.lru_cache(maxsize=SIGNED_LINKS_KEPT)(self._sign)

    async def _call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except S3Error:
            raise
        except Exception as exc:  # urllib3 and socket errors: the store is unreachable
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        if not await self._call(self._client.bucket_exists, self.bucket):
            try:
                await self._call(self._client.make_bucket, self.bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        self._bucket_ready = True

    async def put(self, key: str, data: bytes) -> None:
        try:
            await self.ensure_bucket()
            await self._call(
                self._client.put_object, self.bucket, key, io.BytesIO(data), len(data), content_type="application/zip"
            )
        except S3Error as exc:  # refused by the store (permissions, quota): the job cannot finish
            raise StorageUnavailable(f"{exc.code}: {exc.message}") from exc

    def url(self, key: str, window: SigningWindow, origin: str) -> str:
        return self._signed(key, window)

    def _sign(self, key: str, window: SigningWindow) -> str:
        return self._signer.presigned_get_object(
            self.bucket,
            key,
            expires=timedelta(seconds=window.ttl),
            request_date=datetime.fromtimestamp(window.start, UTC),
        )

    async def check(self) -> bool:
        try:
            await self._call(self._client.stat_object, self.bucket, HEALTH_MARKER)
        except S3Error as exc:
            # As in the original: a missing marker (or bucket) still proves the store answers.
            return exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject")
        except StorageUnavailable as exc:
            log.warning("storage health check failed: %s", exc)
            return False
        return True

    async def close(self) -> None:
        return None
