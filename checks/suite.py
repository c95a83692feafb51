"""The regression checks on timeout, duplicate and event-stream behaviour, for any target
behind a real proxy chain.

A check is a probe (what a client does: requests through the proxies, plus the service's
execution count before and after) and a judge (a plain function of what the probe saw)
that gives one verdict with its evidence:

- `pass`: the behaviour was shown;
- `fail`: the opposite was shown, and the evidence says how;
- `not measurable`: the run could not show either (no execution counter, or the service
  did not take the work it was given), never counted as a pass;
- `not in scope`: the target says its clients do not use that endpoint.

Probes are shared: two checks that judge the same client behaviour (one job retried with a
key: same job? one execution?) run it once. `proxybench check` and the project's
own pytest checks both call `run_check` / `run_checks`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from typing import Any, Literal

from proxies.render import ERROR_PAGES, ErrorPage, Profile, binding_hop
from reference_server.contract import PREFERENCE_APPLIED_HEADER

from .origin_relay import Arrival
from .target import dig
from .target_client import Answer, Followed, Job, Polled, RateLimited, TargetClient, sha256

Verdict = Literal["pass", "fail", "not measurable", "not in scope"]
GROUPS = ("timeouts", "duplicates", "sse", "websocket")
RETRIES = 2  # a client retries twice after a cut: three tries, one logical request
CONCURRENT = 20  # initiates sent at once with one key, as a double-clicking client or a retrying mesh does
HONOURED = 0.8  # a job that ends sooner than this share of the work it was given did not take it
FIRST_FILE_ID = 70000


@dataclass(frozen=True)
class Limits:
    """The chain in front of the service, and its binding limit in real seconds at the check's
    time scale."""

    chain: tuple[Profile, ...]
    time_scale: float

    @property
    def binding(self) -> Profile:
        return binding_hop(list(self.chain))

    def answering(self, status: int) -> str:
        """The proxies in the chain that answer `status` of their own accord."""
        names = [
            p.name for p in self.chain if status == p.timeout_status or any(e.status == status for e in _error_pages(p))
        ]
        return " or ".join(names) or f"a proxy in {'+'.join(p.name for p in self.chain)}"

    @property
    def limit_s(self) -> float:
        return self.binding.read_s * self.time_scale

    def __str__(self) -> str:
        return (
            f"{self.binding.name}'s {self.binding.read_s:g} s limit ({self.limit_s:.2f} s at scale {self.time_scale:g})"
        )


@dataclass(frozen=True)
class Result:
    check: str  # "group/name"
    verdict: Verdict
    evidence: str
    proves: str
    seconds: float = 0.0
    fix: str = ""  # what would make a failing service pass

    @property
    def group(self) -> str:
        return self.check.split("/", 1)[0]


def _error_pages(profile: Profile) -> tuple[ErrorPage, ...]:
    pages = ERROR_PAGES.get(profile.name)
    return pages.errors if pages else ()


class CheckSession:
    """One target behind one chain: the client, the limits, fresh file ids and shared probes."""

    def __init__(self, client: TargetClient, limits: Limits) -> None:
        self.client = client
        self.limits = limits
        self.target = client.target
        self._file_ids = count(FIRST_FILE_ID, 7)
        self._probes: dict[Callable[..., Awaitable[Any]], Any] = {}

    def file_id(self) -> int:
        return next(self._file_ids)

    def work_s(self, limits: float) -> float:
        """Work lasting this many binding limits, or the target's fixed work where it sets one."""
        return self.target.work.fixed_s or limits * self.limits.limit_s

    @property
    def patience_s(self) -> float:
        """How long a client waits for any one job before it gives up."""
        return self.work_s(3) * 2 + max(5.0, 10 * self.limits.limit_s)

    @property
    def settle_s(self) -> float:
        """A pause before reading executions, for work that a cut request left running to start."""
        return 0.1 + 0.25 * self.limits.limit_s

    async def observe(self, probe: Callable[[CheckSession], Awaitable[Any]]) -> Any:
        if probe not in self._probes:
            self._probes[probe] = await probe(self)
        return self._probes[probe]

    async def executions_since(self, before: float | None, jobs: list[Job]) -> float | None:
        await asyncio.sleep(self.settle_s)
        after = await self.client.executions(jobs)
        if after is None:
            return None
        return after - (before or 0.0)

    def who(self, answer: Answer) -> str:
        """Who gave an answer: the service, or which proxy (and what the service had done); ""
        where nothing watched the service's side."""
        if answer.redirected_to:
            return f"from {answer.redirected_to}, where the service redirected"
        by_service = self.client.from_service(answer)
        if by_service is None:
            return ""
        if by_service:
            return "from the service"
        proxies = self.limits.answering(answer.status)
        arrival = self.client.arrivals.tagged(answer.tag) if self.client.arrivals else None
        if arrival is None:
            return f"from {proxies} (it never reached the service)"
        if arrival.status is None:
            return f"from {proxies} (the service had not answered)"
        return f"from {proxies} (the service answered {arrival.status})"

    def quote(self, answer: Answer) -> str:
        """`500 '{"error": ...}' from the service`: an answer as evidence gives it. The service's
        own body is quoted; a proxy's error page is named instead."""
        who = self.who(answer)
        if not who:
            return str(answer.status)
        return f"{answer.quoted() if self.client.from_service(answer) else answer.status} {who}"


