"""What a store's notice carries to the event streams it wakes: a change's events (and the job,
when it completes), sent as they are when they follow a stream's cursor, read from the log when not."""

from __future__ import annotations

from reference_server.jobs.model import Event
from reference_server.jobs.transitions import Change, created
from reference_server.store.base import News, Notifier
from reference_server.store.redis import _news, _notice
from tests.unit.test_transitions import new_job


def _events(*seqs: int) -> list[Event]:
    return [Event(seq, "progress", {"progress": seq}) for seq in seqs]


def test_news_follow_the_cursor_or_are_refused() -> None:
    news = News("j", _events(4, 5, 6))
    assert [e.seq for e in news.after(3) or []] == [4, 5, 6]
    assert [e.seq for e in news.after(4) or []] == [5, 6]  # a read got ahead of the notice
    assert news.after(6) == []
    assert news.after(2) is None  # event 3 was in a notice lost on the way: the log has it


def test_a_watch_merges_each_jobs_news_in_order_and_a_resync_carries_none() -> None:
    notifier = Notifier()
    with notifier.watching(["a", "b"]) as watch:
        notifier.notify("a", News("a", _events(1)))
        notifier.notify("b", News("b", _events(1)))
        notifier.notify("a", News("a", _events(2, 3)))
        merged = watch.take("a")
        assert merged is not None and [e.seq for e in merged.events] == [1, 2, 3]
        assert watch.take("a") is None  # taken once
        assert watch.take("b") is not None and watch.take("b") is None
        notifier.resync()
        assert watch.take("a") is None


def test_a_notice_carries_the_job_only_when_it_completes() -> None:
    job = new_job()
    change = created(job)
    job_id, _, body = _notice(change, [e.to_json() for e in change.events], job.to_json()).partition("\n")
    news = _news(job_id, body)
    assert job_id == job.id and news is not None and news.job is None
    assert [e.to_json() for e in news.events] == [e.to_json() for e in change.events]
    done = Change(job, [Event(job.seq + 1, "completed", {"state": "completed"})], terminal=True)
    news = _news(job.id, _notice(done, [e.to_json() for e in done.events], job.to_json()).partition("\n")[2])
    assert news is not None and news.job is not None and news.job.to_json() == job.to_json()


def test_a_bare_job_id_from_an_older_process_wakes_its_streams_to_read() -> None:
    job_id, _, body = "0b7e4c9a-0000-4000-8000-000000000000".partition("\n")
    assert _news(job_id, body) is None
