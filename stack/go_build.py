"""Service binaries built once from their Go modules into a cache outside the repo.

MinIO and Toxiproxy ship no binary in Debian, PyPI or npm; `go install` of the module is
their own documented route. `python -m stack.go_build` builds whichever is missing and
prints the paths; the tests and the stack find them here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("PROXYBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "proxybench"
    )
    return Path(base)


@dataclass(frozen=True)
class GoBinary:
    name: str  # what the project calls it: the cache folder and the provenance key
    module: str  # the package `go install` builds
    version: str
    built_as: str  # the binary's file name after `go install`
    override: str  # an environment variable naming a binary to use instead
    minutes: str  # how long a build takes here, for the progress line

    @property
    def path(self) -> Path:
        given = os.environ.get(self.override)
        if given:
            return Path(given)
        return cache_dir() / self.name / self.version / self.built_as

    def build(self) -> Path:
        target = self.path
        if target.exists():
            return target
        go = shutil.which("go")
        if go is None:
            raise SystemExit(f"building {self.name} needs Go (`go` on PATH); install golang or set {self.override}")
        print(f"==> {self.name}: building {self.version} into {target.parent} ({self.minutes}, once)", file=sys.stderr)
        env = {**os.environ, "GOBIN": str(target.parent), "CGO_ENABLED": "0"}
        subprocess.run([go, "install", f"{self.module}@{self.version}"], check=True, env=env)
        return target


# The newest versions the Go module proxy serves (MinIO publishes pseudo-versions now).
MINIO = GoBinary(
    "minio", "github.com/minio/minio", "v0.0.0-20260212201848-7aac2a2c5b7c", "minio", "MINIO_BINARY",
    "several minutes",
)  # fmt: skip
TOXIPROXY = GoBinary(
    "toxiproxy", "github.com/Shopify/toxiproxy/v2/cmd/server", "v2.5.0", "server", "TOXIPROXY_BINARY",
    "about a minute",
)  # fmt: skip
BINARIES = (MINIO, TOXIPROXY)


def main() -> int:
    for binary in BINARIES:
        print(f"==> {binary.name}: {binary.build()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
