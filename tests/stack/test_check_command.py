"""`python -m checks` as a user's CI runs it: a separate process, real proxies, and
services that are not started by the test's own code: the reference server (on Redis and
MinIO) by URL and from a target file, and a naive stdlib service that gets it wrong.

Run alone with `pytest -m check`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checks.command import EXIT_BAD_TARGET, EXIT_FAILED, EXIT_OK
from checks.suite import CHECKS
from tests.conftest import Running, ServerFactory

pytestmark = pytest.mark.check
TARGETS = Path(__file__).resolve().parent.parent / "targets"
NAIVE = TARGETS / "naive.toml"
FILE_KEYED = TARGETS / "file_keyed.toml"
ARTIFACTS = Path("test-artifacts") / "check"  # the JUnit and JSON of the runs a reader may want to see
EXECUTION_CHECKS = [name for name in CHECKS if name.endswith("execute_once") or name.endswith("executes_once")]


@dataclass
class Checked:
    code: int
    verdicts: dict[str, str]
    evidence: dict[str, str]
    junit: ET.Element | None
    stderr: str


def run_check(tmp_path: Path, *args: str, keep: str = "") -> Checked:
    """`python -m checks` with the arguments; with `keep`, its JUnit and JSON are kept in ARTIFACTS."""
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "checks", *args, "--junit", str(junit), "--json", "--explain"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if keep:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{keep}.json").write_text(done.stdout)
        if junit.exists():
            (ARTIFACTS / f"{keep}.junit.xml").write_text(junit.read_text())
    results: list[dict[str, Any]] = json.loads(done.stdout)["results"] if done.stdout.strip() else []
    return Checked(
        done.returncode,
        {r["check"]: r["verdict"] for r in results},
        {r["check"]: r["evidence"] for r in results},
        ET.parse(junit).getroot() if junit.exists() else None,
        done.stderr,
    )


@pytest.fixture(scope="module")
def reference(servers: ServerFactory) -> Running:
    """The reference server on real Redis and MinIO, taking each job's work from the client."""
    return servers.start("redis+minio", SIMULATED_WORK_HEADER="true")


def test_the_reference_server_by_url_passes_every_check_in_its_default_scope(
    tmp_path: Path, reference: Running
) -> None:
    got = run_check(
        tmp_path,
        "--target-url",
        reference.url,
        "--profile",
        "cloudflare+nginx-tuned",
        "--time-scale",
        "0.01",
        "--tls",  # as a real edge serves its clients: every check speaks to it over TLS
        keep="reference-server",
    )
    assert got.code == EXIT_OK, got.stderr
    in_scope = {name: v for name, v in got.verdicts.items() if v != "not in scope"}
    # Out of the default scope: sync, and the WebSocket (few services have one).
    out_of_scope = {
        "timeouts/sync_answers_through_the_proxies",
        "duplicates/retried_sync_executes_once",
        "websocket/socket_outlives_the_idle_limit",
        "websocket/resume_without_loss_or_repetition",
    }
    assert set(in_scope.values()) == {"pass"} and len(in_scope) == len(CHECKS) - len(out_of_scope), got.verdicts
    assert {n for n, v in got.verdicts.items() if v == "not in scope"} == out_of_scope
    # What a CI system's JUnit reader sees: one testcase per check, none failed.
    assert got.junit is not None
    cases = got.junit.findall("./testsuite/testcase")
    assert len(cases) == len(CHECKS) and got.junit.get("failures") == "0"
    assert {f"{c.get('classname', '').removeprefix('proxybench.')}/{c.get('name')}" for c in cases} == set(CHECKS)


