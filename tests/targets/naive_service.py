"""A naive export service, written the way many are, as a foreign target for the checks.

It is not the reference server and shares none of its code: the standard library's
threaded `http.server`, its own paths and field names. It gets two things wrong on
purpose:
- `POST /export` does the work inside the request, so a proxy cuts it, and every retry
  does the work again;
- `POST /exports` ignores `Idempotency-Key`: every retry is a new job.

Work per job comes from the `X-Work-Ms` header (real milliseconds). It counts executions
in a Prometheus counter at `/metrics`, unless started with `--no-metrics`.

    python tests/targets/naive_service.py --port 8080 [--no-metrics]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTIFACT = b"naive export\n" * 100


class State:
    def __init__(self, metrics: bool) -> None:
        self.metrics = metrics
        self.lock = threading.Lock()
        self.started = 0
        self.jobs: dict[str, str] = {}

    def run(self, work_s: float, job_id: str | None = None) -> None:
        with self.lock:
            self.started += 1
        time.sleep(work_s)
        if job_id is not None:
            with self.lock:
                self.jobs[job_id] = "done"


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None  # quiet: the harness reads answers, not logs

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode())

    def _work_s(self) -> float:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        return int(self.headers.get("X-Work-Ms", "1000")) / 1000

    def do_POST(self) -> None:
        state = self.server.state
        if self.path == "/export":
            state.run(self._work_s())
            self._json(200, {"state": "done"})
        elif self.path == "/exports":
            job_id, work_s = uuid.uuid4().hex, self._work_s()
            with state.lock:
                state.jobs[job_id] = "running"
            threading.Thread(target=state.run, args=(work_s, job_id), daemon=True).start()
            self._json(202, {"id": job_id})
        else:
            self._json(404, {"error": "not found"})

    def do_GET(self) -> None:
        state = self.server.state
        parts = self.path.strip("/").split("/")
        if self.path == "/healthz":
            self._json(200, {"ok": True})
        elif self.path == "/metrics" and state.metrics:
            text = f"# TYPE naive_work_started_total counter\nnaive_work_started_total {state.started}\n"
            self._send(200, text.encode(), "text/plain; version=0.0.4")
        elif len(parts) in (2, 3) and parts[0] == "exports" and parts[1] in state.jobs:
            if len(parts) == 2:
                self._json(200, {"id": parts[1], "state": state.jobs[parts[1]]})
            elif parts[2] == "file" and state.jobs[parts[1]] == "done":
                self._send(200, ARTIFACT, "application/octet-stream")
            else:
                self._json(404, {"error": "not ready"})
        else:
            self._json(404, {"error": "not found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 drops connects under the checks' 20 concurrent initiates

    def __init__(self, port: int, state: State) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-metrics", action="store_true")
    args = parser.parse_args()
    Server(args.port, State(metrics=not args.no_metrics)).serve_forever()


if __name__ == "__main__":
    main()
