"""`proxybench loadtest` and `proxybench calibrate` (and `python -m loadtests run|calibrate`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from checks.target import TargetError
from checks.target_stack import BadTarget
from core.scenario import ScenarioError
from proxies.render import CHAIN_HELP
from stack.processes import ServiceError, stop_services_on_sigterm

from .calibrate import calibrate as compare
from .calibrate import write
from .protocol import USER_CLASSES
from .run import LoadTest, run


def add_loadtest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", required=True, type=Path)
    parser.add_argument("--pattern", required=True, choices=sorted(USER_CLASSES))
    parser.add_argument("--duration", required=True, type=float, help="real seconds during which jobs arrive")
    parser.add_argument("--users", type=int, help="concurrent clients (default: what the model says is in flight)")
    parser.add_argument("--time-scale", type=float, default=0.02, help="real seconds per scenario second")
    parser.add_argument("--profile", help=f"{CHAIN_HELP}; default: the scenario's")
    parser.add_argument("--backend", choices=("auto", "processes", "containers", "hosts"), default="auto")
    parser.add_argument(
        "--hosts",
        action="store_true",
        help="the stack and each Locust process (the master, each worker) on a host of its own: --backend hosts",
    )
    parser.add_argument("--workers", type=int, default=0, help="Locust worker processes (0: standalone)")
    parser.add_argument("--micro-cache", action="store_true", help="nginx-tuned caches status answers for 1 s")
    parser.add_argument(
        "--tls", action="store_true", help="the stack's entry speaks TLS; clients verify it with its CA"
    )
    parser.add_argument("--out", type=Path, help="results folder (default: results/loadtests/<stamp>-...)")
    parser.add_argument("--verbose", action="store_true", help="Locust's own log at INFO")
    parser.add_argument("--calibrate", action="store_true", help="also compare with the simulation of the same jobs")
    parser.add_argument("--target", type=Path, help="a target.toml: load that service instead of the reference stack")


def loadtest(args: argparse.Namespace) -> int:
    stop_services_on_sigterm()
    try:
        test = LoadTest(
            scenario=args.scenario,
            pattern=args.pattern,
            duration_s=args.duration,
            users=args.users,
            time_scale=args.time_scale,
            profile=args.profile,
            backend="hosts" if args.hosts else args.backend,
            workers=args.workers,
            micro_cache=args.micro_cache,
            out=args.out,
            quiet=not args.verbose,
            target=args.target,
            tls=args.tls,
        )
        out = run(test)
    except (ScenarioError, TargetError, BadTarget, ValueError, ServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = json.loads((out / "summary.json").read_text())
    keys = ("jobs", "success_rate", "requests_per_job", "notify_delay_p50_s", "notify_delay_p95_s",
            "executions_per_job", "timeout_rate", "locust_peak_requests_per_s")  # fmt: skip
    for key in keys:
        print(f"{key:28} {summary.get(key)}")
    for warning in summary.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"results: {out}")
    return _calibrate(out) if args.calibrate else 0


def add_calibrate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="a load test's results folder")


def calibrate(args: argparse.Namespace) -> int:
    return _calibrate(args.folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_loadtest(commands.add_parser("run", help="one pattern on one scenario against the real stack"))
    add_calibrate(
        commands.add_parser("calibrate", help="compare a results folder with the simulation of the same jobs")
    )
    args = parser.parse_args(argv)
    return loadtest(args) if args.command == "run" else calibrate(args)


def _calibrate(folder: Path) -> int:
    result = compare(folder)
    write(folder, result)
    head = f"{result['scenario']} / {result['pattern']}, {result['jobs']} jobs, rtt {result['rtt_s']:.3f} s"
    print(f"calibration: {head}")
    for row in result["metrics"]:
        verdict = row["verdict"].upper() if row["verdict"] == "differs" else row["verdict"]
        verdict += " (fitted)" if row.get("fitted") else ""
        print(f"  {row['metric']:22} simulated {_num(row['simulated'])}  measured {_num(row['measured'])}  {verdict}")
    return 0 if result["agrees"] else 1


def _num(value: float | None) -> str:
    return "      -" if value is None else f"{value:7.3f}"