# Probes: what a client does, and what it saw.


@dataclass
class SyncTries:
    answers: list[Answer]
    work_s: float
    executions: float | None
    reached: list[Arrival] | None  # the tries that reached the service; None where unwatched


async def sync_with_retries(s: CheckSession) -> SyncTries:
    """A slow sync request, retried after each cut, as its clients would."""
    work_s, file_id = s.work_s(1.5), s.file_id()
    before = await s.client.executions()
    answers = [await s.client.sync(file_id, work_s)]
    while answers[-1].status >= 400 and len(answers) <= RETRIES:
        answers.append(await s.client.sync(file_id, work_s))
    executions = await s.executions_since(before, [])
    arrivals = s.client.arrivals
    reached = None if arrivals is None else [r for a in answers if (r := arrivals.tagged(a.tag))]
    return SyncTries(answers, work_s, executions, reached)


@dataclass
class PolledJob:
    started: Answer
    job: Job | None
    polled: Polled | None
    work_s: float


async def _polled_job(s: CheckSession, work_s: float) -> PolledJob:
    started = await s.client.initiate(s.file_id(), work_s, key=str(uuid.uuid4()))
    job = s.client.job(started)
    polled = await s.client.poll_until_terminal(job, s.patience_s) if job else None
    return PolledJob(started, job, polled, work_s)


async def slow_polled_job(s: CheckSession) -> PolledJob:
    return await _polled_job(s, s.work_s(1.5))


async def short_polled_job(s: CheckSession) -> PolledJob:
    return await _polled_job(s, s.work_s(0.2))


@dataclass
class LongPolledJob:
    started: Answer
    answers: list[Answer] | None  # None: the job did not start
    work_s: float


async def long_polled_job(s: CheckSession) -> LongPolledJob:
    """A job longer than the binding limit, followed by reads asking to be held ten limits."""
    work_s = s.work_s(1.5)
    started = await s.client.initiate(s.file_id(), work_s, key=str(uuid.uuid4()))
    job = s.client.job(started)
    if job is None:
        return LongPolledJob(started, None, work_s)
    return LongPolledJob(
        started, await s.client.long_poll_until_terminal(job, 10 * s.limits.limit_s, s.patience_s), work_s
    )


