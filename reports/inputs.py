"""A bench results folder, read into tables: the simulation's and the load tests'
metrics per scenario and pattern, delays, sweeps, calibrations, per-job rows, the stream
bench, the browser tabs bench and the micro-benchmarks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulations.sweep import flatten

from .browsers import load as load_browsers
from .browsers import measured_rows
from .claims import outcomes
from .intermediaries import PLATFORMS_STEP, platform_row
from .performance import load as load_performance


@dataclass
class Inputs:
    folder: Path
    bench: dict[str, Any]
    simulated: pd.DataFrame  # one row per scenario x pattern
    delays: pd.DataFrame  # scenario, pattern, delay_s (simulated)
    sweeps: dict[str, pd.DataFrame]
    measured: pd.DataFrame  # one row per load test (scenario x pattern; "platforms/<profile>" for the platforms step)
    jobs: pd.DataFrame  # every load-tested job, with scenario and pattern
    calibration: pd.DataFrame  # scenario, pattern, metric, simulated, measured, agrees, fitted
    runs: list[dict[str, Any]] = field(default_factory=list)  # each load test's meta.json
    micro: dict[str, Any] = field(default_factory=dict)
    scale: pd.DataFrame = field(default_factory=pd.DataFrame)  # the scale step: a pattern's server_cost per row
    streams: dict[str, Any] = field(default_factory=dict)  # benchmarks.stream_bench's results
    memory: dict[str, Any] = field(default_factory=dict)  # benchmarks.stream_memory's breakdown
    claims: dict[str, str] = field(default_factory=dict)  # claim test -> passed | failed (reports/claims.py)
    browsers: dict[str, Any] = field(default_factory=dict)  # benchmarks.browser_tabs's results

    @property
    def quick(self) -> bool:
        return bool(self.bench.get("plan", {}).get("quick"))


def one_row(table: pd.DataFrame, scenario: str, pattern: str) -> pd.Series | None:
    """The row of a scenario and pattern in a metrics table, if it ran."""
    if table.empty:
        return None
    hit = table[(table["scenario"] == scenario) & (table["pattern"] == pattern)]
    return None if hit.empty else hit.iloc[0]


def read(folder: Path) -> Inputs:
    sims = folder / "simulations"
    sweeps = {p.stem.removeprefix("sweep-"): pd.read_csv(p) for p in sorted(sims.glob("sweep-*.csv"))}
    measured, jobs, calibration, runs = [], [], [], []
    # The platforms step runs one scenario behind each platform: its rows are "platforms/<profile>".
    for run in sorted((folder / "loadtests").glob("*/")) + sorted((folder / PLATFORMS_STEP).glob("*/")):
        if not (run / "summary.json").exists():
            continue
        meta = json.loads((run / "meta.json").read_text())
        summary = json.loads((run / "summary.json").read_text())
        name = meta["scenario"]["name"]
        if run.parent.name == PLATFORMS_STEP:
            name = platform_row(meta["stack"]["profile"])
        key = {"scenario": name, "pattern": meta["pattern"]}
        runs.append({**meta, "folder": str(run)})
        row = {k: v for k, v in flatten(summary).items() if not isinstance(v, dict | list)}
        measured.append({**row, **key, "warnings": "; ".join(summary.get("warnings", [])), "folder": run.name})
        if (run / "jobs.csv").exists():
            table = pd.read_csv(run / "jobs.csv")
            jobs.append(table.assign(**key))
        if (run / "calibration.json").exists():
            for metric in json.loads((run / "calibration.json").read_text())["metrics"]:
                calibration.append({**key, **metric})
    browsers = load_browsers(folder)
    measured += measured_rows(browsers)  # many tabs of one browser: the browser-tabs/ conditions
    micro_file = folder / "micro" / "server-bench.json"
    streams, memory = load_performance(folder)
    scale = [
        {"pattern": run.name, **json.loads((run / "summary.json").read_text())["server_cost"]}
        for run in sorted((folder / "scale").glob("*"))
        if (run / "summary.json").exists()
    ]
    return Inputs(
        folder=folder,
        bench=json.loads((folder / "bench.json").read_text()) if (folder / "bench.json").exists() else {},
        simulated=pd.read_csv(sims / "metrics.csv"),
        delays=pd.read_csv(sims / "delays.csv"),
        sweeps=sweeps,
        measured=pd.DataFrame(measured),
        jobs=pd.concat(jobs, ignore_index=True) if jobs else pd.DataFrame(),
        calibration=pd.DataFrame(calibration),
        runs=runs,
        micro=json.loads(micro_file.read_text()) if micro_file.exists() else {},
        scale=pd.DataFrame(scale).set_index("pattern", drop=False) if scale else pd.DataFrame(),
        streams=streams,
        memory=memory,
        claims=outcomes(folder / "claims"),
        browsers=browsers,
    )
