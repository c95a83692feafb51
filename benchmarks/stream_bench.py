"""The stream benchmark: how many event streams one server process holds, what each costs,
and how soon a job's end reaches its client, next to nginx+nchan in the same run.

For each engine (the reference server embedded, the reference server on Redis and MinIO,
nginx+nchan):
1. `streams` streams are opened at `connect_per_s` by a client process of its own
   (`benchmarks.stream_probe`), one stream per job or channel;
2. with all of them held, the server's RSS and CPU are sampled for `hold_s`;
3. every job then ends on one seeded schedule at `ends_per_s` (`StreamPlan.end_offsets`): the
   reference server's jobs are each given the work (`X-Simulated-Work-Ms`) that ends them at
   their time, and nchan publishes each channel's one message at its time;
4. the delay of each stream is the time its terminal event arrived less the time the job
   completed (`completedAt`, read back afterwards) or the message was published (in its body).

`embedded-websocket` and `redis-websocket` are the first two with every client on the job's
WebSocket instead of its event stream, so what a held socket costs more is read off the same run.

`nchan-with-artifacts` is nchan again, each message published only once its job's artifact is
built and stored in MinIO, as the Redis engine's worker does before each job's end. On Redis the
machine does that work while the streams are being told; bare nchan measures delivery on a quiet
machine. Each reference-server row gives its p99 against both.

One more engine, `redis-inline-workers`, is the one-process deployment under a burst: one server
process on Redis running `INLINE_SLOTS` job slots itself, every stream's job `INLINE_JOB_S` of
work, queued behind those slots, so that hundreds of jobs end together while the streams wait.
Its memory is the jobs' as well as the streams', so only its cut streams and delays compare; a
job that ended before its stream opened is answered at once and counted apart, not as a delay.

With `--rounds N` every engine runs N times, the engines in turn within each round, and each
row is judged against its spread (`benchmarks.stream_rounds`): one run's p99 on a shared machine
says as much about the machine's moment as about the engine.

Past what one process may hold (`STREAMS_PER_PROCESS`, three quarters of the open-file limit),
the streams are spread: on Redis over several server processes on one port (`REUSE_PORT`), nginx
over as many workers, and the client over as many probe processes, each connecting from an
address of its own in 127.0.0.0/8 (`CLIENT_ADDRESSES`). Embedded mode keeps its jobs in one
process, so it is not measured beyond that.

    python -m benchmarks.stream_bench --streams 10000 --out results/stream-bench.json
    python -m benchmarks.stream_bench --streams 10000 --rounds 3 --engines embedded redis nchan
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from core.prometheus_text import counter_value
from reference_server.api.schemas import FILE_ID_MIN
from reference_server.config import Settings, from_env
from reference_server.contract import SIMULATED_WORK_HEADER, epoch_s
from reference_server.jobs.workload import existing_file_id
from reference_server.services import build_artifacts
from reference_server.worker.executor import store_artifact
from stack.minio_server import MinioServer
from stack.nchan_server import MAX_FILES, NchanServer, nchan_missing
from stack.processes import free_port, stop_services_on_sigterm
from stack.redis_server import FSYNC_POLICIES, Fsync, RedisServer
from stack.reference_process import ReferenceServer, ReferenceWorker, service_env

from .stream_rounds import measured, one_row, p99, rss, versus

# The reference engines: nchan bare, and publishing each message after its job's artifact work.
NCHAN, NCHAN_WITH_ARTIFACTS = "nchan", "nchan-with-artifacts"
ENGINES = (
    "embedded",
    "embedded-websocket",
    "redis",
    "redis-websocket",
    "redis-inline-workers",
    NCHAN,
    NCHAN_WITH_ARTIFACTS,
)
WEBSOCKET = "-websocket"  # an engine so named is the engine before it, its clients on WebSockets
# The in-process configuration that once cut streams on a shared pool (1,281 of 10,000).
INLINE_SLOTS = 200
INLINE_JOB_S = 3.0
REQUESTS_IN_FLIGHT = 64  # the set-up and read-back requests: quick, not a load test
BACKLOG = Settings().listen_backlog  # nchan gets the reference server's default backlog
# The probe holds every stream and makes every job here: no per-client limit applies.
UNLIMITED_CLIENT = {"MAX_STREAMS_PER_CLIENT": "0", "MAX_STREAMS": "0", "RATE_LIMIT_MAX_REQUESTS": "100000000"}
# A quarter of a process's files left for the rest, and for the kernel's uneven spread of
# connections over processes that share a port.
STREAMS_PER_PROCESS = MAX_FILES * 3 // 4
# The k-th probe's source address, from 2: none is the bench's own, 127.0.0.1.
CLIENT_ADDRESSES = "127.0.0.{}"
# Jobs made and started a second, at least, in Redis mode here: 100,000 took 5.5 minutes (303/s).
MADE_PER_S = 250.0


@dataclass(frozen=True)
class StreamPlan:
    streams: int
    connect_per_s: float = 1000.0
    hold_s: float = 3.0  # all streams held, nothing happening: memory and CPU are sampled
    job_s: float = 90.0  # the shortest job: long enough to make and start every job, then open every stream
    # How fast jobs end once they do: 10,000 clients waiting on jobs of 40 s on average end
    # 250 a second. Past what the server can finish (~1.3k/s embedded here), the delays
    # measured would be the completions' queue, not the notification's path.
    ends_per_s: float = 250.0
    grace_s: float = 60.0  # for the last streams to end once the last job has
    # Streams for `redis-inline-workers`, whose jobs queue behind its slots (`INLINE_JOB_S` per
    # `INLINE_SLOTS` jobs); None: `streams`.
    inline_streams: int | None = None
    per_process: int = STREAMS_PER_PROCESS  # past this many streams, spread them over processes
    # Worker processes the jobs are spread over on Redis, each with its own pool: at 100,000
    # jobs in flight, one completed 62 a second of the 250 asked.
    worker_processes: int = 1
    # Redis's own default: a sync before every answer is the store's durability, not the streams'
    # path (its cost here: docs/performance.md, "Redis's fsync"). `--redis-fsync always` measures it.
    redis_fsync: Fsync = "everysec"
    # Each engine this many times, the engines in turn within a round: a p99 and its ratio to
    # nchan judged against their spread (`benchmarks.stream_rounds`).
    rounds: int = 1

    @classmethod
    def needed_job_s(cls, streams: int, connect_per_s: float) -> float:
        """The earliest first job end that leaves time to make and start `streams` jobs, open
        every stream and hold them."""
        return math.ceil(streams / MADE_PER_S + streams / connect_per_s + cls.hold_s + 1)

    @classmethod
    def shortest_job_s(cls, streams: int, connect_per_s: float) -> float:
        """The command's first job end: the default's 90 s, or more past about 20,000 streams."""
        return max(cls.job_s, cls.needed_job_s(streams, connect_per_s))

    @property
    def spread_s(self) -> float:
        return self.streams / self.ends_per_s

    def end_offsets(self) -> list[float]:
        """When each job ends (or its channel's message is published), in seconds after the first:
        one seeded schedule at `ends_per_s` that every engine follows, however long the jobs took
        to make."""
        rng = random.Random(0)
        return sorted(rng.uniform(0, self.spread_s) for _ in range(self.streams))

    @property
    def processes(self) -> int:
        """Server processes (nchan workers, probe processes) that hold `streams` between them."""
        return math.ceil(self.streams / self.per_process)


@dataclass
class Held:
    outcomes: dict[str, int]
    connect_s: float
    rss_per_stream_kib: float
    rss_before_mib: float
    cpu_share_holding: float  # of one core, while every stream is held and nothing happens
    streams_per_process: list[int]  # connections each server process (or nginx worker) held
    client_addresses: int  # the distinct addresses they came from


def _rss(processes: Iterable[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in processes)


def _cpu(processes: Iterable[psutil.Process]) -> float:
    return sum(t.user + t.system for t in (p.cpu_times() for p in processes))


def _percentiles(delays_s: list[float]) -> dict[str, float | None]:
    if not delays_s:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    cuts = statistics.quantiles(delays_s, n=100, method="inclusive") if len(delays_s) > 1 else delays_s * 99
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(delays_s) * 1000, 1),
    }


async def _each(items: list[Any], call: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    """`call` on every item, `REQUESTS_IN_FLIGHT` at a time, results in order."""
    gate = asyncio.Semaphore(REQUESTS_IN_FLIGHT)

    async def one(item: Any) -> Any:
        async with gate:
            return await call(item)

    return await asyncio.gather(*(one(i) for i in items))


async def start_probe(argv: list[str], paths: bytes) -> asyncio.subprocess.Process:
    # Its stderr is the caller's, so a failing probe's traceback shows where the caller's output does.
    probe = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**30
    )
    assert probe.stdin is not None
    probe.stdin.write(paths)
    probe.stdin.close()
    return probe


class Probe:
    """The client processes holding the streams (`plan.processes` of them, each from an
    address of its own, the paths dealt out in turn); each reports on its stdout."""

    def __init__(
        self,
        port: int,
        paths: list[str],
        plan: StreamPlan,
        terminal: str = "",
        jobs_s: float | None = None,
        transport: str = "sse",
    ) -> None:
        count = plan.processes
        self.paths = ["\n".join(paths[k::count]).encode() for k in range(count)]
        timeout_s = (plan.job_s + plan.spread_s if jobs_s is None else jobs_s) + plan.grace_s
        self.argvs = [self._argv(port, k, count, plan, timeout_s, terminal, transport) for k in range(count)]
        self.sources = {CLIENT_ADDRESSES.format(k + 2) for k in range(count)}
        self.plan = plan
        self.processes: list[asyncio.subprocess.Process] = []

    @staticmethod
    def _argv(
        port: int, k: int, count: int, plan: StreamPlan, timeout_s: float, terminal: str, transport: str
    ) -> list[str]:
        return [
            sys.executable, "-m", "benchmarks.stream_probe",
            "--port", str(port),
            "--source", CLIENT_ADDRESSES.format(k + 2),
            "--rate", str(plan.connect_per_s / count),
            "--timeout", str(timeout_s),
            *(["--terminal", terminal] if terminal else []),
            "--transport", transport,
        ]  # fmt: skip

    async def _lines(self) -> list[dict[str, Any]]:
        async def line(process: asyncio.subprocess.Process) -> dict[str, Any]:
            assert process.stdout is not None
            text = await process.stdout.readline()
            if not text:
                raise RuntimeError("a stream probe stopped early (its error is printed above)")
            result: dict[str, Any] = json.loads(text)
            return result

        return list(await asyncio.gather(*(line(p) for p in self.processes)))

    @staticmethod
    def _merged(lines: list[dict[str, Any]]) -> dict[str, Any]:
        outcomes: Counter[str] = Counter()
        for line in lines:
            outcomes.update(line["outcomes"])
        merged = {"outcomes": dict(outcomes), "connect_s": max(line["connect_s"] for line in lines)}
        if "streams" in lines[0]:
            merged["streams"] = [stream for line in lines for stream in line["streams"]]
        return merged

    async def hold(self, server: list[psutil.Process]) -> Held:
        """Open every stream, then sample the server holding them."""
        rss_before = _rss(server)
        self.processes = [await start_probe(argv, paths) for argv, paths in zip(self.argvs, self.paths, strict=True)]
        held = self._merged(await self._lines())
        cpu = _cpu(server)
        await asyncio.sleep(self.plan.hold_s)  # the measurement is of streams held while nothing happens
        cpu_share = (_cpu(server) - cpu) / self.plan.hold_s
        rss_after = _rss(server)
        count = held["outcomes"].get("held", 0)
        # Each process's connections from the probes (nginx's master holds none, so it is left out).
        peers = [
            [c.raddr.ip for c in process.net_connections("tcp") if c.raddr and c.raddr.ip in self.sources]
            for process in server
        ]
        return Held(
            streams_per_process=sorted((len(mine) for mine in peers if mine), reverse=True),
            client_addresses=len({ip for mine in peers for ip in mine}),
            outcomes=held["outcomes"],
            connect_s=held["connect_s"],
            rss_per_stream_kib=round((rss_after - rss_before) / max(count, 1) / 1024, 2),
            rss_before_mib=round(rss_before / 2**20, 1),
            cpu_share_holding=round(cpu_share, 4),
        )

    async def result(self) -> dict[str, Any]:
        return self._merged(await self._lines())

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


def _summary(held: Held, probe: dict[str, Any], delays_s: list[float], events_per_s: float) -> dict[str, Any]:
    outcomes = probe["outcomes"]
    return {
        "streams_held": held.outcomes.get("held", 0),
        "streams_per_process": held.streams_per_process,
        "client_addresses": held.client_addresses,
        "connect": {"seconds": held.connect_s, "outcomes": held.outcomes},
        "resets": held.outcomes.get("reset", 0),
        "ended_without_terminal_event": outcomes.get("ended", 0),
        "unfinished": outcomes.get("pending", 0) + outcomes.get("timeout", 0),
        "rss_before_mib": held.rss_before_mib,
        "rss_per_stream_kib": held.rss_per_stream_kib,
        "cpu_share_holding": held.cpu_share_holding,
        "terminal_events_per_s": round(events_per_s),
        "delay": _percentiles(delays_s),
    }


async def _started(http: aiohttp.ClientSession, url: str) -> float:
    async with http.get(f"{url}/metrics") as resp:
        return counter_value(await resp.text(), "dl_executions_started_total")


async def reference(plan: StreamPlan, workdir: Path, engine: str) -> dict[str, Any]:
    """The reference server holding every stream in one process: in embedded mode, running
    the jobs too; on Redis and MinIO, with the jobs in worker processes of their own, as
    it would be deployed, so the API process's figures are the streams' alone (and with more
    streams than a process holds, `plan.processes` API processes on one port); or, for
    `redis-inline-workers`, on Redis running `INLINE_SLOTS` job slots itself. An engine named
    with `WEBSOCKET` follows each job on its WebSocket."""
    inline = engine == "redis-inline-workers"
    websocket = engine.endswith(WEBSOCKET)
    env = {
        **UNLIMITED_CLIENT,
        "TIME_SCALE": "1",
        # Each job's work is set when it is made, so that it ends on the schedule.
        "SIMULATED_WORK_HEADER": "true",
        "PROGRESS_STEPS": "1",
        "LEASE_S": str(10 * (plan.job_s + plan.spread_s)),  # no renewals: they are the workers' cost, not the streams'
        "WORKERS": str(plan.streams),
        "MAX_QUEUED_JOBS": str(plan.streams),
    }
    jobs_s = plan.job_s + plan.spread_s
    if inline:
        jobs_s = plan.streams / INLINE_SLOTS * INLINE_JOB_S
        work_ms = str(int(INLINE_JOB_S * 1000))
        env.update(DOWNLOAD_DELAY_MIN_MS=work_ms, DOWNLOAD_DELAY_MAX_MS=work_ms, WORKERS=str(INLINE_SLOTS))
        env["LEASE_S"] = str(10 * jobs_s)
    # Every service stopped in reverse, also when one after it fails to start.
    with contextlib.ExitStack() as running:
        if not engine.startswith("embedded"):
            redis_server = running.enter_context(RedisServer(workdir / "redis", fsync=plan.redis_fsync))
            minio = running.enter_context(MinioServer(workdir / "minio"))
            env.update(service_env(redis_server.url, minio))
            if not inline:
                slots = {"WORKERS": str(math.ceil(plan.streams / plan.worker_processes))}
                for i in range(plan.worker_processes):
                    running.enter_context(ReferenceWorker(workdir / f"worker{i}", {**env, **slots}, name=f"worker{i}"))
                env["WORKERS"] = "0"
        port = free_port()
        if plan.processes > 1:
            env["REUSE_PORT"] = "true"
        servers = [
            running.enter_context(ReferenceServer(workdir / f"server{i}", env, port=port))
            for i in range(plan.processes)
        ]
        server = servers[0]  # any of them answers for every job: the set-up and read-back go to the port
        probe = None
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

                async def initiate(i: int) -> str:
                    # A file of its own (the same client asking for the same files gets the running
                    # job) that exists: the job ends completed, its artifact stored, as real ones do.
                    files = {"file_ids": [existing_file_id(i, FILE_ID_MIN)]}
                    # Its work runs from its start, a moment after this: it ends that much late.
                    work_s = first_end + offsets[i] - time.monotonic()
                    headers = {} if inline else {SIMULATED_WORK_HEADER: str(max(0, round(work_s * 1000)))}
                    async with http.post(f"{server.url}/v1/download/initiate", json=files, headers=headers) as resp:
                        body = await resp.json()
                        assert resp.status in (200, 201, 202), body
                        return str(body["jobId"])

                made = time.monotonic()
                first_end, offsets = made + plan.job_s, plan.end_offsets()
                job_ids: list[str] = await _each(list(range(plan.streams)), initiate)
                making_s = time.monotonic() - made
                # Every job running before any stream opens: a job's start is an event on its stream,
                # and the streams are to be measured idle. All of it, then the opening and the
                # sample, must fit before the first job ends. (Inline, the jobs queue behind the slots.)
                while not inline:
                    if time.monotonic() - made + plan.streams / plan.connect_per_s + plan.hold_s + 1 > plan.job_s:
                        raise RuntimeError(
                            f"{plan.streams} jobs were not all made and started in time for jobs of {plan.job_s:g} s"
                        )
                    if await _started(http, server.url) >= plan.streams:
                        await asyncio.sleep(1)  # the writes behind the last starts settle before the baseline
                        break
                    await asyncio.sleep(0.5)
                paths = [f"/v1/download/jobs/{j}/{'ws' if websocket else 'events'}" for j in job_ids]
                transport = "websocket" if websocket else "sse"
                probe = Probe(server.port, paths, plan, jobs_s=jobs_s, transport=transport)
                held = await probe.hold([psutil.Process(s.process.pid) for s in servers])
                streamed = await probe.result()

                async def completed_at(job_id: str) -> float | None:
                    async with http.get(f"{server.url}/v1/download/jobs/{job_id}") as resp:
                        at = (await resp.json()).get("completedAt")
                        return epoch_s(at) if at else None

                ends = dict(zip(job_ids, await _each(job_ids, completed_at), strict=True))
        finally:
            if probe is not None:
                await probe.stop()
    # A job that ended before its stream opened was answered at once: no notification to time.
    timed = [(received, ended, opened) for path, received, _, opened in streamed["streams"]
             if received is not None and (ended := ends[path.split("/")[-2]]) is not None]  # fmt: skip
    delays = [received - ended for received, ended, opened in timed if opened <= ended]
    finished = sorted(t for t in ends.values() if t is not None)
    span = finished[-1] - finished[0] if len(finished) > 1 else 0.0
    result = _summary(held, streamed, delays, len(finished) / span if span else 0.0)
    result["jobs_made_per_s"] = round(plan.streams / making_s)
    result["ended_before_their_stream_opened"] = len(timed) - len(delays)
    if inline:
        result["inline_workers"] = {"slots": INLINE_SLOTS, "job_s": INLINE_JOB_S}
    elif not engine.startswith("embedded"):
        result["worker_processes"] = plan.worker_processes
    return result


async def nchan(plan: StreamPlan, workdir: Path, store_artifacts: bool = False) -> dict[str, Any]:
    """nginx+nchan, one message per channel, published on the schedule the reference server's
    jobs end on (`StreamPlan.end_offsets`): the same arrivals, at `ends_per_s`.

    With `store_artifacts` (`nchan-with-artifacts`), each message waits for its job's artifact,
    built and stored in MinIO by the reference worker's own `store_artifact`: the work on this
    machine that precedes each job's end on Redis, so their delays compare under one load."""
    probe = None
    async with contextlib.AsyncExitStack() as running:
        server = NchanServer(workdir / "nchan", BACKLOG, workers=plan.processes).start()
        running.callback(server.stop)
        artifacts, settings = None, Settings()
        if store_artifacts:
            settings = from_env(service_env(None, running.enter_context(MinioServer(workdir / "minio"))))
            artifacts = build_artifacts(settings)
            running.push_async_callback(artifacts.close)
        try:
            master = psutil.Process(server.process.pid)
            processes = [master, *master.children()]
            channels = [f"c{i}" for i in range(plan.streams)]
            probe = Probe(server.port, [f"/sub/{c}" for c in channels], plan, terminal="message")
            held = await probe.hold(processes)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                offsets = plan.end_offsets()
                stored = 0
                began = time.monotonic()

                async def publish(timed: tuple[float, int]) -> None:
                    nonlocal stored
                    offset, i = timed
                    await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
                    if artifacts is not None:
                        await store_artifact(artifacts, settings, channels[i], [existing_file_id(i, FILE_ID_MIN)])
                        stored += 1
                    body = json.dumps({"publishedAt": time.time()})
                    async with http.post(f"{server.url}/pub/{channels[i]}", data=body) as resp:
                        assert resp.status in (200, 201, 202), await resp.text()

                await _each(list(zip(offsets, range(plan.streams), strict=True)), publish)
                published_s = time.monotonic() - began
            streamed = await probe.result()
        finally:
            if probe is not None:
                await probe.stop()
    delays = [received - json.loads(data)["publishedAt"] for _, received, data, _ in streamed["streams"] if received]
    result = _summary(held, streamed, delays, plan.streams / published_s)
    if store_artifacts:
        result["artifacts_stored"] = stored
    return result


async def measure(plan: StreamPlan, workdir: Path, engines: tuple[str, ...] = ENGINES) -> dict[str, Any]:
    """Every engine in turn (they share the machine, so never at once), `plan.rounds` times over,
    with ratios to nchan taken within each round (`benchmarks.stream_rounds`)."""
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in engines}
    for number in range(plan.rounds):
        for engine in engines:
            of = f", round {number + 1} of {plan.rounds}" if plan.rounds > 1 else ""
            print(f"==> streams: {engine}, {plan.streams} streams at {plan.connect_per_s:g}/s{of}", flush=True)
            runs[engine].append(await _engine(plan, workdir / f"{engine}-{number}", engine))
            print(f"    {json.dumps(runs[engine][-1])}", flush=True)
    engines_out = {engine: one_row(runs[engine]) for engine in engines}
    bare, loaded = runs.get(NCHAN, []), runs.get(NCHAN_WITH_ARTIFACTS, [])
    for engine in engines:
        mine = engines_out[engine]
        if engine in (NCHAN, NCHAN_WITH_ARTIFACTS) or not measured(runs[engine]):
            continue
        if measured(bare):
            mine["vs_nchan"] = versus(runs[engine], bare, "p99_delay", p99)
            if "inline_workers" not in mine:  # its memory is its jobs' too
                mine["vs_nchan"].update(versus(runs[engine], bare, "rss_per_stream", rss))
        if measured(loaded):
            mine["vs_nchan_with_artifacts"] = versus(runs[engine], loaded, "p99_delay", p99)
    for engine in engines:
        streams_engine = engine.removesuffix(WEBSOCKET)
        socket, stream = engines_out[engine], engines_out.get(streams_engine, {})
        if engine != streams_engine and "rss_per_stream_kib" in socket and "rss_per_stream_kib" in stream:
            socket["vs_event_stream"] = versus(
                runs[engine], runs[streams_engine], "extra_kib_per_stream", rss, lambda a, b: round(a - b, 2)
            )
    return {"plan": {**asdict(plan), "processes": plan.processes}, "engines": engines_out}


