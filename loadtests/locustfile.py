"""The Locust side of a load test: one user class per pattern, each user following one job
at a time from the scenario's shared schedule. `python -m loadtests run` starts Locust
with this file; run by hand, it needs the `--bench-*` options below.

Each load-generator process (standalone, or each worker) takes its share of the
schedule, runs a webhook receiver when its pattern needs one, and samples its own CPU.
When its last job is done it hands its per-job rows to the master (or writes them when
standalone), and the run ends when every process is done.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path
from typing import Any, cast

import gevent
import numpy as np
import psutil
from locust import FastHttpUser, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, Runner, WorkerRunner

from checks.target import Target, load_target
from core import scenario as scenarios
from loadtests.clients import PATTERNS
from loadtests.clients.base import JobLog, JobRun, Sessions
from loadtests.protocol import SECRET_ENV, USER_CLASSES
from loadtests.receiver import Receiver
from loadtests.schedule import Claims, arrivals
from reference_server.contract import HYBRID, LONGPOLL, POLLING, SSE, SYNC, WEBHOOK, WEBSOCKET

DONE = "bench_done"
SATURATED_CPU_PERCENT = 90.0  # a Locust process is one core at most


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--bench-scenario", help="scenario TOML file", default="")
    parser.add_argument("--bench-target", help="target TOML file (default: the reference server)", default="")
    parser.add_argument("--bench-time-scale", type=float, default=0.02)
    parser.add_argument("--bench-window-s", type=float, default=60.0, help="scenario seconds of arrivals")
    parser.add_argument("--bench-drawn", type=int, default=0, help="schedule length drawn (as the simulation draws)")
    parser.add_argument("--bench-share", default="0/1", help="k/N: this process takes arrivals k, k+N, ...")
    parser.add_argument("--bench-processes", type=int, default=1, help="load-generator processes in all")
    parser.add_argument("--bench-out", default="", help="folder for jobs.csv and loadgen.json")


def options(environment: Environment) -> argparse.Namespace:
    """The command line, which Locust has parsed by the time any listener here runs."""
    assert environment.parsed_options is not None
    return environment.parsed_options


def runner(environment: Environment) -> Runner:
    """The runner, which Locust has made by the time any listener here runs."""
    assert environment.runner is not None
    return environment.runner


class Generator:
    """What one load-generator process holds for the run."""

    def __init__(self, environment: Environment, pattern: str) -> None:
        opts = options(environment)
        self.environment = environment
        self.pattern = pattern
        self.scenario = scenarios.load(opts.bench_scenario)
        self.target = load_target(opts.bench_target) if opts.bench_target else Target()
        self.time_scale = opts.bench_time_scale
        share, of = (int(x) for x in opts.bench_share.split("/"))
        self.share = share
        schedule = arrivals(self.scenario, opts.bench_drawn, opts.bench_window_s)
        self.claims = Claims(schedule, share, of, self.time_scale)
        self.rng = np.random.default_rng([self.scenario.seed, share, 1])
        self.rows: list[dict[str, Any]] = []
        self.cpu: list[float] = []
        self.receiver: Receiver | None = None
        if pattern == "webhook" or (pattern == "hybrid" and self.scenario.clients.hybrid.webhook):
            self.receiver = Receiver(os.environ[SECRET_ENV], self.scenario.clients.webhook, self._elapsed_s, self.rng)
        self._sampler = gevent.spawn(self._sample_cpu)
        self.done = False

    def _elapsed_s(self) -> float:
        started = self.claims.started
        return 0.0 if started is None else (time.monotonic() - started) / self.time_scale

    def _sample_cpu(self) -> None:
        me = psutil.Process()
        me.cpu_percent(None)
        while True:
            gevent.sleep(1.0)
            self.cpu.append(me.cpu_percent(None))

    def job(self, sessions: Any, arrival: Any, late_s: float) -> JobRun:
        return JobRun(
            sessions,
            self.scenario,
            self.target,
            self.pattern,
            arrival,
            self.time_scale,
            self.receiver,
            self.rng,
            late_s,
        )

    def finished(self, job: JobRun) -> None:
        log = job.log
        if self.receiver is not None and log.job_id is not None:
            log.webhook_duplicates = self.receiver.duplicates_of(log.job_id)
        self.environment.events.request.fire(
            request_type="JOB",
            name=f"{self.pattern}: initiate to outcome known",
            response_time=((log.known or time.time()) - log.started) * 1000,
            response_length=log.bytes,
            exception=None if log.outcome == "completed" else RuntimeError(log.outcome),
            context={},
        )
        self.rows.append(log.row())
        if self.claims.finish():
            self.finish()

    def report(self) -> dict[str, Any]:
        cpu = self.cpu or [0.0]
        receiver = self.receiver
        return {
            "share": self.share,
            "pid": os.getpid(),
            "jobs": len(self.rows),
            "cpu_percent_mean": round(float(np.mean(cpu)), 1),
            "cpu_percent_max": round(float(np.max(cpu)), 1),
            "cpu_samples": len(self.cpu),
            "saturated": float(np.mean(cpu)) >= SATURATED_CPU_PERCENT,
            "webhook_refused_on_purpose": receiver.refused if receiver else 0,
            "webhook_invalid_signatures": receiver.invalid if receiver else 0,
        }

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        mine = runner(self.environment)
        if isinstance(mine, WorkerRunner):
            mine.send_message(DONE, {"rows": self.rows, "process": self.report()})
        else:
            write(options(self.environment).bench_out, self.rows, [self.report()])
            gevent.spawn(mine.quit)


def write(folder: str, rows: list[dict[str, Any]], processes: list[dict[str, Any]]) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    fields = list(JobLog.__dataclass_fields__)
    with open(out / "jobs.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["index"]))
    (out / "loadgen.json").write_text(json.dumps({"processes": processes}, indent=2))


class Master:
    """Collects every worker's rows; ends the run when all of them are done."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.rows: list[dict[str, Any]] = []
        self.processes: list[dict[str, Any]] = []
        self.written = False
        runner(environment).register_message(DONE, self.on_done)

    def on_done(self, environment: Environment, msg: Any) -> None:
        self.rows += msg.data["rows"]
        self.processes.append(msg.data["process"])
        if len(self.processes) == options(environment).bench_processes:
            write(options(environment).bench_out, self.rows, self.processes)
            self.written = True
            gevent.spawn(runner(environment).quit)


