"""Jobs, event logs and queues in Redis, shared by every server and worker process.

- `dl:job:{id}`: the job as JSON; a change is written by a script only if the job is still as
  it was read (a new job, under WATCH/MULTI), so one computed from a stale copy is decided
  again, never written.
- `dl:events:{id}`: a stream whose entry ids are `0-<seq>`, the SSE event ids.
- `dl:queue:jobs`, `dl:queue:webhooks`: streams read by the consumer group `workers`;
  an entry stays pending until acknowledged, and one idle longer than the lease is
  claimed by another worker (XAUTOCLAIM), so a dead worker loses nothing.
- `dl:queue:*:due`: jobs deferred to a later time (webhook retries), a sorted set by due
  time in Redis's own clock; a reader moves due members into the stream before it reads.
- `dl:idem:{key}` and `dl:active:{hash}`: idempotency records and the active-job index.
- `dl:notify`: pub/sub channel carrying each change's new events (and the job, when it
  completes), so a woken event stream sends them without reading them back.

The Redis is one server, or the master that Sentinels name (`redis_address`), found again
after a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..jobs.model import ACTIVE, Event, Job
from ..jobs.transitions import Change, created
from ..metrics import counted_by
from . import redis_address
from .base import CreateOutcome, Message, News, Notifier, NotReplicated, RateHit, StoredResponse, decide_create

log = logging.getLogger(__name__)

GROUP = "workers"
NOTIFY = "dl:notify"
QUEUED = "dl:queued"
METRICS = "dl:metrics"
ACKED = "dl:acked"  # written before each WAIT, so that the WAIT counts every write before it
# One fixed window per client, counted and started atomically: the first request of a
# window sets its expiry. Returns the count, the milliseconds left and, given a second key,
# that job, so a status poll costs one round trip.
RATE_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local job = false
if KEYS[2] then job = redis.call('GET', KEYS[2]) end
return {n, redis.call('PTTL', KEYS[1]), job}
"""
# Deferring acknowledges the entry and schedules its job in one step, so a crash between
# the two can neither lose the job nor queue it twice (the set holds each job once).
DEFER_SCRIPT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
redis.call('XACK', KEYS[1], ARGV[4], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
"""
# Takes one entry for a consumer in one round trip: one whose holder went silent for a lease,
# else a new one, once the deferred jobs now due are in the stream. Returns the entry's id and
# job, or the milliseconds until the next deferred job is due (-1: none) for the blocking read
# that follows. Three round trips, one for each step, were a third of a worker's store calls.
TAKE_SCRIPT = """
local group, consumer = ARGV[1], ARGV[2]
local idle = redis.call('XAUTOCLAIM', KEYS[1], group, consumer, ARGV[3], '0-0', 'COUNT', 1)[2]
if #idle > 0 then return {idle[1][1], idle[1][2][2]} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for _, job in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[2], job)
  redis.call('XADD', KEYS[1], '*', 'job', job)
end
local new = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', KEYS[1], '>')
if new then return {new[1][2][1][1], new[1][2][1][2][2]} end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #nxt == 0 then return -1 end
return math.max(0, tonumber(nxt[2]) - now)
"""
# A job's change, written only if the job is still as it was read (a compare-and-set: one round
# trip where WATCH, GET and MULTI/EXEC took three, and the worker process is what holds the
# Redis tail back). Otherwise nothing is written and the job as it is now is returned, to decide
# again on; 0 if it is gone. What it writes: the job; its new events onto its log, and their
# notice; its removal from the queued set; the counters the change names; and, once it ends,
# its expiry, its release from the active-job index (unless that names a newer job already)
# and its webhook's delivery.
# KEYS: the job, its event log, the queued set, the counters, the webhook queue[, its index entry]
# ARGV: the job as read, as changed, its id, its state, the notice ('' without events), the
#       milliseconds an ended job is kept ('' while it runs), '1' if a webhook is due, the
#       number of events, their sequence numbers and texts, then the counter series
UPDATE_SCRIPT = f"""
local job = redis.call('GET', KEYS[1])
if job ~= ARGV[1] then return job or 0 end
local id, state, notice, keep_ms = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
local events = tonumber(ARGV[8])
for i = 9, 8 + 2 * events, 2 do redis.call('XADD', KEYS[2], '0-' .. ARGV[i], 'e', ARGV[i + 1]) end
if notice ~= '' then redis.call('PUBLISH', '{NOTIFY}', notice) end
if state ~= 'queued' then redis.call('SREM', KEYS[3], id) end
for i = 9 + 2 * events, #ARGV do redis.call('HINCRBYFLOAT', KEYS[4], ARGV[i], 1) end
if keep_ms ~= '' then
  redis.call('PEXPIRE', KEYS[1], keep_ms)
  redis.call('PEXPIRE', KEYS[2], keep_ms)
  if KEYS[6] and redis.call('GET', KEYS[6]) == id then redis.call('DEL', KEYS[6]) end
  if ARGV[7] == '1' then redis.call('XADD', KEYS[5], '*', 'job', id) end
end
return 1
"""
SENTINEL_TIMEOUT_S = 0.5  # a Sentinel that does not answer by then is skipped for the next
TRANSIENT = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


def _text(value: bytes | str) -> str:
    """A reply as text: the client decodes replies, but redis-py types them as bytes or str."""
    return value.decode() if isinstance(value, bytes) else value


def _job_key(job_id: str) -> str:
    return f"dl:job:{job_id}"


def _events_key(job_id: str) -> str:
    return f"dl:events:{job_id}"


class _SentinelBlockingPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """Sentinel's pool (it asks the Sentinels where the master is, and again after a failover)
    with the blocking pool's waiting, which redis-py does not combine by itself."""


def connect(url: str, pool_size: int, pool_timeout_s: float) -> redis.Redis:
    # Retries ride out a dropped connection, a short restart or a failover; callers handle
    # longer outages. A blocking pool: a burst of requests waits for a free connection
    # instead of failing.
    retry: dict[str, Any] = {
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=8),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    pooling: dict[str, Any] = {"max_connections": pool_size, "timeout": pool_timeout_s, "health_check_interval": 5}
    address = redis_address.parse(url)
    if isinstance(address, redis_address.SentinelAddress):
        sentinel = Sentinel(list(address.sentinels), socket_timeout=SENTINEL_TIMEOUT_S)
        client: redis.Redis = sentinel.master_for(
            address.master,
            connection_pool_class=_SentinelBlockingPool,
            db=address.db,
            password=address.password,
            decode_responses=True,
            **pooling,
            **retry,
        )
        return client
    pool = redis.BlockingConnectionPool.from_url(url, decode_responses=True, **pooling, **retry)
    return redis.Redis(connection_pool=pool, **retry)


class RedisQueue:
    def __init__(self, client: redis.Redis, stream: str) -> None:
        self._r = client
        self.stream = stream
        self.due = f"{stream}:due"
        self._defer = client.register_script(DEFER_SCRIPT)
        self._take = client.register_script(TAKE_SCRIPT)

    async def ensure_group(self) -> None:
        try:
            await self._r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def get(self, consumer: str, block_s: float, reclaim_idle_s: float) -> Message | None:
        try:
            taken = await self._take(
                keys=[self.stream, self.due], args=[GROUP, consumer, max(1, int(reclaim_idle_s * 1000))]
            )
            if isinstance(taken, list):
                return Message(taken[0], taken[1])
            next_due_ms = int(taken)
            block_ms = int(block_s * 1000) if next_due_ms < 0 else min(int(block_s * 1000), next_due_ms)
            got = await self._r.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=1, block=max(1, block_ms))
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()  # the stream was lost with a Redis restart without persistence
            return None
        # [(stream, [(id, fields)])] of decoded text; redis-py types the reply loosely.
        for _stream, entries in cast(list[tuple[str, list[Any]]], got or []):
            if entries:
                entry_id, fields = entries[0]
                return Message(entry_id, fields["job"])
        return None

    async def ack(self, message: Message) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, message.id)
            pipe.xdel(self.stream, message.id)
            await pipe.execute()

    async def touch(self, consumer: str, message: Message) -> None:
        # Resets the entry's idle time so nobody reclaims it while we are working on it.
        await self._r.xclaim(self.stream, GROUP, consumer, min_idle_time=0, message_ids=[message.id], justid=True)

    async def defer(self, message: Message, delay_s: float) -> None:
        await self._defer(
            keys=[self.stream, self.due], args=[message.id, message.job_id, max(0, round(delay_s * 1000)), GROUP]
        )


