"""What handlers reach through the application: typed `web.AppKey`s gathered in one object."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..artifacts.base import ArtifactStore
from ..config import Settings
from ..metrics import Metrics
from ..store.base import JobStore


@dataclass(frozen=True)
class Context:
    settings: Settings
    store: JobStore
    artifacts: ArtifactStore
    metrics: Metrics


CONTEXT = web.AppKey("context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
