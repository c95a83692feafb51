"""After a run: join the clients' per-job table with the server's truth (each job's own
timestamps and executions, and the /metrics deltas), and aggregate it with the same code
and keys as the simulation, so the two compare directly.

Duplicate executions, wasted worker-seconds and webhook attempts come from the server's
counters; the clients' view of them is kept beside it only to check the accounting.
"""

from __future__ import annotations

import csv
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from checks.target import Target, dig
from core.job_metrics import JobRecord, aggregate
from core.prometheus_text import counter_value, series
from core.scenario import Scenario
from reference_server.contract import epoch_s

from .protocol import UNANSWERED_INITIATE

# Real seconds either side of a proxy's limit where who saw what is a race: a sync answer
# leaves the server only after the artifact is built and stored, tens of milliseconds
# after the work ends on a loaded 2-core machine (a CI run saw a job whose work ended
# 22 ms before nginx's limit counted as cut by the client and delivered by the server).
LIMIT_RACE_S = 0.050


def read_metrics(server: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{server}/metrics", timeout=10) as resp:
        return series(resp.read().decode())


def settled(server: str, timeout_s: float) -> dict[str, float]:
    """/metrics once every execution started has ended: work the clients stopped waiting
    for (a sync request cut by a proxy) still runs, and is counted only when it ends."""
    deadline = time.monotonic() + timeout_s
    while True:
        values = read_metrics(server)
        running = sum(
            values.get(f'dl_executions_started_total{{api="{api}"}}', 0.0)
            - values.get(f'dl_executions_completed_total{{api="{api}"}}', 0.0)
            for api in ("sync", "async")
        ) - values.get('dl_duplicate_executions_total{api="async"}', 0.0)  # a fenced execution ends uncompleted
        if running <= 0 or time.monotonic() > deadline:
            return values
        time.sleep(0.1)


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 6) for k, v in after.items() if v != before.get(k, 0.0)}


@dataclass(frozen=True)
class ServerTruth:
    """What the service itself counted during a run; None where it does not say."""

    executions: float | None  # work started, over the run's jobs
    jobs_created: float | None = None
    sync_undelivered: float | None = None  # sync results that were ready but reached nobody
    wasted_real_s: float | None = None
    webhook_attempts: float | None = None
    reclaimed: float | None = None  # executions started again after their lease ran out


def reference_truth(pattern: str, delta: dict[str, float]) -> ServerTruth:
    """The reference server's /metrics difference over a run, for one pattern's API."""
    api = "sync" if pattern == "sync" else "async"
    return ServerTruth(
        executions=delta.get(f'dl_executions_started_total{{api="{api}"}}', 0.0),
        jobs_created=delta.get("dl_jobs_created_total", 0.0),
        sync_undelivered=delta.get("dl_sync_undelivered_total", 0.0),
        wasted_real_s=delta.get(f'dl_wasted_worker_seconds_total{{api="{api}"}}', 0.0),
        webhook_attempts=delta.get("dl_webhook_attempts_total", 0.0),
        reclaimed=delta.get("dl_executions_reclaimed_total", 0.0),
    )


def target_executions(origin: str, target: Target, job_ids: list[str]) -> float | None:
    """A target's execution count now: its counter, or the sum of its jobs' own fields
    (read from the service directly); None where it gives neither."""
    how = target.executions
    if how.counter and how.metrics_path:
        with urllib.request.urlopen(f"{origin}{how.metrics_path}", timeout=10) as resp:
            return counter_value(resp.read().decode(), how.counter)
    if how.status_field:
        total = 0.0
        for job_id in job_ids:
            with urllib.request.urlopen(f"{origin}{target.path('status', job_id)}", timeout=10) as resp:
                value = dig(json.loads(resp.read()), how.status_field)
            if not isinstance(value, int | float) or isinstance(value, bool):
                return None
            total += value
        return total
    return None


