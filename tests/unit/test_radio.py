"""The radio energy model: promotions, tails and idle time from a client's transfer times."""

from __future__ import annotations

import pytest

from core.job_metrics import JobRecord, radio_joules_per_job
from core.radio import energy_j
from core.scenario import Radio, Scenario

LTE = Radio()
PROMOTION_J = LTE.promotion_s * LTE.promotion_w
TAIL_J = LTE.tail_s * LTE.tail_w


def test_no_transfer_costs_nothing_and_one_costs_a_promotion_and_a_tail() -> None:
    assert energy_j(LTE, []) == 0
    assert energy_j(LTE, [5.0]) == pytest.approx(PROMOTION_J + TAIL_J)


def test_a_transfer_within_the_tail_needs_no_promotion_and_restarts_the_tail() -> None:
    gap = LTE.tail_s / 2
    assert energy_j(LTE, [0.0, gap]) == pytest.approx(PROMOTION_J + gap * LTE.tail_w + TAIL_J)


def test_a_transfer_after_the_tail_pays_idle_time_and_a_second_promotion() -> None:
    gap = LTE.tail_s + 30
    expected = 2 * (PROMOTION_J + TAIL_J) + 30 * LTE.idle_w
    assert energy_j(LTE, [gap, 0.0]) == pytest.approx(expected)  # in any order


def test_which_costs_more_depends_on_the_intervals_against_the_tail() -> None:
    # Two minutes of one job: heartbeats every 10 s keep the radio up the whole time.
    stream = energy_j(LTE, [10.0 * k for k in range(13)])
    # Polls every 30 s let it sleep between them; polls every 5 s keep it up just the same.
    assert energy_j(LTE, [30.0 * k for k in range(5)]) < stream / 2
    assert energy_j(LTE, [5.0 * k for k in range(25)]) == pytest.approx(stream)


def test_radio_energy_is_reported_only_for_phones() -> None:
    records = [JobRecord(arrived=0.0, work_s=1.0, transfers=[0.0, 1.0])]
    assert radio_joules_per_job(Scenario(), records) is None
    assert radio_joules_per_job(Scenario(radio=LTE), records) == pytest.approx(energy_j(LTE, [0.0, 1.0]))
