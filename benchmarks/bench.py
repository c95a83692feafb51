"""`make bench`: every step that feeds the report, into one results folder.

    results/bench/<stamp>/
        simulations/metrics.csv   every pattern on every scenario (the model's aggregates)
        simulations/delays.csv    per-job notification delays (a sample), for the CDF
        simulations/sweep-*.csv   the sweeps behind the plots (duration, proxy limits,
                                  poll interval, heartbeat interval)
        loadtests/<scenario>-<pattern>/   one load-test results folder each, calibrated
        platforms/<platform>-<pattern>/   scenarios/platforms.toml behind each platform profile alone
        scale/<pattern>/          every pattern with 10,000 clients waiting at once (2,000 quick):
                                  a load test whose summary.json has what the server side spent
        streams/stream-bench.json 10,000 held event streams per engine (2,000 quick; the in-process
                                  workers' engine 1,000 quick), WebSockets beside them (embedded
                                  only, quick), nchan beside
        streams/memory.json       where a held stream's or socket's memory goes, and aiohttp's floor
        browsers/tabs.json        many tabs of one headless Chromium over HTTP/1.1 and HTTP/2, per way
                                  the page follows its jobs (a subset quick)
        micro/server-bench.json   the micro-benchmarks (full mode only)
        bench.json                the plan, each step's wall time, quick or full
        report/                   index.html, REPORT.md, *.csv, summary.json

Quick mode runs the same steps with fewer simulated jobs, shorter load tests at a
smaller time scale and no micro-benchmarks, and the report says it is quick.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmarks.browser_tabs import FULL_TABS, QUICK_TABS, TabsPlan
from benchmarks.browser_tabs import measure as measure_tabs
from benchmarks.stream_bench import ENGINES, StreamPlan, measure
from benchmarks.stream_memory import breakdown
from core.job_metrics import aggregate
from core.scenario import SCENARIOS, Scenario, load
from loadtests.calibrate import calibrate
from loadtests.calibrate import write as write_calibration
from loadtests.run import LoadTest, stack_spec, takes_webhooks
from loadtests.run import run as load_test
from proxies.render import PLATFORMS
from reports.claims import run_claim_tests
from reports.intermediaries import PLATFORMS_STEP, platform_row
from reports.performance import load as load_performance
from reports.performance import replace_marked, update_page
from simulations.engine import simulate
from simulations.patterns import PATTERNS
from simulations.run import run
from simulations.sweep import flatten, sweep, write_rows
from stack.full_stack import Stack
from stack.provenance import ROOT, provenance

BENCH_SCENARIOS = (
    "original-cloudflare-nginx", "tuned-stack", "flaky-mobile", "server-to-server", "corporate-proxy", "mobile-network",
)  # fmt: skip

SIMULATED_ONLY = ("overload",)  # queueing past capacity: simulated, not worth a load test
# H1's table: the share of sync requests cut, per work range and proxy limit.
H1_RANGES = ((10, 120), (10, 200), (5, 15))
H1_LIMITS = (30, 60, 100)
DELAY_SAMPLE = 5000
SCALE_SCENARIO = "scale"
LOCUST_WORKERS = 4  # 10,000 users over four gevent processes
# Enough for per-stream figures to settle (1,000 and 2,000 give the same KiB to 0.1); tracemalloc
# is slow, and the breakdown holds them four times (streams and sockets, ours and the floor's).
MEMORY_STREAMS = 1000


@dataclass(frozen=True)
class Plan:
    quick: bool
    sim_jobs: int
    sweep_jobs: int
    load_seconds: float  # real seconds of arrivals per load test
    time_scale: float
    micro: bool
    scale_seconds: float  # real seconds of arrivals in the scale step (scenarios/scale.toml)
    scale_time_scale: float
    streams: int  # event streams each engine holds in the stream bench
    inline_streams: int  # the stream bench's in-process-workers engine: 3 s of jobs per 200 streams
    stream_engines: tuple[str, ...]  # the stream bench's engines (benchmarks.stream_bench.ENGINES)
    durations: tuple[float, ...]
    poll_intervals: tuple[float, ...]
    heartbeats: tuple[float, ...]
    platforms: tuple[str, ...]  # the profiles the platforms step measures (the models run behind all)
    tabs: TabsPlan  # the browser tabs bench's cases
    # Load tests (a scenario's patterns, a platform's) run at once, each on a stack of its own:
    # they wait on jobs, not on a core, while the loads are small.
    load_tests_at_once: int


FULL = Plan(
    quick=False,
    sim_jobs=50_000,
    sweep_jobs=4_000,
    load_seconds=10.0,
    time_scale=0.02,
    micro=True,
    # Arrivals for one job duration (120 s): 10,000 clients waiting at the peak. In real time
    # the polls (every 20 s) come 500 a second and the jobs end 84 a second, within what one
    # server process and one worker process manage here; at 0.8 (625 polls/s on top of 105
    # initiates/s) 10,000 pollers saw answers take seconds and the run overran its limit.
    scale_seconds=120.0,
    scale_time_scale=1.0,
    streams=10_000,
    inline_streams=10_000,
    stream_engines=ENGINES,
    durations=tuple(range(10, 201, 10)),
    poll_intervals=(1, 2, 5, 10, 20, 30),
    heartbeats=(0, 10, 15, 20, 30, 45, 55, 90),
    platforms=PLATFORMS,
    tabs=FULL_TABS,
    # One at a time: ten times the quick plan's jobs each, not measured in pairs.
    load_tests_at_once=1,
)
QUICK = Plan(
    quick=True,
    sim_jobs=5_000,
    sweep_jobs=800,
    load_seconds=1.5,
    time_scale=0.02,
    micro=False,
    scale_seconds=6.0,  # 24 scenario seconds of arrivals: 2,000 clients at the peak
    # Not smaller: at 0.2 (4.8 s of arrivals, the same clients) sync's API memory per waiting
    # client rose from 23.8 to 30.9 KiB, polling's and long polling's held, and the step saved ~40 s.
    scale_time_scale=0.25,
    streams=2_000,
    inline_streams=1_000,
    # WebSockets in one mode: what a socket costs beyond a stream is the server's, not the store's.
    stream_engines=tuple(e for e in ENGINES if e != "redis-websocket"),
    durations=(10, 30, 60, 90, 120, 150, 200),
    poll_intervals=(1, 5, 10, 30),
    heartbeats=(0, 15, 30, 55, 90),
    # One front end per kind of limit, to keep CI's run short: a limit on silence, a total
    # lifetime, the whole response held. The report names the ones that ran.
    platforms=("cloudflare", "gcp-lb", "api-gateway"),
    tabs=QUICK_TABS,
    # Two at a time, 16 jobs each: in pairs the calibrations came out as they do alone (three
    # metrics of 392 differ in either case; no warning of a stretched job or a late client).
    load_tests_at_once=2,
)
# Chains for the timeout-vs-duration plot; each hop's limit and status come from proxies/.
CHAINS = ("nginx-default", "alb", "cloudflare", "cloudflare+nginx-tuned")


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


class Steps:
    """Runs the bench's steps in order, each announced with the time it took last time (the
    estimate) and timed; the timings of steps not run this time are kept from before."""

    def __init__(self, previous: dict[str, float], wanted: tuple[str, ...], save: Callable[[], None]) -> None:
        self.previous = previous
        self.wanted = wanted
        self.timings: dict[str, float] = dict(previous)
        self.save = save  # after every step, so a bench that fails midway keeps what it did

    def run(self, key: str, name: str, step: Callable[[], Any]) -> Any:
        if key not in self.wanted:
            return None
        number = self.wanted.index(key) + 1
        estimate = f"; last time {self.previous[key]:.0f} s" if key in self.previous else ""
        say(f"[{number}/{len(self.wanted)}] {name}{estimate}")
        began = time.monotonic()
        result = step()
        self.timings[key] = round(time.monotonic() - began, 1)
        self.save()
        say(f"[{number}/{len(self.wanted)}] {key} took {self.timings[key]:.0f} s")
        return result


def scenario(name: str) -> Scenario:
    return load(SCENARIOS / f"{name}.toml")


def platform_scenario(platform: str) -> Scenario:
    """scenarios/platforms.toml behind one platform, named as the report's tables name it."""
    return scenario(PLATFORMS_STEP).with_overrides({"proxies": platform, "name": platform_row(platform)})


