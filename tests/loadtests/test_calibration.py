"""The model and the real stack, on the same jobs: a small calibration that fails when the
simulation and the measurement drift apart beyond the tolerance (see loadtests/calibrate.py).

Sync on the original stack checks the timeout and duplicate model (nginx cuts at 60 s,
clients retry twice); polling on the tuned stack checks the delay and request model, and
long polling its held reads. (The WebSocket is the stream model with a flag; the bench
calibrates it with every pattern.)"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from loadtests.calibrate import calibrate
from loadtests.run import LoadTest, run

pytestmark = pytest.mark.integration
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
# Each metric is judged against 95% intervals, so a sound model misses one time in twenty on
# some metric (a tail p95 over 40 jobs, say), and a busy machine's stalls can outlast a run:
# a clean-clone CI measured long polls' p95 at 0.9 and then 1.8 scenario s (18 and 36 ms real,
# against 0.3 modelled) in two runs in a row. A real drift misses every time.
ATTEMPTS = 3


@pytest.mark.parametrize(
    ("scenario", "pattern", "duration_s"),
    [
        ("original-cloudflare-nginx", "sync", 16.0),
        ("tuned-stack", "polling", 8.0),
        ("tuned-stack", "longpoll", 8.0),
    ],
)
def test_simulation_and_measurement_agree(tmp_path: Path, scenario: str, pattern: str, duration_s: float) -> None:
    test = LoadTest(SCENARIOS / f"{scenario}.toml", pattern, duration_s, time_scale=0.02, backend="processes",
                    out=tmp_path / "run")  # fmt: skip
    result = calibrate(run(test))
    for attempt in range(2, ATTEMPTS + 1):
        if result["agrees"]:
            break
        result = calibrate(run(replace(test, out=tmp_path / f"attempt{attempt}")))
    assert result["jobs"] >= 30
    assert result["agrees"], json.dumps(result["metrics"], indent=1)
