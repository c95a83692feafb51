"""An engine measured in several rounds of the stream bench, as one row of its table.

The engines take turns within a round, so the engines of one round saw the machine in about
the same state, and a ratio between two of them is taken within each round. A row is:
- the figures of its round with the median p99;
- its failures (resets, streams cut, streams unfinished) summed over every round, and the
  fewest streams any round held, so that no round's failure hides behind the median;
- each round's own figures, under `rounds`, and the p99's range over them;
- each ratio to a reference engine as the median of the rounds' ratios, with their range.

Why rounds at all: on this shared 2-core machine, single 10,000-stream runs of one revision gave
the Redis engine a p99 of 9-70 ms and bare nchan one of 0.9-11.7 ms. One run's ratio says more
about the machine's moment than about the engines (asv judges a change against the spread of
repeated runs for the same reason)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

FAILURES = ("resets", "ended_without_terminal_event", "unfinished")
# What each round keeps of its own beside the row's median round.
ROUND_FIGURES = ("streams_held", "delay", "rss_per_stream_kib", "terminal_events_per_s", *FAILURES)

Figure = Callable[[dict[str, Any]], float | None]


def p99(run: dict[str, Any]) -> float | None:
    value: float | None = run.get("delay", {}).get("p99_ms")
    return value


def rss(run: dict[str, Any]) -> float | None:
    value: float | None = run.get("rss_per_stream_kib")
    return value


def measured(runs: list[dict[str, Any]]) -> bool:
    """The engine ran (in this bench), and every round has a p99."""
    return bool(runs) and all(p99(run) is not None for run in runs)


def one_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The engine's row from its rounds (one round: that round, as it is)."""
    if len(runs) == 1 or not measured(runs):
        return runs[0]
    ordered = sorted(runs, key=lambda run: p99(run) or 0.0)
    p99s = [p99(run) or 0.0 for run in ordered]
    return {
        **ordered[len(ordered) // 2],
        **{key: sum(run[key] for run in runs) for key in FAILURES},
        "streams_held": min(run["streams_held"] for run in runs),
        "p99_ms_range": [p99s[0], p99s[-1]],
        "rounds": [{key: run[key] for key in ROUND_FIGURES} for run in runs],
    }


def versus(
    mine: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    key: str,
    figure: Figure,
    between: Callable[[float, float], float] = lambda a, b: round(a / b, 2),
) -> dict[str, Any]:
    """`figure` of `mine` against `theirs` within each round (a ratio by default), as
    {key: the median} and, with several rounds, {key_range: [lowest, highest]}."""
    pairs = [(figure(a), figure(b)) for a, b in zip(mine, theirs, strict=True)]
    values = sorted(between(a, b) for a, b in pairs if a is not None and b)
    if not values:
        return {key: None}
    found: dict[str, Any] = {key: round(statistics.median(values), 2)}
    if len(mine) > 1:
        found[f"{key}_range"] = [values[0], values[-1]]
    return found