def simulate_all(plan: Plan, out: Path) -> None:
    rows: list[dict[str, Any]] = []
    delays: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)
    every = [scenario(name) for name in BENCH_SCENARIOS + SIMULATED_ONLY] + [platform_scenario(p) for p in PLATFORMS]
    for s in every:
        name = s.name
        for pattern, model in PATTERNS.items():
            records = simulate(s, model, plan.sim_jobs, s.seed)
            rows.append(flatten({**aggregate(s, pattern, records), "seed": s.seed}))
            known = [d for r in records if (d := r.notify_delay_s) is not None]
            picked: list[float] = (
                rng.choice(known, min(DELAY_SAMPLE, len(known)), replace=False).tolist() if known else []
            )
            delays += [{"scenario": name, "pattern": pattern, "delay_s": float(d)} for d in picked]
    write_rows(out / "metrics.csv", rows)
    write_rows(out / "delays.csv", delays)


def sweeps(plan: Plan, out: Path) -> None:
    cpus = os.cpu_count() or 1
    tuned = scenario("tuned-stack")
    fixed: dict[str, list[Any]] = {
        "workload.duration.kind": ["fixed"],
        "workload.duration.mean_s": list(plan.durations),
    }
    # Enough worker slots that no job queues: the per-job cost of each duration, not the queue's.
    unqueued = tuned.with_overrides({"workers.concurrency": 10_000})
    sweep(unqueued, list(PATTERNS), fixed, plan.sweep_jobs, tuned.seed, cpus, out / "sweep-duration.csv")
    limits: list[dict[str, Any]] = []
    original = scenario("original-cloudflare-nginx").with_overrides({"clients.sync.retries": 0})
    for chain in CHAINS:
        s = original.with_overrides({"proxies": chain, "proxy_overrides": {}})
        rows = sweep(s, ["sync"], fixed, plan.sweep_jobs, s.seed, cpus, out / "sweep-limit-part.csv")
        limits += [{"chain": chain, **row} for row in rows]
    (out / "sweep-limit-part.csv").unlink()
    write_rows(out / "sweep-limit.csv", limits)
    grid: dict[str, list[Any]] = {"clients.polling.retry_after_s": list(plan.poll_intervals)}
    sweep(tuned, ["polling", "hybrid"], grid, plan.sweep_jobs, tuned.seed, cpus, out / "sweep-poll.csv")
    h1 = []
    for low, high in H1_RANGES:
        for limit in H1_LIMITS:
            # One hop whose read limit is the table's: stock nginx with its timeout set.
            hop = {"nginx-default": {"read_timeout_s": limit, "idle_timeout_s": limit}}
            work = {
                "workload.duration.kind": "uniform",
                "workload.duration.min_s": low,
                "workload.duration.max_s": high,
            }
            alone = {"proxies": "nginx-default", "proxy_overrides": hop}
            result = run(original.with_overrides({**work, **alone}), "sync", plan.sweep_jobs)
            h1.append({"min_s": low, "max_s": high, "limit_s": limit, "cut_share": 1 - result["success_rate"]})
    write_rows(out / "sweep-h1.csv", h1)
    # Silent jobs (one progress step) behind stock nginx's 60 s idle limit: what heartbeats buy.
    silent = original.with_overrides({"clients.sse.progress_steps": 1})
    grid = {"clients.sse.heartbeat_s": list(plan.heartbeats)}
    sweep(silent, ["sse", "hybrid"], grid, plan.sweep_jobs, silent.seed, cpus, out / "sweep-heartbeat.csv")


