"""A scenario's [network] and its clients' liveness rule: checked on load, turned into the
toxics Toxiproxy gets, and drawn the same way by the models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from core.scenario import Network, ScenarioError, load
from core.typed_tables import TableError
from simulations.network import held_request_s, short_request
from simulations.run import run
from stack.toxiproxy import REQUESTS, RESPONSES, base_toxics, drop_kinds

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def test_the_hourly_rates_become_a_probability_per_connection_and_window() -> None:
    network = Network(resets_per_hour=20, blackholes_per_hour=6, blackhole_s=30, reset_window_s=15)
    assert network.reset_probability == pytest.approx(20 * 15 / 3600)
    assert network.blackhole_probability == pytest.approx(6 * 30 / 3600)
    resets, blackholes = drop_kinds(network, time_scale=0.02)
    assert (resets.toxic.type, resets.toxic.stream, resets.window_s) == ("reset_peer", RESPONSES, pytest.approx(0.3))
    assert (blackholes.toxic.type, blackholes.toxic.stream) == ("latency", REQUESTS)
    assert blackholes.toxic.attributes["latency"] > 1000 * blackholes.window_s  # held past the window's end
    assert blackholes.toxic.toxicity == pytest.approx(network.blackhole_probability)


def test_latency_is_half_the_round_trip_each_way_and_scaled() -> None:
    toxics = base_toxics(Network(jitter_s=0.1, bandwidth_kib_s=256), rtt_s=0.3, time_scale=0.02)
    latency = {t.stream: t.attributes for t in toxics if t.type == "latency"}
    assert latency == {REQUESTS: {"latency": 3, "jitter": 2}, RESPONSES: {"latency": 3, "jitter": 2}}
    assert {t.stream for t in toxics if t.type == "bandwidth"} == {REQUESTS, RESPONSES}


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (Network(resets_per_hour=400, reset_window_s=15), "network.resets_per_hour"),
        (Network(blackhole_s=0), "network.blackhole_s"),
        (Network(jitter_s=-1), "network: jitter_s"),
    ],
)
def test_an_impossible_network_is_refused_naming_the_field(network: Network, message: str) -> None:
    scenario = load(SCENARIOS / "mobile-network.toml")
    with pytest.raises(TableError, match=message):  # ScenarioError is one
        dataclasses.replace(scenario, network=network).check()


def test_a_watchdog_needs_heartbeats_to_count() -> None:
    scenario = load(SCENARIOS / "mobile-network.toml")
    with pytest.raises(ScenarioError, match="watchdog_heartbeats"):
        scenario.with_overrides({"clients.sse.heartbeat_s": 0})


def test_a_friendly_network_draws_nothing() -> None:
    scenario = load(SCENARIOS / "tuned-stack.toml")
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    assert short_request(scenario, rng).answered and held_request_s(scenario, rng) == 0
    assert rng.bit_generator.state == state  # the friendly scenarios' results stay as they were


def test_behind_a_buffering_proxy_the_watchdog_sends_the_hybrid_to_polling() -> None:
    corporate = load(SCENARIOS / "corporate-proxy.toml")
    hybrid = run(corporate, "hybrid", 2000)
    sse = run(corporate, "sse", 2000)
    assert hybrid["success_rate"] == sse["success_rate"] == 1.0
    # Jobs longer than the watchdog (45 s): the hybrid polls after one silent stream...
    assert hybrid["requests_per_job"] > 2.5
    # ...and SSE reconnects, each time as silent, until the response ends with the job.
    assert sse["stream_reconnects_per_job"] > 0.3
    assert sse["notify_delay_p95_s"] < hybrid["notify_delay_p95_s"]