def test_a_naive_service_fails_the_timeout_and_duplicate_checks_with_evidence(tmp_path: Path) -> None:
    got = run_check(tmp_path, "--target", str(NAIVE))
    assert got.code == EXIT_FAILED, got.stderr
    failed = {n for n, v in got.verdicts.items() if v == "fail"}
    assert failed == {
        "timeouts/sync_answers_through_the_proxies",
        "duplicates/retried_sync_executes_once",
        "duplicates/retried_initiate_returns_one_job",
        "duplicates/retried_initiate_executes_once",
        "duplicates/concurrent_initiates_return_one_job",
        "duplicates/concurrent_initiates_execute_once",
    }, got.verdicts
    assert got.evidence["timeouts/sync_answers_through_the_proxies"].startswith("524 after")
    assert got.evidence["duplicates/retried_sync_executes_once"].startswith("3 execution(s) for one logical request")
    assert "3 job id(s)" in got.evidence["duplicates/retried_initiate_returns_one_job"]
    # Its job API survives the proxies: the checks tell the two apart.
    assert got.verdicts["timeouts/slow_job_completes_by_polling"] == "pass"
    assert "failed: " in got.stderr and "duplicates/retried_sync_executes_once" in got.stderr
    assert got.junit is not None
    failures = [c.get("name") for c in got.junit.iter("testcase") if c.find("failure") is not None]
    assert len(failures) == len(failed)


def test_without_an_execution_counter_sync_tries_are_counted_on_the_request_path(tmp_path: Path) -> None:
    text = NAIVE.read_text()
    text = text.replace('"--port", "$port"]', '"--port", "$port", "--no-metrics"]')
    text = text.replace('counter = "naive_work_started_total"', 'counter = ""')
    text = text.replace("[service]\n", f"[service]\ndirectory = {json.dumps(str(TARGETS))}\n")
    target = tmp_path / "uncounted.toml"
    target.write_text(text)
    got = run_check(tmp_path, "--target", str(target), "--only", "duplicates")
    # Each try of a synchronous request that reached the service ran the work...
    sync = "duplicates/retried_sync_executes_once"
    assert got.verdicts[sync] == "fail", got.evidence
    assert (
        got.evidence[sync].startswith("3 request(s) reached the service")
        and "gives no execution counter" in (got.evidence[sync])
    )
    # ...but reaching it says nothing of an initiate's work, which may be found already started.
    assert {got.verdicts[n] for n in EXECUTION_CHECKS if n != sync} == {"not measurable"}, got.verdicts
    # What the client sees still decides the rest: a new job for every retry is a failure.
    assert got.verdicts["duplicates/retried_initiate_returns_one_job"] == "fail"
    assert got.code == EXIT_FAILED


def test_the_reference_server_started_from_a_target_file_passes(tmp_path: Path, servers: ServerFactory) -> None:
    env = servers.env_for("redis+minio", SIMULATED_WORK_HEADER="true")
    target = tmp_path / "reference.toml"
    target.write_text(
        'name = "reference server, started by the harness"\n'
        "[service]\n"
        f'command = [{json.dumps(sys.executable)}, "-m", "reference_server", "--port", "$port"]\n'
        f"env = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in env.items())} }}\n"
    )
    got = run_check(tmp_path, "--target", str(target), "--profile", "nginx-default")
    assert got.code == EXIT_OK, got.stderr
    assert "fail" not in got.verdicts.values() and "not measurable" not in got.verdicts.values()


def test_a_service_that_rate_limits_the_check_is_not_measurable_rather_than_failing(
    tmp_path: Path, servers: ServerFactory
) -> None:
    throttled = servers.start("redis+minio", SIMULATED_WORK_HEADER="true", RATE_LIMIT_MAX_REQUESTS="15")
    got = run_check(tmp_path, "--target-url", throttled.url, "--only", "timeouts,duplicates")
    limited = [n for n, e in got.evidence.items() if "rate-limited the check" in e]
    assert limited and all(got.verdicts[n] == "not measurable" for n in limited), got.verdicts
    assert "fail" not in got.verdicts.values(), got.evidence


