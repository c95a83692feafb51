"""The soak (`make soak`, SOAK_S seconds, an hour by default): steady traffic through the
deployed fleet (each client initiates with a webhook, follows the stream to the end, reads
the status and downloads the artifact, again and again) while a sampler records every
process's RSS and open files and Redis's memory and key count.

Once the fleet has reached its steady state (jobs and keys expire after JOB_TTL_S), these
must stay flat: over the second half of the run, the fitted slope may not add more than a
small fraction of the level. The samples and slopes go to results/soak.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import psutil
import pytest
import redis
from aiohttp import web

from core.sse import SseEvent, read_stream
from reference_server.contract import TERMINAL_STATES
from stack.minio_server import MinioServer
from stack.processes import ManagedProcess, free_port
from stack.provenance import ROOT
from stack.redis_server import RedisServer
from tests.conftest import FAST_ENV
from tests.fleet import Fleet
from tests.helpers import serving

pytestmark = pytest.mark.soak

SOAK_S = float(os.environ.get("SOAK_S", "3600"))
CLIENTS = 16
SAMPLES = 120
SOAK_ENV = {**FAST_ENV, "JOB_TTL_S": "3000", "IDEMPOTENCY_TTL_S": "3000", "MAX_STREAMS_PER_CLIENT": "0"}
# Growth allowed over the second half, as (fraction of the level, floor): allocator and
# connection-pool noise stays under the floor, a leak of one object per job does not.
FLAT = {"rss_bytes": (0.05, 8 << 20), "open_files": (0.0, 8), "redis_bytes": (0.10, 4 << 20), "redis_keys": (0.10, 50)}


@pytest.fixture
def fleet(tmp_path: Path, private_redis: RedisServer, private_minio: MinioServer) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, private_redis, private_minio, SOAK_ENV)
    yield fleet
    fleet.close()


async def customer(http: aiohttp.ClientSession, url: str, n: int, callback: str, until: float) -> int:
    """One client's loop over the whole life of a job; returns the jobs it saw through."""
    done = 0
    while time.monotonic() < until:
        body = {"file_ids": [70000 + 7 * (n * 1000 + done % 1000)], "callback_url": callback}
        async with http.post(
            f"{url}/v1/download/initiate", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        ) as resp:
            assert resp.status == 202, await resp.text()
            job_id = (await resp.json())["jobId"]
        async with http.get(f"{url}/v1/download/jobs/{job_id}/events") as resp:
            async for item in read_stream(resp):
                if isinstance(item, SseEvent) and item.event in TERMINAL_STATES:
                    break
        async with http.get(f"{url}/v1/download/jobs/{job_id}") as resp:
            status = await resp.json()
        if status["status"] == "completed":
            async with http.get(status["downloadUrl"]) as resp:
                await resp.read()
        done += 1
    return done


def sample(processes: list[ManagedProcess], admin: redis.Redis) -> dict[str, float]:
    handles = [psutil.Process(p.pid) for p in processes]
    info = admin.info("memory")
    return {
        "rss_bytes": float(sum(h.memory_info().rss for h in handles)),
        "open_files": float(sum(h.num_fds() for h in handles)),
        "redis_bytes": float(info["used_memory"]),
        "redis_keys": float(admin.dbsize()),
    }


async def test_memory_files_and_redis_stay_flat_under_steady_traffic(fleet: Fleet) -> None:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    admin = redis.Redis(port=fleet.redis.port)
    processes = [p.process for p in (*fleet.apis, *fleet.workers)]
    began = time.monotonic()
    until = began + SOAK_S
    samples: list[tuple[float, dict[str, float]]] = []

    async def sampler() -> None:
        while time.monotonic() < until:
            samples.append((time.monotonic() - began, sample(processes, admin)))
            await asyncio.sleep(SOAK_S / SAMPLES)

    try:
        async with (
            serving(free_port(), hook=hook) as receiver,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
        ):
            results = await asyncio.gather(
                sampler(), *(customer(http, fleet.url, n, f"{receiver}/hook", until) for n in range(CLIENTS))
            )
    finally:
        admin.close()

    jobs = sum(r for r in results if r is not None)
    second_half = [(t, s) for t, s in samples if t >= SOAK_S / 2]
    t = np.array([t for t, _ in second_half])
    report: dict[str, dict[str, float]] = {}
    for name, (fraction, floor) in FLAT.items():
        y = np.array([s[name] for _, s in second_half])
        slope = float(np.polyfit(t, y, 1)[0])
        growth = slope * (t[-1] - t[0])
        report[name] = {"level": float(y.mean()), "slope_per_hour": slope * 3600, "growth_in_half": growth}
        report[name]["allowed"] = max(fraction * report[name]["level"], floor)
    out = ROOT / "results" / "soak.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"soak_s": SOAK_S, "jobs": jobs, "clients": CLIENTS, "slopes": report, "samples": samples}, indent=1)
    )
    print(f"\nsoak: {SOAK_S:g} s, {jobs} jobs; second-half slopes per hour:")
    for name, r in report.items():
        level, slope, growth = r["level"], r["slope_per_hour"], r["growth_in_half"]
        print(f"  {name}: level {level:.4g}, slope {slope:+.4g}/h, growth {growth:+.4g} (allowed {r['allowed']:.4g})")
    assert jobs > CLIENTS, "the soak ran almost no jobs"
    for name, r in report.items():
        assert r["growth_in_half"] <= r["allowed"], f"{name} grows: {r}"
