"""`proxybench serve` (and `python -m reference_server`): serve the API, in embedded mode
unless Redis and S3 are given."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from . import collector
from .app import create_app
from .config import ConfigError, add_cli_arguments, from_args

add_serve = add_cli_arguments


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = from_args(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    collector.tune()
    mode = "embedded (in-memory jobs, local-disk artifacts)" if settings.embedded else f"redis {settings.redis_url}"
    logging.getLogger("reference_server").info(
        "serving on http://%s:%d, %s, time scale %g", settings.host, settings.port, mode, settings.time_scale
    )
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        handler_cancellation=True,  # a client that leaves ends its handler: event streams wait on no timer
        backlog=settings.listen_backlog,
        reuse_port=settings.reuse_port,
        keepalive_timeout=settings.idle_timeout_s,  # aiohttp starts it when a connection opens: a head timeout too
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_server", description=__doc__)
    add_serve(parser)
    return serve(parser.parse_args(argv))
