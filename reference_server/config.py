"""Settings: the original service's environment variables plus the harness's own knobs.

Every duration is stored unscaled (as a person would write it) and read through
`Settings.scaled`, so one `time_scale` shrinks the whole service for CI.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .callback_policy import Entry, parse_entry
from .contract import LONGPOLL_MAX_WAIT_S
from .store import redis_address

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def parse_bool(name: str, raw: str) -> bool:
    # The original coerced any non-empty string to true, so "false" meant true.
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class DelayProfile:
    """Simulated preparation time per file, in unscaled seconds.

    `uniform` is the original's DOWNLOAD_DELAY_MIN_MS..MAX_MS; `mix` is the
    fast/medium/slow workload the design brief describes.
    """

    kind: str = "uniform"
    min_s: float = 10.0
    max_s: float = 200.0
    enabled: bool = True


# Queues a process with WORKERS reads (jobs, webhooks: services.running_workers), each with
# one blocking read that holds a pool connection while it waits for work.
QUEUE_READERS = 2


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3000
    time_scale: float = 1.0
    redis_url: str | None = None
    # Redis connections per pool (the API's and, in a process that also runs jobs, the workers'
    # own). Redis runs one command at a time, so more only hold memory: each costs about 60 KiB
    # of RSS once used, and a burst of 10,000 stream openings filled all 256 of an older pool
    # (15 MB). A request past the pool waits for a connection, up to `redis_pool_timeout_s`.
    redis_pool_size: int = 64
    redis_pool_timeout_s: float = 10.0
    # Replicas that must hold a new job before its initiate is answered (Redis WAIT); 0: the
    # master's word alone, which a failover can lose (replication is asynchronous).
    redis_ack_replicas: int = 0
    redis_ack_timeout_s: float = 1.0
    s3_endpoint: str | None = None
    s3_public_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "downloads"
    data_dir: str | None = None
    delay: DelayProfile = field(default_factory=DelayProfile)
    artifact_bytes_per_file: int = 64 * 1024
    request_timeout_s: float = 30.0
    rate_limit_window_s: float = 60.0
    rate_limit_max: int = 100
    cors_origins: tuple[str, ...] = ("*",)
    presign_ttl_s: float = 3600.0
    job_ttl_s: float = 86400.0
    idempotency_ttl_s: float = 86400.0
    sse_heartbeat_s: float = 15.0
    sse_retry_ms: int = 3000
    # Tell nginx not to buffer event streams. Off only to show what happens without it.
    sse_accel_buffering_header: bool = True
    progress_steps: int = 10  # progress updates per file; fewer means longer silences on a stream
    # Let clients fix the simulated work per file (X-Simulated-Work-Ms), so a load
    # generator can replay a scenario's exact draws. Off by default.
    simulated_work_header: bool = False
    poll_retry_after_s: float = 5.0
    longpoll_max_wait_s: float = LONGPOLL_MAX_WAIT_S  # the cap on a status read's `wait`; below request_timeout_s
    webhook_allowed_hosts: tuple[Entry, ...] = ()  # where callbacks may go (callback_policy)
    # Proxies whose X-Forwarded-For / X-Real-IP are believed (addresses or CIDRs); none by default.
    trusted_proxies: tuple[Network, ...] = ()
    webhook_secret: str = ""
    webhook_schedule_s: tuple[float, ...] = (0, 5, 30, 120, 600, 1800, 7200)
    webhook_timeout_s: float = 15.0
    workers: int = 4
    lease_s: float = 30.0
    max_queued_jobs: int = 10_000
    listen_backlog: int = 4096  # pending connections the kernel queues; aiohttp's default 128 overflows in bursts
    reuse_port: bool = False
    max_streams_per_client: int = 100  # event streams one client may hold open (0: no limit)
    max_streams: int = 20_000  # event streams this process holds in all (0: no limit)
    storage_timeout_s: float = 10.0
    # Real network timeouts against slow clients, never scaled: a connection gets this long to
    # send a whole request head (after it opens, or after its last response), and a body this
    # long to arrive. aiohttp's defaults (75 s, and none for a body) let 300 clients sending a
    # byte a second hold their connections for minutes.
    idle_timeout_s: float = 15.0
    body_timeout_s: float = 15.0
    access_log: bool = False  # one log line per request costs about a third of a status poll
    memory_trace_s: float = 0.0  # tracemalloc reports every this many seconds (0: off); see memory_trace
    public_url: str = ""  # how clients reach this server; default http://host:port
    instance: str = field(default_factory=lambda: secrets.token_hex(4))

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def embedded(self) -> bool:
        return self.redis_url is None


Reader = Callable[[str, str], Any]  # (variable name, raw value) -> parsed value, or None for "unset"


@dataclass(frozen=True)
class Number:
    """A number of at least `minimum` in the variable's unit; `per_unit` of them make one of the field's."""

    cast: type[int] | type[float]
    minimum: float
    per_unit: float = 1

    def __call__(self, name: str, raw: str) -> float | None:
        if raw.strip() == "":
            return None
        try:
            value = self.cast(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < self.minimum:
            raise ConfigError(f"{name} must be at least {self.minimum}, got {raw!r}")
        return value / self.per_unit if self.per_unit != 1 else value


def _text(name: str, raw: str) -> str | None:
    return raw.strip() or None  # the original treats an empty string as unset


def _redis_url(name: str, raw: str) -> str | None:
    url = _text(name, raw)
    if url is not None:
        try:
            redis_address.parse(url)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return url


def _seconds_list(name: str, raw: str) -> tuple[float, ...] | None:
    if not raw.strip():
        return None
    try:
        return tuple(float(x) for x in _parse_list(raw))
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated seconds") from None


def _origins(name: str, raw: str) -> tuple[str, ...]:
    return _parse_list(raw) or ("*",)


def _callback_hosts(name: str, raw: str) -> tuple[Entry, ...]:
    try:
        return tuple(parse_entry(h) for h in _parse_list(raw))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _networks(name: str, raw: str) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(e, strict=False) for e in _parse_list(raw))
    except ValueError as exc:
        raise ConfigError(f"{name} must list IP addresses or networks: {exc}") from None


@dataclass(frozen=True)
class Variable:
    """One environment variable: the Settings field it sets (`delay.x` for the delay profile's),
    how its text is read, and what it means. The docs' settings table is generated from these."""

    name: str
    field: str
    read: Reader
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable("HOST", "host", _text, "listen address"),
    Variable("PORT", "port", Number(int, 0), "listen port"),
    Variable(
        "PUBLIC_URL",
        "public_url",
        _text,
        "how clients reach this server, for links in webhooks; unset: http://HOST:PORT",
    ),
    Variable(
        "TIME_SCALE",
        "time_scale",
        Number(float, 0.0001),
        "multiplies every duration below (jobs, timeouts, heartbeats, TTLs, retry schedules)",
    ),
    Variable(
        "REDIS_URL",
        "redis_url",
        _redis_url,
        "job store, queue and event logs: `redis://host:port/db`, or "
        "`redis+sentinel://host:port,host:port/master-name[/db]` for the master that Redis Sentinels name "
        "(found again after a failover); unset: in memory (embedded mode)",
    ),
    Variable(
        "REDIS_POOL_SIZE",
        "redis_pool_size",
        Number(int, 1),
        "Redis connections per pool; a process running jobs beside its API gives its workers a pool of their "
        "own, so a burst of job writes never holds up the event streams' reads",
    ),
    Variable(
        "REDIS_POOL_TIMEOUT_S",
        "redis_pool_timeout_s",
        Number(float, 0.001),
        "how long a request waits for a free connection before it fails (503 `store_unavailable`; a held "
        "stream waits and tries again instead)",
    ),
    Variable(
        "REDIS_ACK_REPLICAS",
        "redis_ack_replicas",
        Number(int, 0),
        "replicas that must hold a new job before its initiate is answered 202 (Redis WAIT), so that a "
        "failover cannot lose an acknowledged job; if fewer do within REDIS_ACK_TIMEOUT_MS, the answer is 503 "
        "`store_not_durable` and a retry with the same Idempotency-Key is answered once they do; 0: off",
    ),
    Variable(
        "REDIS_ACK_TIMEOUT_MS",
        "redis_ack_timeout_s",
        Number(float, 1, 1000),
        "how long an initiate waits for REDIS_ACK_REPLICAS replicas",
    ),
    Variable(
        "S3_ENDPOINT", "s3_endpoint", _text, "artifact store (S3 API); unset: local disk, served through signed links"
    ),
    Variable(
        "S3_PUBLIC_ENDPOINT",
        "s3_public_endpoint",
        _text,
        "the endpoint clients reach; presigned links are signed for it",
    ),
    Variable("S3_ACCESS_KEY_ID", "s3_access_key", _text, "S3 access key; needed with S3_ENDPOINT"),
    Variable("S3_SECRET_ACCESS_KEY", "s3_secret_key", _text, "S3 secret key; needed with S3_ENDPOINT"),
    Variable("S3_BUCKET_NAME", "s3_bucket", _text, "bucket of the artifacts"),
    Variable("S3_REGION", "s3_region", _text, "region the links are signed for"),
    Variable("DATA_DIR", "data_dir", _text, "artifact folder in embedded mode; unset: a temporary folder"),
    Variable(
        "DOWNLOAD_DELAY_PROFILE",
        "delay.kind",
        _text,
        "`uniform` between MIN and MAX as in the original; `mix`: 50% 10-15 s, 30% 30-60 s, 20% 60-120 s",
    ),
    Variable("DOWNLOAD_DELAY_MIN_MS", "delay.min_s", Number(float, 0, 1000), "shortest simulated work per file"),
    Variable("DOWNLOAD_DELAY_MAX_MS", "delay.max_s", Number(float, 0, 1000), "longest simulated work per file"),
    Variable("DOWNLOAD_DELAY_ENABLED", "delay.enabled", parse_bool, "false: files are prepared at once"),
    Variable(
        "ARTIFACT_BYTES_PER_FILE", "artifact_bytes_per_file", Number(int, 0), "size of each file in the produced zip"
    ),
    Variable(
        "REQUEST_TIMEOUT_MS",
        "request_timeout_s",
        Number(float, 1000, 1000),
        "server-side limit on an answer (on an event stream or socket, until it begins): 504 JSON "
        "(the original answered 500)",
    ),
    Variable(
        "RATE_LIMIT_WINDOW_MS",
        "rate_limit_window_s",
        Number(float, 1000, 1000),
        "fixed rate-limit window per client, kept in the job store (in Redis mode every API process shares "
        "one window, counted by one atomic script); not time-scaled",
    ),
    Variable("RATE_LIMIT_MAX_REQUESTS", "rate_limit_max", Number(int, 1), "requests per client and window"),
    Variable(
        "TRUSTED_PROXIES",
        "trusted_proxies",
        _networks,
        "addresses or CIDRs of the proxies in front (e.g. `127.0.0.1,10.88.0.0/16`); only their "
        "`X-Forwarded-For`/`X-Real-IP` is believed (see Who the client is)",
    ),
    Variable("CORS_ORIGINS", "cors_origins", _origins, "comma-separated origins allowed by CORS"),
    Variable(
        "WORKERS",
        "workers",
        Number(int, 0),
        "job slots in this process (0 = API only; embedded mode needs at least 1)",
    ),
    Variable(
        "LEASE_S",
        "lease_s",
        Number(float, 0.01),
        "a job's lease; a worker silent for this long loses the job to another",
    ),
    Variable("MAX_QUEUED_JOBS", "max_queued_jobs", Number(int, 1), "beyond this, initiate answers 503 `queue_full`"),
    Variable(
        "LISTEN_BACKLOG",
        "listen_backlog",
        Number(int, 1),
        "connections the kernel queues before the server accepts them (aiohttp's default of 128 overflowed in "
        "bursts: resets and time-outs)",
    ),
    Variable(
        "REUSE_PORT",
        "reuse_port",
        parse_bool,
        "true: several server processes listen on one port (SO_REUSEPORT) and the kernel spreads new connections "
        "over them; on Redis only, since an embedded process's jobs are its own",
    ),
    Variable(
        "MAX_STREAMS_PER_CLIENT",
        "max_streams_per_client",
        Number(int, 0),
        "event streams one client may hold in this process (0 = no limit, for benchmarks); past it, 429 "
        "`too_many_streams` with `Retry-After`",
    ),
    Variable(
        "MAX_STREAMS",
        "max_streams",
        Number(int, 0),
        "event streams this process holds in all (0 = no limit); past it, 503 `streams_full` with `Retry-After`",
    ),
    Variable(
        "POLL_RETRY_AFTER_S",
        "poll_retry_after_s",
        Number(float, 0.001),
        "the `Retry-After` advice on status answers of unfinished jobs",
    ),
    Variable(
        "LONGPOLL_MAX_WAIT_S",
        "longpoll_max_wait_s",
        Number(float, 0),
        "the longest a long poll (`wait`) is held: below Heroku's 30 s, the strictest proxy limit in `proxies/`, "
        "and it must stay below `REQUEST_TIMEOUT_MS`; stated in `/openapi.json`",
    ),
    Variable("JOB_TTL_S", "job_ttl_s", Number(float, 1), "how long a finished job and its result are kept"),
    Variable("PRESIGN_TTL_S", "presign_ttl_s", Number(float, 2), "lifetime of a download link"),
    Variable("IDEMPOTENCY_TTL_S", "idempotency_ttl_s", Number(float, 1), "lifetime of an Idempotency-Key"),
    Variable(
        "SSE_HEARTBEAT_S",
        "sse_heartbeat_s",
        Number(float, 0),
        "comment heartbeat interval on event streams and ping interval on WebSockets (0 = none)",
    ),
    Variable("SSE_RETRY_MS", "sse_retry_ms", Number(int, 0), "the `retry:` advice on event streams"),
    Variable(
        "SSE_X_ACCEL_BUFFERING",
        "sse_accel_buffering_header",
        parse_bool,
        "send `X-Accel-Buffering: no` on streams (false shows what stock nginx then does)",
    ),
    Variable(
        "PROGRESS_STEPS",
        "progress_steps",
        Number(int, 1),
        "progress updates per file (1 = silent from start to end, for heartbeat checks)",
    ),
    Variable(
        "WEBHOOK_ALLOWED_HOSTS",
        "webhook_allowed_hosts",
        _callback_hosts,
        "where a `callback_url` may point: `host` (ports 80 and 443), `host:port` or `host:*`; empty: webhooks "
        "refused (see Where webhooks may go)",
    ),
    Variable(
        "WEBHOOK_SECRET",
        "webhook_secret",
        _text,
        "`whsec_...` signing secret; unset: random per process, so set it when you run several",
    ),
    Variable("WEBHOOK_SCHEDULE_S", "webhook_schedule_s", _seconds_list, "delay before each webhook attempt"),
    Variable("WEBHOOK_TIMEOUT_S", "webhook_timeout_s", Number(float, 0.001), "timeout of one webhook attempt"),
    Variable(
        "STORAGE_TIMEOUT_S",
        "storage_timeout_s",
        Number(float, 0.01),
        "per-call timeout to the object store (a real network timeout, not scaled)",
    ),
    Variable(
        "IDLE_TIMEOUT_S",
        "idle_timeout_s",
        Number(float, 0.01),
        "a connection must send a whole request head within this long of opening or of its last response, "
        "else it is closed (real time, not scaled)",
    ),
    Variable(
        "BODY_TIMEOUT_S",
        "body_timeout_s",
        Number(float, 0.01),
        "a request body must arrive within this long, else 408 `body_timeout` (real time, not scaled; "
        "aiohttp's defaults let clients sending a byte a second hold connections for minutes)",
    ),
    Variable(
        "SIMULATED_WORK_HEADER",
        "simulated_work_header",
        parse_bool,
        "accept `X-Simulated-Work-Ms` on `/start` and `initiate`, so a load generator fixes each job's work "
        "(the stack turns it on)",
    ),
    Variable("ACCESS_LOG", "access_log", parse_bool, "one log line per request"),
    Variable(
        "MEMORY_TRACE_S",
        "memory_trace_s",
        Number(float, 0),
        "log the allocation sites that grew most, every this many seconds (0 = off; real time, not scaled; "
        "slows the process)",
    ),
)


