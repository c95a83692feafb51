"""A grid over scenario parameters, run in parallel processes, written as a tidy table.

    proxybench sweep --scenario scenarios/tuned-stack.toml \
        --grid clients.polling.retry_after_s=1,2,5,10 --grid clients.sse.heartbeat_s=0,15,30

One row per (pattern, grid point), the metrics flattened into columns.
"""

from __future__ import annotations

import csv
import itertools
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.scenario import Scenario

from .run import run


def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"--grid wants key=v1,v2,..., got {item!r}")
        grid[key.strip()] = [_number(v.strip()) for v in values.split(",")]
    return grid


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))] or [{}]


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "timeouts_per_job"}
    for status, value in row.get("timeouts_per_job", {}).items():
        out[f"timeouts_{status}_per_job"] = value
    return out


def _one(scenario: Scenario, overrides: dict[str, Any], pattern: str, jobs: int, seed: int) -> dict[str, Any]:
    result = run(scenario.with_overrides(overrides), pattern, jobs, seed)
    return {**{f"param.{k}": v for k, v in overrides.items()}, **flatten(result)}


def sweep(
    scenario: Scenario,
    patterns: Sequence[str],
    grid: dict[str, list[Any]],
    jobs: int,
    seed: int,
    processes: int,
    out: Path,
) -> list[dict[str, Any]]:
    tasks = [(p, o) for o in points(grid) for p in patterns]
    for _, overrides in tasks:
        scenario.with_overrides(overrides)  # fail on a bad key before starting any process
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [pool.submit(_one, scenario, o, p, jobs, seed) for p, o in tasks]
        for future in tqdm(as_completed(futures), total=len(futures), desc=out.stem, unit="run", file=sys.stderr):
            rows.append(future.result())
    rows.sort(key=lambda r: (r["pattern"], *(str(r[k]) for k in r if k.startswith("param."))))
    write_rows(out, rows)
    return rows


def write_rows(out: Path, rows: list[dict[str, Any]]) -> None:
    """A tidy CSV whose columns are every key seen, in order of first appearance."""
    out.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