@dataclass
class KeyedTries:
    answers: list[Answer]
    jobs: list[Job]  # distinct, in the order they were given
    polled: list[Polled]  # each job followed to its end, where the status route is in scope
    executions: float | None
    keyed: bool  # whether the tries carried an idempotency key (the target may name none)

    @property
    def ended(self) -> int:
        return sum(p.final is not None for p in self.polled)


async def _keyed_initiates(s: CheckSession, concurrent: bool) -> KeyedTries:
    key, file_id, work_s = str(uuid.uuid4()), s.file_id(), s.work_s(0.2)
    before = await s.client.executions()
    if concurrent:
        answers = list(await asyncio.gather(*(s.client.initiate(file_id, work_s, key) for _ in range(CONCURRENT))))
    else:
        answers = [await s.client.initiate(file_id, work_s, key) for _ in range(RETRIES + 1)]
    distinct = {job.id: job for a in answers if (job := s.client.job(a))}
    jobs = list(distinct.values())
    polled: list[Polled] = []
    if s.target.in_scope("status"):
        polled = list(await asyncio.gather(*(s.client.poll_until_terminal(j, s.patience_s) for j in jobs)))
    executions = await s.executions_since(before, jobs)
    return KeyedTries(answers, jobs, polled, executions, bool(s.target.idempotency_header))


async def retried_initiates(s: CheckSession) -> KeyedTries:
    """One initiate retried after each lost answer, with the same key."""
    return await _keyed_initiates(s, concurrent=False)


async def concurrent_initiates(s: CheckSession) -> KeyedTries:
    return await _keyed_initiates(s, concurrent=True)


@dataclass
class StreamedJob:
    started: Answer
    seen: Followed | None
    work_s: float


def _long_followed(via: str) -> Callable[[CheckSession], Awaitable[StreamedJob]]:
    async def probe(s: CheckSession) -> StreamedJob:
        """A job three binding limits long, followed on one connection from start to end."""
        work_s = s.work_s(3)
        started = await s.client.initiate(s.file_id(), work_s, key=str(uuid.uuid4()))
        job = s.client.job(started)
        seen = await s.client.follow(job, limit_s=s.patience_s, via=via) if job else None
        return StreamedJob(started, seen, work_s)

    return probe


long_streamed_job = _long_followed("events")
long_socket_job = _long_followed("websocket")


@dataclass
class ResumedJob:
    started: Answer
    first: Followed | None = None
    rest: Followed | None = None
    replay: Followed | None = None  # after the end: everything after the first id seen


def _resumed(via: str) -> Callable[[CheckSession], Awaitable[ResumedJob]]:
    async def probe(s: CheckSession) -> ResumedJob:
        """A connection dropped after two events, resumed from the last id, then replayed whole."""
        started = await s.client.initiate(s.file_id(), s.work_s(1.5), key=str(uuid.uuid4()))
        job = s.client.job(started)
        got = ResumedJob(started)
        if job is None:
            return got
        got.first = await s.client.follow(job, stop_after=2, limit_s=s.patience_s, via=via)
        if not got.first.events or got.first.events[-1].id is None:
            return got
        last = got.first.events[-1].id
        got.rest = await s.client.follow(job, last_event_id=last, limit_s=s.patience_s, via=via)
        first_id = got.first.events[0].id
        if first_id is not None:
            got.replay = await s.client.follow(job, last_event_id=first_id, limit_s=s.patience_s, via=via)
        return got

    return probe


resumed_stream = _resumed("events")
resumed_socket = _resumed("websocket")


