"""The reference service as it is deployed for the chaos suite and the soak: two API
processes behind nginx-tuned and two worker processes, on one Redis and one MinIO, all
real processes on loopback."""

from __future__ import annotations

from pathlib import Path

from proxies.render import PROFILES, Hop
from stack.backends import ProcessBackend
from stack.minio_server import MinioServer
from stack.proxy_chain import chain_configs
from stack.redis_server import RedisServer
from stack.reference_process import ReferenceServer, ReferenceWorker, service_env
from tests.conftest import FAST_ENV

TIME_SCALE = float(FAST_ENV["TIME_SCALE"])


class Fleet:
    """Two API processes behind nginx-tuned and two worker processes, on one Redis and MinIO."""

    def __init__(self, tmp: Path, redis: RedisServer, minio: MinioServer, env: dict[str, str]) -> None:
        env = {**env, **service_env(redis.url, minio)}
        self.redis, self.minio = redis, minio
        self.apis = [ReferenceServer(tmp / f"api{i}", {**env, "WORKERS": "0"}, name=f"api{i}") for i in range(2)]
        self.workers = [
            ReferenceWorker(tmp / f"worker{i}", {**env, "WORKERS": "2"}, name=f"worker{i}") for i in range(2)
        ]
        for process in (*self.apis, *self.workers):
            process.start()
        backend = ProcessBackend()
        upstreams = tuple(Hop("127.0.0.1", api.port) for api in self.apis)
        (config,) = chain_configs([PROFILES["nginx-tuned"]], upstreams, backend.reach, TIME_SCALE)
        self.proxy_dir = tmp / "nginx"
        self.proxy = backend.proxy(config, self.proxy_dir)
        self.url = self.proxy.url

    def close(self) -> None:
        self.proxy.stop()
        for process in (*self.apis, *self.workers):
            process.stop()
