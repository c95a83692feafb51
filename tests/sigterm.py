"""A command that starts services, ended by SIGTERM midway, as a supervisor would end it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import psutil

from stack.processes import TERMINATED

T = TypeVar("T")


def _read(processes: list[psutil.Process], what: Callable[[psutil.Process], T]) -> list[T]:
    found = []
    for process in processes:
        with contextlib.suppress(psutil.Error):  # it may have ended since it was listed
            found.append(what(process))
    return found


def commands(processes: list[psutil.Process]) -> list[str]:
    return [" ".join(argv) for argv in _read(processes, psutil.Process.cmdline)]


def end_midway(argv: list[str], under_way: Callable[[list[psutil.Process]], bool], timeout_s: float = 60) -> set[str]:
    """Start `argv`, SIGTERM it once `under_way(its processes)`, and check that it exits as a
    process ended by SIGTERM with none of the processes it started still running. The names
    of those processes, for the caller to check that the services it means were among them."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        me = psutil.Process(proc.pid)
        deadline = time.monotonic() + timeout_s
        started: list[psutil.Process] = []
        while time.monotonic() < deadline and not under_way(started):
            time.sleep(0.2)
            started = me.children(recursive=True)
        names = set(_read(started, psutil.Process.name))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == TERMINATED
        alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, [p.name() for p in alive]
        return names
    finally:
        if proc.poll() is None:
            proc.kill()
