"""A service to check, described by a `target.toml`: where it runs, the paths its clients
use, how its work is set in test mode, and how its executions are counted.

Every field is optional, and the defaults describe the reference server. An empty file
(or `--target-url`) therefore checks a service on the reference contract. The file is
checked on load: an unknown key, a wrong type, or a path a check needs that is missing is
an error naming the field.
"""

from __future__ import annotations

import ast
import json
import re
import string
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
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
    url: str = ""  # a running service to check (with neither url nor command: the reference server's default address)
    # Or the command that starts it, which the harness runs and stops; "$port" becomes a free
    # port (also in PORT).
    command: tuple[str, ...] = ()
    directory: str = "."  # where the command runs: relative to the target file, or absolute
    env: dict[str, str] = field(default_factory=dict)  # extra environment for `command`
    health_path: str = "/health"  # answers below 500 once the service is up
    startup_timeout_s: float = 30.0  # how long the started command has to answer on health_path


# What a path may name: the job id the initiate answer gave, the first file id the request
# sent, or any field of the initiate answer (a dotted path).
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS_HELP = (
    "{id} (the job id the initiate answer gave), {file} (the first file id the request sent) "
    "or {initiate.<field>} (a field of the initiate answer, dotted)"
)
JOB_ENDPOINTS = ("status", "events", "websocket", "download")


class PathError(ValueError):
    """A path names something this job does not have."""


def fill_path(template: str, job_id: str = "", file_id: int | None = None, initiated: Any = None) -> str:
    """The path with its placeholders filled in from the job."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "id":
            return job_id
        if name == "file" and file_id is not None:
            return str(file_id)
        if name.startswith("initiate."):
            found = dig(initiated, name.removeprefix("initiate."))
            if found is not None:
                return str(found)
        raise PathError(f"{template}: this job has no {{{name}}}")

    return PLACEHOLDER.sub(value, template)


def _fillable(name: str, endpoint: str) -> bool:
    """Whether a placeholder names something the endpoint's request has: a job's paths have all
    three, the requests that start the work only the file."""
    if name == "file":
        return True
    return endpoint in JOB_ENDPOINTS and (name == "id" or (name.startswith("initiate.") and name != "initiate."))


@dataclass(frozen=True)
class Paths:
    """A job's paths name it by placeholders: {id}, {file} or {initiate.<field>}."""

    sync: str = "/v1/download/start"  # POST: the work done inside the request
    initiate: str = "/v1/download/initiate"  # POST: starts a job and answers with it
    status: str = "/v1/download/jobs/{id}"  # GET: the job's state, polled
    events: str = "/v1/download/jobs/{id}/events"  # GET: the job's event stream (text/event-stream)
    websocket: str = "/v1/download/jobs/{id}/ws"  # the same events as WebSocket messages {id, event, data}
    download: str = "/v1/download/jobs/{id}/download"  # GET: a finished job's bytes, or a redirect to them


@dataclass(frozen=True)
class Bodies:
    """JSON request bodies: `$file` becomes the job's first file id, `$files` the list of
    them (a load test's jobs may name several); ids are fresh, so no two jobs share work."""

    sync: str = '{"file_id": $file}'  # the sync request's JSON body
    initiate: str = '{"file_ids": $files}'  # the initiate request's JSON body

    def render(self, which: Literal["sync", "initiate"], file_ids: Sequence[int]) -> Any:
        text = string.Template(getattr(self, which)).substitute(file=file_ids[0], files=json.dumps(list(file_ids)))
        return json.loads(text)


@dataclass(frozen=True)
class Answers:
    """Where the facts are in the service's JSON answers (dotted paths)."""

    job_id: str = "jobId"  # where the initiate answer gives the job id (a dotted path, as all of answers.*)
    status: str = "status"  # where the status answer gives the job's state
    completed: tuple[str, ...] = (COMPLETED,)  # the states, and event names, that end a job well
    failed: tuple[str, ...] = FAILED_STATES  # the states, and event names, that end a job badly
    sha256: str = "artifact.sha256"  # where the status answer gives the sha256 a download must match; "": nowhere
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

    header: str = SIMULATED_WORK_HEADER  # a request header the service takes each job's work from; "": none
    # scenario-ms: the service multiplies the value by its own time scale, which must be the
    # check's (the reference server's TIME_SCALE); ms: real milliseconds.
    header_unit: Literal["scenario-ms", "ms"] = "scenario-ms"
    fixed_s: float = 0.0  # with header = "": every job's work in real seconds


@dataclass(frozen=True)
class Executions:
    """How the harness learns how often work ran. With neither way, the duplicate checks
    say "not measurable"."""

    metrics_path: str = "/metrics"  # where the service serves Prometheus text, read directly (not through the proxies)
    counter: str = "dl_executions_started_total"  # one per execution started, summed over its labels
    status_field: str = ""  # or: where the status answer gives the job's own count of executions (dotted path)

    @property
    def measurable(self) -> bool:
        return bool(self.counter and self.metrics_path) or bool(self.status_field)


