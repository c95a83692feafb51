"""`proxybench simulate` and `proxybench sweep` (and `python -m simulations run|sweep`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from core.scenario import ScenarioError, load

from .patterns import PATTERNS
from .run import run
from .sweep import parse_grid
from .sweep import sweep as run_sweep


def add_simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", required=True, type=Path)
    parser.add_argument("--pattern", required=True, choices=sorted(PATTERNS))
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, help="default: the scenario's seed")
    parser.add_argument("--engine", choices=("auto", "simpy", "fifo"), default="auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: aligned text)")


def simulate(args: argparse.Namespace) -> int:
    try:
        result = run(load(args.scenario), args.pattern, args.jobs, args.seed, args.engine)
    except (ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:34} {value}")
    return 0


def add_sweep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", required=True, type=Path)
    parser.add_argument("--pattern", action="append", choices=sorted(PATTERNS), help="repeatable; default: all")
    parser.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2", help="repeatable")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, help="default: the scenario's seed")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("results/sweep.csv"))


def sweep(args: argparse.Namespace) -> int:
    try:
        scenario = load(args.scenario)
        seed = scenario.seed if args.seed is None else args.seed
        patterns = args.pattern or sorted(PATTERNS)
        rows = run_sweep(scenario, patterns, parse_grid(args.grid), args.jobs, seed, args.processes, args.out)
    except (ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(rows)} rows -> {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_simulate(commands.add_parser("run", help="simulate one pattern on one scenario"))
    add_sweep(commands.add_parser("sweep", help="a grid over scenario parameters, in parallel"))
    args = parser.parse_args(argv)
    return simulate(args) if args.command == "run" else sweep(args)