# What a service that fails a check would change, and the standard or page that says how.
ASYNC = (
    "Answer work that can outlast a proxy with 202 Accepted and a status URL, and run it once in the "
    "background (the Asynchronous Request-Reply pattern, Azure Architecture Center; docs/patterns.md). A "
    "synchronous request cut by a proxy is retried by its client, and each try runs the work again."
)
STATUS_ROUTE = (
    "Answer 200 on the status route for every job the initiate accepted, while it runs and after it ends; "
    "in target.toml, name the route with what it is keyed by: {id}, {file} or {initiate.<field>}."
)
LONG_POLL = (
    "Hold a status read (RFC 7240 Prefer: wait) no longer than the shortest proxy limit, and say the wait "
    "applied in Preference-Applied (docs/api.md, long polling)."
)
DOWNLOAD = (
    "Serve a finished job's bytes at once, or redirect to a presigned link; give their sha256 in the status "
    "answer (answers.sha256) so a client can check them."
)
HEARTBEATS = (
    "Send a comment line (': ping') more often than the shortest idle limit on the way (WHATWG HTML, "
    "server-sent events; docs/proxies.md lists the limits). Against a limit on a response's total time no "
    "heartbeat helps: let the client resume with Last-Event-ID, or poll."
)
EVENT_IDS = (
    "Give every event an id, and on a request with Last-Event-ID send only the events after it "
    "(WHATWG HTML, server-sent events)."
)
PINGS = "Send WebSocket pings (RFC 6455, section 5.5.2) more often than the shortest idle limit on the way."
MESSAGE_IDS = "Give every message an id, and on a connection with ?lastEventId send only the messages after it."
IDEMPOTENCY_KEY = (
    "Accept an Idempotency-Key header and answer a repeated key with the first request's job (IETF "
    "draft-ietf-httpapi-idempotency-key-header); a repeat while the first is still being handled may get 409."
)
KEY_BEFORE_WORK = (
    "Claim the idempotency key atomically (e.g. Redis SET NX) before starting the work, so that a retry "
    "finds the job instead of starting another (docs/server.md, idempotency)."
)

# Judges: one verdict and its evidence from what a probe saw.


Judge = Callable[[CheckSession], Awaitable[tuple[Verdict, str]]]
# A failure that is the service's own error, not the proxies': fixing it comes before the check's own fix.
OWN_ERROR = "the service's own error, not the proxies'"


@dataclass(frozen=True)
class Check:
    name: str
    needs: tuple[str, ...]  # endpoints that must be in the target's scope
    proves: str
    judge: Judge
    leaves: str  # what a pass does not prove; "" when nothing worth saying
    fix: str  # what a service that fails it would change, and where that is set down


CHECKS: dict[str, Check] = {}


def check(name: str, needs: tuple[str, ...], proves: str, fix: str, leaves: str = "") -> Callable[[Any], Any]:
    """Registers a check: its name, the endpoints it needs, what a pass proves, what a failing
    service would change, and what a pass leaves unproved (the docs' table of checks is
    generated from these)."""

    def register(judge: Judge) -> Any:
        CHECKS[name] = Check(name, needs, proves, judge, leaves, fix)
        return judge

    return register


def _seen(answers: list[Answer]) -> str:
    return ", ".join(f"{a.status} after {a.elapsed_s:.2f} s" for a in answers)


def _not_started(what: str, answer: Answer) -> tuple[Verdict, str]:
    return "fail", f"{what} answered {answer.status} without a job id: {str(answer.body)[:120]}"


@check(
    "timeouts/sync_answers_through_the_proxies",
    needs=("sync",),
    fix=ASYNC,
    proves="a sync request whose work outlasts the chain's binding limit still gets its answer",
    leaves="anything about longer work",
)
async def _sync_answers(s: CheckSession) -> tuple[Verdict, str]:
    tries: SyncTries = await s.observe(sync_with_retries)
    first, work = tries.answers[0], tries.work_s
    if first.status >= 400:
        who = s.who(first)
        return "fail", (
            f"{first.status} after {first.elapsed_s:.2f} s for {work:.2f} s of work{', ' + who if who else ''}; "
            f"{s.limits}"
        )
    if first.elapsed_s < HONOURED * work:
        return "not measurable", (
            f"{first.status} after {first.elapsed_s:.2f} s, but its work was set to {work:.2f} s: "
            "the service did not take the work setting (header, unit or time scale?)"
        )
    return "pass", f"{first.status} after {first.elapsed_s:.2f} s, past {s.limits}"


