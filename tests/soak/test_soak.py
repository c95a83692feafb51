"""The soak (`make soak`, SOAK_S seconds, an hour by default): steady traffic through the
deployed fleet (each client initiates with a webhook, follows the stream to the end, reads
the status and downloads the artifact, again and again) while a sampler records every
process's RSS and open files and Redis's memory and key count.

Once the fleet has reached its steady state (jobs and keys expire after JOB_TTL_S), these
must stay flat: over the second half of the run, the fitted slope may not add more than a
small fraction of the level. Memory is judged per job too, since a leak grows with jobs and
warm-up with time: the servers' RSS may not grow by more than ALLOWED_KIB_PER_JOB for each
job of the second half. Each long-lived part is sampled on its own: every API and worker
process, nginx (master and workers), Redis and MinIO, so a leak in one does not hide behind
another. The samples, slopes and growth per job go to results/soak.json.
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
from reference_server.cache_bounds import RECENT_JOBS
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
SOAK_ENV = {
    **FAST_ENV,
    "JOB_TTL_S": "3000",
    "IDEMPOTENCY_TTL_S": "3000",
    "MAX_STREAMS_PER_CLIENT": "0",
    # SOAK_MEMORY_TRACE_S=60 makes every server and worker log what grew inside it (memory_trace).
    "MEMORY_TRACE_S": os.environ.get("SOAK_MEMORY_TRACE_S", "0"),
}
# Growth allowed over the second half, as (fraction of the level, floor): allocator and
# connection-pool noise stays under the floor, a leak of one object per job does not.
FLAT = {"rss_bytes": (0.05, 8 << 20), "open_files": (0.0, 8), "redis_bytes": (0.10, 4 << 20), "redis_keys": (0.10, 50)}
# The parts around the servers, by RSS: the same allowance as the servers' sum.
PARTS_FLAT = (0.05, 8 << 20)
# The servers' memory past warm-up, per job of the second half: well under the 4 KiB a job that
# caches sized for 65,536 entries added while they filled (reference_server/cache_bounds.py).
ALLOWED_KIB_PER_JOB = 0.5
# Until the caches are full a process's memory grows with every new job it serves, as a leak
# would. Each API process answers about 1/len(apis) of the status reads, and each worker runs
# 1/len(workers) of the jobs, so their caches fill after about that many times RECENT_JOBS
# jobs (a traced soak saw every growing site flatten there): a run is judged on its second half
# past that, with half again for margin, and must have enough samples there.
WARM_UP_MARGIN = 1.5


@pytest.fixture
def fleet(tmp_path: Path, private_redis: RedisServer, private_minio: MinioServer) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, private_redis, private_minio, SOAK_ENV)
    yield fleet
    fleet.close()


async def customer(
    http: aiohttp.ClientSession, url: str, n: int, callback: str, until: float, finished: list[int]
) -> int:
    """One client's loop over the whole life of a job; returns the jobs it saw through, and
    counts each in `finished` as it ends (the sampler reads it)."""
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
        finished[0] += 1
    return done


def nginx_processes(workdir: Path) -> list[psutil.Process]:
    """The nginx master started in `workdir` (its -p prefix) and its workers. A running nginx
    rewrites its title ("nginx: master process nginx -p ..."), so the whole command line is read."""
    for process in psutil.process_iter(["cmdline"]):
        title = " ".join(process.info["cmdline"] or [])
        if title.startswith("nginx: master process") and str(workdir) in title:
            return [process, *process.children()]
    raise LookupError(f"no nginx runs from {workdir}")


def rss(processes: list[psutil.Process]) -> float:
    return float(sum(p.memory_info().rss for p in processes))


def sample(
    servers: dict[str, ManagedProcess], parts: dict[str, list[psutil.Process]], admin: redis.Redis, jobs: int
) -> dict[str, float]:
    handles = {name: psutil.Process(p.pid) for name, p in servers.items()}
    info = admin.info("memory")
    return {
        "jobs": float(jobs),
        "rss_bytes": rss(list(handles.values())),
        "open_files": float(sum(h.num_fds() for h in handles.values())),
        "redis_bytes": float(info["used_memory"]),
        "redis_keys": float(admin.dbsize()),
        **{f"rss_bytes/{name}": rss([h]) for name, h in handles.items()},
        **{f"rss_bytes/{name}": rss(processes) for name, processes in parts.items()},
    }


def second_half_trend(second_half: list[tuple[float, dict[str, float]]], name: str) -> dict[str, float]:
    """Level, slope per hour, growth over the half, and growth per job of the half."""
    t = np.array([t for t, _ in second_half])
    y = np.array([s[name] for _, s in second_half])
    slope = float(np.polyfit(t, y, 1)[0])
    growth = slope * (t[-1] - t[0])
    jobs = second_half[-1][1]["jobs"] - second_half[0][1]["jobs"]
    return {
        "level": float(y.mean()),
        "slope_per_hour": slope * 3600,
        "growth_in_half": growth,
        "kib_per_job": growth / 1024 / jobs if jobs else float("nan"),
    }


async def test_memory_files_and_redis_stay_flat_under_steady_traffic(fleet: Fleet) -> None:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    admin = redis.Redis(port=fleet.redis.port)
    servers = {p.process.name: p.process for p in (*fleet.apis, *fleet.workers)}
    parts = {
        "nginx": nginx_processes(fleet.proxy_dir),
        "redis": [psutil.Process(fleet.redis.process.pid)],
        "minio": [psutil.Process(fleet.minio.process.pid)],
    }
    finished = [0]
    began = time.monotonic()
    until = began + SOAK_S
    samples: list[tuple[float, dict[str, float]]] = []

    async def sampler() -> None:
        while time.monotonic() < until:
            samples.append((time.monotonic() - began, sample(servers, parts, admin, finished[0])))
            await asyncio.sleep(SOAK_S / SAMPLES)

    try:
        async with (
            serving(free_port(), hook=hook) as receiver,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
        ):
            results = await asyncio.gather(
                sampler(),
                *(customer(http, fleet.url, n, f"{receiver}/hook", until, finished) for n in range(CLIENTS)),
            )
    finally:
        admin.close()

    jobs = sum(r for r in results if r is not None)
    warm_up_jobs = round(WARM_UP_MARGIN * max(len(fleet.apis), len(fleet.workers)) * RECENT_JOBS)
    second_half = [(t, s) for t, s in samples if t >= SOAK_S / 2 and s["jobs"] >= warm_up_jobs]
    if len(second_half) < SAMPLES // 4:
        pytest.fail(
            f"{jobs} jobs in {SOAK_S:g} s left {len(second_half)} samples in the second half past warm-up "
            f"({warm_up_jobs} jobs, while the caches fill): too short to tell a leak from warm-up; raise SOAK_S"
        )
    report: dict[str, dict[str, float]] = {}
    for name, (fraction, floor) in FLAT.items():
        report[name] = second_half_trend(second_half, name)
        report[name]["allowed"] = max(fraction * report[name]["level"], floor)
    for name in [key for key in samples[0][1] if key.startswith("rss_bytes/")]:
        report[name] = second_half_trend(second_half, name)
        if name.removeprefix("rss_bytes/") in parts:
            report[name]["allowed"] = max(PARTS_FLAT[0] * report[name]["level"], PARTS_FLAT[1])
    out = ROOT / "results" / "soak.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "soak_s": SOAK_S,
                "jobs": jobs,
                "clients": CLIENTS,
                "warm_up_jobs": warm_up_jobs,
                "judged_from_s": second_half[0][0],
                "slopes": report,
                "samples": samples,
            },
            indent=1,
        )
    )
    print(f"\nsoak: {SOAK_S:g} s, {jobs} jobs; second half past {warm_up_jobs} jobs, slopes per hour and per job:")
    for name, r in report.items():
        level, slope, growth, per_job = r["level"], r["slope_per_hour"], r["growth_in_half"], r["kib_per_job"]
        allowed = f" (allowed {r['allowed']:.4g})" if "allowed" in r else ""
        print(
            f"  {name}: level {level:.4g}, slope {slope:+.4g}/h, growth {growth:+.4g}{allowed}, {per_job:+.3f} KiB/job"
        )
    assert jobs > CLIENTS, "the soak ran almost no jobs"
    servers_per_job = report["rss_bytes"]["kib_per_job"]
    assert servers_per_job <= ALLOWED_KIB_PER_JOB, f"the servers' RSS grows {servers_per_job:.2f} KiB per job"
    for name, r in report.items():
        if "allowed" in r and name != "rss_bytes":  # the servers' sum is judged per job, above
            assert r["growth_in_half"] <= r["allowed"], f"{name} grows: {r}"