def in_parallel(at_once: int, runs: Sequence[Callable[[], object]]) -> None:
    """`at_once` of the runs at a time, in threads (each waits on its own processes). On the
    first failure, or Ctrl-C or SIGTERM, the runs not begun are dropped and the error raised
    once those under way have stopped their services."""
    pool = ThreadPoolExecutor(max_workers=at_once)
    try:
        for future in [pool.submit(run) for run in runs]:
            future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def load_tests(plan: Plan, out: Path) -> None:
    """Every pattern on every bench scenario; the patterns of one scenario share its stack,
    except those that take webhooks (their retries outlive the run)."""
    desc = (
        f"load tests ({plan.load_seconds:g} s of arrivals each, time scale {plan.time_scale}, "
        f"{plan.load_tests_at_once} scenario stack(s) at once)"
    )
    with tqdm(
        total=len(BENCH_SCENARIOS) * len(PATTERNS), desc=desc, unit="test", file=sys.stderr, mininterval=5
    ) as progress:
        runs = [functools.partial(scenario_load_tests, plan, n, None, out, progress) for n in BENCH_SCENARIOS]
        in_parallel(plan.load_tests_at_once, runs)


def platforms(plan: Plan, out: Path) -> None:
    """Every pattern on scenarios/platforms.toml behind each platform profile alone."""
    desc = f"platforms ({', '.join(plan.platforms)})"
    total = len(plan.platforms) * len(PATTERNS)
    with tqdm(total=total, desc=desc, unit="test", file=sys.stderr, mininterval=5) as progress:
        runs = [functools.partial(scenario_load_tests, plan, PLATFORMS_STEP, p, out, progress) for p in plan.platforms]
        in_parallel(plan.load_tests_at_once, runs)