@check(
    "timeouts/slow_job_completes_by_polling",
    needs=("initiate", "status"),
    fix=STATUS_ROUTE,
    proves="a job longer than the binding limit is started at once and followed by polls to completion, "
    "every answer through the proxies",
    leaves="that polls are cheap (see the load tests)",
)
async def _slow_job_polled(s: CheckSession) -> tuple[Verdict, str]:
    job: PolledJob = await s.observe(slow_polled_job)
    if job.polled is None:
        return _not_started("initiate", job.started)
    polled = job.polled
    head = f"initiate {job.started.status} in {job.started.elapsed_s:.2f} s; {len(polled.answers)} polls"
    if polled.gave_up is not None:
        gave_up = polled.gave_up
        whose = f", {OWN_ERROR}" if s.client.from_service(gave_up) else ""
        return "fail", f"{head} in {polled.elapsed_s:.2f} s, given up on {s.quote(gave_up)}{whose}"
    if polled.failed:
        statuses = sorted({a.status for a in polled.failed})
        return "fail", f"{head}, answered {statuses} (the first {s.quote(polled.failed[0])})"
    if polled.final is None:
        return "fail", f"{head}; no end within {s.patience_s:.1f} s"
    state = s.client.state(polled.final)
    if state not in s.target.answers.completed:
        return "fail", f"{head}; the job ended {state!r}"
    if polled.elapsed_s < HONOURED * job.work_s:
        return "not measurable", (
            f"{head}; completed after {polled.elapsed_s:.2f} s, but its work was set to {job.work_s:.2f} s: "
            "the service did not take the work setting"
        )
    return "pass", f"{head}, none cut; completed after {polled.elapsed_s:.2f} s, past {s.limits}"


@check(
    "timeouts/long_poll_within_the_limits",
    needs=("initiate", "status"),
    fix=LONG_POLL,
    proves="status reads asking to be held ten binding limits are capped below the chain's binding limit "
    "(the wait the service applies, and no read cut) and follow a long job to completion",
    leaves="that the service holds no read longer than it says, when its jobs change more often than its wait",
)
async def _long_poll(s: CheckSession) -> tuple[Verdict, str]:
    job: LongPolledJob = await s.observe(long_polled_job)
    if job.answers is None:
        return _not_started("initiate", job.started)
    answers = job.answers
    held = [a for a in answers if PREFERENCE_APPLIED_HEADER in a.headers]
    head = f"{len(answers)} reads, {len(held)} held (longest {max((a.elapsed_s for a in answers), default=0):.2f} s)"
    failed = [a for a in answers if a.status >= 500 or a.status in (408, 429) or s.client.hopeless([a])]
    own = [a for a in failed if s.client.from_service(a)]
    if own:
        return "fail", f"{head}; {OWN_ERROR}: {s.quote(own[-1])}"
    if failed:
        return (
            "fail",
            f"{head}; cut through the proxies: {_seen(failed[:3])} (the first {s.quote(failed[0])}); {s.limits}",
        )
    if not held:
        return "not measurable", f"{head}: the service held no read (no Preference-Applied), so it does not long-poll"
    final = answers[-1]
    if final.status >= 300 or s.client.state(final) not in s.target.answers.completed:
        return "fail", f"{head}; no completed answer within {s.patience_s:.1f} s (last: {final.status})"
    applied = held[-1].headers[PREFERENCE_APPLIED_HEADER]
    wait = _applied_wait_s(applied)
    if wait is None or wait >= s.limits.limit_s:
        return "fail", f"{head}; the service applied {applied}: a read of an unchanged job outlasts {s.limits}"
    exercised = max(a.elapsed_s for a in held) >= HONOURED * wait
    how = "a read was held that long" if exercised else "the job changed sooner each time"
    return "pass", f"{head}; the service applied {applied} ({how}), within {s.limits}"