class RedisStore:
    def __init__(
        self,
        url: str,
        max_queued: int,
        pool_size: int,
        pool_timeout_s: float,
        ack_replicas: int = 0,
        ack_timeout_s: float = 1.0,
    ) -> None:
        self.r = connect(url, pool_size, pool_timeout_s)
        self.max_queued = max_queued
        self.ack_replicas = ack_replicas
        self.ack_timeout_ms = max(1, round(ack_timeout_s * 1000))
        self.jobs = RedisQueue(self.r, "dl:queue:jobs")
        self.webhooks = RedisQueue(self.r, "dl:queue:webhooks")
        self.notifier = Notifier()
        self._listener: asyncio.Task[None] | None = None
        self._rate = self.r.register_script(RATE_SCRIPT)
        self._update = self.r.register_script(UPDATE_SCRIPT)

    async def start(self, listen: bool = True) -> None:
        await self.jobs.ensure_group()
        await self.webhooks.ensure_group()
        if listen:
            self._listener = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.r.aclose()

    async def ping(self) -> None:
        await self.r.ping()

    async def _listen(self) -> None:
        while True:
            pubsub = self.r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(NOTIFY)
                self.notifier.resync()  # what was published while we were not listening
                # redis-py reconnects a dropped subscription by itself and subscribes again, and
                # raises nothing here: without this, what was published in between was lost, and
                # a stream whose terminal event it was waited for good.
                assert pubsub.connection is not None
                pubsub.connection.register_connect_callback(self._resubscribed)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        job_id, _, body = message["data"].partition("\n")
                        if self.notifier.follows(job_id):  # else not worth parsing
                            self.notifier.notify(job_id, _news(job_id, body))
            except TRANSIENT as exc:
                log.warning("event notifications interrupted (%s); streams catch up once they are back", exc)
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _resubscribed(self, _connection: object) -> None:
        """Called once the subscription's connection is back, after redis-py subscribed again."""
        self.notifier.resync()

    async def create(
        self, job: Job, idempotency_key: str | None, response: StoredResponse, ttl_s: float, idem_ttl_s: float
    ) -> CreateOutcome:
        idem_k = f"dl:idem:{idempotency_key}" if idempotency_key else None
        active_k = f"dl:active:{job.dedupe_key}" if job.dedupe_key else None
        watched = [k for k in (idem_k, active_k) if k]
        async with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    if watched:
                        await pipe.watch(*watched)
                    stored = None
                    if idem_k:
                        raw = await pipe.get(idem_k)
                        stored = _stored_from_json(_text(raw)) if raw else None
                    active = None
                    if active_k:
                        active_id = await pipe.get(active_k)
                        active = await self._get_with(pipe, _text(active_id)) if active_id else None
                        if active is not None and active.state not in ACTIVE:
                            active = None
                    # Approximate on purpose: watching one shared key would serialise every initiate.
                    # (A pipeline watching nothing would only queue the read, not make it.)
                    queued = await (pipe if watched else self.r).scard(QUEUED)
                    kind = decide_create(stored, response.fingerprint, active, queued, self.max_queued)
                    if kind != "created":
                        await pipe.unwatch()
                        if kind == "replayed":
                            assert stored is not None
                            await self._replicated()  # a retry after a 503 is answered once it holds
                            return CreateOutcome(kind, await self.get(stored.body["jobId"]), stored)
                        return CreateOutcome(kind, active)
                    change = created(job)
                    pipe.multi()
                    job_json = job.to_json()
                    pipe.set(_job_key(job.id), job_json)
                    self._append(pipe, change, job_json)
                    pipe.sadd(QUEUED, job.id)
                    pipe.xadd(self.jobs.stream, {"job": job.id})
                    if idem_k:
                        pipe.set(idem_k, _stored_to_json(response), px=int(idem_ttl_s * 1000))
                    if active_k:
                        # Cleared when the job ends; the TTL only bounds a leak if that never happens.
                        pipe.set(active_k, job.id, px=int(ttl_s * 1000))
                    await pipe.execute()
                    await self._replicated()
                    return CreateOutcome("created", job, response)
                except WatchError:
                    continue

    async def _replicated(self) -> None:
        """With `ack_replicas`, wait until that many replicas hold every write so far. WAIT counts
        the writes of the connection it is sent on, so it follows a write of its own on one
        connection (a pipeline): everything the master applied before, this job included, comes
        earlier in the replication stream."""
        if not self.ack_replicas:
            return
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.incr(ACKED)
            pipe.wait(self.ack_replicas, self.ack_timeout_ms)
            _, replicas = await pipe.execute()
        if int(replicas) < self.ack_replicas:
            raise NotReplicated(f"{replicas} of {self.ack_replicas} replicas acknowledged the job in time")

    @staticmethod
    async def _get_with(client: Any, job_id: str) -> Job | None:
        raw = await client.get(_job_key(job_id))
        return Job.from_json(raw) if raw else None

    async def get(self, job_id: str) -> Job | None:
        return await self._get_with(self.r, job_id)

    async def events(self, job_id: str, after_seq: int) -> tuple[list[Event], Job | None]:
        # A plain pipeline: MULTI/EXEC would add two commands to every woken stream's read.
        # The job is read after the log, so it is as new as the log or newer, and only a
        # completed event uses it, for the download link, which a completed job keeps.
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.xrange(_events_key(job_id), min=f"0-{after_seq + 1}")
            pipe.get(_job_key(job_id))
            entries, raw = await pipe.execute()
        # (id, fields) pairs of decoded text; redis-py's types leave room for None and bytes.
        logged = [Event.from_json(fields["e"]) for _id, fields in cast(list[tuple[str, dict[str, str]]], entries)]
        return logged, Job.from_json(raw) if raw else None

    @staticmethod
    def _append(pipe: Any, change: Change, job_json: str) -> None:
        """A new job's first event onto its log, and its notice (`UPDATE_SCRIPT` writes those
        of every later change)."""
        logged = [event.to_json() for event in change.events]
        for event, text in zip(change.events, logged, strict=True):
            pipe.xadd(_events_key(change.job.id), {"e": text}, id=f"0-{event.seq}")
        pipe.publish(NOTIFY, _notice(change, logged, job_json))

    async def update(self, job_id: str, fn: Callable[[Job], Change | None], known: Job | None = None) -> Change | None:
        # `known` is compared as it would be stored: a worker's progress and finish start from the job
        # it last wrote, a round trip fewer each, and a lease renewed since only costs the retry.
        job, read = (known, known.to_json()) if known is not None else (None, await self.r.get(_job_key(job_id)))
        while read:
            change = fn(job or Job.from_json(read))
            if change is None:
                return None
            keys, args = self._writes(change, _text(read))
            written = await self._update(keys=keys, args=args)
            if written == 1:
                return change
            job, read = None, written  # changed since it was read, or gone (0)
        return None

    def _writes(self, change: Change, read: str) -> tuple[list[str], list[str | int]]:
        """`UPDATE_SCRIPT`'s keys and arguments for `change` to the job as `read`. Each event and
        the job are serialised once, for the log and the notice both."""
        job = change.job
        logged = [event.to_json() for event in change.events]
        job_json = job.to_json()
        keys = [_job_key(job.id), _events_key(job.id), QUEUED, METRICS, self.webhooks.stream]
        keep_ms: str | int = ""
        if change.terminal:
            assert job.forget_at is not None
            keep_ms = int(max(1.0, job.forget_at - time.time()) * 1000)
            if job.dedupe_key:
                keys.append(f"dl:active:{job.dedupe_key}")
        notice = _notice(change, logged, job_json) if logged else ""
        webhook_due = "1" if change.terminal and job.webhook is not None else ""
        args: list[str | int] = [read, job_json, job.id, job.state, notice, keep_ms, webhook_due, len(logged)]
        for event, text in zip(change.events, logged, strict=True):
            args += [event.seq, text]
        return keys, args + counted_by(change)

    async def incr(self, name: str, by: float = 1) -> None:
        await self.r.hincrbyfloat(METRICS, name, by)

    async def counters(self) -> dict[str, float]:
        return {_text(k): float(v) for k, v in (await self.r.hgetall(METRICS)).items()}

    async def hit_rate(self, client: str, window_s: float, read: str | None = None) -> RateHit:
        keys = [f"dl:rate:{client}"] + ([] if read is None else [_job_key(read)])
        count, left_ms, raw = await self._rate(keys=keys, args=[max(1, round(window_s * 1000))])
        return RateHit(int(count), max(0, int(left_ms)) / 1000, Job.from_json(raw) if raw else None)

    async def sync_started(self, file_id: int) -> int:
        key = f"dl:sync:{file_id}"
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 86400)
            running, _ = await pipe.execute()
        return int(running)

    async def sync_finished(self, file_id: int) -> None:
        await self.r.decr(f"dl:sync:{file_id}")


def _notice(change: Change, logged: list[str], job_json: str) -> str:
    """The job id, a newline, then its news (the events as logged, and the job as stored when
    it completes): a process with no stream following the job reads no further."""
    news = News.of(change)
    return f"{news.job_id}\n{json.dumps({'events': logged, 'job': job_json if news.job else None})}"


def _news(job_id: str, body: str) -> News | None:
    """The news in a notice's body. A notice with none (a bare job id, as a process from before
    the notices carried events publishes it during a rolling upgrade) wakes streams to read."""
    if not body:
        return None
    d = json.loads(body)
    job = Job.from_json(d["job"]) if d["job"] else None
    return News(job_id, [Event.from_json(e) for e in d["events"]], job)


def _stored_to_json(stored: StoredResponse) -> str:
    return json.dumps({"fingerprint": stored.fingerprint, "status": stored.status, "body": stored.body})


def _stored_from_json(raw: str) -> StoredResponse:
    d = json.loads(raw)
    return StoredResponse(d["fingerprint"], d["status"], d["body"])
