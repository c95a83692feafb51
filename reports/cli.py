"""`proxybench bench`, `proxybench report` and `proxybench gate` (and
`python -m reports bench|build|check`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .check import DEFAULT_RULES, CheckError, check


def add_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer jobs, shorter load tests, no micro-benchmarks")
    parser.add_argument("--out", type=Path, help="results folder (default: results/bench/<stamp>)")
    parser.add_argument("--check", action="store_true", help="then run the gate with the default rules on it")
    from .bench import STEPS

    parser.add_argument(
        "--only",
        metavar="STEP[,STEP]",
        help=f"run these of {', '.join(STEPS)} into --out (default: the newest bench folder of the same "
        "kind) and rebuild the report from what it holds",
    )


def bench(args: argparse.Namespace) -> int:
    from harness.processes import stop_services_on_sigterm

    from .bench import FULL, QUICK, STEPS
    from .bench import bench as run_bench

    stop_services_on_sigterm()
    only = tuple(s.strip() for s in args.only.split(",") if s.strip()) if args.only else STEPS
    try:
        out = run_bench(QUICK if args.quick else FULL, args.out, only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _built(out)
    if not args.check:
        return 0
    print(f"==> gate: {out / 'summary.json'}")
    return _gate(out / "summary.json", None, DEFAULT_RULES)


def add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="a bench results folder")


def report(args: argparse.Namespace) -> int:
    from .build import build

    _built(build(args.folder))
    return 0


def add_gate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("summary", type=Path, help="a report's summary.json")
    parser.add_argument("--baseline", type=Path, help="an older summary.json: fail on regressions beyond tolerance")
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES)


def gate(args: argparse.Namespace) -> int:
    return _gate(args.summary, args.baseline, args.rules)


def _gate(summary: Path, baseline: Path | None, rules: Path) -> int:
    try:
        failures = check(summary, baseline, rules)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for failure in failures:
        print(f"FAIL {failure}")
    print("all rules hold" if not failures else f"{len(failures)} rule(s) failed")
    return 1 if failures else 0


def _built(out: Path) -> None:
    print(f"==> report: {out / 'index.html'}")
    print(f"    also {out / 'REPORT.md'}, {out / 'summary.json'} and the tables as CSV")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_bench(
        commands.add_parser("bench", help="run every step (simulations, load tests, micro-benchmarks) and the report")
    )
    add_report(commands.add_parser("build", help="(re)build the report of a bench results folder"))
    add_gate(commands.add_parser("check", help="exit 1 when a rule fails on a summary.json"))
    args = parser.parse_args(argv)
    return {"bench": bench, "build": report, "check": gate}[args.command](args)
