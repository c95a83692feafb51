"""MEMORY_TRACE_S names the allocation sites that grow, and is off unless asked for."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc

import pytest

from reference_server.memory_trace import tracing

kept: list[bytes] = []


def grow() -> None:
    kept.extend(bytes(1024) + bytes([i % 256]) for i in range(512))  # this line is the leak to find


async def test_the_report_names_the_site_that_grew(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "reference_server.memory_trace")
    async with tracing(0.05):
        await asyncio.sleep(0.08)  # past the baseline
        grow()
        await asyncio.sleep(0.1)
    kept.clear()
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("memory trace:")]
    assert reports, "no report within two intervals"
    most_grown = reports[-1].split("most grown: ", 1)[1].split(";")[0]
    assert "test_memory_trace.py" in most_grown and "KiB" in most_grown, reports[-1]
    assert not tracemalloc.is_tracing()


async def test_off_by_default_traces_nothing() -> None:
    async with tracing(0):
        assert not tracemalloc.is_tracing()