def from_env(env: Mapping[str, str]) -> Settings:
    """Build settings from the original service's variable names (and ours)."""
    updates: dict[str, Any] = {}
    delay: dict[str, Any] = {}
    for variable in VARIABLES:
        if variable.name not in env:
            continue
        value = variable.read(variable.name, env[variable.name])
        if value is None:
            continue
        group, _, attr = variable.field.rpartition(".")
        (delay if group == "delay" else updates)[attr] = value
    s = Settings()
    return validate(replace(s, delay=replace(s.delay, **delay), **updates))


def validate(s: Settings) -> Settings:
    if s.delay.kind not in ("uniform", "mix"):
        raise ConfigError(f"DOWNLOAD_DELAY_PROFILE must be 'uniform' or 'mix', got {s.delay.kind!r}")
    if s.delay.min_s > s.delay.max_s:
        raise ConfigError("DOWNLOAD_DELAY_MIN_MS must not exceed DOWNLOAD_DELAY_MAX_MS")
    if s.s3_endpoint and not (s.s3_access_key and s.s3_secret_key):
        raise ConfigError("S3_ENDPOINT needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY")
    if s.longpoll_max_wait_s >= s.request_timeout_s:
        raise ConfigError(
            f"LONGPOLL_MAX_WAIT_S ({s.longpoll_max_wait_s:g}) must be below REQUEST_TIMEOUT_MS "
            f"({s.request_timeout_s * 1000:g} ms): a held status read would time out"
        )
    if not s.webhook_schedule_s:
        raise ConfigError("WEBHOOK_SCHEDULE_S needs at least one attempt")
    if s.embedded and s.reuse_port:
        raise ConfigError("REUSE_PORT needs REDIS_URL: in embedded mode a job lives in the process that made it")
    if not s.embedded and s.workers > 0 and s.redis_pool_size <= QUEUE_READERS:
        raise ConfigError(
            f"REDIS_POOL_SIZE must be above {QUEUE_READERS} in a process with WORKERS: its queue readers (jobs, "
            f"webhooks) each hold a connection while they wait for work, and the jobs need another"
        )
    if s.embedded and s.workers < 1:
        raise ConfigError("embedded mode (no Redis) needs WORKERS >= 1: no other process can run its jobs")
    if not s.webhook_secret:
        # One process can sign with a throwaway secret; several processes must share one.
        s = replace(s, webhook_secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
    return s


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default $PORT or 3000)")
    parser.add_argument("--time-scale", type=float, help="multiply every duration by this factor")
    parser.add_argument("--redis-url", help="use Redis for jobs and queue (default: in-memory)")
    parser.add_argument("--s3-endpoint", help="S3/MinIO endpoint URL for artifacts (default: local disk)")
    parser.add_argument("--s3-public-endpoint", help="endpoint the clients reach; presigned URLs are signed for it")
    parser.add_argument("--s3-access-key")
    parser.add_argument("--s3-secret-key")
    parser.add_argument("--s3-bucket")
    parser.add_argument("--data-dir", help="artifact folder in embedded mode")
    parser.add_argument("--public-url", help="base URL clients use to reach this server (for links in webhooks)")
    parser.add_argument("--access-log", action="store_true", default=None, help="log every request")
    parser.add_argument("--workers", type=int, help="in-process worker concurrency (0: only separate workers)")


CLI_TO_FIELD = {
    "host": "host",
    "port": "port",
    "time_scale": "time_scale",
    "redis_url": "redis_url",
    "s3_endpoint": "s3_endpoint",
    "s3_public_endpoint": "s3_public_endpoint",
    "s3_access_key": "s3_access_key",
    "s3_secret_key": "s3_secret_key",
    "s3_bucket": "s3_bucket",
    "data_dir": "data_dir",
    "workers": "workers",
    "public_url": "public_url",
    "access_log": "access_log",
}


def load(argv: Sequence[str] | None, env: Mapping[str, str] | None = None) -> Settings:
    """Environment first, then command-line flags, which win."""
    parser = argparse.ArgumentParser(prog="python -m reference_server")
    add_cli_arguments(parser)
    return from_args(parser.parse_args(argv), env)


def from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """The environment's settings with the parsed flags over them."""
    settings = from_env(os.environ if env is None else env)
    overrides = {f: getattr(args, a) for a, f in CLI_TO_FIELD.items() if getattr(args, a) is not None}
    return validate(replace(settings, **overrides))
