"""`proxybench bench` (and `python -m benchmarks`): every step the report needs, then the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.check import DEFAULT_RULES
from reports.cli import announce_report, gate_summary
from stack.processes import stop_services_on_sigterm


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
    from .bench import FULL, QUICK, STEPS
    from .bench import bench as run_bench

    stop_services_on_sigterm()
    only = tuple(s.strip() for s in args.only.split(",") if s.strip()) if args.only else STEPS
    try:
        out = run_bench(QUICK if args.quick else FULL, args.out, only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    announce_report(out)
    if not args.check:
        return 0
    print(f"==> gate: {out / 'summary.json'}")
    return gate_summary(out / "summary.json", None, DEFAULT_RULES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    add_bench(parser)
    return bench(parser.parse_args(argv))