def round_trip_s(entry: str, target: Target, cafile: str | None = None, samples: int = 30) -> float:
    """Median real seconds of a status read through the whole proxy chain (of a job that
    does not exist: the same store lookup, and no job of the run is touched): the round
    trip the model calls `rtt_s`, measured on the same stack right after the run."""
    times = []
    context = ssl.create_default_context(cafile=cafile)
    for _ in range(samples):
        began = time.perf_counter()
        try:
            url = f"{entry}{target.path('status', str(uuid.uuid4()))}"
            urllib.request.urlopen(url, timeout=10, context=context).read()
        except urllib.error.HTTPError as exc:  # the expected 404
            exc.read()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def _wall(iso: str | None) -> float | None:
    return None if iso is None else epoch_s(iso)


def server_view(server: str, job_id: str) -> dict[str, Any]:
    """The job as the server recorded it, read from the server itself (not through the
    proxies, and not counted as a client request)."""
    with urllib.request.urlopen(f"{server}/v1/download/jobs/{job_id}", timeout=10) as resp:
        body = json.loads(resp.read())
    hook = body.get("webhook") or {}
    return {
        "server_created": _wall(body["createdAt"]),
        "server_started": _wall(body["startedAt"]),
        "server_completed": _wall(body["completedAt"]),
        "server_status": body["status"],
        "executions": body["executions"],
        "webhook_attempts": hook.get("attempts", 0),
    }


SERVER_READS_IN_FLIGHT = 8  # a scale run reads 2,000 jobs back: one at a time took 3-7 s


def server_views(server: str, job_ids: list[str]) -> list[dict[str, Any]]:
    """`server_view` of each job, in order, several at a time."""
    with ThreadPoolExecutor(SERVER_READS_IN_FLIGHT) as pool:
        return list(pool.map(lambda job_id: server_view(server, job_id), job_ids))


INT_COLUMNS = frozenset({"index", "requests", "bytes", "reconnects", "events", "heartbeats", "webhook_receipts",
                         "webhook_duplicates", "executions", "webhook_attempts"})  # fmt: skip
FLOAT_COLUMNS = frozenset({"scheduled_s", "work_s", "late_s", "started", "connection_s"})
OPTIONAL_TIMES = frozenset({"known", "server_completed", "server_created", "server_started"})


