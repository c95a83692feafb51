"""Benchmarks of the real stack (run by `make bench`):

- status polls per second through cloudflare+nginx-tuned, with and without nginx's 1 s
  micro-cache, side by side with nginx serving a static file of the same size (directly,
  and behind the same edge) and with the server reached directly, in the same run
  (medians of interleaved repeats);
- how long a stack takes to come up on each backend.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import aiohttp
import pytest

from checks.target import reference_target
from checks.target_client import TargetClient
from proxies.render import Hop, parse_chain
from stack.backends import ProcessBackend
from stack.full_stack import Stack, StackSpec
from stack.processes import ManagedProcess, free_port, tcp_open
from stack.proxy_chain import chain_configs
from tests.bench.test_server_bench import REPEATS, _record, _wrk

pytestmark = pytest.mark.bench
STATIC_NGINX = """worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}/www; default_type application/json; }}
    }}
}}
"""


def _static_nginx(folder: Path, body: bytes) -> tuple[ManagedProcess, int]:
    import os

    (folder / "www").mkdir(parents=True)
    (folder / "tmp").mkdir()
    (folder / "www" / "status.json").write_bytes(body)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(STATIC_NGINX.format(root=folder, port=port, user=user))
    argv = ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    return ManagedProcess("static-nginx", argv, folder, ready=tcp_open(port)).start(), port


async def test_status_polls_through_the_proxies(http: aiohttp.ClientSession) -> None:
    spec = {"time_scale": 0.02, "backend": "processes", "server_env": {"SIMULATED_WORK_HEADER": "true"}}
    with (
        Stack(StackSpec(profile="cloudflare+nginx-tuned", **spec)) as plain,  # type: ignore[arg-type]
        Stack(StackSpec(profile="cloudflare+nginx-tuned", micro_cache=True, **spec)) as cached,  # type: ignore[arg-type]
        tempfile.TemporaryDirectory() as tmp,
    ):
        assert plain.urls is not None and cached.urls is not None
        paths = {}
        for name, urls in (("plain", plain.urls), ("cached", cached.urls)):
            client = TargetClient(http, reference_target(urls.servers[0]), urls.entry, urls.servers[0], 0.02)
            job = client.job(await client.initiate(70000, work_s=0.02))
            assert job is not None and (await client.poll_until_terminal(job, 30)).final is not None
            paths[name] = client.path("status", job)
        async with http.get(plain.urls.servers[0] + paths["plain"]) as resp:
            body = await resp.read()
        static, static_port = _static_nginx(Path(tmp) / "static", body)
        # The same edge in front of the static file: what crossing the edge costs a request
        # that the hop behind it answers at once, as the micro-cache answers most polls.
        backend = ProcessBackend()
        [edge_config] = chain_configs(parse_chain("cloudflare"), (Hop("127.0.0.1", static_port),), backend.reach, 0.02)
        edge = backend.proxy(edge_config, Path(tmp) / "edge")
        try:
            cases = {
                "nginx_static_file": f"http://127.0.0.1:{static_port}/status.json",
                "edge_nginx_static_file": edge.url + "/status.json",
                "server_direct": plain.urls.servers[0] + paths["plain"],
                "edge_nginx_tuned": plain.urls.entry + paths["plain"],
                "edge_nginx_tuned_microcache": cached.urls.entry + paths["cached"],
            }
            runs: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(REPEATS):
                for name, url in cases.items():
                    runs[name].append(_wrk(url))
        finally:
            edge.stop()
            static.stop()
    medians = {name: round(statistics.median(v)) for name, v in runs.items()}
    ratios = {name: round(v / medians["nginx_static_file"], 3) for name, v in medians.items()}
    through_edge = round(medians["edge_nginx_tuned_microcache"] / medians["edge_nginx_static_file"], 3)
    _record(
        "status_polls_through_proxies",
        {
            "median_req_per_s": medians,
            "vs_nginx_static": ratios,
            "microcache_vs_static_behind_the_same_edge": through_edge,
            "runs": runs,
        },
    )
    # Same-run sanity: every case answered, and none beat nginx serving the same bytes from disk.
    assert all(v > 0 for v in medians.values()), medians
    assert all(r <= 1.0 for name, r in ratios.items() if name != "nginx_static_file"), ratios


@pytest.mark.parametrize("backend", ["processes", "containers"])
def test_stack_startup_time(backend: str) -> None:
    timings = []
    for _ in range(REPEATS):
        with Stack(StackSpec(profile="cloudflare+nginx-tuned", backend=backend)) as stack:
            timings.append(stack.startup_s)
    totals = [t["total"] for t in timings]
    _record(f"stack_startup_s[{backend}]", {"median_total_s": statistics.median(totals), "runs": timings})
    # Each part took time, and the parts (started one after another) fit in the whole.
    for t in timings:
        parts = [v for k, v in t.items() if k != "total"]
        assert all(v > 0 for v in parts) and sum(parts) <= t["total"] + 0.01, t
