"""How many requests one Locust process can send on this machine (run by `make bench`).

A poll storm: hundreds of polling clients that poll again 1 ms after every answer, through
cloudflare+nginx-tuned with its 1 s micro-cache, so nginx answers most polls and the load
generator, not the reference server, is what runs out first. Once with one Locust process
and once with a master and two workers; each records its peak requests/s and CPU, beside
nginx serving a static file in the same run: no load generator can outrun that, so a
larger figure is a measuring error and fails the bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.run import MASTER_WINDOW_S, LoadTest, run
from tests.bench.test_server_bench import _record, _wrk
from tests.bench.test_stack_bench import _static_nginx

pytestmark = pytest.mark.bench
TUNED = Path(__file__).resolve().parents[2] / "scenarios" / "tuned-stack.toml"


def _storm(folder: Path) -> Path:
    text = (
        TUNED.read_text()
        .replace("rate_per_s = 0.2", "rate_per_s = 2")
        .replace("retry_after_s = 5", "retry_after_s = 0.05")
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "storm.toml").write_text(text.replace('name = "tuned-stack"', 'name = "poll-storm"'))
    return folder / "storm.toml"


@pytest.mark.parametrize("workers", [0, 2])
def test_locust_peak_request_rate(tmp_path: Path, workers: int) -> None:
    test = LoadTest(_storm(tmp_path), "polling", duration_s=3.0, time_scale=0.02, backend="processes",
                    workers=workers, micro_cache=True, out=tmp_path / "run")  # fmt: skip
    out = run(test)
    summary = json.loads((out / "summary.json").read_text())
    meta = json.loads((out / "meta.json").read_text())
    processes = meta["load_generators"]
    static, url = _static_nginx(tmp_path / "static", b'{"status": "completed"}')
    try:
        static_rate = _wrk(f"{url}/status.json")
    finally:
        static.stop()
    peak = summary["locust_peak_requests_per_s"]
    _record(
        f"locust_peak_requests_per_s_{max(1, workers)}_process" + ("es" if workers else ""),
        {
            "peak_requests_per_s": peak,
            "peak_window_s": MASTER_WINDOW_S if workers else 1.0,
            "nginx_static_requests_per_s_same_run": round(static_rate),
            "vs_nginx_static": round(peak / static_rate, 4),
            "jobs": summary["jobs"],
            "requests_per_job": round(summary["requests_per_job"], 1),
            "cpu_percent_mean": [p["cpu_percent_mean"] for p in processes],
            "saturated": any(p["saturated"] for p in processes),
            "warnings": summary["warnings"],
        },
    )
    # A saturated generator may leave jobs unfinished at the run's limit; the peak still stands.
    assert summary["jobs"] > meta["jobs"] / 2, summary["warnings"]
    assert 0 < peak < static_rate, f"{peak} requests/s is more than nginx serves a static file ({static_rate:.0f})"