@dataclass(frozen=True)
class Target:
    name: str = "reference server"  # how reports and JUnit name the service
    scope: tuple[str, ...] = DEFAULT_SCOPE  # the endpoints this service's clients depend on
    idempotency_header: str = "Idempotency-Key"  # "" when the service has none
    idempotency_quoted: bool = True  # send the key as a quoted string (the IETF draft's form)
    callback_field: str = "callback_url"  # the initiate body's webhook URL field; "" when there are no webhooks
    # How often the service sends comment heartbeats on its streams; sizes the tuned nginx stream
    # timeout (three missed). 0: it sends none, and the timeout is sized for the recommended 15 s.
    heartbeat_s: float = 15.0
    service: Service = field(default_factory=Service)
    paths: Paths = field(default_factory=Paths)
    bodies: Bodies = field(default_factory=Bodies)
    answers: Answers = field(default_factory=Answers)
    work: Work = field(default_factory=Work)
    executions: Executions = field(default_factory=Executions)

    def in_scope(self, endpoint: str) -> bool:
        return endpoint in self.scope

    def path(self, endpoint: str, job_id: str = "", file_id: int | None = None, initiated: Any = None) -> str:
        return fill_path(str(getattr(self.paths, endpoint)), job_id, file_id, initiated)

    def path_name(self, endpoint: str) -> str:
        """The path with each placeholder as `[name]`: one name for all of an endpoint's requests."""
        return PLACEHOLDER.sub(lambda m: f"[{m.group(1)}]", str(getattr(self.paths, endpoint)))

    def check(self) -> Target:
        unknown = [e for e in self.scope if e not in ENDPOINTS]
        if unknown:
            raise TargetError(f"scope: unknown endpoint(s) {', '.join(unknown)}; known: {', '.join(ENDPOINTS)}")
        if not self.scope:
            raise TargetError("scope: name at least one endpoint")
        missing = [e for e in self.scope if not getattr(self.paths, e)]
        if missing:
            raise TargetError(f"paths.{missing[0]} is empty, but scope includes it")
        for endpoint in ENDPOINTS:
            template = getattr(self.paths, endpoint)
            names = PLACEHOLDER.findall(template)
            unknown = [n for n in names if not _fillable(n, endpoint)]
            if unknown:
                raise TargetError(
                    f"paths.{endpoint}: {{{unknown[0]}}} names nothing it can be filled from; use {PLACEHOLDERS_HELP}"
                )
            if endpoint in JOB_ENDPOINTS and self.in_scope(endpoint) and not names:
                raise TargetError(f"paths.{endpoint} must name the job: {PLACEHOLDERS_HELP}")
        if any(e in self.scope for e in ("status", "events", "download")) and not self.in_scope("initiate"):
            raise TargetError("scope: status, events and download need initiate, which creates the job")
        for which in ("sync", "initiate"):
            try:
                self.bodies.render(which, [1])
            except KeyError as exc:
                raise TargetError(
                    f"bodies.{which}: ${exc.args[0]} names nothing it can be filled from; use $file (the job's "
                    "first file id) or $files (the list of them)"
                ) from None
            except ValueError as exc:
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


@dataclass(frozen=True)
class FieldNote:
    """One field of a target.toml as the reference lists it."""

    key: str  # "service.url"
    default: Any
    meaning: str  # the comment on the field's line, or the comment lines just above it


def field_notes() -> list[FieldNote]:
    """Every field of a target.toml with its default and meaning, read from this file's own
    comments: the docs' reference page is generated from these, so it cannot drift."""
    source = Path(__file__).read_text().splitlines()
    comments: dict[int, str] = {}
    with Path(__file__).open() as handle:
        for token in tokenize.generate_tokens(handle.readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("# ").strip()
    fields_at: dict[tuple[str, str], int] = {}
    for node in ast.walk(ast.parse("\n".join(source))):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    fields_at[(node.name, item.target.id)] = item.lineno

    def meaning(cls: type, name: str) -> str:
        line = fields_at[(cls.__name__, name)]
        if line in comments:
            return comments[line]
        above: list[str] = []
        while line - 1 in comments and source[line - 2].lstrip().startswith("#"):
            line -= 1
            above.insert(0, comments[line])
        return " ".join(above)

    notes = []
    for top in fields(Target):
        default = getattr(Target(), top.name)
        if is_dataclass(default):
            notes += [
                FieldNote(f"{top.name}.{f.name}", getattr(default, f.name), meaning(type(default), f.name))
                for f in fields(default)
            ]
        else:
            notes.append(FieldNote(top.name, default, meaning(Target, top.name)))
    return notes
