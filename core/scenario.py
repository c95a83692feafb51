"""The `Scenario`: one workload, stack and client policy, shared by the SimPy models and
the load tests, loaded from a TOML file under `scenarios/`.

Every field is typed and checked on load; an unknown key or a value out of range is an
error naming it. Durations are written unscaled; `time_scale` applies when a real stack
runs the scenario (the simulation runs in scenario seconds).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from proxies.render import PROFILES, parse_chain
from reference_server.contract import LONGPOLL_MAX_WAIT_S

from .typed_tables import TableError, build, positive, read_toml

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"  # the project's scenario files


class ScenarioError(TableError):
    """The scenario file is invalid; the message names the field."""


@dataclass(frozen=True)
class Arrivals:
    process: Literal["poisson", "bursts"] = "poisson"
    rate_per_s: float = 1.0  # mean arrivals per second (bursts: averaged over the cycle)
    burst_size: int = 10  # bursts: jobs arriving together every burst_size / rate_per_s seconds

    def check(self) -> None:
        positive("arrivals.rate_per_s", self.rate_per_s)
        positive("arrivals.burst_size", self.burst_size)


@dataclass(frozen=True)
class Duration:
    """Work per file, in seconds."""

    kind: Literal["uniform", "mix", "exponential", "fixed", "empirical"] = "uniform"
    min_s: float = 10.0
    max_s: float = 120.0
    mean_s: float = 60.0  # exponential, fixed
    csv: str = ""  # empirical: a file of seconds, one per line (first column), relative to the scenario
    samples: tuple[float, ...] = ()  # empirical: filled from csv on load

    def check(self) -> None:
        if self.kind == "uniform" and not 0 <= self.min_s <= self.max_s:
            raise ScenarioError("workload.duration: need 0 <= min_s <= max_s")
        if self.kind in ("exponential", "fixed"):
            positive("workload.duration.mean_s", self.mean_s)
        if self.kind == "empirical" and not self.samples:
            raise ScenarioError("workload.duration: empirical needs a csv with at least one duration")


@dataclass(frozen=True)
class Workload:
    files_per_request: int = 1
    duration: Duration = field(default_factory=Duration)

    def check(self) -> None:
        positive("workload.files_per_request", self.files_per_request)
        self.duration.check()


@dataclass(frozen=True)
class Workers:
    count: int = 1
    concurrency: int = 5
    queue_capacity: int = 10_000
    # The real stack's job lease (renewed every third of it): long leases spare a worker
    # holding thousands of waiting jobs the renewals; the models do not crash workers.
    lease_s: float = 60.0

    @property
    def slots(self) -> int:
        return self.count * self.concurrency

    def check(self) -> None:
        positive("workers.count", self.count)
        positive("workers.concurrency", self.concurrency)
        positive("workers.queue_capacity", self.queue_capacity)
        positive("workers.lease_s", self.lease_s)


@dataclass(frozen=True)
class ProxyOverride:
    """Where a scenario's hop differs from its profile in `proxies/` (unscaled seconds)."""

    read_timeout_s: float | None = None
    idle_timeout_s: float | None = None
    timeout_status: int | None = None
    lifetime_s: float | None = None  # only where the profile has a lifetime


@dataclass(frozen=True)
class Proxy:
    """One hop as the models see it, from the client inwards: its profile's limits, with
    the scenario's overrides. Derived on load, never written in a scenario file."""

    name: str
    read_timeout_s: float  # no byte from upstream for this long: the request fails
    idle_timeout_s: float  # the same limit between bytes of a stream
    timeout_status: int
    lifetime_s: float | None = None  # a response ends this long after its request, however busy


@dataclass(frozen=True)
class SyncPolicy:
    retries: int = 0  # retries after a proxy timeout
    retry_delay_s: float = 1.0


@dataclass(frozen=True)
class PollingPolicy:
    interval_s: float = 5.0
    obey_retry_after: bool = True  # use the server's Retry-After instead of interval_s
    retry_after_s: float = 5.0  # what the server advises
    backoff: float = 1.0  # each interval is the previous one times this
    max_interval_s: float = 60.0
    jitter: float = 0.0  # +/- this fraction of each interval, uniformly


@dataclass(frozen=True)
class LongPollPolicy:
    # What the client asks a status read to be held for; the server holds it at most
    # LONGPOLL_MAX_WAIT_S, the cap it advertises.
    wait_s: float = LONGPOLL_MAX_WAIT_S

    @property
    def held_s(self) -> float:
        """The longest the server holds one of this client's reads."""
        return min(self.wait_s, LONGPOLL_MAX_WAIT_S)


