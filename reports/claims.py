"""Hypotheses that only a test run can answer (nginx buffering, concurrent initiates,
crashed and frozen workers). The bench runs exactly those tests, on the processes
backend, into its own folder, and the report reads their outcomes from there: a verdict
comes from this bench's run, or says "not measured"."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from stack.provenance import ROOT

# Hypothesis -> the tests whose passing shows it.
CLAIM_TESTS: dict[str, tuple[str, ...]] = {
    "H6": ("tests/stack/test_timeouts.py::test_stock_nginx_buffering_is_detected_without_the_accel_header",),
    "H8": (
        "tests/integration/test_concurrency.py::test_fifty_simultaneous_initiates_with_one_key",
        "tests/stack/test_duplicates.py::test_initiates_with_one_key_through_the_proxies_make_one_job_and_run_once",
    ),
    "H11": (
        "tests/integration/test_faults.py::test_worker_killed_mid_job_is_completed_once_by_another",
        "tests/integration/test_faults.py::test_frozen_worker_is_fenced_off_and_counted_as_duplicate_work",
    ),
}
JUNIT = "junit.xml"


def run_claim_tests(out: Path) -> None:
    """Run every claim's tests; a failing test is a result to report, not a bench error."""
    out.mkdir(parents=True, exist_ok=True)
    tests = sorted({t for group in CLAIM_TESTS.values() for t in group})
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--junitxml={out / JUNIT}", *tests]
    env = {**os.environ, "PROXYBENCH_BACKENDS": "processes"}
    with open(out / "pytest.log", "w") as log:
        subprocess.run(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)


def outcomes(folder: Path) -> dict[str, str]:
    """Each test (without its parameters) as `passed` or `failed` (any parameter failing or
    erring fails it); empty when the step did not run."""
    path = folder / JUNIT
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name', '').split('[')[0]}"
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        if failed:
            found[test] = "failed"
        elif not skipped:
            found.setdefault(test, "passed")
    return found


def claim_outcome(claim: str, results: dict[str, str]) -> tuple[str | None, str]:
    """('passed' | 'failed' | None when not run, the tests it rests on)."""
    tests = CLAIM_TESTS[claim]
    seen = [results.get(t) for t in tests]
    named = ", ".join(t.split("::")[1] for t in tests)
    if any(s is None for s in seen):
        return None, named
    return ("failed" if "failed" in seen else "passed"), named
