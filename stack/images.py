"""Container images for the `containers` backend, built locally (no registry is reachable).

- `localhost/proxybench-services:bookworm`: Debian minbase with nginx-light, redis-server
  and haproxy, made with debootstrap and `podman import`.
- `localhost/proxybench-minio:<version>`: the statically linked MinIO binary alone.

`python -m stack.images` configures podman for this machine (lower ulimits, runc) and
builds whichever image is missing; both steps are skipped when already done.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .go_build import MINIO, cache_dir

SERVICES_IMAGE = "localhost/proxybench-services:bookworm"
MINIO_IMAGE = f"localhost/proxybench-minio:{MINIO.version[-12:]}"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
# Without lowered ulimits the OCI runtime fails here with "setrlimit ... Operation not permitted".
PODMAN_SETTINGS = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
"""


def _log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def configure_podman() -> None:
    if CONTAINERS_CONF.exists() and "default_ulimits" in CONTAINERS_CONF.read_text():
        return
    _log(f"writing {CONTAINERS_CONF} (ulimits and runc for podman on this machine)")
    CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
    CONTAINERS_CONF.write_text(PODMAN_SETTINGS)


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], check=False).returncode == 0


def build_services_image() -> None:
    if image_exists(SERVICES_IMAGE):
        return
    _log(f"building {SERVICES_IMAGE} with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap", "--variant=minbase", "--include=nginx-light,redis-server,haproxy",
                "bookworm", str(rootfs), DEBIAN_MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _import(rootfs, SERVICES_IMAGE, [])


def build_minio_image() -> None:
    if image_exists(MINIO_IMAGE):
        return
    binary = MINIO.build()
    _log(f"building {MINIO_IMAGE} from {binary}")
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        for folder in ("data", "tmp"):
            (rootfs / folder).mkdir(parents=True)
        shutil.copy2(binary, rootfs / "minio")
        _import(rootfs, MINIO_IMAGE, ['ENTRYPOINT ["/minio"]'])


def _import(rootfs: Path, name: str, changes: list[str]) -> None:
    archive = rootfs.parent / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    argv = ["podman", "import"]
    for change in changes:
        argv += ["--change", change]
    subprocess.run([*argv, str(archive), name], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing; run `make setup` (Debian packages podman, runc, debootstrap)")
    cache_dir().mkdir(parents=True, exist_ok=True)
    configure_podman()
    build_services_image()
    build_minio_image()
    _log(f"container images ready: {SERVICES_IMAGE}, {MINIO_IMAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