@dataclass(frozen=True)
class SsePolicy:
    """A held connection's policy: SSE clients and WebSocket clients alike follow it (the
    heartbeat is the server's keep-alive: a comment on a stream, a ping on a socket)."""

    heartbeat_s: float = 15.0  # 0: no heartbeats
    reconnect_delay_s: float = 3.0
    resume: bool = True  # Last-Event-ID: missed events are replayed on reconnect
    progress_steps: int = 10  # events per file while the job runs
    drops_per_hour: float = 0.0  # connections lost by the client's own timer, Poisson; off with a [network]
    # The client's liveness rule: a stream silent for this many heartbeats is dead, and the
    # client reconnects (0: it waits for the network to tell it, which a blackhole never does).
    watchdog_heartbeats: int = 0
    push_latency_s: float = 0.025  # from the job's end to the client reading the event (dispatch, one way)


@dataclass(frozen=True)
class Outage:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class WebhookPolicy:
    failure_probability: float = 0.0  # of each attempt, independently
    retry_schedule_s: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000)  # delay before each attempt
    delivery_latency_s: float = 0.05
    outages: tuple[Outage, ...] = ()  # receiver down: every attempt in these windows fails


@dataclass(frozen=True)
class HybridPolicy:
    # Stream connections that end before their first byte (none within first_byte_s, a 504,
    # a reset) tolerated before falling back to polling. A stream cut after bytes came is
    # working: it resumes with Last-Event-ID and does not count.
    stream_failures_before_polling: int = 1
    # A connection with no byte of its stream this long after it was opened has failed. The
    # server opens every stream at once (`retry:`), so a working path shows a byte within a
    # round trip; a proxy that holds the response shows none. 5 s is classic SignalR's
    # TransportConnectTimeout.
    first_byte_s: float = 5.0
    webhook: bool = False  # also deliver a webhook (server-to-server callers)


@dataclass(frozen=True)
class Clients:
    sync: SyncPolicy = field(default_factory=SyncPolicy)
    polling: PollingPolicy = field(default_factory=PollingPolicy)
    longpoll: LongPollPolicy = field(default_factory=LongPollPolicy)
    sse: SsePolicy = field(default_factory=SsePolicy)
    webhook: WebhookPolicy = field(default_factory=WebhookPolicy)
    hybrid: HybridPolicy = field(default_factory=HybridPolicy)
    abandon_after_s: float = 0.0  # a client still unaware after this long gives up; 0: never
    rtt_s: float = 0.05
    # A poll or initiate unanswered after this long is abandoned and sent again on a new
    # connection (0: wait as long as the network holds it).
    request_timeout_s: float = 0.0
    initiate_attempts: int = 1  # sends of an initiate (one idempotency key) after network failures

    def check(self) -> None:
        if not 0 <= self.webhook.failure_probability <= 1:
            raise ScenarioError("clients.webhook.failure_probability must be within 0..1")
        if not self.webhook.retry_schedule_s:
            raise ScenarioError("clients.webhook.retry_schedule_s needs at least one attempt")
        positive("clients.polling.interval_s", self.polling.interval_s)
        positive("clients.longpoll.wait_s", self.longpoll.wait_s)
        positive("clients.sse.progress_steps", self.sse.progress_steps)
        if self.polling.backoff < 1:
            raise ScenarioError("clients.polling.backoff must be >= 1")
        positive("clients.initiate_attempts", self.initiate_attempts)
        positive("clients.hybrid.first_byte_s", self.hybrid.first_byte_s)
        if self.request_timeout_s < 0 or self.sse.watchdog_heartbeats < 0:
            raise ScenarioError("clients.request_timeout_s and clients.sse.watchdog_heartbeats must be >= 0")
        if self.sse.watchdog_heartbeats and not self.sse.heartbeat_s:
            raise ScenarioError("clients.sse.watchdog_heartbeats counts heartbeats: set clients.sse.heartbeat_s")

    @property
    def watchdog_s(self) -> float | None:
        """How long a stream may stay silent before the client calls it dead (None: forever)."""
        return self.sse.watchdog_heartbeats * self.sse.heartbeat_s if self.sse.watchdog_heartbeats else None


