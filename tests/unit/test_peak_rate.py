"""The load generator's peak request rate comes from the growth of its request count, so
neither Locust's lagging per-second column nor a malformed row can inflate it."""

from __future__ import annotations

from pathlib import Path

from loadtests.run import MASTER_WINDOW_S, WORKER_REPORT_S, peak_request_rate

HEADER = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,Total Request Count\n"


def test_the_peak_is_the_largest_growth_per_second(tmp_path: Path) -> None:
    (tmp_path / "locust_stats_history.csv").write_text(
        HEADER
        + "100,1,,Aggregated,0,0,0\n"
        + "101,1,,Aggregated,0,0,49\n"
        + "101,1,GET,/x,0,0,40\n"  # one endpoint's row, not the total
        + "102,1,,Aggregated,1795922994,0,170\n"  # a timestamp where a rate belongs
        + "103,1,,Aggr"  # cut short when the run ended
    )
    assert peak_request_rate(tmp_path) == 121.0


def test_a_master_counts_over_a_window_longer_than_a_worker_report(tmp_path: Path) -> None:
    # Workers report every 3 s: the master's total jumps by three seconds' worth at once.
    rows = "".join(f"{100 + t},1,,Aggregated,0,0,{(t // 3) * 300}\n" for t in range(30))
    (tmp_path / "locust_stats_history.csv").write_text(HEADER + rows)
    assert peak_request_rate(tmp_path) == 300.0  # a one-second window sees a jump as a peak
    peak = peak_request_rate(tmp_path, workers=2)
    assert peak is not None and 100 <= peak <= 100 * (1 + WORKER_REPORT_S / MASTER_WINDOW_S)  # true: 100/s


def test_a_run_shorter_than_its_window_gives_its_mean(tmp_path: Path) -> None:
    rows = "100,1,,Aggregated,0,0,0\n101,1,,Aggregated,0,0,0\n102,1,,Aggregated,0,0,300\n"
    (tmp_path / "locust_stats_history.csv").write_text(HEADER + rows)
    assert peak_request_rate(tmp_path, workers=2) == 150.0


def test_no_history_gives_no_figure(tmp_path: Path) -> None:
    assert peak_request_rate(tmp_path) is None
    (tmp_path / "locust_stats_history.csv").write_text(HEADER + "100,1,,Aggregated,0,0,0\n")
    assert peak_request_rate(tmp_path) is None
