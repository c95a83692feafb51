"""Where numbers come from: the machine, the versions of everything that ran, and the
git revision, recorded next to every result so a report can cite its sources."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .go_build import MINIO, TOXIPROXY

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aiohttp", "redis", "minio", "simpy", "numpy", "locust", "pandas", "matplotlib")
BINARIES = {  # how each engine prints its version
    "nginx": ["nginx", "-v"],
    "haproxy": ["haproxy", "-v"],
    "caddy": ["caddy", "version"],
    "redis-server": ["redis-server", "--version"],
}


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=cwd, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def git() -> dict[str, Any]:
    rev = _run(["git", "rev-parse", "HEAD"], ROOT)
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"], ROOT))
    return {"revision": rev or None, "dirty": dirty}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    with contextlib.suppress(ValueError, OSError):
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "hostname": platform.node(),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    found.update({f"{b.name}-server": b.version for b in (MINIO, TOXIPROXY)})
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    for name, argv in BINARIES.items():
        found[name] = _run(argv) if shutil.which(argv[0]) else None
    return found


def provenance() -> dict[str, Any]:
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git(),
        "machine": machine(),
        "versions": versions(),
    }