def scenario_load_tests(plan: Plan, name: str, profile: str | None, out: Path, progress: tqdm[Any]) -> None:
    """Each pattern's load test of one scenario (behind `profile` in place of its chain),
    calibrated, into `out/<profile or scenario>-<pattern>`."""
    s = scenario(name)
    tests = {
        pattern: LoadTest(
            SCENARIOS / f"{name}.toml",
            pattern,
            plan.load_seconds,
            time_scale=plan.time_scale,
            profile=profile,
            backend="processes",
            out=out / f"{profile or name}-{pattern}",
        )
        for pattern in PATTERNS
    }
    shared = [p for p in PATTERNS if not takes_webhooks(s, p)]
    with Stack(stack_spec(tests[shared[0]], s)) as stack:
        for pattern in PATTERNS:
            progress.set_postfix_str(f"{profile or name} / {pattern}")
            folder = load_test(tests[pattern], stack if pattern in shared else None)
            write_calibration(folder, calibrate(folder))
            progress.update()


def scale_clients(plan: Plan) -> float:
    """Clients waiting at the peak: arrivals for the window, or for one job's duration."""
    s = scenario(SCALE_SCENARIO)
    return s.arrivals.rate_per_s * min(plan.scale_seconds / plan.scale_time_scale, s.workload.duration.mean_s)


def scale(plan: Plan, out: Path) -> None:
    """Every pattern on scenarios/scale.toml, each on a fresh stack so its memory is its own,
    with Locust's load spread over worker processes. One at a time: beside another pattern's
    run, sync's API memory per waiting client rose from 22.8-25.6 KiB (three runs alone) to
    33.1-36.7 (two runs in pairs), so a pair would not measure what one pattern costs."""
    progress = tqdm(total=len(PATTERNS), desc="scale: one pattern at a time", unit="test", file=sys.stderr)
    for pattern in PATTERNS:
        progress.set_postfix_str(pattern)
        test = LoadTest(
            SCENARIOS / f"{SCALE_SCENARIO}.toml",
            pattern,
            plan.scale_seconds,
            time_scale=plan.scale_time_scale,
            backend="processes",
            workers=LOCUST_WORKERS,
            out=out / pattern,
        )
        load_test(test)
        progress.update()
    progress.close()