@dataclass(frozen=True)
class Network:
    """The network between the clients and the entry proxy, when it is not a friendly one:
    Toxiproxy makes it on the real stack and the models draw the same (scenario seconds).

    Latency is `clients.rtt_s`, half each way. A drop hits a connection in one of two ways:
    a reset, which the client learns at once (at the connection's next byte), or a
    blackhole, in which what the client sends is held until the window ends and nobody is
    told: a poll or a stream being opened goes unanswered (`stack.toxiproxy` says why a
    stream already flowing is not silenced). Each kind is drawn per connection: the network
    picks which connections to hit once a window (a reset window, `reset_window_s`; a
    blackhole window, `blackhole_s`), each with the probability that gives the hourly rate.
    """

    jitter_s: float = 0.0  # +/- on each direction's latency, uniformly
    bandwidth_kib_s: int = 0  # each direction; 0: unlimited
    resets_per_hour: float = 0.0  # per connection
    blackholes_per_hour: float = 0.0  # per connection
    blackhole_s: float = 60.0
    reset_window_s: float = 15.0  # a stream's bytes pass at least once a window (its heartbeat)

    @property
    def reset_probability(self) -> float:
        """Of each connection, in each reset window."""
        return self.resets_per_hour * self.reset_window_s / 3600

    @property
    def blackhole_probability(self) -> float:
        """Of each connection, in each blackhole window."""
        return self.blackholes_per_hour * self.blackhole_s / 3600

    def check(self) -> None:
        positive("network.blackhole_s", self.blackhole_s)
        positive("network.reset_window_s", self.reset_window_s)
        if min(self.jitter_s, self.bandwidth_kib_s, self.resets_per_hour, self.blackholes_per_hour) < 0:
            raise ScenarioError("network: jitter_s, bandwidth_kib_s and the hourly rates must be >= 0")
        for name, p in (("resets", self.reset_probability), ("blackholes", self.blackhole_probability)):
            if p > 1:
                raise ScenarioError(f"network.{name}_per_hour is more than one per connection and window")


@dataclass(frozen=True)
class Prices:
    """Unit prices for the cost model (USD); defaults are AWS list prices, see README."""

    per_million_requests: float = 1.0  # API Gateway HTTP API
    per_million_connection_minutes: float = 0.25  # API Gateway WebSocket connection-minutes
    per_worker_hour: float = 0.0416  # one vCPU-hour of a small instance
    per_gib_hour: float = 0.004445  # memory: Fargate's GB-hour (measured costs: the API's RSS per waiting client)
    per_gb_transferred: float = 0.09
    request_bytes: int = 800  # headers and a small JSON body, both ways
    event_bytes: int = 120
    heartbeat_bytes: int = 10


@dataclass(frozen=True)
class Radio:
    """A phone's LTE radio (`core.radio`). The defaults are the LTE parameters measured
    by Huang et al., "A Close Examination of Performance and Power Characteristics of 4G
    LTE Networks", MobiSys 2012 (Table 3): promotion 260.1 ms at 1210.7 mW, tail 11.576 s at
    1060.0 mW, and 11.4 mW on average while idle (DRX)."""

    promotion_s: float = 0.2601
    promotion_w: float = 1.2107
    tail_s: float = 11.576
    tail_w: float = 1.060
    idle_w: float = 0.0114


