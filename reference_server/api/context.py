"""What handlers reach through the application: typed `web.AppKey`s gathered in one object."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from ..artifacts.base import ArtifactStore
from ..callback_policy import CallbackPolicy
from ..config import Settings
from ..metrics import Metrics
from ..store.base import JobStore
from .client_identity import ClientIdentity
from .heartbeats import Heartbeats
from .representation import EncodedBodies
from .stream_slots import StreamSlots


@dataclass(frozen=True)
class Context:
    settings: Settings
    store: JobStore
    artifacts: ArtifactStore
    metrics: Metrics
    identity: ClientIdentity  # who a request comes from, behind trusted proxies
    streams: StreamSlots  # event streams held, per client and in all
    heartbeats: Heartbeats  # pings for the event streams and WebSockets held
    callbacks: CallbackPolicy  # where webhooks may go
    bodies: EncodedBodies = field(default_factory=EncodedBodies)  # status bodies, by ETag


CONTEXT = web.AppKey("context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
