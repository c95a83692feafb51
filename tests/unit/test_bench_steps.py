"""`proxybench bench --only`: named steps, refused when unknown, and only into an earlier
bench folder (it completes one; it does not invent the steps it skips)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from benchmarks import bench
from benchmarks.bench import QUICK, STEPS


def test_an_unknown_step_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match=r"unknown bench step.*loadtest; the steps are simulations, sweeps"):
        bench.bench(QUICK, only=("loadtest",))


def test_only_needs_an_earlier_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    with pytest.raises(ValueError, match="there is none: run the whole bench first"):
        bench.bench(QUICK, only=("report",))


def test_the_newest_folder_of_the_same_kind_is_completed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    for name in ("20261128T100000Z-quick", "20261129T100000Z", "20261129T090000Z-quick"):
        (tmp_path / "results" / "bench" / name).mkdir(parents=True)
    assert bench.latest_folder(quick=True) == tmp_path / "results" / "bench" / "20261129T090000Z-quick"
    assert bench.latest_folder(quick=False) == tmp_path / "results" / "bench" / "20261129T100000Z"
    assert STEPS[-1] == "report"


def test_a_new_run_takes_its_estimates_from_the_newest_earlier_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    assert bench.previous_record(quick=True, root=None) == {}
    older = tmp_path / "results" / "bench" / "20261129T090000Z-quick"
    older.mkdir(parents=True)
    (older / "bench.json").write_text('{"step_s": {"loadtests": 103.0}}')
    assert bench.previous_record(quick=True, root=None)["step_s"] == {"loadtests": 103.0}
    assert bench.previous_record(quick=False, root=None) == {}


def test_runs_held_at_once_all_run_and_a_failure_fails_the_step() -> None:
    done: list[int] = []
    bench.in_parallel(2, [functools.partial(done.append, k) for k in range(5)])
    assert sorted(done) == [0, 1, 2, 3, 4]

    def fails() -> None:
        raise RuntimeError("a load test failed")

    with pytest.raises(RuntimeError, match="a load test failed"):
        bench.in_parallel(2, [lambda: None, fails])
