"""The MinIO server binary: built once from its Go module into a cache outside the repo.

MinIO ships no binary in Debian, PyPI or npm; building from source with `go install` is
MinIO's own documented route. `python -m harness.minio_build` builds it if missing and
prints its path; the tests and the stack find it here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# The newest version the Go module proxy serves (MinIO publishes pseudo-versions now).
MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"


def cache_dir() -> Path:
    base = os.environ.get("PROXYBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "proxybench"
    )
    return Path(base)


def minio_binary() -> Path:
    override = os.environ.get("MINIO_BINARY")
    if override:
        return Path(override)
    return cache_dir() / "minio" / MINIO_VERSION / "minio"


def build() -> Path:
    target = minio_binary()
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise SystemExit("building MinIO needs Go (`go` on PATH); install golang or set MINIO_BINARY")
    print(f"building MinIO {MINIO_VERSION} into {target.parent} (takes a few minutes, once)", file=sys.stderr)
    env = {**os.environ, "GOBIN": str(target.parent), "CGO_ENABLED": "0"}
    subprocess.run([go, "install", f"{MINIO_MODULE}@{MINIO_VERSION}"], check=True, env=env)
    return target


if __name__ == "__main__":
    print(build())