def stream_bench(plan: Plan, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # The first job ends as soon as every job is made and every stream held: 54 s for 10,000, 14 for 2,000.
    job_s = StreamPlan.needed_job_s(plan.streams, StreamPlan.connect_per_s)
    streams = StreamPlan(plan.streams, job_s=job_s, inline_streams=plan.inline_streams)
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp:
        results = asyncio.run(measure(streams, Path(tmp), plan.stream_engines))
    (out / "stream-bench.json").write_text(json.dumps(results, indent=2) + "\n")
    say(f"streams: where a held stream's memory goes ({MEMORY_STREAMS} streams, tracemalloc)")
    (out / "memory.json").write_text(json.dumps(asyncio.run(breakdown(MEMORY_STREAMS)), indent=2) + "\n")


def browser_tabs(plan: Plan, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "tabs.json").write_text(json.dumps(measure_tabs(plan.tabs), indent=2) + "\n")


def micro_benchmarks(out: Path) -> None:
    results = ROOT / "results" / "server-bench.json"
    results.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pytest", "-m", "bench", "-q", str(ROOT / "tests" / "bench")]
    subprocess.run(argv, check=True, cwd=ROOT)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(results, out / "server-bench.json")


# The bench's steps, in order; `--only` names some of them.
STEPS = (
    "simulations", "sweeps", "loadtests", "platforms", "claims", "scale", "streams", "browsers", "micro", "report",
)  # fmt: skip


def latest_folder(quick: bool) -> Path | None:
    """The newest bench results folder of this kind (quick or full)."""
    found = sorted(p for p in (ROOT / "results" / "bench").glob("*") if p.name.endswith("-quick") == quick)
    return found[-1] if found else None


PICTURE = Path("docs") / "images" / "report-scores.png"
PICTURE_MARKERS = ("<!-- report picture: written by `make bench` -->", "<!-- end of report picture -->")


def publish_picture(report: Path, measured_by: str) -> None:
    """The report's first picture (scores per audience) into the docs, and the README's caption naming the run."""
    (ROOT / PICTURE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(report / "figures" / "scores.png", ROOT / PICTURE)
    body = f"![Scores by audience, from the report]({PICTURE})\n\n*The report's first picture, from {measured_by}.*"
    replace_marked(ROOT / "README.md", PICTURE_MARKERS, body, "report picture")


def previous_record(quick: bool, root: Path | None) -> dict[str, Any]:
    """The bench.json a run starts from: the folder it completes, or the newest of its kind
    (whose step times become this run's estimates); empty when there is none."""
    earlier = root or latest_folder(quick)
    record = earlier / "bench.json" if earlier else None
    return json.loads(record.read_text()) if record and record.exists() else {}


def bench(plan: Plan, root: Path | None = None, only: tuple[str, ...] = STEPS) -> Path:
    """Run the plan's steps into `root` (a new folder by default) and build the report.

    With `only`, just those steps run, into `root` or the newest folder of the same kind,
    and the report is rebuilt from what the folder then holds."""
    from reports.build import build  # the report; imported here so a bench without plots still runs the steps

    unknown = [s for s in only if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown bench step(s) {', '.join(unknown)}; the steps are {', '.join(STEPS)}")
    began = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if only != STEPS and root is None:
        root = latest_folder(plan.quick)
        if root is None:
            raise ValueError("--only completes an earlier bench folder, and there is none: run the whole bench first")
    previous = previous_record(plan.quick, root)  # before a new folder exists and becomes the newest
    folder = root or ROOT / "results" / "bench" / f"{stamp}{'-quick' if plan.quick else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "bench.json"
    wanted = tuple(s for s in STEPS if s in only and (s != "micro" or plan.micro))
    meta: dict[str, Any] = {
        "plan": asdict(plan),
        "started": previous.get("started", stamp) if root is not None else stamp,
        "scenarios": list(BENCH_SCENARIOS),
        # A rebuilt report keeps the record of the run whose numbers it shows.
        "provenance": previous["provenance"]
        if set(wanted) <= {"report"} and "provenance" in previous
        else {**provenance(), "recorded": f"by the bench run started {stamp}"},
    }

    def save() -> None:
        meta["wall_s"] = round(time.time() - began, 1)
        meta_path.write_text(json.dumps(meta, indent=2))

    steps = Steps(previous.get("step_s", {}), (*wanted, "report") if "report" not in wanted else wanted, save)
    meta["step_s"] = steps.timings  # the same dict: each save writes the times so far
    save()
    steps.run(
        "simulations",
        f"simulations: {len(PATTERNS)} patterns x {len(BENCH_SCENARIOS + SIMULATED_ONLY) + len(PLATFORMS)} scenarios, "
        f"{plan.sim_jobs} jobs each",
        lambda: simulate_all(plan, folder / "simulations"),
    )
    steps.run(
        "sweeps",
        "simulation sweeps: duration, proxy limits, poll interval, heartbeat",
        lambda: sweeps(plan, folder / "simulations"),
    )
    steps.run(
        "loadtests",
        "load tests on the real stack (processes backend), each calibrated",
        lambda: load_tests(plan, folder / "loadtests"),
    )
    steps.run(
        "platforms",
        f"platforms: every pattern behind {', '.join(plan.platforms)}, each alone",
        lambda: platforms(plan, folder / PLATFORMS_STEP),
    )
    steps.run(
        "claims",
        "the tests hypotheses H6, H8 and H11 rest on (pytest, processes backend)",
        lambda: run_claim_tests(folder / "claims"),
    )
    steps.run(
        "scale",
        f"scale: every pattern with about {scale_clients(plan):,.0f} clients waiting at once, server cost measured",
        lambda: scale(plan, folder / "scale"),
    )
    steps.run(
        "streams",
        f"stream bench: {plan.streams:,} held event streams per engine, nginx+nchan beside",
        lambda: stream_bench(plan, folder / "streams"),
    )
    steps.run(
        "browsers",
        f"browsers: {plan.tabs.count} cases of many tabs in headless Chromium, HTTP/1.1 and HTTP/2",
        lambda: browser_tabs(plan, folder / "browsers"),
    )
    if not plan.micro and "micro" in only:
        say("micro-benchmarks: skipped in quick mode (the report says so)")
    steps.run("micro", "micro-benchmarks (pytest -m bench)", lambda: micro_benchmarks(folder / "micro"))
    report = Path(steps.run("report", "report", lambda: build(folder)))
    revision = str(provenance()["git"]["revision"])[:12]
    measured_by = f"`make bench{' QUICK=1' if plan.quick else ''}` at {stamp}, revision {revision}"
    streams, _ = load_performance(folder)
    if not plan.quick and streams and "streams" in wanted:  # the table says which run measured it
        update_page(ROOT / "docs" / "performance.md", streams, f"Measured by {measured_by}.")
        say("docs/performance.md: performance table rewritten from this run")
    if only == STEPS:  # the front door shows a whole run's answer, never a partial one
        publish_picture(report, measured_by)
        say(f"README: the report's picture from this run ({PICTURE})")
    return report
