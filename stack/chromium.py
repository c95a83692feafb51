"""Debian's Chromium, launched headless by Playwright (whose own browser download is never
used), as the browser tests and the tabs bench run it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from .processes import ServiceError
from .tls import StackCa

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # HTTP/3 would take the place of what a run measures: HTTP/1.1 or HTTP/2 over TCP.
    "--disable-quic",
)  # fmt: skip
# Chromium then offers only http/1.1 in ALPN, whatever the server speaks.
HTTP1_ONLY = "--disable-http2"


@contextmanager
def chromium(ca: StackCa | None = None, http2: bool = True) -> Iterator[Browser]:
    """Headless Chromium that trusts `ca` (and no other unknown CA), over HTTP/2 where the
    server offers it or over HTTP/1.1 only."""
    if not CHROMIUM.exists():
        raise ServiceError(f"{CHROMIUM} is missing: run `make setup` (Debian package chromium)")
    args = [*FLAGS, *([ca.chromium_flag] if ca else []), *([] if http2 else [HTTP1_ONLY])]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()