def _applied_wait_s(applied: str) -> float | None:
    """`wait=2.5` (the value of Preference-Applied) -> 2.5."""
    name, _, value = applied.partition("=")
    try:
        return float(value.strip('" ')) if name.strip().lower() == "wait" else None
    except ValueError:
        return None


@check(
    "timeouts/download_through_the_proxies",
    needs=("initiate", "status", "download"),
    fix=DOWNLOAD,
    proves="a completed job's download answers through the proxies with the bytes the status promised",
    leaves="that a link outlives its TTL",
)
async def _download(s: CheckSession) -> tuple[Verdict, str]:
    job: PolledJob = await s.observe(short_polled_job)
    if job.job is None:
        return _not_started("initiate", job.started)
    if (
        job.polled is None
        or job.polled.final is None
        or s.client.state(job.polled.final) not in s.target.answers.completed
    ):
        return "fail", "the job did not complete, so there was nothing to download"
    got = await s.client.download(job.job)
    if got.status != 200 or not got.body:
        return "fail", f"download answered {s.quote(got)}, {len(got.body or b'')} bytes"
    digest, promised = sha256(got.body), dig(job.polled.final.body, s.target.answers.sha256)
    if promised is not None and digest != promised:
        return (
            "fail",
            f"downloaded {len(got.body)} bytes with sha256 {digest[:12]}…, the status said {str(promised)[:12]}…",
        )
    checked = "matching the status's sha256" if promised is not None else "no sha256 to compare"
    return "pass", f"200, {len(got.body)} bytes, {checked}"


def _outlives(probe: Callable[[CheckSession], Awaitable[StreamedJob]]) -> Judge:
    async def judge(s: CheckSession) -> tuple[Verdict, str]:
        job: StreamedJob = await s.observe(probe)
        if job.seen is None:
            return _not_started("initiate", job.started)
        seen = job.seen
        names = [e.event for e in seen.events]
        head = (
            f"{seen.status}, {len(seen.events)} events and {len(seen.heartbeats)} heartbeats over {seen.lasted_s:.2f} s"
        )
        if seen.status != 200:
            return "fail", f"the connection was answered {seen.status}; {s.limits}"
        if not seen.finished(s.target.answers.terminal):
            last = f"(last events: {', '.join(names[-3:]) or 'none'}); {s.limits}"
            if seen.broken and seen.silence_before_end_s < s.limits.limit_s / 2:
                return "fail", (
                    f"{head}; cut mid-body {seen.silence_before_end_s:.2f} s after its last byte: a limit on the "
                    f"response's total time, which no heartbeat moves {last}"
                )
            return (
                "fail",
                f"{head}; ended without a terminal event after {seen.silence_before_end_s:.2f} s of silence {last}",
            )
        if seen.lasted_s < min(HONOURED * job.work_s, s.limits.limit_s):
            return "not measurable", f"{head}: the job ended before any idle limit could apply"
        return "pass", f"{head}, ended with {names[-1]}"

    return judge


def _resumes(probe: Callable[[CheckSession], Awaitable[ResumedJob]]) -> Judge:
    async def judge(s: CheckSession) -> tuple[Verdict, str]:
        got: ResumedJob = await s.observe(probe)
        if got.first is None:
            return _not_started("initiate", got.started)
        if got.first.status != 200 or not got.first.events:
            return "fail", f"the connection was answered {got.first.status} with {len(got.first.events)} events"
        if got.rest is None or got.first.events[0].id is None:
            return "fail", "the events carry no id, so a client cannot resume"
        if got.rest.status != 200:
            return "fail", f"the resumed connection was answered {got.rest.status}"
        seen = [e.id for e in got.first.events[1:] + got.rest.events]
        repeated = len(seen) - len(set(seen))
        whole = [e.id for e in got.replay.events] if got.replay and got.replay.status == 200 else []
        missed = [i for i in whole if i not in set(seen)]
        ended = got.rest.finished(s.target.answers.terminal)
        evidence = (
            f"dropped after ids {got.first.events[0].id}..{got.first.events[-1].id}, resumed with "
            f"{len(got.rest.events)} events to {got.rest.events[-1].event if got.rest.events else 'nothing'}; "
            f"{len(missed)} missed, {repeated} repeated against a replay of {len(whole)}"
        )
        if repeated or missed or not ended or not whole:
            return "fail", evidence + ("" if whole else " (the replay from the first id answered nothing)")
        return "pass", evidence

    return judge


