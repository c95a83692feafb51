"""Initiate, then follow the job over Server-Sent Events, reconnecting after every cut."""

from __future__ import annotations

from core.job_metrics import JobRecord

from ..engine import Context, finish_async
from .stream import follow_job


def observe(ctx: Context, record: JobRecord) -> None:
    out, _ = follow_job(ctx, record)
    finish_async(ctx, record, out.known_at, out.connects)
