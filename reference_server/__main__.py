"""`python -m reference_server`: serve the API (embedded mode unless Redis/S3 are given)."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from .app import create_app
from .config import ConfigError, load


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load(argv)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    mode = "embedded (in-memory jobs, local-disk artifacts)" if settings.embedded else f"redis {settings.redis_url}"
    logging.getLogger("reference_server").info(
        "serving on http://%s:%d, %s, time scale %g", settings.host, settings.port, mode, settings.time_scale
    )
    # handler_cancellation: a handler whose client left is cancelled, so abandoned event
    # streams do not linger; the sync /start work is shielded and still runs to its end.
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        handler_cancellation=True,
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
