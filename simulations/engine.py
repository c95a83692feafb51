"""The shared discrete-event machinery: the worker pool and its queue, over the scenario's
arrivals and work (`core.workload`), filling one `core.job_metrics.JobRecord` a job.

SimPy runs what contends: arrivals and the worker pool (a FIFO `Resource` of
`count * concurrency` slots, with a bounded queue). What a client sees after its job's
execution is fixed (poll times, stream cuts, webhook attempts) does not contend for
anything, so the patterns compute it in closed form or with a plain loop instead of one
SimPy event per poll; that keeps a sweep cheap without changing any result.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from core.job_metrics import JobRecord
from core.scenario import Scenario
from core.workload import draw_schedule

from .network import initiate


class Server:
    """The worker pool behind the queue: executions wait FIFO for a slot, then work."""

    def __init__(self, env: simpy.Environment, scenario: Scenario) -> None:
        self.env = env
        self.slots = simpy.Resource(env, capacity=scenario.workers.slots)
        self.queue_capacity = scenario.workers.queue_capacity

    def full(self) -> bool:
        return len(self.slots.queue) >= self.queue_capacity

    def execute(self, record: JobRecord) -> Generator[Any, Any, float]:
        """One execution of the job's work; returns when it finished. Counted on the record."""
        record.executions += 1
        queued = self.env.now
        with self.slots.request() as slot:
            yield slot
            record.queue_wait_s += self.env.now - queued
            yield self.env.timeout(record.work_s)
        return self.env.now

    def execute_in_handler(self, record: JobRecord, done: simpy.Event) -> Generator[Any, Any, None]:
        """The work run by the request handler itself, as `POST /start` does: no worker
        slot and no queue, so nothing bounds how many run at once."""
        record.executions += 1
        yield self.env.timeout(record.work_s)
        done.succeed(self.env.now)


@dataclass
class Context:
    scenario: Scenario
    rng: np.random.Generator
    env: simpy.Environment | None = None
    server: Server | None = None


ClientProcess = Callable[[Context, JobRecord], Generator[Any, Any, None]]
Observe = Callable[[Context, JobRecord], None]


@dataclass(frozen=True)
class Pattern:
    """A delivery pattern: either a SimPy client process (when the client feeds work back
    into the queue, as sync retries do), or what an asynchronous client observes once its
    job's single execution has finished."""

    name: str
    client: ClientProcess | None = None
    observe: Observe | None = None


def simulate(
    scenario: Scenario,
    pattern: Pattern,
    jobs: int,
    seed: int,
    engine: str = "auto",
    first: int | None = None,
    observe_seed: int | None = None,
) -> list[JobRecord]:
    """Run `jobs` arrivals through the pattern; return every job's record.

    engine: `simpy` runs every job as SimPy processes on a `Resource`; `fifo` computes the
    same FIFO c-server queue exactly with a heap of slot-free times, which is valid when
    each job is one execution requested at its arrival (every asynchronous pattern);
    `auto` takes `fifo` where valid. A test checks both give the same records.
    first: draw the schedule of `jobs` but run only its first `first` jobs (the ones a
    load test of the same seed got to before its end).
    observe_seed: keep the schedule of `seed` but draw what happens to each job (jitter,
    drops, webhook failures) from another stream: repeated runs show the model's own spread.
    """
    rng = np.random.default_rng(seed)
    arrivals, works = draw_schedule(scenario, jobs, rng)
    if observe_seed is not None:
        rng = np.random.default_rng([seed, observe_seed])
    if first is not None:
        arrivals, works = arrivals[:first], works[:first]
    if engine == "auto":
        engine = "fifo" if pattern.observe is not None else "simpy"
    if engine == "fifo":
        if pattern.observe is None:
            raise ValueError(f"pattern {pattern.name} feeds work back into the queue; it needs the simpy engine")
        return _fifo(Context(scenario, rng), pattern.observe, arrivals, works)
    if engine != "simpy":
        raise ValueError(f"unknown engine {engine!r}")
    return _simpy(scenario, pattern, rng, arrivals, works)


def _simpy(
    scenario: Scenario, pattern: Pattern, rng: np.random.Generator, arrivals: list[float], works: list[float]
) -> list[JobRecord]:
    env = simpy.Environment()
    server = Server(env, scenario)
    ctx = Context(scenario, rng, env, server)
    if pattern.client is not None:
        client = pattern.client
    else:
        assert pattern.observe is not None, f"pattern {pattern.name} has neither a client nor an observer"
        client = _async_client(pattern.observe)
    records: list[JobRecord] = []

    def arrive() -> Generator[Any, Any, None]:
        now = 0.0
        for at, work in zip(arrivals, works, strict=True):
            if at > now:
                yield env.timeout(at - now)
                now = at
            record = JobRecord(arrived=at, work_s=work)
            records.append(record)
            env.process(client(ctx, record))

    env.process(arrive())
    env.run()
    return records


def _async_client(observe: Observe) -> ClientProcess:
    def client(ctx: Context, record: JobRecord) -> Generator[Any, Any, None]:
        assert ctx.server is not None and ctx.env is not None
        initiated(ctx, record)
        if ctx.server.full():
            record.rejected = True
            return
        yield from ctx.server.execute(record)
        record.completed_at = ctx.env.now
        observe(ctx, record)

    return client


def _fifo(ctx: Context, observe: Observe, arrivals: list[float], works: list[float]) -> list[JobRecord]:
    workers = ctx.scenario.workers
    free = [0.0] * workers.slots  # when each slot is next free (a heap)
    waiting: deque[float] = deque()  # start times of accepted jobs not yet started
    records = []
    for at, work in zip(arrivals, works, strict=True):
        record = JobRecord(arrived=at, work_s=work)
        records.append(record)
        initiated(ctx, record)
        while waiting and waiting[0] <= at:
            waiting.popleft()
        if len(waiting) >= workers.queue_capacity:
            record.rejected = True
            continue
        start = max(at, free[0])
        heapq.heapreplace(free, start + work)
        if start > at:
            waiting.append(start)
        record.executions = 1
        record.queue_wait_s = start - at
        record.completed_at = start + work
        observe(ctx, record)
    return records


def initiated(ctx: Context, record: JobRecord) -> None:
    """The initiate request every asynchronous client sends first (again, after a network failure)."""
    sends, record.initiated_s = initiate(ctx.scenario, ctx.rng)
    record.transfers += (record.arrived, record.arrived + record.initiated_s)
    record.requests += sends
    record.reconnects += sends - 1
    record.bytes += sends * ctx.scenario.prices.request_bytes


def abandon_at(ctx: Context, record: JobRecord) -> float:
    """When the client gives up on the job unless it knows by then (never: inf)."""
    c = ctx.scenario.clients
    return record.arrived + c.abandon_after_s if c.abandon_after_s else math.inf


def finish_async(ctx: Context, record: JobRecord, known_at: float | None, channel_requests: int) -> None:
    """Common end of the asynchronous patterns: abandonment, wasted work, request counts."""
    c = ctx.scenario.clients
    record.requests += channel_requests
    if known_at is not None and c.abandon_after_s and known_at - record.arrived > c.abandon_after_s:
        record.abandoned = True
        known_at = None
    record.known_at = known_at
    if known_at is None:
        record.wasted_s += record.work_s  # prepared, and nobody came for it
