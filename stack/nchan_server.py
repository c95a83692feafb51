"""nginx with the nchan module on a free port: the reference engine the stream benchmark
compares the reference server with (Debian's `libnginx-mod-nchan`, installed by `make setup`).

One worker process by default, like one reference-server process; with several, each
has a listening socket of its own (`reuseport`), as the reference server's processes do,
so the kernel spreads connections evenly. Subscribers hold `GET /sub/<channel>` as an
event stream; `POST /pub/<channel>` publishes to it.
"""

from __future__ import annotations

import resource
import shutil
from pathlib import Path

from .processes import ManagedProcess, ProcessService, ServiceError, free_port, http_ok

MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
MAX_FILES = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # the hard limit on open files per process

CONFIG = """\
load_module {module};
worker_processes {workers};
worker_rlimit_nofile {max_files};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections {max_files}; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    server {{
        listen 127.0.0.1:{port} backlog={backlog}{reuseport};
        location = /health {{ return 200 "ok"; }}
        location ~ ^/sub/(\\w+)$ {{ nchan_subscriber eventsource; nchan_channel_id $1; }}
        location ~ ^/pub/(\\w+)$ {{ nchan_publisher; nchan_channel_id $1; }}
    }}
}}
"""


def nchan_missing() -> str | None:
    """Why nginx+nchan cannot run here, or None when it can."""
    if shutil.which("nginx") is None:
        return "nginx is not installed; run `make setup`"
    if not MODULE.exists():
        return f"{MODULE} is missing; run `make setup` (Debian package libnginx-mod-nchan)"
    return None


class NchanServer(ProcessService):
    def __init__(self, workdir: Path, backlog: int, workers: int = 1) -> None:
        missing = nchan_missing()
        if missing:
            raise ServiceError(missing)
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "nginx.conf"
        config.write_text(
            CONFIG.format(
                module=MODULE,
                workers=workers,
                max_files=MAX_FILES,
                root=workdir,
                port=self.port,
                backlog=backlog,
                reuseport=" reuseport" if workers > 1 else "",
            )
        )
        argv = ["nginx", "-p", str(workdir), "-c", str(config), "-g", "daemon off;"]
        self.process = ManagedProcess("nchan", argv, workdir, ready=http_ok(f"{self.url}/health"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
