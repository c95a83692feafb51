"""`python -m reference_server.worker`: job executors and webhook dispatchers in a process
of their own, sharing Redis and the artifact store with the API servers."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from .. import collector
from ..config import ConfigError, load
from ..memory_trace import tracing
from ..metrics import Metrics
from ..services import build_artifacts, build_store, running_workers


async def serve(argv: list[str] | None) -> int:
    settings = load(argv)
    if settings.embedded:
        raise ConfigError("a separate worker needs --redis-url: in embedded mode jobs live inside the server")
    store = build_store(settings)
    artifacts = build_artifacts(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await store.start(listen=False)  # its processes follow no event stream
    try:
        async with tracing(settings.memory_trace_s), running_workers(settings, store, artifacts, Metrics(store)):
            logging.getLogger("reference_server.worker").info(
                "worker %s running %d job slots", settings.instance, settings.workers
            )
            await stop.wait()
    finally:
        await artifacts.close()
        await store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    collector.tune()
    try:
        return asyncio.run(serve(argv))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
