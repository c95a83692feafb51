"""`proxybench check` (alias `python -m checks`): any HTTP service behind the real
proxy chain, judged by the timeout, duplicate and event-stream checks.

    proxybench check --target target.toml --junit results.xml
    proxybench check --target-url http://127.0.0.1:3000 --profile cloudflare+nginx-tuned --time-scale 0.01

Exit status: 0 when no check failed, 1 when one did, 2 when the target is unusable (a bad
file, a service that does not start or answer, a work setting the time scale defeats).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import aiohttp

from proxies.render import CHAIN_HELP, Profile, binding_hop, parse_chain
from stack.processes import ServiceError
from stack.tls import StackCa, make_stack_ca

from .junit import write_junit
from .origin_relay import Arrivals, OriginRelay
from .suite import GROUPS, CheckSession, Limits, Result, run_checks
from .target import Target, TargetError, load_target, reference_target
from .target_client import TargetClient
from .target_stack import BadTarget, behind_proxies, origin_hop, running_service

DEFAULT_TIME_SCALE = 0.01  # the edge's 100 s becomes 1 s: a whole check run takes about half a minute
FIXED_WORK_LIMITS = 1.5  # a fixed-work target's jobs should last this many binding limits
EXIT_OK, EXIT_FAILED, EXIT_BAD_TARGET = 0, 1, 2
MARK = {"pass": "PASS", "fail": "FAIL", "not measurable": "N/M ", "not in scope": "----"}


def add_check(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--target", type=Path, help="a target.toml describing the service")
    which.add_argument("--target-url", help="a running service on the reference contract, default scope")
    parser.add_argument("--profile", default="cloudflare+nginx-tuned", help=f"{CHAIN_HELP}, in front of the service")
    parser.add_argument(
        "--time-scale",
        type=float,
        help=f"multiplies the proxies' limits (default {DEFAULT_TIME_SCALE}; "
        "for a target with fixed work, the scale that makes it 1.5 binding limits)",
    )
    parser.add_argument(
        "--tls", action="store_true", help="the entry proxy speaks TLS (HTTP/2 offered), with a CA made for the run"
    )
    parser.add_argument("--only", default=",".join(GROUPS), help=f"check groups, comma-separated: {', '.join(GROUPS)}")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here (one testcase per check)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout (lines go to stderr)")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="after the results, say what the service would change for each failed check",
    )


def _time_scale(target: Target, binding: Profile, given: float | None) -> float:
    fixed = target.work.fixed_s
    if not fixed:
        return given or DEFAULT_TIME_SCALE
    if given is None:
        return fixed / (FIXED_WORK_LIMITS * binding.read_s)
    if fixed <= binding.read_s * given:
        raise BadTarget(
            f"work.fixed_s = {fixed:g} s does not outlast {binding.name}'s limit at time scale {given:g} "
            f"({binding.read_s * given:g} s); use --time-scale {fixed / (FIXED_WORK_LIMITS * binding.read_s):.4g} "
            "or leave it out"
        )
    return given


async def check_target(
    target: Target,
    entry: str,
    origin: str,
    arrivals: Arrivals,
    limits: Limits,
    groups: tuple[str, ...],
    echo: bool,
    ca: StackCa | None = None,
) -> list[Result]:
    def report(result: Result) -> None:
        if echo:
            print(
                f"{MARK[result.verdict]}  {result.check}  ({result.seconds:.1f} s)  {result.evidence}",
                file=sys.stderr,
                flush=True,
            )

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    verify = ssl.create_default_context(cafile=str(ca.ca_cert) if ca else None)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(ssl=verify)) as http:
        client = TargetClient(http, target, entry, origin, limits.time_scale, arrivals)
        return await run_checks(CheckSession(client, limits), groups, report)


def check(args: argparse.Namespace) -> int:
    try:
        target = load_target(args.target) if args.target else reference_target(args.target_url)
        if args.profile == "direct":
            raise BadTarget("check needs at least one proxy in --profile")
        chain = parse_chain(args.profile)
        binding = binding_hop(chain)
        limits = Limits(tuple(chain), _time_scale(target, binding, args.time_scale))
        groups = tuple(g.strip() for g in args.only.split(",") if g.strip())
        if not groups or any(g not in GROUPS for g in groups):
            raise BadTarget(f"--only takes {', '.join(GROUPS)}")
        workdir = Path(tempfile.mkdtemp(prefix="proxybench-check-"))
        ca = make_stack_ca(workdir / "tls") if args.tls else None
        print(f"checking {target.name} behind {args.profile}: {limits}", file=sys.stderr, flush=True)
        # The proxies reach the service through the relay, which sees every request they hand on.
        with (
            running_service(target, workdir / "service") as origin,
            OriginRelay(origin_hop(origin)) as relay,
            behind_proxies(chain, f"http://{relay.hop}", target, limits.time_scale, workdir, ca) as entry,
        ):
            results = asyncio.run(check_target(target, entry, origin, relay.arrivals, limits, groups, True, ca))
    except (TargetError, BadTarget, ValueError, ServiceError) as exc:
        print(f"bad target: {exc}", file=sys.stderr)
        return EXIT_BAD_TARGET
    failed = [r.check for r in results if r.verdict == "fail"]
    counts = {v: sum(r.verdict == v for r in results) for v in MARK}
    print(
        ", ".join(f"{n} {v}" for v, n in counts.items()) + (f"; failed: {', '.join(failed)}" if failed else ""),
        file=sys.stderr,
    )
    if args.explain:
        print(explanation(results), file=sys.stderr)
    if args.junit:
        write_junit(args.junit, f"proxybench check: {target.name} behind {args.profile}", results)
    if args.json:
        print(
            json.dumps(
                {
                    "target": target.name,
                    "profile": args.profile,
                    "limits": str(limits),
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
        )
    return EXIT_FAILED if failed else EXIT_OK


def explanation(results: list[Result]) -> str:
    """For each failed check, what the service would change; one paragraph each."""
    failed = [r for r in results if r.verdict == "fail"]
    if not failed:
        return "nothing to change: no check failed"
    paragraphs = [f"{r.check}\n  saw: {r.evidence}\n  change: {r.fix}" for r in failed]
    unmeasured = [r.check for r in results if r.verdict == "not measurable"]
    if unmeasured:
        paragraphs.append(
            f"not measurable ({', '.join(unmeasured)}): the evidence says what was missing; an execution "
            "counter (executions.* in target.toml) or a work setting the service honours (work.*) makes "
            "them measurable"
        )
    return "what to change:\n\n" + "\n\n".join(paragraphs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m checks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_check(parser)
    return check(parser.parse_args(argv))
