"""Finding a Docker-compatible engine for testcontainers, or starting podman's API service.

testcontainers reads its settings from the environment when it is imported, so
`TestcontainersEnv.apply()` runs before the first import of it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .processes import ManagedProcess, ProcessService, ServiceError


def engine_answers(docker_host: str | None = None) -> bool:
    """True when a Docker API answers at DOCKER_HOST (or the default socket)."""
    try:
        import docker

        client = docker.DockerClient(base_url=docker_host) if docker_host else docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def testcontainers_env(docker_host: str) -> dict[str, str]:
    return {
        "DOCKER_HOST": docker_host,
        # The reaper image cannot be pulled here; the harness stops its own containers.
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
        # This machine has /.dockerenv, which would otherwise send testcontainers looking for a gateway.
        "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
        "TC_POOLING_INTERVAL": "0.1",
    }


class PodmanService(ProcessService):
    """`podman system service` on a private socket, for as long as the stack needs it."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("podman") is None:
            raise ServiceError("podman is not installed; run `make setup`")
        self.socket = workdir / "podman.sock"
        self.docker_host = f"unix://{self.socket}"
        argv = ["podman", "system", "service", "--time=0", self.docker_host]
        self.process = ManagedProcess("podman", argv, workdir, ready=lambda: engine_answers(self.docker_host))


def use_engine(workdir: Path) -> PodmanService | None:
    """Point testcontainers at an engine: the one that answers, or a podman service we start."""
    if engine_answers(os.environ.get("DOCKER_HOST")):
        env = testcontainers_env(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
        env.pop("DOCKER_HOST")
        os.environ.update({k: v for k, v in env.items() if k not in os.environ})
        return None
    service = PodmanService(workdir).start()
    os.environ.update(testcontainers_env(service.docker_host))
    return service
