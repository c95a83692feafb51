"""The WebSocket feed on a real server process, in each mode: the same events and ids as
the event stream, resume with lastEventId without loss or repetition, pings at the
heartbeat interval, one socket for several jobs, and a clear 426 for a plain GET. A
client's ping is answered and its close echoed, which ends the socket and frees its slot;
a message from it is refused with 1003."""

from __future__ import annotations

import json

import aiohttp
import pytest

from reference_server.contract import TERMINAL_STATES
from tests.conftest import Running, ServerFactory
from tests.helpers import eventually, initiate, metrics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slow(servers: ServerFactory, server: Running) -> Running:
    """Jobs of about 2 s with pings every 0.1 s, so a socket has time to be dropped."""
    return servers.start(server.mode, DOWNLOAD_DELAY_MIN_MS="200000", DOWNLOAD_DELAY_MAX_MS="200000")


async def _messages(
    http: aiohttp.ClientSession, url: str, stop_after: int | None = None, autoping: bool = True
) -> tuple[list[dict], int | None, int]:
    """(the messages, the close code, pings seen) of one socket."""
    got: list[dict] = []
    pings = 0
    async with http.ws_connect(url, autoping=autoping) as ws:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1
                await ws.pong(msg.data)
                continue
            got.append(json.loads(msg.data))
            if stop_after is not None and len(got) >= stop_after:
                break  # leaving the block drops the socket mid-job
        return got, ws.close_code, pings


async def test_resume_with_last_event_id_sees_each_event_once(http: aiohttp.ClientSession, slow: Running) -> None:
    _, body, _ = await initiate(http, slow.url, [70000])
    url = f"{slow.url}/v1/download/jobs/{body['jobId']}/ws"
    first, _, _ = await _messages(http, url, stop_after=3)
    assert first[0]["event"] == "snapshot" and first[0]["data"]["jobId"] == body["jobId"]
    rest, code, _ = await _messages(http, f"{url}?lastEventId={first[-1]['id']}")
    assert code == 1000 and rest[-1]["event"] == "completed" and "downloadUrl" in rest[-1]["data"]
    seqs = [int(m["id"]) for m in first[1:] + rest]
    assert seqs == sorted(set(seqs)), f"events repeated or out of order: {seqs}"
    # The same log the event stream replays: gap-free from the first id.
    everything, _, _ = await _messages(http, f"{url}?lastEventId=0")
    assert [int(m["id"]) for m in everything] == list(range(1, len(everything) + 1))
    assert set(seqs) <= {int(m["id"]) for m in everything}


async def test_pings_come_at_the_heartbeat_interval(http: aiohttp.ClientSession, slow: Running) -> None:
    _, body, _ = await initiate(http, slow.url, [70000])
    got, code, pings = await _messages(http, f"{slow.url}/v1/download/jobs/{body['jobId']}/ws", autoping=False)
    assert code == 1000 and got[-1]["event"] in TERMINAL_STATES
    assert pings >= 5, "a 2 s job with pings every 0.1 s, answered, should see many pings"


async def test_one_socket_follows_several_jobs(http: aiohttp.ClientSession, server: Running) -> None:
    ids = [(await initiate(http, server.url, [70000 + 7 * k]))[1]["jobId"] for k in range(3)]
    got, code, _ = await _messages(http, f"{server.url}/v1/download/ws?jobs={','.join(ids)}")
    assert code == 1000
    ended = {m["data"]["jobId"] for m in got if m["event"] in TERMINAL_STATES}
    assert ended == set(ids)
    assert all(len(m["id"].split(".")) == 3 for m in got)


async def test_a_client_that_saw_every_end_is_closed_at_once(http: aiohttp.ClientSession, server: Running) -> None:
    _, body, _ = await initiate(http, server.url, [70000])
    url = f"{server.url}/v1/download/jobs/{body['jobId']}/ws"
    got, _, _ = await _messages(http, url)
    again, code, _ = await _messages(http, f"{url}?lastEventId={got[-1]['id']}")
    assert again == [] and code == 1000


async def _answer(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The server's next message that is neither one of the job's events nor a ping: a slow
    job may report progress, and the server ping, before it answers what the client sent."""
    while (msg := await ws.receive(timeout=10)).type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING):
        if msg.type == aiohttp.WSMsgType.PING:
            await ws.pong(msg.data)
    return msg


async def test_a_client_ping_is_answered_and_its_close_ends_the_socket(
    http: aiohttp.ClientSession, slow: Running
) -> None:
    _, body, _ = await initiate(http, slow.url, [70000])
    async with http.ws_connect(f"{slow.url}/v1/download/jobs/{body['jobId']}/ws", autoping=False) as ws:
        assert (await ws.receive_json())["event"] == "snapshot"
        await ws.ping(b"are you there")
        answer = await _answer(ws)
        assert (answer.type, answer.data) == (aiohttp.WSMsgType.PONG, b"are you there")
        await ws.close(code=4000)
        assert ws.close_code == 4000, "the server echoes the client's close code"
    # The job runs on for minutes: only the client's close can have ended the socket. Every
    # socket of this server's earlier tests ends by itself, so none is left open at all (a
    # count taken before would race with the last of them closing).
    await eventually(
        lambda: metrics(http, slow.url),
        lambda m: m.get("dl_event_streams_open", 0) == 0,
        "the closed socket's slot given back",
    )


@pytest.mark.parametrize("send", ["send_str", "send_bytes"])
async def test_a_message_from_the_client_is_refused_with_1003(
    http: aiohttp.ClientSession, slow: Running, send: str
) -> None:
    _, body, _ = await initiate(http, slow.url, [70000])
    async with http.ws_connect(f"{slow.url}/v1/download/jobs/{body['jobId']}/ws") as ws:
        assert (await ws.receive_json())["event"] == "snapshot"
        await getattr(ws, send)("hello" if send == "send_str" else b"hello")
        answer = await _answer(ws)
        assert (answer.type, answer.data) == (aiohttp.WSMsgType.CLOSE, 1003)


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/v1/download/jobs/{id}/ws", 426, "upgrade_required"),
        ("/v1/download/ws?jobs=", 400, "validation_error"),
        ("/v1/download/jobs/00000000-0000-4000-8000-000000000000/ws", 426, "upgrade_required"),
    ],
)
async def test_a_plain_get_or_bad_input_gets_a_json_error(
    http: aiohttp.ClientSession, server: Running, path: str, status: int, error: str
) -> None:
    _, body, _ = await initiate(http, server.url, [70000])
    async with http.get(server.url + path.replace("{id}", body["jobId"])) as resp:
        assert resp.status == status
        assert (await resp.json())["error"] == error


async def test_an_unknown_job_or_a_cursor_ahead_is_refused_before_the_upgrade(
    http: aiohttp.ClientSession, server: Running
) -> None:
    _, body, _ = await initiate(http, server.url, [70000])
    for url, status in [
        (f"{server.url}/v1/download/jobs/00000000-0000-4000-8000-000000000000/ws", 404),
        (f"{server.url}/v1/download/jobs/{body['jobId']}/ws?lastEventId=999", 400),
    ]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == status