check(
    "sse/stream_outlives_the_idle_limit",
    needs=("initiate", "events"),
    fix=HEARTBEATS,
    proves="one stream carries a job three binding limits long to its terminal event "
    "(heartbeats, or events often enough, keep every hop from cutting it)",
    leaves="that heartbeats did it, if your service sends events more often than the limit",
)(_outlives(long_streamed_job))
check(
    "sse/resume_without_loss_or_repetition",
    needs=("initiate", "events"),
    fix=EVENT_IDS,
    proves="a stream dropped mid-job and resumed with Last-Event-ID misses no event and repeats none",
    leaves="resumption after the job's events expire",
)(_resumes(resumed_stream))
check(
    "websocket/socket_outlives_the_idle_limit",
    needs=("initiate", "websocket"),
    fix=PINGS,
    proves="one WebSocket carries a job three binding limits long to its terminal event "
    "(pings, or events often enough, keep every hop from closing it)",
    leaves="that pings did it, if your service sends messages more often than the limit",
)(_outlives(long_socket_job))
check(
    "websocket/resume_without_loss_or_repetition",
    needs=("initiate", "websocket"),
    fix=MESSAGE_IDS,
    proves="a WebSocket dropped mid-job and connected again with ?lastEventId misses no event and repeats none",
    leaves="resumption after the job's events expire",
)(_resumes(resumed_socket))


def _tries(tries: KeyedTries) -> str:
    how = "with one idempotency key" if tries.keyed else "without an idempotency key (the target names none)"
    return f"{len(tries.answers)} initiates {how}"


def _one_job(tries: KeyedTries) -> tuple[Verdict, str]:
    statuses = sorted({a.status for a in tries.answers})
    evidence = f"{_tries(tries)} answered {statuses} with {len(tries.jobs)} job id(s)"
    ok = len(tries.jobs) == 1 and all(a.status < 300 or a.status == 409 for a in tries.answers)
    return ("pass" if ok else "fail"), evidence


def _one_execution(s: CheckSession, tries: KeyedTries) -> tuple[Verdict, str]:
    if not s.target.executions.measurable:
        return "not measurable", (
            "the target gives no execution counter or per-job count, and the requests that reached the "
            "service do not tell: an initiate may start no work, or find the work already started"
        )
    if tries.executions is None:
        return "not measurable", "the execution count could not be read"
    if tries.executions == 0:
        if not tries.ended:
            gave_up = next((p.gave_up for p in tries.polled if p.gave_up is not None), None)
            why = f"its status read answered {s.quote(gave_up)}" if gave_up else f"within {s.patience_s:.1f} s"
            return "not measurable", (
                f"the execution count did not move, and none of the {len(tries.jobs)} job(s) was seen to end ({why})"
            )
        return "not measurable", (
            f"the execution count did not move while {tries.ended} job(s) ran to their end: "
            "the counter does not count this work"
        )
    verdict: Verdict = "pass" if tries.executions == 1 else "fail"
    return verdict, (
        f"{tries.executions:g} execution(s) for one logical request, counted by the service "
        f"({_tries(tries)}, {len(tries.jobs)} job id(s))"
    )