async def _engine(plan: StreamPlan, workdir: Path, engine: str) -> dict[str, Any]:
    """One engine's run, or why it was not measured."""
    own = replace(plan, streams=plan.inline_streams or plan.streams) if engine == "redis-inline-workers" else plan
    if engine in (NCHAN, NCHAN_WITH_ARTIFACTS):
        why = nchan_missing()
        if why:
            return {"not_measured": why}
        result = await nchan(own, workdir, store_artifacts=engine == NCHAN_WITH_ARTIFACTS)
    elif own.processes > 1 and (engine.startswith("embedded") or engine == "redis-inline-workers"):
        return {"not_measured": _one_process_only(own, engine)}
    else:
        result = await reference(own, workdir, engine)
    result["processes"] = own.processes
    return result


def _one_process_only(plan: StreamPlan, engine: str) -> str:
    what = (
        "embedded mode keeps a job in the process that made it"
        if engine.startswith("embedded")
        else "its configuration is one process running its own job slots"
    )
    return (
        f"{plan.streams:,} streams take {plan.processes} processes of at most {plan.per_process:,} "
        f"(three quarters of the {MAX_FILES:,} files one process may open here), and {what}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_bench", description=__doc__)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--connect-per-s", type=float, default=1000.0)
    parser.add_argument(
        "--job-s", type=float, help="the shortest job, in seconds (default: 90, or what making the jobs needs)"
    )
    parser.add_argument("--ends-per-s", type=float, default=StreamPlan.ends_per_s, help="jobs ending per second")
    parser.add_argument(
        "--worker-processes", type=int, default=StreamPlan.worker_processes, help="on Redis, the jobs' worker processes"
    )
    parser.add_argument(
        "--redis-fsync", choices=FSYNC_POLICIES, default=StreamPlan.redis_fsync, help="how often Redis syncs to disk"
    )
    parser.add_argument(
        "--rounds", type=int, default=StreamPlan.rounds, help="each engine this many times, the engines in turn"
    )
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--out", type=Path, default=Path("results/stream-bench.json"))
    args = parser.parse_args(argv)
    stop_services_on_sigterm()
    job_s = args.job_s or StreamPlan.shortest_job_s(args.streams, args.connect_per_s)
    if args.worker_processes < 1:
        parser.error("--worker-processes must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    plan = StreamPlan(
        args.streams,
        args.connect_per_s,
        job_s=job_s,
        ends_per_s=args.ends_per_s,
        worker_processes=args.worker_processes,
        redis_fsync=args.redis_fsync,
        rounds=args.rounds,
    )
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp:
        results = asyncio.run(measure(plan, Path(tmp), tuple(args.engines)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"==> streams: written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
