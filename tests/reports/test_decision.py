"""The decision matrix, its robustness analysis and the CI check, on data whose answer is
known."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from reports import config
from reports.browsers import CONDITION_TABS, TABS_FILE
from reports.build import build
from reports.check import CheckError, check
from reports.conditions import where_each_wins
from reports.inputs import read
from reports.matrix import build as build_matrix
from reports.matrix import normalise
from reports.robustness import analyse

DECISION = config.load()


def test_scores_put_the_best_value_at_one_whichever_direction_is_better() -> None:
    values = pd.DataFrame({"success_rate": [1.0, 0.5, 0.0], "requests_per_job": [2.0, 4.0, 10.0]}, index=list("abc"))
    scores = normalise(values, DECISION)
    assert scores["success_rate"].tolist() == [1.0, 0.5, 0.0]
    assert scores["requests_per_job"].tolist() == [1.0, 0.75, 0.0]
    same = normalise(pd.DataFrame({"success_rate": [1.0, 1.0]}, index=list("ab")), DECISION)
    assert same["success_rate"].tolist() == [1.0, 1.0]


def test_every_value_is_from_a_run_or_a_labelled_judgement(sim_bench: Path) -> None:
    inputs = read(sim_bench)
    matrix = build_matrix(inputs, DECISION, DECISION.audiences["browser"])
    assert set(matrix.sources["complexity"]) == {"judgement"}
    assert set(matrix.sources.drop(columns="complexity").to_numpy().ravel()) == {"simulated"}  # no load tests here
    row = inputs.simulated[(inputs.simulated["scenario"] == "tuned-stack") & (inputs.simulated["pattern"] == "sse")]
    assert matrix.values.loc["sse", "requests_per_job"] == row["requests_per_job"].iloc[0]
    assert list(matrix.totals.index) == sorted(matrix.totals.index, key=lambda p: -matrix.totals[p])


def _with_scale_runs(sim_bench: Path, tmp_path: Path, costs: dict[str, float]) -> Path:
    folder = tmp_path / "bench"
    shutil.copytree(sim_bench, folder)
    for pattern, cost in costs.items():
        (folder / "scale" / pattern).mkdir(parents=True)
        server_cost = {"cost_per_million_jobs_usd": cost, "peak_clients": 10, "api_rss_base_mib": 50.0,
                       "api_rss_peak_mib": 51.0}  # fmt: skip
        (folder / "scale" / pattern / "summary.json").write_text(json.dumps({"server_cost": server_cost}))
    return folder


def test_the_cost_criterion_is_the_scale_steps_measurement_where_it_ran(sim_bench: Path, tmp_path: Path) -> None:
    browser = DECISION.audiences["browser"]
    costs = {pattern: 2.0 + k for k, pattern in enumerate(browser.patterns)}
    matrix = build_matrix(read(_with_scale_runs(sim_bench, tmp_path, costs)), DECISION, browser)
    for pattern, cost in costs.items():
        assert matrix.values.loc[pattern, "cost_per_million_jobs_usd"] == cost
        assert matrix.sources.loc[pattern, "cost_per_million_jobs_usd"] == "measured"


def test_a_scale_step_that_missed_a_pattern_is_not_mixed_with_the_model(sim_bench: Path, tmp_path: Path) -> None:
    # The scale step's cost leaves out the work, the model's includes it: one column, one kind.
    folder = _with_scale_runs(sim_bench, tmp_path, {"sse": 2.5, "polling": 11.0})
    matrix = build_matrix(read(folder), DECISION, DECISION.audiences["browser"])
    assert set(matrix.sources["cost_per_million_jobs_usd"]) == {"simulated"}


def test_a_dominant_pattern_always_wins_and_a_close_race_can_flip(sim_bench: Path) -> None:
    matrix = build_matrix(read(sim_bench), DECISION, DECISION.audiences["browser"])
    dominant = matrix.scores.copy()
    dominant.loc[:, :] = 0.0
    dominant.loc["polling", :] = 1.0
    matrix.scores, matrix.totals = dominant, (dominant * matrix.weights).sum(axis=1).sort_values(ascending=False)
    robust = analyse(matrix, DECISION)
    assert robust.probability_first["polling"] == 1.0
    assert robust.flips.empty
    close = dominant.copy()
    close.loc["sse", :] = 0.0
    for key in ("notify_delay_p95_s", "success_rate"):  # sse best on two criteria, polling on the rest
        close.loc["sse", key], close.loc["polling", key] = 1.0, 0.0
    matrix.scores, matrix.totals = close, (close * matrix.weights).sum(axis=1).sort_values(ascending=False)
    robust = analyse(matrix, DECISION)
    assert 0 < robust.probability_first["polling"] < 1
    flip = robust.flips.set_index("criterion").loc["notify_delay_p95_s"]
    assert flip["new_winner"] == "sse" and flip["weight_multiplier"] > 1


def _summary(tmp_path: Path, name: str, success: float, duplicates: float) -> Path:
    data = {"measured": {"tuned-stack": {"hybrid": {"success_rate": success, "duplicate_executions_per_job": 0.0},
                                         "polling": {"duplicate_executions_per_job": duplicates},
                                         "sse": {"duplicate_executions_per_job": 0.0},
                                         "webhook": {"duplicate_executions_per_job": 0.0}}}}  # fmt: skip
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def test_check_passes_a_good_summary_and_names_each_failed_rule(tmp_path: Path) -> None:
    assert check(_summary(tmp_path, "good", 1.0, 0.0)) == []
    failures = check(_summary(tmp_path, "bad", 0.9, 0.2))
    assert any("hybrid never loses a job" in f and "0.9" in f for f in failures)
    assert any("no duplicate execution" in f and "polling" in f for f in failures)


def test_check_flags_a_regression_against_the_baseline(tmp_path: Path) -> None:
    old = _summary(tmp_path, "old", 1.0, 0.0)
    old_data = json.loads(old.read_text())
    old_data["measured"]["tuned-stack"]["polling"]["requests_per_job"] = 8.0
    old.write_text(json.dumps(old_data))
    new_data = json.loads(old.read_text())
    new_data["measured"]["tuned-stack"]["polling"]["requests_per_job"] = 9.5  # 19% more: beyond 10%
    new = tmp_path / "new.json"
    new.write_text(json.dumps(new_data))
    failures = check(new, baseline_path=old)
    assert failures == ["regression: measured.tuned-stack.polling.requests_per_job went from 8 to 9.5 (allowed 0.8)"]
    assert check(old, baseline_path=old) == []


def test_check_refuses_unreadable_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CheckError, match=r"broken\.json"):
        check(broken)


def test_a_report_from_simulations_alone_says_where_each_number_comes_from(sim_bench: Path) -> None:
    out = build(sim_bench)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["audiences"]) == {"browser", "corporate", "mobile", "server"}
    for audience in summary["audiences"].values():
        assert audience["winner"] == audience["ranking"][0]
        assert abs(sum(audience["probability_first"].values()) - 1) < 1e-3  # rounded to 4 places
        # No load test ran behind the intermediaries: compatibility is the model's, and says so.
        assert {cells["compatibility"]["source"] for cells in audience["matrix"].values()} == {"simulated"}
    # What the hostile scenarios changed, each side from its own matrix.
    changed = {c["audience"]: c for c in summary["hostile"]["changes"]}
    assert changed["mobile"]["friendly"]["scenario"] == "flaky-mobile"
    assert changed["mobile"]["hostile"]["scenario"] == "mobile-network"
    assert changed["corporate"]["friendly"]["winner"] in changed["corporate"]["friendly"]["ranking"]
    assert summary["hostile"]["platforms"] == {}  # measured only: none ran here
    assert summary["provenance"]["git"]["revision"]
    assert [h["id"] for h in summary["hypotheses"]] == [f"H{i}" for i in range(1, 18)]
    assert (out / "REPORT.md").read_text().count("![") == len(list((out / "figures").glob("*.png")))


def test_each_condition_is_judged_with_each_audiences_weights(sim_bench: Path) -> None:
    found = where_each_wins(read(sim_bench), DECISION)
    rows = {row["scenario"]: row for row in found["rows"]}
    assert list(rows) == [c.scenario for c in DECISION.conditions]
    gcp = rows["platforms/gcp-lb"]
    assert not gcp["measured"]  # only the models ran in this folder: the report marks it so
    for key, audience in DECISION.audiences.items():
        cell = gcp["audiences"][key]
        assert cell["winner"] in audience.patterns and cell["runner_up"] in audience.patterns
        assert cell["margin"] >= 0 and 0 <= cell["probability_first"] <= 1
    # No phone ran behind the load balancer: the mobile audience's radio energy is left out there,
    # and kept on its own scenario.
    assert gcp["audiences"]["mobile"]["left_out"] == ["radio_joules_per_job"]
    assert rows["mobile-network"]["audiences"]["mobile"]["left_out"] == []
    verdict = found["hybrid"]
    winners = {cell["winner"] for row in found["rows"] for cell in row["audiences"].values()}
    assert bool(verdict["wins"]) == ("hybrid" in winners)
    if not verdict["wins"]:
        closest = verdict["closest"]
        assert closest["behind_by"] >= 0 and closest["largest"]["criterion"] in DECISION.criteria


def test_the_browser_tabs_conditions_judge_the_browser_app_on_the_patterns_that_ran(
    sim_bench: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "bench"
    shutil.copytree(sim_bench, folder)
    # A tabs bench where a stream per tab over HTTP/1.1 heard its jobs late and lost one.
    delivered, heard_p95_s = {"sse": (6, 0.4), "hybrid": (7, 0.3)}, 0.001  # real seconds at time scale 0.01
    cases = [
        {"channel": channel, "protocol": "h1", "tabs": CONDITION_TABS, "delivered": delivered.get(channel, (7,))[0],
         "requests_per_tab": 2.0, "notify_delay_p50_s": heard_p95_s,
         "notify_delay_p95_s": delivered.get(channel, (7, heard_p95_s))[1]}
        for channel in ("shared", "sse", "hybrid", "longpoll", "websocket", "polling")
    ]  # fmt: skip
    (folder / TABS_FILE).parent.mkdir()
    (folder / TABS_FILE).write_text(json.dumps({"time_scale": 0.01, "cases": cases}))
    rows = {row["scenario"]: row for row in where_each_wins(read(folder), DECISION)["rows"]}
    tabs = rows["browser-tabs/h1"]
    assert tabs["measured"] and list(tabs["audiences"]) == ["browser"]
    cell = tabs["audiences"]["browser"]
    assert cell["not_run"] == ["sync"] and cell["winner"] not in ("sse", "hybrid", "sync")
    assert rows["browser-tabs/h2"].get("missing")  # nothing ran over HTTP/2 here


def test_a_condition_with_one_pattern_run_has_nothing_to_rank(sim_bench: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    shutil.copytree(sim_bench, folder)
    # The quick bench's tabs: one per-tab way beside the shared stream, which is no pattern.
    cases = [
        {"channel": channel, "protocol": "h1", "tabs": CONDITION_TABS, "delivered": 7, "requests_per_tab": 2.0,
         "notify_delay_p50_s": 0.001, "notify_delay_p95_s": 0.002}
        for channel in ("shared", "sse")
    ]  # fmt: skip
    (folder / TABS_FILE).parent.mkdir()
    (folder / TABS_FILE).write_text(json.dumps({"time_scale": 0.01, "cases": cases}))
    found = where_each_wins(read(folder), DECISION)
    tabs = next(row for row in found["rows"] if row["scenario"] == "browser-tabs/h1")
    assert tabs["missing"] and tabs["audiences"] == {} and tabs["why"] == "only sse ran on `browser-tabs/h1`"
