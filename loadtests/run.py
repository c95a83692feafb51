"""One load test: bring up the stack the scenario describes, run Locust headless (alone,
or as a master with N worker processes), collect the clients' table and the server's
truth, write a results folder, tear everything down.

    results/loadtests/<stamp>-<scenario>-<pattern>/
        meta.json          scenario, seed, time scale, stack, users, versions, machine, git
        scenario.toml      the scenario file as it was
        jobs.csv           one row per job: the clients' view joined with the server's
        summary.json       the aggregate, in the simulation's keys, plus accounting checks
        server_metrics.json  /metrics before, after and the difference
        loadgen.json       each load-generator process: jobs, CPU, receiver counts
        locust_stats.json  Locust's own request statistics, final
        locust_*.csv       the same as CSV, rewritten each second (the last second may be missing)
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from checks.target import Target, load_target
from checks.target_stack import behind_proxies, running_service
from core.scenario import Scenario, load
from proxies.render import Hop, Profile, parse_chain
from reference_server.contract import HYBRID, LONGPOLL, POLLING, SSE, SYNC, WEBHOOK, WEBSOCKET
from simulations.engine import simulate
from simulations.patterns import PATTERNS as MODELS
from stack.full_stack import STACK_SERVER_ENV, Stack, StackSpec
from stack.hosts import LOCAL, Place
from stack.provenance import provenance
from stack.toxiproxy import impaired_network

from . import collect
from .protocol import SECRET_ENV, USER_CLASSES
from .schedule import arrivals, jobs_to_draw
from .server_cost import ServerSampler, per_job

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOCUST_MASTER_PORT = 5557  # Locust's own default for --master-bind-port
LATE_WARNING_S = 1.0  # scenario seconds of p95 lateness that make a run's timing suspect
STRETCH_WARNING = 1.10  # the server taking 10% longer than the work it was given
# How the warnings that say the machine did not keep up begin: a run's figures are suspect, but
# nothing the code guarantees failed (a test asserts the other warnings absent, never these).
SATURATED = "a load-generator process was CPU-saturated"
LATE = "jobs started late"
STRETCHED = "the server took"
LAPSED = "leases lapsed"
PACE_WARNINGS = (SATURATED, LATE, STRETCHED, LAPSED)


@dataclass(frozen=True)
class LoadTest:
    scenario: Path
    pattern: str
    duration_s: float  # real seconds during which jobs arrive
    users: int | None = None  # default: enough for the jobs the model says are in flight at once
    time_scale: float = 0.02
    profile: str | None = None  # default: the scenario's proxy chain
    backend: str = "auto"
    workers: int = 0  # 0: Locust runs standalone; N: a master and N worker processes
    micro_cache: bool = False  # nginx-tuned's 1 s cache of status answers
    out: Path | None = None
    quiet: bool = True
    target: Path | None = None  # a target.toml: that service behind the chain, in place of the reference stack
    tls: bool = False  # the stack's entry speaks TLS (HTTP/2 offered; Locust's clients speak HTTP/1.1 over it)


# The endpoints (target paths) each pattern's client uses.
PATTERN_NEEDS = {
    SYNC: ("sync",),
    POLLING: ("initiate", "status"),
    LONGPOLL: ("initiate", "status"),
    SSE: ("initiate", "events"),
    WEBSOCKET: ("initiate", "websocket"),
    WEBHOOK: ("initiate",),
    HYBRID: ("initiate", "status", "events"),
}


def check_target_fits(target: Target, scenario: Scenario, pattern: str) -> None:
    missing = [f"paths.{e}" for e in PATTERN_NEEDS[pattern] if not getattr(target.paths, e)]
    if missing:
        raise ValueError(f"the {pattern} pattern needs the target's {', '.join(missing)}")
    if takes_webhooks(scenario, pattern):
        raise ValueError(
            "webhooks are not load-tested against a target yet: the load generator's receivers verify the "
            "reference stack's signing secret, and target.toml does not describe a service's webhooks"
        )


def _chain(profile: str) -> list[Profile]:
    return [] if profile == "direct" else parse_chain(profile)


def profile_of(scenario: Scenario) -> str:
    """The scenario's chain as a stack profile ("direct" for none)."""
    if scenario.proxy_overrides:
        # The stack's proxies are rendered from their profiles alone.
        raise ValueError(
            "a scenario with proxy_overrides runs in the models only; the stack takes profiles as they are"
        )
    return scenario.proxies or "direct"