_state: dict[str, Any] = {}


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        _state["master"] = Master(environment)
        return
    classes = environment.user_classes
    if len(classes) != 1:
        raise SystemExit("run exactly one user class (one pattern) per load test")
    generator = _state["generator"] = Generator(environment, cast("type[PatternUser]", classes[0]).pattern)
    if not generator.claims.mine:  # nothing in this process's share
        environment.events.test_start.add_listener(lambda **_: gevent.spawn_later(1, generator.finish))


@events.quitting.add_listener
def _quitting(environment: Environment, **_: Any) -> None:
    """Stopped by the run's time limit before every job ended: keep what did end (the
    runner reports how many are missing)."""
    generator, master = _state.get("generator"), _state.get("master")
    if generator is not None:
        if generator.receiver is not None:
            generator.receiver.stop()
        if not generator.done and not isinstance(environment.runner, WorkerRunner):
            write(options(environment).bench_out, generator.rows, [generator.report()])
    if master is not None and not master.written:
        write(options(environment).bench_out, master.rows, master.processes)


class PatternUser(FastHttpUser):
    abstract = True
    pattern = ""
    network_timeout = 3600.0  # the proxies' timeouts are what a run measures, not the client's
    insecure = False  # an https entry is verified: against the system's CAs, or a stack's through SSL_CERT_FILE
    connection_timeout = 10.0
    concurrency = 2

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        generator: Generator = _state["generator"]
        timeout_s = generator.scenario.clients.request_timeout_s * generator.time_scale
        # Polls and initiates give up on a silent connection after the scenario's timeout;
        # streams and sync requests keep the long one (the proxies' limits are what they measure).
        timely = self.client
        if timeout_s:
            timely = FastHttpSession(
                base_url=self.host, request_event=environment.events.request, user=self,
                network_timeout=timeout_s, connection_timeout=min(timeout_s, self.connection_timeout),
                concurrency=self.concurrency, insecure=self.insecure,
                # No retries of its own (its default is three): the scenario's policy decides
                # what a client sends again. A reset before any byte of the answer is still
                # sent again for idempotent methods, as browsers do (RFC 9110, 9.2.2).
                max_retries=self.max_retries,
            )  # fmt: skip
        self.sessions = Sessions(self.client, timely)

    def wait_time(self) -> float:
        return 0.0

    @task
    def next_job(self) -> None:
        generator: Generator = _state["generator"]
        arrival = generator.claims.claim()
        if arrival is None:
            raise StopUser()
        due = generator.claims.due_in(arrival)
        if due > 0:
            gevent.sleep(due)
        job = generator.job(self.sessions, arrival, late_s=max(0.0, -due))
        try:
            PATTERNS[self.pattern](job)
        except Exception as exc:  # a client bug must show in the table, not stop the run
            job.log.outcome, job.log.error = "error", repr(exc)
        generator.finished(job)


class SyncUser(PatternUser):
    pattern = SYNC


class PollingUser(PatternUser):
    pattern = POLLING


class LongPollUser(PatternUser):
    pattern = LONGPOLL


class SseUser(PatternUser):
    pattern = SSE


class WebSocketUser(PatternUser):
    pattern = WEBSOCKET


class WebhookUser(PatternUser):
    pattern = WEBHOOK


class HybridUser(PatternUser):
    pattern = HYBRID


assert {cls.pattern: cls.__name__ for cls in PatternUser.__subclasses__()} == USER_CLASSES
