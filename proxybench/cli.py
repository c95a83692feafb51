"""`proxybench COMMAND ...`: each command's module is imported only when it runs, so the
server alone (`pip install proxybench`) serves without the bench's packages, and a command
whose extra is missing says which to install.

Each command lives in its package's `cli.py` as `add_<name>(parser)` and `<name>(args)`;
the packages' `python -m` forms are aliases built from the same functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    module: str  # where add_<name> and <name> live
    summary: str
    example: str
    extra: str  # the package extra it needs; "" for the server alone


COMMANDS = {
    "serve": Command(
        "reference_server.cli",
        "the reference server (embedded mode unless Redis and S3 are given)",
        "proxybench serve --port 3000 --time-scale 0.02",
        "",
    ),
    "stack": Command(
        "stack.cli",
        "the whole real stack (Redis, MinIO, servers, proxies) until Ctrl-C; prints its URLs",
        "proxybench stack --profile cloudflare+nginx-tuned --time-scale 0.02",
        "bench",
    ),
    "check": Command(
        "checks.command",
        "check any service behind the real proxies: timeouts, duplicate work, event streams",
        "proxybench check --target target.toml --junit check-results.xml",
        "bench",
    ),
    "simulate": Command(
        "simulations.cli",
        "simulate one pattern on one scenario (SimPy); prints the aggregate metrics",
        "proxybench simulate --scenario scenarios/tuned-stack.toml --pattern hybrid --jobs 100000 --json",
        "bench",
    ),
    "sweep": Command(
        "simulations.cli",
        "simulate a grid over scenario parameters, in parallel, into a CSV",
        "proxybench sweep --scenario scenarios/original-cloudflare-nginx.toml "
        "--grid clients.polling.retry_after_s=1,2,5,10 --out results/sweep.csv",
        "bench",
    ),
    "loadtest": Command(
        "loadtests.cli",
        "one pattern on one scenario with Locust against the real stack (or a --target)",
        "proxybench loadtest --scenario scenarios/tuned-stack.toml --pattern hybrid --duration 10 --calibrate",
        "bench",
    ),
    "calibrate": Command(
        "loadtests.cli",
        "compare a load test's results with the simulation of the same jobs",
        "proxybench calibrate results/loadtests/20261129T040000Z-tuned-stack-hybrid",
        "bench",
    ),
    "bench": Command(
        "benchmarks.cli",
        "every step the report needs (simulations, load tests, micro-benchmarks), then the report",
        "proxybench bench --quick --check",
        "bench",
    ),
    "report": Command(
        "reports.cli",
        "(re)build the report of a bench results folder",
        "proxybench report results/bench/20261129T040000Z",
        "bench",
    ),
    "gate": Command(
        "reports.cli",
        "exit 1 when a rule fails on a report's summary.json (a CI regression gate)",
        "proxybench gate results/bench/20261129T040000Z/report/summary.json --baseline old-summary.json",
        "bench",
    ),
}


def _overview() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:10} {c.summary}" for name, c in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="proxybench",
        description="Long-running work behind proxies that time out: the reference server, the real stack, "
        "the models, the load tests, the report, and checks of any service.",
        epilog=f"commands:\n{listing}\n\n`proxybench COMMAND --help` shows a command's options and an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    overview = _overview()
    if not argv or argv[0] in ("-h", "--help"):
        overview.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        overview.error(f"unknown command {name!r}")
    try:
        parser = command_parser(name)
    except ModuleNotFoundError as exc:
        print(
            f"proxybench {name} needs {exc.name}, which is not installed: "
            f"pip install 'proxybench[{COMMANDS[name].extra}]'",
            file=sys.stderr,
        )
        return 2
    run = getattr(importlib.import_module(COMMANDS[name].module), name)
    return int(run(parser.parse_args(rest)))


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one command, as `proxybench NAME` parses it (the CLI reference is made from it)."""
    command = COMMANDS[name]
    module = importlib.import_module(command.module)
    parser = argparse.ArgumentParser(
        prog=f"proxybench {name}",
        description=command.summary,
        epilog=f"example:\n  {command.example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    getattr(module, f"add_{name}")(parser)
    return parser