# A lease held for less real time than this could lapse while this shared machine stalls, and
# the job would run again: 1.2 s leases at scale 0.02 lapsed during a busy second of a CI quick
# bench (polling behind cloud-run executed 0.31 jobs per job twice), and 5 s leases twice in 53
# jobs of a CI `make test` (the websocket pattern, on 2026-12-05). No load test crashes a worker,
# so a longer lease changes nothing it measures; the chaos tests exercise lapsing leases.
MIN_REAL_LEASE_S = 15.0


def lease_real_s(scenario: Scenario, time_scale: float) -> float:
    return max(scenario.workers.lease_s * time_scale, MIN_REAL_LEASE_S)


def server_env(scenario: Scenario, time_scale: float) -> dict[str, str]:
    c = scenario.clients
    return {
        "SSE_HEARTBEAT_S": str(c.sse.heartbeat_s),
        "PROGRESS_STEPS": str(c.sse.progress_steps),
        "POLL_RETRY_AFTER_S": str(c.polling.retry_after_s),
        "WEBHOOK_SCHEDULE_S": ",".join(str(s) for s in c.webhook.retry_schedule_s),
        "MAX_QUEUED_JOBS": str(scenario.workers.queue_capacity),
        "LEASE_S": str(lease_real_s(scenario, time_scale) / time_scale),
    }


def plan_users(scenario: Scenario, pattern: str, drawn: int, jobs: int) -> tuple[int, float]:
    """(users, scenario seconds until the last job is known) from the model: a user follows
    one job at a time, so the run needs as many as the model has jobs in flight at once."""
    records = simulate(scenario, MODELS[pattern], drawn, scenario.seed, first=jobs)
    c = scenario.clients
    limit = scenario.read_limit[0] if scenario.read_limit else math.inf
    spans = []
    for r in records:
        # A client is busy until it knows, gives up, or its last sync attempt times out.
        attempts = r.requests if pattern == "sync" else 0
        ends = [
            r.known_at or 0.0,
            r.completed_at or 0.0,
            r.arrived + attempts * (min(r.work_s, limit) + c.sync.retry_delay_s),
        ]
        if c.abandon_after_s:
            ends.append(r.arrived + c.abandon_after_s)
        spans.append((r.arrived, max(*ends, r.arrived) + 1))
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    in_flight = peak = 0
    for _, step in edges:
        in_flight += step
        peak = max(peak, in_flight)
    return math.ceil(peak * 1.25) + 2, max(b for _, b in spans)


def _locust_argv(test: LoadTest, scenario_file: Path, host: str, users: int, limit_s: float, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
        "--users", str(users), "--spawn-rate", str(max(users, 1)), "--run-time", f"{math.ceil(limit_s)}s",
        "--stop-timeout", "5", "--loglevel", "WARNING" if test.quiet else "INFO",
        "--bench-scenario", str(scenario_file), "--bench-time-scale", str(test.time_scale),
        "--bench-out", str(out), "--bench-processes", str(max(1, test.workers)),
        "--bench-target", str(test.target.resolve()) if test.target else "",
    ]  # fmt: skip


