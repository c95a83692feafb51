"""`proxybench report` and `proxybench gate` (and `python -m reports build|check`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .check import DEFAULT_RULES, CheckError, check


def add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="a bench results folder")


def report(args: argparse.Namespace) -> int:
    from .build import build

    announce_report(build(args.folder))
    return 0


def add_gate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("summary", type=Path, help="a report's summary.json")
    parser.add_argument("--baseline", type=Path, help="an older summary.json: fail on regressions beyond tolerance")
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES)


def gate(args: argparse.Namespace) -> int:
    return gate_summary(args.summary, args.baseline, args.rules)


def gate_summary(summary: Path, baseline: Path | None, rules: Path) -> int:
    try:
        failures = check(summary, baseline, rules)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for failure in failures:
        print(f"FAIL {failure}")
    print("all rules hold" if not failures else f"{len(failures)} rule(s) failed")
    return 1 if failures else 0


def announce_report(out: Path) -> None:
    print(f"==> report: {out / 'index.html'}")
    print(f"    also {out / 'REPORT.md'}, {out / 'summary.json'} and the tables as CSV")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_report(commands.add_parser("build", help="(re)build the report of a bench results folder"))
    add_gate(commands.add_parser("check", help="exit 1 when a rule fails on a summary.json"))
    args = parser.parse_args(argv)
    return {"build": report, "check": gate}[args.command](args)
