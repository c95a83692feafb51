"""What a load test cost the server side, measured: CPU-seconds and peak RSS of the API and
worker processes (psutil), and Redis's commands and peak memory (INFO), over the run.

`ServerSampler` samples memory twice a second in a thread while the load runs; CPU time and
Redis's command count are read at both ends. `per_job` turns that into the figures the
report prices: per job, and per concurrent client.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import redis
from redis.sentinel import Sentinel

from core.scenario import Prices
from reference_server.store import redis_address

SAMPLE_EVERY_S = 0.5


@dataclass
class Reading:
    cpu_s: dict[str, float]  # role -> CPU-seconds over the run
    rss_base_mib: dict[str, float]  # role -> RSS when the run began
    rss_peak_mib: dict[str, float]  # role -> highest RSS sampled
    redis_commands: int | None
    redis_base_mib: float | None
    redis_peak_mib: float | None
    seconds: float


@dataclass
class ServerSampler:
    """`roles`: process ids by role ("api", "workers"); `redis_url`: the stack's Redis, if any."""

    roles: dict[str, list[int]]
    redis_url: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _procs: dict[str, list[psutil.Process]] = field(default_factory=dict)
    _peak: dict[str, int] = field(default_factory=dict)
    _redis_peak: int = 0

    def _rss(self, role: str) -> int:
        return sum(p.memory_info().rss for p in self._procs[role] if p.is_running())

    def _cpu(self, role: str) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self._procs[role] if p.is_running())

    def _redis_info(self) -> dict[str, Any]:
        assert self.redis_url is not None
        address = redis_address.parse(self.redis_url)
        if isinstance(address, redis_address.SentinelAddress):  # the master the Sentinels name now
            client = Sentinel(list(address.sentinels), socket_timeout=1).master_for(address.master, db=address.db)
        else:
            client = redis.Redis.from_url(address)
        try:
            return dict(client.info())
        finally:
            client.close()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            for role in self._procs:
                self._peak[role] = max(self._peak[role], self._rss(role))
            if self.redis_url:
                self._redis_peak = max(self._redis_peak, int(self._redis_info()["used_memory"]))

    def __enter__(self) -> ServerSampler:
        self._procs = {role: [psutil.Process(pid) for pid in pids] for role, pids in self.roles.items()}
        self._cpu0 = {role: self._cpu(role) for role in self._procs}
        self._base = {role: self._rss(role) for role in self._procs}
        self._peak = dict(self._base)
        info = self._redis_info() if self.redis_url else {}
        self._commands0 = info.get("total_commands_processed")
        self._redis_base = int(info.get("used_memory", 0))
        self._redis_peak = self._redis_base
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._sample, name="server-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.reading = self._read()

    def _read(self) -> Reading:
        info = self._redis_info() if self.redis_url else {}
        mib = 2**20
        return Reading(
            cpu_s={role: round(self._cpu(role) - self._cpu0[role], 3) for role in self._procs},
            rss_base_mib={role: round(v / mib, 1) for role, v in self._base.items()},
            rss_peak_mib={role: round(v / mib, 1) for role, v in self._peak.items()},
            redis_commands=info["total_commands_processed"] - self._commands0 if info else None,
            redis_base_mib=round(self._redis_base / mib, 2) if info else None,
            redis_peak_mib=round(self._redis_peak / mib, 2) if info else None,
            seconds=round(time.monotonic() - self._began, 1),
        )


def peak_in_flight(rows: list[dict[str, Any]]) -> int:
    """The most jobs whose clients were waiting at once (from each job's start to when its
    client knew the outcome, or gave up)."""
    edges = sorted([(r["started"], 1) for r in rows] + [(r["known"] or r["started"], -1) for r in rows])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def per_job(reading: Reading, rows: list[dict[str, Any]], prices: Prices, time_scale: float) -> dict[str, Any]:
    """Per-job and per-client figures, and what they cost at `prices`.

    The API process's CPU and memory, the requests and the connection time are what
    separate the patterns: they make `cost_per_million_jobs_usd`. The workers' CPU is the
    work itself, which every pattern pays alike, and is priced apart. Memory is priced as
    the API's RSS growth per waiting client, held for each job's wait (scenario seconds,
    like every other per-job time here)."""
    jobs = len(rows)
    peak = peak_in_flight(rows)
    mib = 2**20
    per_client_kib = max(0.0, reading.rss_peak_mib["api"] - reading.rss_base_mib["api"]) * mib / max(peak, 1) / 1024
    wait_s = sum((r["known"] or r["started"]) - r["started"] for r in rows) / jobs / time_scale
    requests = sum(r["requests"] for r in rows) / jobs
    connection_s = sum(r["connection_s"] for r in rows) / jobs / time_scale
    api_cpu = reading.cpu_s["api"] / jobs
    worker_cpu = reading.cpu_s.get("workers", 0.0) / jobs
    vcpu_s = prices.per_worker_hour / 3600
    parts = {
        "api_cpu": api_cpu * vcpu_s,
        "api_memory": per_client_kib / 2**20 * wait_s * prices.per_gib_hour / 3600,
        "requests": requests * prices.per_million_requests / 1e6,
        "connection_time": connection_s / 60 * prices.per_million_connection_minutes / 1e6,
    }
    out: dict[str, Any] = {
        "jobs": jobs,
        "peak_clients": peak,
        "seconds": reading.seconds,
        "api_cpu_s_per_job": round(api_cpu, 5),
        "worker_cpu_s_per_job": round(worker_cpu, 5),
        "api_rss_base_mib": reading.rss_base_mib["api"],
        "api_rss_peak_mib": reading.rss_peak_mib["api"],
        "api_rss_kib_per_client": round(per_client_kib, 2),
        "cost_per_million_jobs_usd": round(1e6 * sum(parts.values()), 2),
        "cost_parts_per_million_jobs_usd": {k: round(1e6 * v, 2) for k, v in parts.items()},
        "worker_cost_per_million_jobs_usd": round(1e6 * worker_cpu * vcpu_s, 2),
    }
    if reading.redis_commands is not None and reading.redis_peak_mib is not None:
        out["redis_commands_per_job"] = round(reading.redis_commands / jobs, 1)
        growth = max(0.0, reading.redis_peak_mib - (reading.redis_base_mib or 0.0)) * mib
        out["redis_kib_per_job_in_flight"] = round(growth / max(peak, 1) / 1024, 2)
    return out
