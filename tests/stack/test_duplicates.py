"""CI regression checks on duplicate work, on the real stack (both backends). Duplicates
are counted from the server's /metrics, never inferred from the client. The checks are
those of `checks.suite`, the same `python -m checks` runs against any service.

Run alone with `pytest -m duplicates`.
"""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest

from checks.suite import RETRIES, run_check, sync_with_retries
from checks.target import Bodies
from checks.target_client import TargetClient
from tests.conftest import WebhookReceiver
from tests.helpers import metric_reaches, metrics
from tests.stack.conftest import TIME_SCALE, WHOLE_API, Stacks

pytestmark = pytest.mark.duplicates


async def test_retrying_sync_start_after_each_524_multiplies_the_work(
    http: aiohttp.ClientSession, stacks: Stacks
) -> None:
    s = stacks.session(http, scope=WHOLE_API)
    before = await metrics(http, s.client.origin)
    result = await run_check(s, "duplicates/retried_sync_executes_once")
    tries = await s.observe(sync_with_retries)
    assert [a.status for a in tries.answers] == [524] * (RETRIES + 1)
    # The check flags it: one logical request, N+1 executions.
    assert result.verdict == "fail" and result.evidence.startswith(f"{RETRIES + 1} execution(s)"), result
    overlapping = 'dl_duplicate_executions_total{api="sync"}'
    after = await metric_reaches(http, s.client.origin, overlapping, before.get(overlapping, 0) + RETRIES)
    assert after[overlapping] - before.get(overlapping, 0) == RETRIES  # each retry began while the last still ran


@pytest.mark.parametrize(
    ("one_job", "once"),
    [
        ("duplicates/retried_initiate_returns_one_job", "duplicates/retried_initiate_executes_once"),
        ("duplicates/concurrent_initiates_return_one_job", "duplicates/concurrent_initiates_execute_once"),
    ],
)
async def test_initiates_with_one_key_through_the_proxies_make_one_job_and_run_once(
    http: aiohttp.ClientSession, stacks: Stacks, one_job: str, once: str
) -> None:
    s = stacks.session(http)
    before = await metrics(http, s.client.origin)
    results = [await run_check(s, one_job), await run_check(s, once)]
    assert [r.verdict for r in results] == ["pass", "pass"], results
    after = await metrics(http, s.client.origin)
    assert after["dl_jobs_created_total"] - before.get("dl_jobs_created_total", 0) == 1


async def test_webhook_retry_keeps_its_id_and_counts_one_delivery(
    http: aiohttp.ClientSession, stacks: Stacks, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_first = 1
    url = webhook_receiver.url
    s = stacks.session(http)
    with_callback = Bodies(initiate=f'{{"file_ids": $files, "callback_url": "{url}"}}')
    client = TargetClient(http, replace(s.target, bodies=with_callback), s.client.entry, s.client.origin, TIME_SCALE)
    before = await metrics(http, client.origin)
    job = client.job(await client.initiate(s.file_id(), s.work_s(0.2)))
    assert job is not None
    delivered = 'dl_webhook_deliveries_total{result="delivered"}'
    after = await metric_reaches(http, client.origin, delivered, before.get(delivered, 0) + 1)
    assert len(webhook_receiver.ids) == 2 and webhook_receiver.ids[0] == webhook_receiver.ids[1]
    assert after[delivered] - before.get(delivered, 0) == 1
    assert after["dl_webhook_attempts_total"] - before.get("dl_webhook_attempts_total", 0) == 2
    final = (await client.poll_until_terminal(job, s.patience_s)).final
    assert final is not None
    assert final.body["webhook"]["status"] == "delivered" and final.body["webhook"]["attempts"] == 2
