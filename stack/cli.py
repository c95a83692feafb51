"""`proxybench stack` (and `python -m stack up`): starts the whole real stack, prints its
URLs (and how long each part took to come up) as JSON, and runs until Ctrl-C or SIGTERM,
then tears everything down.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from proxies.render import CHAIN_HELP

from .full_stack import Stack, StackSpec


def add_stack(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cloudflare+nginx-tuned", help=f"{CHAIN_HELP}, or direct")
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument("--backend", choices=("auto", "processes", "containers", "hosts"), default="auto")
    parser.add_argument(
        "--hosts", action="store_true", help="each role on a host of its own (network namespaces): --backend hosts"
    )
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--worker-processes", type=int, default=0)
    parser.add_argument("--micro-cache", action="store_true", help="1 s nginx micro-cache for status polls")
    parser.add_argument("--tls", action="store_true", help="the entry speaks TLS, HTTP/2 first; prints ca_cert")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server setting")


def stack(args: argparse.Namespace) -> int:
    spec = StackSpec(
        profile=args.profile,
        time_scale=args.time_scale,
        servers=args.servers,
        worker_processes=args.worker_processes,
        server_env=dict(item.split("=", 1) for item in args.env),
        micro_cache=args.micro_cache,
        backend="hosts" if args.hosts else args.backend,
        tls=args.tls,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Stack(spec) as running:
        assert running.urls is not None and running.backend is not None
        summary = {"backend": running.backend.name, "urls": vars(running.urls), "startup_s": running.startup_s}
        if running.backend.hosts():
            summary["hosts"] = running.backend.hosts()
        if running.ca:
            summary["ca_cert"] = str(running.ca.ca_cert)
        print(json.dumps(summary, indent=2), flush=True)
        print("stack is up; Ctrl-C tears it down", file=sys.stderr, flush=True)
        stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True)
    add_stack(actions.add_parser("up", help="start a stack and keep it running until interrupted"))
    return stack(parser.parse_args(argv))