def test_a_foreign_service_is_judged_from_the_request_path_and_its_own_errors_are_its_own(tmp_path: Path) -> None:
    """The Node service: a sync start that sleeps through the work, jobs that never run, a status
    route keyed by the file id that answers 500, no idempotency key and a counter that counts nothing."""
    got = run_check(tmp_path, "--target", str(FILE_KEYED), "--only", "timeouts,duplicates", keep="file-keyed-service")
    assert got.code == EXIT_FAILED, got.stderr
    # Each cut try reached the service and ran the work: counted where the proxies hand requests on.
    assert got.verdicts["duplicates/retried_sync_executes_once"] == "fail"
    assert got.evidence["duplicates/retried_sync_executes_once"].startswith(
        "3 request(s) reached the service for one logical request"
    )
    assert "the service's counter did not move" in got.evidence["duplicates/retried_sync_executes_once"]
    assert got.evidence["timeouts/sync_answers_through_the_proxies"].startswith("524 after")
    assert "from cloudflare (the service had not answered)" in got.evidence["timeouts/sync_answers_through_the_proxies"]
    # The status route's 500 is the service's, said so, and given up on at once.
    polled = got.evidence["timeouts/slow_job_completes_by_polling"]
    assert got.verdicts["timeouts/slow_job_completes_by_polling"] == "fail"
    assert "2 polls" in polled and "500 " in polled and "from the service, the service's own error" in polled
    assert float(polled.split(" polls in ", 1)[1].split(" s", 1)[0]) < 3
    long_polled = got.evidence["timeouts/long_poll_within_the_limits"]
    assert "the service's own error, not the proxies'" in long_polled and "cut through the proxies" not in long_polled
    # Messages say what happened: no key was sent, and no job was seen to end.
    assert "3 initiates without an idempotency key" in got.evidence["duplicates/retried_initiate_returns_one_job"]
    unmeasured = got.evidence["duplicates/retried_initiate_executes_once"]
    assert got.verdicts["duplicates/retried_initiate_executes_once"] == "not measurable"
    assert "none of the 3 job(s) was seen to end" in unmeasured and "while" not in unmeasured
    # What to change, for each failure.
    explained = got.stderr.split("what to change:", 1)[1]
    assert "Asynchronous Request-Reply" in explained and "draft-ietf-httpapi-idempotency-key-header" in explained
    assert "First mend the service's own error" in explained
    assert got.junit is not None and got.junit.get("failures") == str(list(got.verdicts.values()).count("fail"))
    failures = [f for case in got.junit.iter("testcase") if (f := case.find("failure")) is not None]
    assert failures and all("what to change: " in (f.text or "") for f in failures)


STARTING_FOREVER = """
import http.server, sys
class Starting(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "warming caches"}'
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Starting).serve_forever()
"""


def test_a_service_that_never_becomes_healthy_is_refused_with_what_its_health_path_answered(tmp_path: Path) -> None:
    target = tmp_path / "target.toml"
    command = [sys.executable, "-c", STARTING_FOREVER, "$port"]
    target.write_text(f"[service]\ncommand = {json.dumps(command)}\nstartup_timeout_s = 1\n")
    got = run_check(tmp_path, "--target", str(target))
    assert got.code == EXIT_BAD_TARGET
    assert '/health answered 503: \'{"status": "warming caches"}\'' in got.stderr, got.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('scope = ["initiate", "telepathy"]', "scope: unknown endpoint(s) telepathy"),
        ("[paths]\nstatus = '/jobs'", "paths.status must name the job: {id}"),
        ("[bodies]\ninitiate = '{\"file\": $file'", "bodies.initiate is not JSON"),
        ("[work]\nheader = ''", "work: give a header the service honours, or fixed_s"),
        ("colour = 'blue'", "unknown field(s) in target: colour"),
        ("[service]\nurl = 'http://127.0.0.1:1'", "the service is not up: http://127.0.0.1:1/health did not answer"),
        ("[paths]\nstatus = '/jobs/{job}'", "paths.status: {job} names nothing it can be filled from"),
    ],
)
def test_a_bad_target_exits_2_naming_the_problem(tmp_path: Path, content: str, message: str) -> None:
    target = tmp_path / "target.toml"
    target.write_text(content + "\n")
    got = run_check(tmp_path, "--target", str(target))
    assert got.code == EXIT_BAD_TARGET
    assert message in got.stderr, got.stderr
