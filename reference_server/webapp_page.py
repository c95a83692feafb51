"""Where the download page lives, and its own constants (`webapp/app.js`), read from the page
so that the models and the browser bench never state one a second time."""

from __future__ import annotations

import functools
import re
from pathlib import Path

WEBAPP = Path(__file__).resolve().parent / "webapp"


@functools.cache
def page_constant_s(name: str) -> float:
    """A `const NAME_MS = <integer>;` of app.js, in seconds."""
    found = re.search(rf"^const {re.escape(name)} = (\d+);", (WEBAPP / "app.js").read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"app.js no longer states {name}")
    return int(found.group(1)) / 1000
