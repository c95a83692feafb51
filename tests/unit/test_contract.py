"""Every registry of patterns, states and rules speaks the shared contract's names."""

from __future__ import annotations

from checks.target import Answers
from loadtests.protocol import USER_CLASSES
from loadtests.run import PATTERN_NEEDS
from reference_server.contract import COMPLETED, FAILED_STATES, PATTERNS, TERMINAL_STATES, progress_percent
from simulations.patterns import PATTERNS as MODELS
from simulations.patterns.stream import progress_fractions


def test_every_pattern_registry_has_exactly_the_shared_names() -> None:
    # (loadtests.clients imports Locust, which patches the process with gevent: the locustfile
    # asserts its own users against USER_CLASSES instead.)
    for registry in (MODELS, USER_CLASSES, PATTERN_NEEDS):
        assert tuple(registry) == PATTERNS


def test_a_target_defaults_to_the_servers_terminal_states() -> None:
    assert Answers().terminal == TERMINAL_STATES and Answers().completed == (COMPLETED,)
    assert Answers().failed == FAILED_STATES


def test_the_model_sends_progress_where_the_server_does() -> None:
    # Ten steps: one event per ten percent, 10..90; the end is the terminal event, not 100.
    assert [progress_percent(d, 10) for d in range(1, 10)] == list(range(10, 100, 10))
    assert progress_fractions(10) == tuple(d / 10 for d in range(1, 10))
    assert len(progress_fractions(1000)) == 9