@dataclass(frozen=True)
class Scenario:
    name: str = "unnamed"
    description: str = ""
    seed: int = 1
    time_scale: float = 1.0
    arrivals: Arrivals = field(default_factory=Arrivals)
    workload: Workload = field(default_factory=Workload)
    workers: Workers = field(default_factory=Workers)
    proxies: str = "cloudflare"  # the chain by profile names, client side first ("cloudflare+nginx-tuned"); "" for none
    proxy_overrides: dict[str, ProxyOverride] = field(default_factory=dict)  # by hop name
    clients: Clients = field(default_factory=Clients)
    prices: Prices = field(default_factory=Prices)
    network: Network | None = None  # None: a friendly network (drops, if any, are the client's timer)
    radio: Radio | None = None  # the clients' radio, when they are phones: radio energy is then reported

    def check(self) -> Scenario:
        positive("time_scale", self.time_scale)
        self.arrivals.check()
        self.workload.check()
        self.workers.check()
        try:
            names = {p.name for p in parse_chain(self.proxies)} if self.proxies else set()
        except ValueError as exc:
            raise ScenarioError(f"proxies: {exc}") from None
        stray = set(self.proxy_overrides) - names
        if stray:
            raise ScenarioError(f"proxy_overrides name hops not in the chain: {', '.join(sorted(stray))}")
        for hop in self.hops:
            positive(f"proxy_overrides.{hop.name}.read_timeout_s", hop.read_timeout_s)
            positive(f"proxy_overrides.{hop.name}.idle_timeout_s", hop.idle_timeout_s)
        for name, given in self.proxy_overrides.items():
            if given.lifetime_s is None:
                continue
            if PROFILES[name].lifetime_s is None:
                raise ScenarioError(f"proxy_overrides.{name}.lifetime_s: {name} has no total lifetime to change")
            positive(f"proxy_overrides.{name}.lifetime_s", given.lifetime_s)
        self.clients.check()
        if self.network is not None:
            self.network.check()
        return self

    @cached_property
    def hops(self) -> tuple[Proxy, ...]:
        """The chain's hops with their limits, from `proxies/` and this scenario's overrides."""
        hops = []
        for profile in parse_chain(self.proxies) if self.proxies else []:
            given = self.proxy_overrides.get(profile.name, ProxyOverride())
            hops.append(
                Proxy(
                    profile.name,
                    profile.read_s if given.read_timeout_s is None else given.read_timeout_s,
                    profile.idle_limit_s(self.clients.sse.heartbeat_s)
                    if given.idle_timeout_s is None
                    else given.idle_timeout_s,
                    profile.timeout_status if given.timeout_status is None else given.timeout_status,
                    profile.lifetime_s if given.lifetime_s is None else given.lifetime_s,
                )
            )
        return tuple(hops)

    @property
    def read_limit(self) -> tuple[float, int] | None:
        """How long a silent request lasts on the chain (its shortest read timeout, or a
        shorter lifetime), and the status its proxy answers."""
        if not self.hops:
            return None
        return min((min(p.read_timeout_s, p.lifetime_s or math.inf), p.timeout_status) for p in self.hops)

    @property
    def shortest_lived(self) -> Proxy | None:
        """The hop with the shortest total lifetime: no response, however busy, outlives it,
        and one it ends before it began is answered with its `timeout_status`."""
        limited = [p for p in self.hops if p.lifetime_s is not None]
        return min(limited, key=lambda p: p.lifetime_s or math.inf) if limited else None

    @property
    def lifetime_limit(self) -> float | None:
        hop = self.shortest_lived
        return None if hop is None else hop.lifetime_s

    @property
    def client_drops_per_hour(self) -> float:
        """The client's own stream-drop timer: off when a [network] makes the drops."""
        return self.clients.sse.drops_per_hour if self.network is None else 0.0

    @property
    def passes_upgrade(self) -> bool:
        """Every hop forwards a WebSocket handshake."""
        return all(p.passes_upgrade for p in parse_chain(self.proxies)) if self.proxies else True

    @property
    def buffers_streams(self) -> bool:
        """A hop holds an event stream's bytes until the response ends."""
        return any(p.buffers_streams for p in parse_chain(self.proxies)) if self.proxies else False

    @property
    def idle_limit(self) -> float | None:
        return min((p.idle_timeout_s for p in self.hops), default=None)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """`{"clients.polling.interval_s": 2}` -> a copy with that field changed (for sweeps)."""
        data = _without_none(dataclasses.asdict(self))  # TOML has no null: an unset optional is left out
        for dotted, value in overrides.items():
            node = data
            *path, last = dotted.split(".")
            for part in path:
                if not isinstance(node, dict) or part not in node:
                    raise ScenarioError(f"no scenario field {dotted!r}")
                node = node[part]
            if not isinstance(node, dict) or last not in node:
                raise ScenarioError(f"no scenario field {dotted!r}")
            node[last] = value
        try:
            return build(Scenario, data, "", "scenario").check()
        except TableError as exc:
            raise ScenarioError(str(exc)) from None


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def load(path: str | Path) -> Scenario:
    path = Path(path)
    data = read_toml(path, ScenarioError)
    try:
        scenario = build(Scenario, data, "", "scenario")
        duration = scenario.workload.duration
        if duration.kind == "empirical":
            samples = _read_samples(path.parent / duration.csv)
            scenario = dataclasses.replace(
                scenario,
                workload=dataclasses.replace(
                    scenario.workload, duration=dataclasses.replace(duration, samples=samples)
                ),
            )
        return scenario.check()
    except TableError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def _read_samples(path: Path) -> tuple[float, ...]:
    try:
        with open(path, newline="") as handle:
            rows = [row[0] for row in csv.reader(handle) if row and not row[0].startswith("#")]
    except OSError as exc:
        raise ScenarioError(f"workload.duration.csv: {exc}") from None
    samples = tuple(float(v) for v in rows if _is_number(v))  # a header line is skipped
    if any(v < 0 for v in samples):
        raise ScenarioError(f"workload.duration.csv {path} must hold non-negative seconds")
    return samples


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
