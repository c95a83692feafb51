"""Which jobs a load generator starts and when: the scenario's arrivals and work, drawn
exactly as the simulation draws them, shared out between load-generator processes.

Process k of N takes arrivals k, k+N, k+2N, ... Locust users claim them in order; a
user follows one job at a time, so a run with too few users starts jobs late, and the
lateness is recorded rather than hidden.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from core.scenario import Scenario
from core.workload import draw_schedule
from reference_server.api.schemas import FILE_ID_MIN
from reference_server.jobs.workload import existing_file_id


@dataclass(frozen=True)
class Arrival:
    index: int
    at_s: float  # scenario seconds after the run's start
    work_s: float  # scenario seconds of work for the whole job
    file_ids: tuple[int, ...]  # unique to the job, so no two jobs share work on the server


def jobs_to_draw(scenario: Scenario, window_s: float) -> int:
    """Enough arrivals to cover `window_s` scenario seconds with a wide margin."""
    expected = scenario.arrivals.rate_per_s * window_s
    return int(expected + 6 * math.sqrt(expected) + scenario.arrivals.burst_size + 10)


def arrivals(scenario: Scenario, drawn: int, window_s: float) -> list[Arrival]:
    """The drawn schedule's arrivals inside the window, in order (a prefix of the draw)."""
    at, work = draw_schedule(scenario, drawn, np.random.default_rng(scenario.seed))
    files = scenario.workload.files_per_request
    out = []
    for i, (t, w) in enumerate(zip(at, work, strict=True)):
        if t >= window_s:
            break
        ids = tuple(existing_file_id(i * files + f, FILE_ID_MIN) for f in range(files))
        out.append(Arrival(i, t, w, ids))
    if len(out) == drawn:
        raise ValueError(f"{drawn} drawn arrivals do not cover {window_s} s; draw more")
    return out


class Claims:
    """This process's share of the schedule, handed to users in order."""

    def __init__(self, schedule: list[Arrival], share: int, of: int, time_scale: float) -> None:
        self.mine = [a for a in schedule if a.index % of == share]
        self.time_scale = time_scale
        self.started: float | None = None  # monotonic time of the run's start in this process
        self._next = 0
        self.finished = 0

    def claim(self) -> Arrival | None:
        if self.started is None:
            self.started = time.monotonic()
        if self._next >= len(self.mine):
            return None
        self._next += 1
        return self.mine[self._next - 1]

    def due_in(self, arrival: Arrival) -> float:
        assert self.started is not None
        return self.started + arrival.at_s * self.time_scale - time.monotonic()

    def finish(self) -> bool:
        """Count one job done; True when it was this process's last."""
        self.finished += 1
        return self.finished == len(self.mine)
