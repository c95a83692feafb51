"""Scale-out (run by `make bench`): N server processes behind nginx-tuned (an upstream with
keep-alive) and one worker process, on one Redis and MinIO, as
`proxybench stack --servers N --worker-processes 1` starts them: on this machine's loopback,
and with every role on a host of its own (`--hosts`: each API process on its own network
stack, Redis as a master, a replica and three Sentinels).

For N = 1, 2 and 4, wrk measures through nginx:
- status polls of a completed job (a read: one Redis round trip and a cached link);
- initiates, each for files of its own (a write: the job, its queue entry and its log).
nginx serving the same status body from a file is measured in the same run, as the
machine's ceiling for one request through nginx. The curve shows where adding processes
stops paying: on this 2-core machine, wrk, nginx, Redis and the servers share the cores.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import aiohttp
import pytest

from stack.full_stack import Stack, StackSpec
from tests.bench.test_server_bench import REPEATS, _record, _wrk
from tests.bench.test_stack_bench import _static_nginx
from tests.helpers import initiate, wait_state

pytestmark = pytest.mark.bench
SERVER_COUNTS = (1, 2, 4)
SERVER_ENV = {
    "RATE_LIMIT_MAX_REQUESTS": "100000000",
    "MAX_QUEUED_JOBS": "100000000",  # the initiates pile up in the queue; refusing them is not what is measured
    "DOWNLOAD_DELAY_MIN_MS": "100",
    "DOWNLOAD_DELAY_MAX_MS": "100",
}
# Each initiate asks for a file of its own, so none is answered with a running job.
INITIATE_SCRIPT = """
counter = 10000
request = function()
    counter = counter + 1
    return wrk.format("POST", "/v1/download/initiate", {["Content-Type"] = "application/json"},
        '{"file_ids":[' .. counter .. ']}')
end
"""


@pytest.mark.parametrize("backend", ["processes", "hosts"])
async def test_throughput_against_server_processes(http: aiohttp.ClientSession, tmp_path: Path, backend: str) -> None:
    script = tmp_path / "initiate.lua"
    script.write_text(INITIATE_SCRIPT)
    runs: dict[str, list[float]] = {}
    status_body = b""
    for n in SERVER_COUNTS:
        spec = StackSpec(
            profile="nginx-tuned",
            time_scale=1.0,
            servers=n,
            worker_processes=1,
            server_env=SERVER_ENV,
            backend=backend,
        )
        with Stack(spec) as stack:
            assert stack.urls is not None
            entry = stack.urls.entry
            _, body, _ = await initiate(http, entry, [70000])
            await wait_state(http, entry, body["jobId"], {"completed"})
            status = f"{entry}/v1/download/jobs/{body['jobId']}"
            async with http.get(status) as resp:
                status_body = await resp.read()
            for _ in range(REPEATS):
                runs.setdefault(f"status[{n}]", []).append(_wrk(status))
                runs.setdefault(f"initiate[{n}]", []).append(_wrk(entry, script=script))
    with tempfile.TemporaryDirectory() as tmp:
        static, static_port = _static_nginx(Path(tmp), status_body)
        try:
            runs["nginx_static_file"] = [_wrk(f"http://127.0.0.1:{static_port}/status.json") for _ in range(REPEATS)]
        finally:
            static.stop()
    medians = {name: round(statistics.median(v)) for name, v in runs.items()}
    curve: dict[str, dict[int, dict[str, float]]] = {}
    for kind in ("status", "initiate"):
        one = medians[f"{kind}[1]"]
        curve[kind] = {
            n: {"req_per_s": medians[f"{kind}[{n}]"], "vs_one": round(medians[f"{kind}[{n}]"] / one, 2)}
            for n in SERVER_COUNTS
        }
    _record(
        f"scale_out[{backend}]",
        {
            "servers": list(SERVER_COUNTS),
            "worker_processes": 1,
            "curve": curve,
            "nginx_static_file": medians["nginx_static_file"],
            "runs": runs,
        },
    )
    assert all(v > 0 for v in medians.values()), medians