def run_locust(
    test: LoadTest,
    argv: list[str],
    extra: list[str],
    env: dict[str, str],
    out: Path,
    place: Callable[[str], Place] = lambda role: LOCAL,
) -> None:
    """Locust alone, or a master and its workers; `place(role)` says where each runs (on a
    host of its own, the master listens on Locust's standard port at its address)."""
    user_class = USER_CLASSES[test.pattern]
    # Statistics files from the master (or the one process) alone: workers given the same
    # paths write their own rows into them, and a request rate read from that mix is nonsense.
    stats = ["--csv", str(out / "locust"), "--json-file", str(out / "locust_stats"), "--only-summary"]
    log = open(out / "locust.log", "w")  # noqa: SIM115  (closed below, after every process ended)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if not test.workers:
            alone = place("locust").argv([*argv, *stats, *extra, user_class])
            procs.append(subprocess.Popen(alone, env=env, stdout=log, stderr=log))
        else:
            at = place("locust-master")
            port = str(at.port(LOCUST_MASTER_PORT))
            master = [*argv, *stats, *extra, "--master", "--master-bind-host", at.address, "--master-bind-port", port,
                      "--expect-workers", str(test.workers), user_class]  # fmt: skip
            procs.append(subprocess.Popen(at.argv(master), env=env, stdout=log, stderr=log))
            for k in range(test.workers):
                worker = [*argv, *extra, "--worker", "--master-host", at.address, "--master-port", port,
                          "--bench-share", f"{k}/{test.workers}", user_class]  # fmt: skip
                worker = place(f"locust-worker{k}").argv(worker)
                procs.append(subprocess.Popen(worker, env=env, stdout=log, stderr=log))
        procs[0].wait()
        for proc in procs[1:]:
            proc.wait(timeout=30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.close()


# Locust's workers send their counts to the master every WORKER_REPORT_INTERVAL (3 s in
# locust/runners.py; not imported here, since importing Locust patches this process with
# gevent): the master's total grows in steps. Over a window of three reports and a second,
# a rate can read at most one report's worth (30%) high.
WORKER_REPORT_S = 3.0
MASTER_WINDOW_S = 3 * WORKER_REPORT_S + 1.0


def peak_request_rate(out: Path, workers: int = 0) -> float | None:
    """The highest requests/s over any window of the run, from the growth of Locust's total
    request count between its per-second history rows: exact to the second for a standalone
    run, over MASTER_WINDOW_S for a master; a run shorter than its window gives its mean.
    (Locust's own `Requests/s` column is a smoothed, lagging figure, and a malformed row
    once put a timestamp in it.)"""
    history = out / "locust_stats_history.csv"
    if not history.exists():
        return None
    points = []
    with open(history, newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                if row["Name"] == "Aggregated":
                    points.append((int(row["Timestamp"]), int(row["Total Request Count"])))
            except (KeyError, TypeError, ValueError):
                continue  # a row cut short by the run's end
    points.sort()
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return None
    window = MASTER_WINDOW_S if workers else 1.0
    rates = []
    for i, (t1, c1) in enumerate(points):
        later = next(((t2, c2) for t2, c2 in points[i + 1 :] if t2 - t1 >= window), None)
        if later is not None:
            rates.append((later[1] - c1) / (later[0] - t1))
    (first_t, first_c), (last_t, last_c) = points[0], points[-1]
    return max(rates, default=(last_c - first_c) / (last_t - first_t))


def server_sampler(stack: Stack) -> ServerSampler:
    roles = {
        "api": [s.process.pid for s in stack.servers],
        "workers": [w.process.pid for w in stack.workers],
    }
    return ServerSampler(roles, stack.urls.redis if stack.urls else None)


def stack_spec(test: LoadTest, scenario: Scenario) -> StackSpec:
    """The stack a scenario describes: its proxy chain (or the test's), worker pool and
    client-facing settings (heartbeats, poll advice, webhook schedule)."""
    return StackSpec(
        profile=test.profile or profile_of(scenario),
        time_scale=test.time_scale,
        worker_processes=scenario.workers.count,
        workers_per_process=scenario.workers.concurrency,
        server_env=server_env(scenario, test.time_scale),
        micro_cache=test.micro_cache,
        backend=test.backend,
        tls=test.tls,
    )


def _fits_hosts(test: LoadTest, scenario: Scenario) -> None:
    """What a load test across hosts does not do yet, refused by name."""
    if test.target:
        raise ValueError("--hosts runs the reference stack on hosts of its own; a target is loaded from this one")
    if scenario.network is not None:
        raise ValueError("the impaired network (Toxiproxy) listens on this machine's loopback, out of the hosts' reach")
    if takes_webhooks(scenario, test.pattern):
        raise ValueError(
            f"{test.pattern} takes webhooks, and across hosts the load generators' receivers are not yet on the "
            "servers' allow-list (WEBHOOK_ALLOWED_HOSTS)"
        )


def takes_webhooks(scenario: Scenario, pattern: str) -> bool:
    """Webhook retries outlive a run (the schedule reaches hours), so such runs should not
    share a stack: a later run would count the earlier one's attempts."""
    return pattern == "webhook" or (pattern == "hybrid" and scenario.clients.hybrid.webhook)


def run(test: LoadTest, given: Stack | None = None) -> Path:
    """One load test; on `given`, a running stack of the same spec (several patterns of one
    scenario share it: each run's numbers are /metrics differences, so earlier runs do not count)."""
    scenario = load(test.scenario)
    if test.pattern not in USER_CLASSES:
        raise ValueError(f"unknown pattern {test.pattern!r}; known: {', '.join(USER_CLASSES)}")
    window_s = test.duration_s / test.time_scale
    drawn = jobs_to_draw(scenario, window_s)
    schedule = arrivals(scenario, drawn, window_s)
    jobs = len(schedule)
    if jobs == 0:
        raise ValueError("no job arrives in that duration; run longer or raise the scenario's rate")
    planned_users, last_known_s = plan_users(scenario, test.pattern, drawn, jobs)
    users = test.users or planned_users
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = test.out or Path("results/loadtests") / f"{stamp}-{scenario.name}-{test.pattern}"
    out.mkdir(parents=True, exist_ok=True)
    spec = stack_spec(test, scenario)
    if spec.backend == "hosts":
        _fits_hosts(test, scenario)
    _copy_scenario(test.scenario, spec.profile, out / "scenario.toml")
    if given is not None and (given.spec != spec or test.target):
        raise ValueError("the given stack is not the one this scenario and test describe")
    target = load_target(test.target) if test.target else Target()
    if test.target:
        check_target_fits(target, scenario, test.pattern)
        if test.tls:
            raise ValueError(
                "--tls puts the TLS edge in front of the reference stack; a target is loaded over its own chain"
            )
    profile = spec.profile
    limit_s = 2 * last_known_s * test.time_scale + 30
    began = time.time()
    longest_work_s = max(a.work_s for a in schedule) * test.time_scale
    with contextlib.ExitStack() as scope:
        env = dict(os.environ)
        # Where each Locust process runs, and the hosts of a stack on hosts of their own.
        places: Callable[[str], Place] = lambda role: LOCAL  # noqa: E731
        hosts_of: Callable[[], dict[str, str]] = dict
        if test.target is None:
            stack = given or scope.enter_context(Stack(spec))
            assert stack.urls is not None and stack.backend is not None
            places, hosts_of = stack.backend.place, stack.backend.hosts
            entry, origin, startup = stack.urls.entry, stack.urls.servers[0], dict(stack.startup_s)
            env[SECRET_ENV] = stack.server_env.get("WEBHOOK_SECRET", STACK_SERVER_ENV["WEBHOOK_SECRET"])
            if stack.ca:  # every client verifies the entry against the run's own CA
                env["SSL_CERT_FILE"] = str(stack.ca.ca_cert)
            before = collect.read_metrics(origin)
        else:
            origin = scope.enter_context(running_service(target, out / "target"))
            entry = scope.enter_context(
                behind_proxies(_chain(profile), origin, target, test.time_scale, out / "proxies")
            )
            startup = {}
            counted_before = collect.target_executions(origin, target, [])
        rtt_real_s = collect.round_trip_s(entry, target, env.get("SSL_CERT_FILE"))
        network = None
        if scenario.network is not None:
            # Clients reach the entry proxy through the impaired network; the server's side is untouched.
            network = scope.enter_context(
                impaired_network(
                    scenario.network, scenario.clients.rtt_s, Hop.from_url(entry), test.time_scale, out / "network",
                    scenario.seed, entry.split("://", 1)[0],
                )
            )  # fmt: skip
            rtt_real_s += scenario.clients.rtt_s * test.time_scale  # the latency it adds, half each way
        argv = _locust_argv(test, out / "scenario.toml", network.entry if network else entry, users, limit_s, out)
        # What the load cost the server side; a target's processes are its own affair.
        sampler = server_sampler(stack) if test.target is None else None
        extra = ["--bench-window-s", str(window_s), "--bench-drawn", str(drawn)]
        with sampler or contextlib.nullcontext():
            run_locust(test, argv, extra, env, out, places)
        hosts = hosts_of()  # the load generators' hosts too, now that they have run
        rows = collect.read_jobs(out / "jobs.csv") if (out / "jobs.csv").exists() else []
        if test.target is None:
            time.sleep(0.5)  # the server batches some counters for 0.2 s
            after = collect.settled(origin, longest_work_s + 10)
            followed = [row for row in rows if row["job_id"]]
            for row, view in zip(followed, collect.server_views(origin, [r["job_id"] for r in followed]), strict=True):
                row.update(view)
            server_record: dict[str, Any] = {"before": before, "after": after, "delta": collect.delta(before, after)}
            truth = collect.reference_truth(test.pattern, server_record["delta"])
        else:
            # Work a cut sync request left running starts at once; give late starts a moment.
            time.sleep(0.5)
            job_ids = [row["job_id"] for row in rows if row["job_id"]]
            counted_after = collect.target_executions(origin, target, job_ids)
            executions = None if counted_after is None else counted_after - (counted_before or 0.0)
            server_record = {
                "target": target.name,
                "executions_before": counted_before,
                "executions_after": counted_after,
            }
            truth = collect.ServerTruth(executions=executions)
    (out / "server_metrics.json").write_text(json.dumps(server_record))
    _write_rows(out / "jobs.csv", rows)
    loadgen = json.loads((out / "loadgen.json").read_text()) if (out / "loadgen.json").exists() else {"processes": []}
    warnings = []
    if len(rows) < jobs:
        warnings.append(f"{jobs - len(rows)} of {jobs} jobs did not report before the run's limit of {limit_s:.0f} s")
    if any(p["saturated"] for p in loadgen["processes"]):
        warnings.append(f"{SATURATED}: client timings are suspect; add --workers")
    summary: dict[str, Any] = {}
    if rows:
        summary = collect.summarise(scenario, test.pattern, rows, truth, test.time_scale)
        binding_s = min((hop.read_s for hop in _chain(profile)), default=None)
        summary["accounting"] = collect.accounting(test.pattern, rows, truth, binding_s, test.time_scale)
        if summary["late_start_p95_s"] > LATE_WARNING_S:
            warnings.append(f"{LATE} (p95 {summary['late_start_p95_s']:.1f} scenario s): add --users")
        stretch = summary["execution_stretch_p50"]
        if stretch is not None and stretch > STRETCH_WARNING:
            warnings.append(
                f"{STRETCHED} {stretch:.2f}x each job's work (median): the stack cannot hold this load at "
                f"time scale {test.time_scale}; raise the time scale or lower the rate"
            )
        if truth.reclaimed:
            lease_s = lease_real_s(scenario, test.time_scale)
            warnings.append(
                f"{LAPSED}: {truth.reclaimed:g} executions started again after a lease of {lease_s:g} real seconds "
                "ran out: a worker or the store stalled that long, and that duplicate work is the machine's, not "
                "the pattern's"
            )
    if sampler is not None and rows:
        summary["server_cost"] = per_job(sampler.reading, rows, scenario.prices, test.time_scale)
    network_record = None if network is None else {**network.description, "windows": network.windows}
    summary.update(
        network=network_record,
        locust_peak_requests_per_s=peak_request_rate(out, test.workers),
        rtt_ms=round(rtt_real_s * 1000, 3),
        warnings=warnings,
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_plain))
    meta = {
        "scenario": {"name": scenario.name, "file": str(test.scenario), "seed": scenario.seed},
        "pattern": test.pattern,
        "time_scale": test.time_scale,
        "duration_s": test.duration_s,
        "window_scenario_s": window_s,
        "jobs_drawn": drawn,
        "jobs": jobs,
        "users": users,
        "locust_workers": test.workers,
        "stack": {**asdict(spec), "server_env": dict(spec.server_env), "startup_s": startup, "hosts": hosts},
        "target": None if test.target is None else {"file": str(test.target), **asdict(target)},
        "network": network_record,
        "wall_s": round(time.time() - began, 1),
        "load_generators": loadgen["processes"],
        **provenance(),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=_plain))
    return out


def _copy_scenario(source: Path, profile: str, copy: Path) -> None:
    """The scenario as it ran: with the chain a test put in place of its own, so that the
    clients' reading of proxy statuses and the calibration's model see the stack that ran."""
    text = source.read_text()
    chain = "" if profile == "direct" else profile
    line = f"proxies = {json.dumps(chain)}"
    text, found = re.subn(r"(?m)^proxies\s*=.*$", line, text, count=1)
    if not found:
        text = f"{line}\n{text}"  # top-level keys come before the first table
    copy.write_text(text)
    load(copy)  # the rewrite must leave a valid scenario


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            timeouts = json.dumps({str(k): v for k, v in row["timeouts"].items()})
            writer.writerow({**row, "timeouts": timeouts, "transfers": json.dumps(row.get("transfers", []))})


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value)}")
