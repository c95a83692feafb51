"""`python -m simulations run|sweep ...`: see --help."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.scenario import ScenarioError, load

from .patterns import PATTERNS
from .run import run
from .sweep import parse_grid, sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run", help="simulate one pattern on one scenario")
    one.add_argument("--scenario", required=True, type=Path)
    one.add_argument("--pattern", required=True, choices=sorted(PATTERNS))
    one.add_argument("--jobs", type=int, default=10_000)
    one.add_argument("--seed", type=int, help="default: the scenario's seed")
    one.add_argument("--engine", choices=("auto", "simpy", "fifo"), default="auto")
    one.add_argument("--json", action="store_true", help="print one JSON object (default: aligned text)")
    many = commands.add_parser("sweep", help="a grid over scenario parameters, in parallel")
    many.add_argument("--scenario", required=True, type=Path)
    many.add_argument("--pattern", action="append", choices=sorted(PATTERNS), help="repeatable; default: all")
    many.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2", help="repeatable")
    many.add_argument("--jobs", type=int, default=10_000)
    many.add_argument("--seed", type=int, help="default: the scenario's seed")
    many.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    many.add_argument("--out", type=Path, default=Path("results/sweep.csv"))
    args = parser.parse_args(argv)
    try:
        scenario = load(args.scenario)
        if args.command == "run":
            result = run(scenario, args.pattern, args.jobs, args.seed, args.engine)
            if args.json:
                print(json.dumps(result))
            else:
                for key, value in result.items():
                    print(f"{key:34} {value}")
            return 0
        seed = scenario.seed if args.seed is None else args.seed
        patterns = args.pattern or sorted(PATTERNS)
        rows = sweep(scenario, patterns, parse_grid(args.grid), args.jobs, seed, args.processes, args.out)
        print(f"{len(rows)} rows -> {args.out}")
        return 0
    except (ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