def read_jobs(path: Path) -> list[dict[str, Any]]:
    """jobs.csv as the clients wrote it, or as joined with the server's records, typed."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in list(row.items()):
            if key in INT_COLUMNS:
                row[key] = int(value or 0)  # a sync job has no server-side executions column of its own
            elif key in FLOAT_COLUMNS:
                row[key] = float(value)
            elif key in OPTIONAL_TIMES:
                row[key] = float(value) if value else None
        row["job_id"] = row["job_id"] or None
        row["timeouts"] = {int(k): v for k, v in json.loads(row["timeouts"] or "{}").items()}
        row["transfers"] = json.loads(row.get("transfers") or "[]")
    return rows


def to_record(row: dict[str, Any], pattern: str, scale: float) -> JobRecord:
    """A measured job in the simulation's terms: scenario seconds from the run's start."""
    arrived = row["scheduled_s"] + row["late_s"] / scale

    def at(wall: float | None) -> float | None:
        return None if wall is None else arrived + (wall - row["started"]) / scale

    record = JobRecord(arrived=arrived, work_s=row["work_s"])
    record.completed_at = at(row.get("server_completed"))
    record.known_at = at(row["known"])
    record.rejected = row["outcome"] == "rejected"
    record.abandoned = row["outcome"] == "abandoned"
    record.requests = row["requests"]
    record.bytes = row["bytes"]
    record.connection_s = row["connection_s"] / scale
    record.reconnects = row["reconnects"]
    record.timeouts = dict(row["timeouts"])
    record.transfers = [arrived + t / scale for t in row["transfers"]]
    if pattern == "sync":
        record.executions = row["requests"]  # every attempt starts the work again
        record.wasted_s = row["work_s"] * sum(record.timeouts.values())
    else:
        record.executions = row.get("executions", 0)
        record.webhook_attempts = row.get("webhook_attempts", 0)
        if row.get("server_started") is not None and row.get("server_created") is not None:
            record.queue_wait_s = (row["server_started"] - row["server_created"]) / scale
        if record.known_at is None and not record.rejected:
            record.wasted_s = row["work_s"]  # prepared, and nobody came for it
    return record


def summarise(
    scenario: Scenario, pattern: str, rows: list[dict[str, Any]], truth: ServerTruth, scale: float
) -> dict[str, Any]:
    """The measured aggregate (the simulation's keys), with the server's own counts in charge
    of executions, duplicates, waste and webhook attempts; None where it gave none."""
    records = [to_record(row, pattern, scale) for row in rows]
    result = aggregate(scenario, pattern, records)
    n = len(records)
    abandoned_work = sum(r.work_s for r in records if pattern != "sync" and r.known_at is None and not r.rejected)
    client = {k: result[k] for k in ("executions_per_job", "wasted_worker_seconds_per_job", "webhook_attempts_per_job")}
    accepted = n - sum(r.rejected for r in records)

    def per_job(value: float | None) -> float | None:
        return None if value is None else value / n

    result.update(
        executions_per_job=per_job(truth.executions),
        duplicate_executions_per_job=per_job(None if truth.executions is None else truth.executions - accepted),
        wasted_worker_seconds_per_job=per_job(
            None if truth.wasted_real_s is None else truth.wasted_real_s / scale + abandoned_work
        ),
        webhook_attempts_per_job=per_job(truth.webhook_attempts),
        reclaimed_executions_per_job=per_job(truth.reclaimed),
        timeout_rate=sum(sum(r.timeouts.values()) for r in records) / n,
        late_start_p95_s=float(np.percentile([row["late_s"] for row in rows], 95)) / scale,
        execution_stretch_p50=_stretch(rows, scale),
        client_view=client,
    )
    return result


def _stretch(rows: list[dict[str, Any]], scale: float) -> float | None:
    """Median of (time the server took for a job) / (work it was given): above 1 the stack
    itself could not keep the scenario's time, and delays measured on it are inflated."""
    ratios = [
        (row["server_completed"] - row["server_started"]) / scale / row["work_s"]
        for row in rows
        if row.get("server_started") is not None and row.get("server_completed") is not None and row["work_s"] > 0
    ]
    return float(np.median(ratios)) if ratios else None


def accounting(
    pattern: str, rows: list[dict[str, Any]], truth: ServerTruth, limit_s: float | None, scale: float
) -> dict[str, Any]:
    """Does what the clients saw add up to what the server counted? (Only where it counts.)

    Two counts can legitimately differ, by as many as `may_differ_by` says:
    - a sync answer whose work ended within LIMIT_RACE_S of the proxy's limit may be cut by
      the proxy after the server saw it leave (or the other way round);
    - on an impaired network, an initiate whose every send went unanswered may still have
      reached the server: a job the client never learned of.
    """
    checks: dict[str, Any] = {}

    def compare(name: str, clients: float, server: float | None, may_differ_by: int = 0) -> None:
        if server is not None:
            checks[name] = {"clients": clients, "server": server, "may_differ_by": may_differ_by}

    if pattern == "sync":
        at_limit = 0
        if limit_s is not None:
            at_limit = sum(row["requests"] for row in rows if abs(row["work_s"] - limit_s) * scale <= LIMIT_RACE_S)
        timeouts = sum(sum(row["timeouts"].values()) for row in rows)
        compare("proxy_timeouts_vs_results_nobody_received", timeouts, truth.sync_undelivered, at_limit)
        compare("attempts_vs_sync_executions", sum(row["requests"] for row in rows), truth.executions)
    else:
        unanswered = sum(1 for row in rows if not row["job_id"] and row["error"] == UNANSWERED_INITIATE)
        if any("executions" in row for row in rows):
            compare(
                "job_executions_vs_async_executions",
                sum(row.get("executions", 0) for row in rows),
                truth.executions,
                unanswered,
            )
        compare("jobs_initiated_vs_created", sum(1 for row in rows if row["job_id"]), truth.jobs_created, unanswered)
        if any(row.get("webhook_attempts") for row in rows):
            compare(
                "webhook_attempts_on_jobs_vs_counter",
                sum(row.get("webhook_attempts", 0) for row in rows),
                truth.webhook_attempts,
            )
    for check in checks.values():
        check["match"] = abs(check["clients"] - check["server"]) <= check["may_differ_by"]
    return checks
