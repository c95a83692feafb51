"""The models against theory: each test fails when the model is wrong.

Expected values are computed here from formulas, independently of the model's code.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from core.scenario import (
    Arrivals,
    Clients,
    Duration,
    PollingPolicy,
    ProxyOverride,
    Scenario,
    ScenarioError,
    SsePolicy,
    SyncPolicy,
    Workers,
    Workload,
)
from proxies.render import PROFILES
from simulations.run import run

# Plenty of worker slots and no network delay: what the client sees is the work alone.
UNCONTENDED = Workers(count=1, concurrency=100_000, queue_capacity=10**9)
ORIGINAL_WORK = Workload(duration=Duration(kind="uniform", min_s=10, max_s=120))
NO_DELAY = Clients(rtt_s=0.0)
TIMING_KEYS = ("sim_wall_s", "sim_jobs_per_s")


def edge(limits: ProxyOverride) -> dict[str, object]:
    """The Cloudflare-like edge alone, with some of its limits changed."""
    return {"proxies": "cloudflare", "proxy_overrides": {"cloudflare": limits}}


def scenario(**changes: object) -> Scenario:
    base = Scenario(arrivals=Arrivals(rate_per_s=1.0), workload=ORIGINAL_WORK, workers=UNCONTENDED, clients=NO_DELAY)
    return dataclasses.replace(base, **changes).check()  # type: ignore[arg-type]


def test_polling_matches_the_closed_form_at_200k_jobs() -> None:
    period = 5.0
    polling = PollingPolicy(interval_s=period, obey_retry_after=False)
    result = run(scenario(clients=dataclasses.replace(NO_DELAY, polling=polling), proxies=""), "polling", 200_000, 1)
    # Polls at k*T after initiate; the first one at or after D sees the job done.
    # Mean delay T/2; polls per job E[ceil(D/T)] = sum over whole periods of k*T/(b-a).
    a, b = 10, 120
    expected_polls = sum(k * period for k in range(math.ceil(a / period) + 1, math.ceil(b / period) + 1)) / (b - a)
    assert result["notify_delay_mean_s"] == pytest.approx(period / 2, rel=0.02)
    assert result["requests_per_job"] == pytest.approx(1 + expected_polls, rel=0.02)  # + the initiate
    assert 1 + expected_polls == pytest.approx(14.5)  # H2: about ceil(D/5) + 1 at D ~ 65 s


def erlang_c_wait(arrival_rate: float, mean_service: float, servers: int) -> float:
    a = arrival_rate * mean_service
    below = sum(a**k / math.factorial(k) for k in range(servers))
    top = a**servers / math.factorial(servers) * servers / (servers - a)
    return (top / (below + top)) / (servers / mean_service - arrival_rate)


def test_mmc_queue_wait_matches_erlang_c() -> None:
    servers, mean, load = 5, 1.0, 0.5
    rate = load * servers / mean
    mmc = scenario(
        arrivals=Arrivals(rate_per_s=rate),
        workload=Workload(duration=Duration(kind="exponential", mean_s=mean)),
        workers=Workers(count=1, concurrency=servers, queue_capacity=10**9),
        proxies="",
    )
    # Four independent runs of 300k jobs: their mean has a standard error near 1%.
    waits = [run(mmc, "webhook", 300_000, seed)["queue_wait_mean_s"] for seed in (1, 2, 3, 4)]
    assert np.mean(waits) == pytest.approx(erlang_c_wait(rate, mean, servers), rel=0.03)


@pytest.mark.parametrize(("limit", "expected"), [(30, 0.818), (60, 0.545), (100, 0.182)])
def test_sync_failure_rate_is_the_share_of_jobs_past_the_limit(limit: float, expected: float) -> None:
    jobs = 50_000
    one_hop = {"nginx-default": ProxyOverride(read_timeout_s=limit, idle_timeout_s=limit)}  # answers 504
    result = run(scenario(proxies="nginx-default", proxy_overrides=one_hop), "sync", jobs, 1)
    exact = (120 - limit) / 110  # P(D > limit) for D ~ U(10, 120)
    assert exact == pytest.approx(expected, abs=0.001)  # the design notes' H1 table
    failed = 1 - result["success_rate"]
    assert abs(failed - exact) < 4 * math.sqrt(exact * (1 - exact) / jobs)
    assert result["timeouts_per_job"] == {"504": pytest.approx(failed)}


def cuts_per_job(limit: float, reconnect: float) -> float:
    """A stream of D from connect to its terminal event, cut `limit` after each connect: the
    k-th cut comes at k*L + (k-1)*r, so N(D) = ceil((D + r) / (L + r)) - 1; averaged over
    D ~ U(30, 120)."""
    grid = np.linspace(30, 120, 900_001)
    return float(np.mean(np.ceil((grid + reconnect) / (limit + reconnect)) - 1))


def test_heartbeats_shorter_than_the_idle_limit_prevent_every_cut() -> None:
    sse = SsePolicy(heartbeat_s=15, progress_steps=1)
    result = run(
        scenario(**edge(ProxyOverride(idle_timeout_s=20)), clients=dataclasses.replace(NO_DELAY, sse=sse)),
        "sse",
        20_000,
        1,
    )
    assert result["stream_reconnects_per_job"] == 0


GATEWAY_LIFETIME_S = PROFILES["api-gateway"].lifetime_s or 0


@pytest.mark.parametrize(
    ("heartbeat_s", "proxies", "limit"),
    [
        pytest.param(0, edge(ProxyOverride(idle_timeout_s=10.0)), 10.0, id="silent-stream-idle-limit"),
        pytest.param(
            5,
            {"proxies": "max-lifetime-proxy", "proxy_overrides": {"max-lifetime-proxy": ProxyOverride(lifetime_s=25)}},
            25.0,
            id="go-proxy-lifetime",
        ),
        pytest.param(5, {"proxies": "api-gateway"}, GATEWAY_LIFETIME_S, id="holding-gateway-lifetime"),
    ],
)
def test_stream_reconnects_match_the_analytic_count(
    heartbeat_s: float, proxies: dict[str, object], limit: float
) -> None:
    """A stream cut `limit` after each connect: a silent one by an idle limit, or one with
    heartbeats by a total lifetime, which they do nothing against. Through the gateway that
    holds the whole response each cut is a 504 before any event; through the Go proxy, a stream
    cut mid-body."""
    reconnect = 3.0
    sse = SsePolicy(heartbeat_s=heartbeat_s, reconnect_delay_s=reconnect, progress_steps=1)
    cut = scenario(
        workload=Workload(duration=Duration(kind="uniform", min_s=30, max_s=120)),
        clients=dataclasses.replace(NO_DELAY, sse=sse),
        **proxies,
    )
    result = run(cut, "sse", 50_000, 1)
    assert result["stream_reconnects_per_job"] == pytest.approx(cuts_per_job(limit, reconnect), rel=0.02)
    assert result["success_rate"] == 1.0


def test_only_a_profile_with_a_lifetime_takes_another() -> None:
    with pytest.raises(ScenarioError, match="cloudflare has no total lifetime"):
        scenario(**edge(ProxyOverride(lifetime_s=30)))
    assert scenario(proxies="gcp-lb").read_limit == (30, 504)


def test_sync_retries_multiply_executions() -> None:
    clients = dataclasses.replace(NO_DELAY, sync=SyncPolicy(retries=2, retry_delay_s=1))
    result = run(scenario(proxies="cloudflare", clients=clients), "sync", 20_000, 1)
    # A job past the limit is tried three times and fails each time: 1 + 2 * P(D > 100).
    assert result["executions_per_job"] == pytest.approx(1 + 2 * 20 / 110, rel=0.03)
    assert result["duplicate_executions_per_job"] == pytest.approx(2 * 20 / 110, rel=0.03)


def test_same_seed_same_result_and_seeds_agree_within_their_error() -> None:
    s = scenario(proxies="cloudflare", clients=dataclasses.replace(NO_DELAY, polling=PollingPolicy(jitter=0.2)))
    first, again = run(s, "hybrid", 20_000, 7), run(s, "hybrid", 20_000, 7)
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING_KEYS}  # noqa: E731
    assert strip(first) == strip(again)
    other = run(s, "polling", 20_000, 8)
    base = run(s, "polling", 20_000, 7)
    # Delay ~ U(0, T): standard error T / sqrt(12 n) per run.
    se = 5 / math.sqrt(12 * 20_000)
    assert abs(other["notify_delay_mean_s"] - base["notify_delay_mean_s"]) < 4 * math.sqrt(2) * se


@pytest.mark.parametrize("pattern", ["polling", "sse", "webhook", "hybrid"])
def test_the_fifo_engine_gives_the_simpy_engine_s_records(pattern: str) -> None:
    contended = scenario(
        arrivals=Arrivals(rate_per_s=0.07),
        workers=Workers(count=1, concurrency=5, queue_capacity=20),
        **edge(ProxyOverride(idle_timeout_s=40)),
        clients=dataclasses.replace(NO_DELAY, sse=SsePolicy(heartbeat_s=0)),
    )
    fast = run(contended, pattern, 5_000, 3, engine="fifo")
    exact = run(contended, pattern, 5_000, 3, engine="simpy")
    for key in fast:
        if key not in TIMING_KEYS:
            assert fast[key] == pytest.approx(exact[key]), key


def test_a_buffered_stream_past_a_lifetime_is_answered_with_the_hops_timeout_each_time() -> None:
    """API Gateway holds the whole response and ends it at 29 s with a 504: a stream over a
    longer job is refused every 29 s plus the reconnect delay, and each refusal is a timeout."""
    result = run(scenario(proxies="api-gateway"), "sse", 20_000, 1)
    gap = 29 + Clients().sse.reconnect_delay_s
    # A job of D s sees floor((D - 29) / gap) + 1 refusals past 29 s, none below; D ~ U(10, 120).
    grid = np.linspace(10, 120, 110_001)
    expected = float(np.mean(np.where(grid > 29, np.floor((grid - 29) / gap) + 1, 0)))
    assert result["timeouts_per_job"] == {"504": pytest.approx(expected, rel=0.03)}
    assert result["timeouts_per_job"]["504"] == pytest.approx(result["stream_reconnects_per_job"])
    assert not run(scenario(proxies="gcp-lb"), "sse", 2_000, 1)["timeouts_per_job"]  # a lifetime, but streamed
