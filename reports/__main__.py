"""`python -m reports bench|build|check ...`: see --help."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .check import DEFAULT_RULES, CheckError, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench", help="run every step (simulations, load tests, micro-benchmarks) and the report"
    )
    bench.add_argument("--quick", action="store_true", help="fewer jobs, shorter load tests, no micro-benchmarks")
    bench.add_argument("--out", type=Path, help="results folder (default: results/bench/<stamp>)")
    bench.add_argument("--check", action="store_true", help="then run the check with the default rules on it")
    build = commands.add_parser("build", help="(re)build the report of a bench results folder")
    build.add_argument("folder", type=Path)
    gate = commands.add_parser("check", help="exit 1 when a rule fails on a summary.json")
    gate.add_argument("summary", type=Path)
    gate.add_argument("--baseline", type=Path, help="an older summary.json: fail on regressions beyond tolerance")
    gate.add_argument("--rules", type=Path, default=DEFAULT_RULES)
    args = parser.parse_args(argv)
    if args.command == "check":
        try:
            failures = check(args.summary, args.baseline, args.rules)
        except CheckError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for failure in failures:
            print(f"FAIL {failure}")
        print("all rules hold" if not failures else f"{len(failures)} rule(s) failed")
        return 1 if failures else 0
    if args.command == "build":
        from .build import build as build_report

        out = build_report(args.folder)
    else:
        from .bench import FULL, QUICK
        from .bench import bench as run_bench

        out = run_bench(QUICK if args.quick else FULL, args.out)
    print(f"==> report: {out / 'index.html'}")
    print(f"    also {out / 'REPORT.md'}, {out / 'summary.json'} and the tables as CSV")
    if args.command == "bench" and args.check:
        print(f"==> check: python -m reports check {out / 'summary.json'}")
        return main(["check", str(out / "summary.json")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
