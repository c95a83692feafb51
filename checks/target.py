"""A service to check, described by a `target.toml`: where it runs, the paths its clients
use, how its work is set in test mode, and how its executions are counted.

Every field is optional, and the defaults describe the reference server. An empty file
(or `--target-url`) therefore checks a service on the reference contract. The file is
checked on load: an unknown key, a wrong type, or a path a check needs that is missing is
an error naming the field.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from core.typed_tables import TableError, build, positive, read_toml
from reference_server.config import Settings
from reference_server.contract import COMPLETED, FAILED_STATES, SIMULATED_WORK_HEADER


class TargetError(TableError):
    """The target description is unusable; the message names the field."""


# What a target's clients may depend on. `sync` is out of the default scope: the reference
# server's synchronous /start is the deliberately failing baseline.
# Where the reference server listens unless told otherwise.
DEFAULT_SERVICE_URL = f"http://{Settings.host}:{Settings.port}"
ENDPOINTS = ("sync", "initiate", "status", "events", "websocket", "download")
DEFAULT_SCOPE = ("initiate", "status", "events", "download")


@dataclass(frozen=True)
class Service:
    url: str = ""  # a service that is already running (neither: the reference server's default address)...
    command: tuple[str, ...] = ()  # ...or one the harness starts: "$port" becomes a free port (also PORT)
    directory: str = "."  # where the command runs, relative to the target file
    env: dict[str, str] = field(default_factory=dict)  # extra environment for `command`
    health_path: str = "/health"  # answers below 500 once the service is up
    startup_timeout_s: float = 30.0


@dataclass(frozen=True)
class Paths:
    """`{id}` stands for the job id the initiate answer gave."""

    sync: str = "/v1/download/start"
    initiate: str = "/v1/download/initiate"
    status: str = "/v1/download/jobs/{id}"
    events: str = "/v1/download/jobs/{id}/events"
    websocket: str = "/v1/download/jobs/{id}/ws"
    download: str = "/v1/download/jobs/{id}/download"


@dataclass(frozen=True)
class Bodies:
    """JSON request bodies: `$file` becomes the job's first file id, `$files` the list of
    them (a load test's jobs may name several); ids are fresh, so no two jobs share work."""

    sync: str = '{"file_id": $file}'
    initiate: str = '{"file_ids": $files}'

    def render(self, which: Literal["sync", "initiate"], file_ids: Sequence[int]) -> Any:
        text = string.Template(getattr(self, which)).substitute(file=file_ids[0], files=json.dumps(list(file_ids)))
        return json.loads(text)


@dataclass(frozen=True)
class Answers:
    """Where the facts are in the service's JSON answers (dotted paths)."""

    job_id: str = "jobId"  # in the initiate answer
    status: str = "status"  # in the status answer
    completed: tuple[str, ...] = (COMPLETED,)  # status values, and event names, that end a job well
    failed: tuple[str, ...] = FAILED_STATES  # ...and badly
    sha256: str = "artifact.sha256"  # in the status answer: the digest a download must match, where given
    poll_interval_s: float = 5.0  # between polls when the answer gives no Retry-After (scenario seconds)

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset(self.completed + self.failed)


@dataclass(frozen=True)
class Work:
    """How the harness makes a job last as long as a check needs.

    Either the service honours a header (the reference server's simulated-work header), or
    every job takes a fixed time in test mode, set by the target's own configuration.
    """

    header: str = SIMULATED_WORK_HEADER
    # scenario-ms: the service multiplies the value by its own time scale, which must be the
    # check's (the reference server's TIME_SCALE); ms: real milliseconds.
    header_unit: Literal["scenario-ms", "ms"] = "scenario-ms"
    fixed_s: float = 0.0  # with header = "": every job's work in real seconds


@dataclass(frozen=True)
class Executions:
    """How the harness learns how often work ran. With neither way, the duplicate checks
    say "not measurable"."""

    metrics_path: str = "/metrics"  # Prometheus text, read from the service directly
    counter: str = "dl_executions_started_total"  # one per execution started, summed over its labels
    status_field: str = ""  # or: a per-job count in the status answer (dotted path)

    @property
    def measurable(self) -> bool:
        return bool(self.counter and self.metrics_path) or bool(self.status_field)


@dataclass(frozen=True)
class Target:
    name: str = "reference server"
    scope: tuple[str, ...] = DEFAULT_SCOPE  # the endpoints this service's clients depend on
    idempotency_header: str = "Idempotency-Key"  # "" when the service has none
    idempotency_quoted: bool = True  # send the key as a quoted string (the IETF draft's form)
    callback_field: str = "callback_url"  # the initiate body's webhook URL field; "" when there are no webhooks
    heartbeat_s: float = 15.0  # comment heartbeats on streams; sizes the tuned nginx stream timeout
    service: Service = field(default_factory=Service)
    paths: Paths = field(default_factory=Paths)
    bodies: Bodies = field(default_factory=Bodies)
    answers: Answers = field(default_factory=Answers)
    work: Work = field(default_factory=Work)
    executions: Executions = field(default_factory=Executions)

    def in_scope(self, endpoint: str) -> bool:
        return endpoint in self.scope

    def path(self, endpoint: str, job_id: str = "") -> str:
        return str(getattr(self.paths, endpoint)).replace("{id}", job_id)

    def check(self) -> Target:
        unknown = [e for e in self.scope if e not in ENDPOINTS]
        if unknown:
            raise TargetError(f"scope: unknown endpoint(s) {', '.join(unknown)}; known: {', '.join(ENDPOINTS)}")
        if not self.scope:
            raise TargetError("scope: name at least one endpoint")
        missing = [e for e in self.scope if not getattr(self.paths, e)]
        if missing:
            raise TargetError(f"paths.{missing[0]} is empty, but scope includes it")
        for endpoint in ("status", "events", "download"):
            if self.in_scope(endpoint) and "{id}" not in getattr(self.paths, endpoint):
                raise TargetError(f"paths.{endpoint} must contain {{id}}, where the job id goes")
        if any(e in self.scope for e in ("status", "events", "download")) and not self.in_scope("initiate"):
            raise TargetError("scope: status, events and download need initiate, which creates the job")
        for which in ("sync", "initiate"):
            try:
                self.bodies.render(which, [1])
            except (KeyError, ValueError) as exc:
                raise TargetError(f"bodies.{which} is not JSON once $file is filled in: {exc}") from None
        if self.service.url and self.service.command:
            raise TargetError("service: give url or command, not both")
        if self.service.url and not self.service.url.startswith(("http://", "https://")):
            raise TargetError(f"service.url must be an http(s) URL, got {self.service.url!r}")
        if not self.work.header and not self.work.fixed_s > 0:
            raise TargetError("work: give a header the service honours, or fixed_s (seconds every job takes)")
        positive("service.startup_timeout_s", self.service.startup_timeout_s)
        positive("answers.poll_interval_s", self.answers.poll_interval_s)
        if not self.answers.completed:
            raise TargetError("answers.completed needs at least one status value")
        return self


def load_target(path: str | Path) -> Target:
    path = Path(path)
    data = read_toml(path, TargetError)
    try:
        target: Target = build(Target, data, "", "target").check()
    except TableError as exc:
        raise TargetError(f"{path}: {exc}") from None
    directory = (path.parent / target.service.directory).resolve()
    if target.service.command and not directory.is_dir():
        raise TargetError(f"{path}: service.directory {directory} is not a folder")
    return replace(target, service=replace(target.service, directory=str(directory)))


def reference_target(url: str) -> Target:
    """A running service on the reference contract, with the default scope."""
    return replace(Target(name=url), service=Service(url=url.rstrip("/"))).check()


def dig(answer: Any, dotted: str) -> Any:
    """`artifact.sha256` -> answer["artifact"]["sha256"], or None where the path ends early."""
    for part in dotted.split("."):
        if not isinstance(answer, dict) or part not in answer:
            return None
        answer = answer[part]
    return answer
