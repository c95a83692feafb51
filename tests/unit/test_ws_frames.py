"""The job socket's WebSocket frames, judged by aiohttp's own frame writer and reader: what
the server writes parses as the same message at every length encoding, and what a client
writes (masked) is read back whole, in pieces too, with what the socket refuses refused."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aiohttp import WSCloseCode, WSMsgType
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.http import WebSocketReader, WebSocketWriter, WSMessage, WSMessageTextBytes

from reference_server.api import ws_frames


class _Wire:
    """A transport that keeps what is written, and a protocol that never pauses."""

    _paused = _reading_paused = False

    def __init__(self) -> None:
        self.sent = b""

    def write(self, data: bytes) -> None:
        self.sent += bytes(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _client_bytes(opcode: WSMsgType, payload: bytes) -> bytes:
    """A frame as aiohttp's client writes it: masked."""
    wire = _Wire()
    await WebSocketWriter(wire, wire, use_mask=True).send_frame(payload, opcode)  # type: ignore[arg-type]
    return wire.sent


async def _as_client_reads(data: bytes) -> WSMessage | WSMessageTextBytes:
    """What aiohttp's client makes of a server's bytes."""
    wire = _Wire()
    queue = WebSocketDataQueue(wire, 2**20, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    WebSocketReader(queue, 0, compress=False, decode_text=True).feed_data(data)
    return await queue.read()


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
async def test_a_server_frame_reads_back_as_its_message_at_every_length(size: int) -> None:
    message = await _as_client_reads(ws_frames.frame(WSMsgType.TEXT, b"x" * size))
    assert message.type == WSMsgType.TEXT and message.data == "x" * size


async def test_a_close_carries_its_code_and_reason() -> None:
    message = await _as_client_reads(ws_frames.close(WSCloseCode.OK, "every job has ended"))
    assert (message.type, message.data, message.extra) == (WSMsgType.CLOSE, 1000, "every job has ended")


async def test_client_control_frames_are_read_whole_even_when_they_arrive_in_pieces() -> None:
    data = (
        await _client_bytes(WSMsgType.PING, b"are you there")
        + await _client_bytes(WSMsgType.PONG, b"")
        + await _client_bytes(WSMsgType.CLOSE, struct.pack("!H", 4000))
    )
    frames: list[tuple[WSMsgType, bytes]] = []
    unread = b""
    for k in range(len(data)):  # a byte at a time
        got, unread = ws_frames.client_frames(unread + data[k : k + 1])
        frames += got
    assert unread == b""
    assert frames == [(WSMsgType.PING, b"are you there"), (WSMsgType.PONG, b""), (WSMsgType.CLOSE, b"\x0f\xa0")]
    assert ws_frames.close_reply(frames[-1][1]) == ws_frames.frame(WSMsgType.CLOSE, b"\x0f\xa0")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (ws_frames.frame(WSMsgType.PING, b""), WSCloseCode.PROTOCOL_ERROR),  # unmasked, as only a server may send
        (bytes([0x80 | 0x40 | WSMsgType.PING, 0x80]), WSCloseCode.PROTOCOL_ERROR),  # a reserved bit
        (bytes([0x80 | 0x3, 0x80]), WSCloseCode.PROTOCOL_ERROR),  # opcode 3 is reserved
        (bytes([WSMsgType.PING, 0x80]), WSCloseCode.PROTOCOL_ERROR),  # a control frame in pieces
        (bytes([0x80 | WSMsgType.PING, 0x80 | 126]), WSCloseCode.PROTOCOL_ERROR),  # a control frame over 125 bytes
    ],
)
def test_frames_against_the_protocol_fail_the_connection(data: bytes, code: WSCloseCode) -> None:
    with pytest.raises(ws_frames.FrameError) as refused:
        ws_frames.client_frames(data)
    assert refused.value.code == code


@pytest.mark.parametrize("opcode", [WSMsgType.TEXT, WSMsgType.BINARY])
async def test_a_message_from_the_client_is_refused_at_its_header(opcode: WSMsgType) -> None:
    header = (await _client_bytes(opcode, b"hello" * 1000))[:2]
    with pytest.raises(ws_frames.FrameError) as refused:
        ws_frames.client_frames(header)
    assert refused.value.code == WSCloseCode.UNSUPPORTED_DATA


def test_a_close_with_a_one_byte_body_is_refused() -> None:
    with pytest.raises(ws_frames.FrameError):
        ws_frames.close_reply(b"\x03")
