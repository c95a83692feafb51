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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .callback_policy import Entry, parse_entry
from .contract import LONGPOLL_MAX_WAIT_S

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


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 3000
    time_scale: float = 1.0
    redis_url: str | None = None
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


def from_env(env: Mapping[str, str]) -> Settings:
    """Build settings from the original service's variable names (and ours)."""
    s = Settings()
    updates: dict[str, Any] = {}  # each value parsed to its field's type below

    def number(name: str, cast: type[int] | type[float], minimum: float | None = None) -> float | None:
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            value = cast(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
        return value

    simple: list[tuple[str, str, type[int] | type[float], float | None, float]] = [
        ("PORT", "port", int, 0, 1),
        ("TIME_SCALE", "time_scale", float, 0.0001, 1),
        ("REQUEST_TIMEOUT_MS", "request_timeout_s", float, 1000, 1000),
        ("RATE_LIMIT_WINDOW_MS", "rate_limit_window_s", float, 1000, 1000),
        ("RATE_LIMIT_MAX_REQUESTS", "rate_limit_max", int, 1, 1),
        ("ARTIFACT_BYTES_PER_FILE", "artifact_bytes_per_file", int, 0, 1),
        ("PRESIGN_TTL_S", "presign_ttl_s", float, 2, 1),
        ("JOB_TTL_S", "job_ttl_s", float, 1, 1),
        ("IDEMPOTENCY_TTL_S", "idempotency_ttl_s", float, 1, 1),
        ("SSE_HEARTBEAT_S", "sse_heartbeat_s", float, 0, 1),
        ("SSE_RETRY_MS", "sse_retry_ms", int, 0, 1),
        ("PROGRESS_STEPS", "progress_steps", int, 1, 1),
        ("WEBHOOK_TIMEOUT_S", "webhook_timeout_s", float, 0.001, 1),
        ("WORKERS", "workers", int, 0, 1),
        ("LEASE_S", "lease_s", float, 0.01, 1),
        ("MAX_QUEUED_JOBS", "max_queued_jobs", int, 1, 1),
        ("LISTEN_BACKLOG", "listen_backlog", int, 1, 1),
        ("MAX_STREAMS_PER_CLIENT", "max_streams_per_client", int, 0, 1),
        ("MAX_STREAMS", "max_streams", int, 0, 1),
        ("POLL_RETRY_AFTER_S", "poll_retry_after_s", float, 0.001, 1),
        ("LONGPOLL_MAX_WAIT_S", "longpoll_max_wait_s", float, 0, 1),
        ("STORAGE_TIMEOUT_S", "storage_timeout_s", float, 0.01, 1),
        ("IDLE_TIMEOUT_S", "idle_timeout_s", float, 0.01, 1),
        ("BODY_TIMEOUT_S", "body_timeout_s", float, 0.01, 1),
    ]
    for env_name, attr, cast, minimum, divisor in simple:
        value = number(env_name, cast, minimum)
        if value is not None:
            updates[attr] = value / divisor if divisor != 1 else value

    for env_name, attr in [
        ("REDIS_URL", "redis_url"),
        ("S3_ENDPOINT", "s3_endpoint"),
        ("S3_PUBLIC_ENDPOINT", "s3_public_endpoint"),
        ("S3_ACCESS_KEY_ID", "s3_access_key"),
        ("S3_SECRET_ACCESS_KEY", "s3_secret_key"),
        ("DATA_DIR", "data_dir"),
        ("WEBHOOK_SECRET", "webhook_secret"),
        ("HOST", "host"),
        ("PUBLIC_URL", "public_url"),
        ("S3_REGION", "s3_region"),
        ("S3_BUCKET_NAME", "s3_bucket"),
    ]:
        raw = env.get(env_name, "").strip()
        if raw:  # the original treats an empty string as unset
            updates[attr] = raw
    if "CORS_ORIGINS" in env:
        updates["cors_origins"] = _parse_list(env["CORS_ORIGINS"]) or ("*",)
    if "WEBHOOK_ALLOWED_HOSTS" in env:
        try:
            updates["webhook_allowed_hosts"] = tuple(parse_entry(h) for h in _parse_list(env["WEBHOOK_ALLOWED_HOSTS"]))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if "TRUSTED_PROXIES" in env:
        try:
            updates["trusted_proxies"] = tuple(
                ipaddress.ip_network(e, strict=False) for e in _parse_list(env["TRUSTED_PROXIES"])
            )
        except ValueError as exc:
            raise ConfigError(f"TRUSTED_PROXIES must list IP addresses or networks: {exc}") from None
    if env.get("WEBHOOK_SCHEDULE_S", "").strip():
        try:
            updates["webhook_schedule_s"] = tuple(float(x) for x in _parse_list(env["WEBHOOK_SCHEDULE_S"]))
        except ValueError:
            raise ConfigError("WEBHOOK_SCHEDULE_S must be comma-separated seconds") from None

    for env_name, attr in (
        ("ACCESS_LOG", "access_log"),
        ("SSE_X_ACCEL_BUFFERING", "sse_accel_buffering_header"),
        ("SIMULATED_WORK_HEADER", "simulated_work_header"),
    ):
        if env.get(env_name) is not None:
            updates[attr] = parse_bool(env_name, env[env_name])
    delay = s.delay
    min_ms = number("DOWNLOAD_DELAY_MIN_MS", float, 0)
    max_ms = number("DOWNLOAD_DELAY_MAX_MS", float, 0)
    enabled = env.get("DOWNLOAD_DELAY_ENABLED")
    delay = replace(
        delay,
        kind=env.get("DOWNLOAD_DELAY_PROFILE", delay.kind).strip() or delay.kind,
        min_s=min_ms / 1000 if min_ms is not None else delay.min_s,
        max_s=max_ms / 1000 if max_ms is not None else delay.max_s,
        enabled=parse_bool("DOWNLOAD_DELAY_ENABLED", enabled) if enabled is not None else delay.enabled,
    )
    updates["delay"] = delay
    return validate(replace(s, **updates))


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


_CLI_TO_FIELD = {
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
    overrides = {f: getattr(args, a) for a, f in _CLI_TO_FIELD.items() if getattr(args, a) is not None}
    return validate(replace(settings, **overrides))
