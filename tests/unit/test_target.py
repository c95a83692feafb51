"""The target description: reference defaults, checks on load, and the time-scale rule
for a service whose jobs take a fixed time in test mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.command import _time_scale
from checks.target import DEFAULT_SCOPE, PathError, Target, TargetError, Work, dig, load_target, reference_target
from checks.target_stack import BadTarget
from proxies.render import PROFILES


def test_an_empty_file_describes_the_reference_server(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    path.write_text("")
    target = load_target(path)
    assert target.scope == DEFAULT_SCOPE and not target.in_scope("sync")
    assert target.path("status", "abc") == "/v1/download/jobs/abc"
    assert target.bodies.render("initiate", [7, 14]) == {"file_ids": [7, 14]}
    assert target.bodies.render("sync", [7, 14]) == {"file_id": 7}
    assert target.executions.measurable


def test_a_command_runs_in_the_target_files_folder_unless_told(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    path = tmp_path / "target.toml"
    path.write_text('[service]\ncommand = ["./run"]\ndirectory = "svc"\n')
    assert load_target(path).service.directory == str((tmp_path / "svc").resolve())
    path.write_text('[service]\ncommand = ["./run"]\ndirectory = "missing"\n')
    with pytest.raises(TargetError, match="is not a folder"):
        load_target(path)


def test_url_and_command_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    path.write_text('[service]\nurl = "http://127.0.0.1:9"\ncommand = ["x"]\n')
    with pytest.raises(TargetError, match="give url or command, not both"):
        load_target(path)


def test_reference_target_strips_the_trailing_slash() -> None:
    assert reference_target("http://127.0.0.1:3000/").service.url == "http://127.0.0.1:3000"


def test_dig_follows_dotted_paths_and_stops_where_they_end() -> None:
    answer = {"artifact": {"sha256": "ab"}, "n": 1}
    assert dig(answer, "artifact.sha256") == "ab"
    assert dig(answer, "artifact.size") is None and dig(answer, "n.x") is None


def fixed(seconds: float) -> Target:
    return Target(work=Work(header="", fixed_s=seconds)).check()


def test_fixed_work_sets_the_time_scale_to_one_and_a_half_limits() -> None:
    edge = PROFILES["cloudflare"]
    assert _time_scale(fixed(3.0), edge, None) == pytest.approx(3.0 / 150)
    assert _time_scale(Target(), edge, None) == 0.01  # a header: the default scale


def test_fixed_work_shorter_than_the_scaled_limit_is_a_bad_target() -> None:
    with pytest.raises(BadTarget, match="does not outlast cloudflare's limit"):
        _time_scale(fixed(0.5), PROFILES["cloudflare"], 0.01)


def test_a_path_is_filled_from_the_job_id_the_file_id_and_the_initiate_answer(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    path.write_text('[paths]\nstatus = "/files/{file}/jobs/{id}"\ndownload = "/get/{initiate.links.token}"\n')
    target = load_target(path)
    assert target.path("status", "j1", 70007) == "/files/70007/jobs/j1"
    assert target.path("download", initiated={"links": {"token": "t9"}}) == "/get/t9"
    assert target.path_name("status") == "/files/[file]/jobs/[id]"
    with pytest.raises(PathError, match=r"this job has no \{initiate.links.token\}"):
        target.path("download", "j1", 70007, {"jobId": "j1"})


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ('status = "/jobs/{job}"', r"paths.status: \{job\} names nothing it can be filled from"),
        ('status = "/jobs/{initiate.}"', r"paths.status: \{initiate.\} names nothing"),
        ('initiate = "/jobs/{id}"', r"paths.initiate: \{id\} names nothing"),
        ('status = "/jobs"', "paths.status must name the job"),
    ],
)
def test_a_placeholder_that_names_nothing_is_refused_on_load(tmp_path: Path, paths: str, message: str) -> None:
    path = tmp_path / "target.toml"
    path.write_text(f"[paths]\n{paths}\n")
    with pytest.raises(TargetError, match=message):
        load_target(path)


def test_a_body_placeholder_that_names_nothing_is_refused_on_load(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    path.write_text("[bodies]\ninitiate = '{\"file\": $fileId}'\n")
    with pytest.raises(TargetError, match=r"bodies.initiate: \$fileId names nothing it can be filled from"):
        load_target(path)