@check(
    "duplicates/retried_initiate_returns_one_job",
    needs=("initiate",),
    fix=IDEMPOTENCY_KEY,
    proves="an initiate retried with the same idempotency key is recognised: one job id for all tries",
    leaves="that the work ran once (the next check)",
)
async def _retried_one_job(s: CheckSession) -> tuple[Verdict, str]:
    return _one_job(await s.observe(retried_initiates))


@check(
    "duplicates/retried_initiate_executes_once",
    needs=("initiate", "status"),
    fix=KEY_BEFORE_WORK,
    proves="retries with one key run the work once, counted by the service itself",
    leaves="exactly-once under crashes",
)
async def _retried_once(s: CheckSession) -> tuple[Verdict, str]:
    return _one_execution(s, await s.observe(retried_initiates))


@check(
    "duplicates/concurrent_initiates_return_one_job",
    needs=("initiate",),
    fix=IDEMPOTENCY_KEY,
    proves=f"{CONCURRENT} initiates at once with one key give one job (others may answer 409)",
)
async def _concurrent_one_job(s: CheckSession) -> tuple[Verdict, str]:
    return _one_job(await s.observe(concurrent_initiates))


@check(
    "duplicates/concurrent_initiates_execute_once",
    needs=("initiate", "status"),
    fix=KEY_BEFORE_WORK,
    proves=f"{CONCURRENT} initiates at once with one key run the work once",
)
async def _concurrent_once(s: CheckSession) -> tuple[Verdict, str]:
    return _one_execution(s, await s.observe(concurrent_initiates))


@check(
    "duplicates/retried_sync_executes_once",
    needs=("sync",),
    fix=ASYNC,
    proves=f"a sync request retried up to {RETRIES} times after cuts runs the work once",
)
async def _sync_once(s: CheckSession) -> tuple[Verdict, str]:
    tries: SyncTries = await s.observe(sync_with_retries)
    how = s.target.executions
    counted = bool(how.counter and how.metrics_path)
    if counted and tries.executions:
        verdict: Verdict = "pass" if tries.executions == 1 else "fail"
        return verdict, (
            f"{tries.executions:g} execution(s) for one logical request, counted by the service's "
            f"{how.counter} ({_seen(tries.answers)})"
        )
    why = "the service's counter did not move" if counted else "the target gives no execution counter"
    if tries.reached is None:
        return "not measurable", f"{why}, and nothing watched the requests reach it"
    # Without a key, each try that reached a synchronous endpoint started the work again.
    reached = len(tries.reached)
    answered = ", ".join(str(a.status) for a in tries.answers)
    verdict = "pass" if reached == 1 else "fail"
    return verdict, (
        f"{reached} request(s) reached the service for one logical request (counted where the proxies hand "
        f"them on, as {why}); the client saw {answered}"
    )


async def run_check(session: CheckSession, name: str) -> Result:
    chosen = CHECKS[name]
    missing = [e for e in chosen.needs if not session.target.in_scope(e)]
    if missing:
        return Result(
            name, "not in scope", f"the target's scope leaves out {', '.join(missing)}", chosen.proves, fix=chosen.fix
        )
    began = time.monotonic()
    try:
        verdict, evidence = await chosen.judge(session)
    except RateLimited as exc:
        verdict, evidence = (
            "not measurable",
            f"the service rate-limited the check ({exc} answered 429); raise its limit",
        )
    fix = chosen.fix
    if verdict == "fail" and OWN_ERROR in evidence:
        fix = f"First mend {OWN_ERROR}, which the evidence quotes. Then: {fix}"
    return Result(name, verdict, evidence, chosen.proves, round(time.monotonic() - began, 3), fix)


async def run_checks(
    session: CheckSession, groups: tuple[str, ...] = GROUPS, report: Callable[[Result], None] | None = None
) -> list[Result]:
    results = []
    for name in CHECKS:
        if name.split("/", 1)[0] in groups:
            result = await run_check(session, name)
            if report is not None:
                report(result)
            results.append(result)
    return results
