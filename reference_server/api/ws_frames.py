"""The WebSocket wire format (RFC 6455) as far as the job socket needs it: the handshake's
accept key, the frames the server sends, and reading the few a client may send it.

The feed is one-way: a client has nothing to say but pings, pongs and its close, so a data
frame is refused at its header (1003) and only control frames are read whole. They are
at most 125 bytes (§5.5), so nothing is buffered beyond one of them. Why the socket is not
aiohttp's `WebSocketResponse`: its reader, queue and the task waiting on them cost a held
socket about 5 KiB more than a held event stream (`python -m benchmarks.stream_memory`).
"""

from __future__ import annotations

import base64
import hashlib
import struct

from aiohttp import WSCloseCode, WSMsgType
from aiohttp.http import WS_KEY

FIN = 0x80
RESERVED = 0x70  # RSV1-3: meaningful only with an extension, and none is agreed
MASKED = 0x80
LENGTH = 0x7F
SHORT_LENGTH = 125  # the most the 7-bit length holds (126 and 127 say a longer one follows); a control frame's limit
MASK_BYTES = 4
CONTROL = (WSMsgType.PING, WSMsgType.PONG, WSMsgType.CLOSE)
DATA = (WSMsgType.CONTINUATION, WSMsgType.TEXT, WSMsgType.BINARY)


class FrameError(Exception):
    """A client frame the socket refuses: the close code and reason to send before leaving."""

    def __init__(self, code: WSCloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept(key: str) -> str:
    """Sec-WebSocket-Accept for the client's Sec-WebSocket-Key (§4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_KEY).digest()).decode()


def frame(opcode: WSMsgType, payload: bytes) -> bytes:
    """One whole, unmasked frame: a server's frames are never masked (§5.1)."""
    size = len(payload)
    if size <= SHORT_LENGTH:
        head = struct.pack("!BB", FIN | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", FIN | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", FIN | opcode, 127, size)
    return head + payload


def close(code: int, reason: str = "") -> bytes:
    return frame(WSMsgType.CLOSE, struct.pack("!H", code) + reason.encode())


def close_reply(payload: bytes) -> bytes:
    """The answer to a client's close frame: its status code, echoed (§5.5.1)."""
    if len(payload) == 1:
        raise FrameError(WSCloseCode.PROTOCOL_ERROR, "a close frame's body starts with a 2-byte code")
    return frame(WSMsgType.CLOSE, payload[:2])


PING = frame(WSMsgType.PING, b"")


def client_frames(data: bytes) -> tuple[list[tuple[WSMsgType, bytes]], bytes]:
    """The whole control frames at the start of `data`, each as (opcode, unmasked payload),
    and the bytes of an unfinished one after them. Raises `FrameError` at the first frame
    the socket refuses."""
    frames = []
    at = 0
    while len(data) - at >= 2:
        first, second = data[at], data[at + 1]
        opcode = first & 0x0F
        if first & RESERVED:
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, "reserved bits set, and no extension was agreed")
        if not second & MASKED:
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, "a client's frames must be masked")
        if opcode in DATA:
            raise FrameError(WSCloseCode.UNSUPPORTED_DATA, "this feed takes no messages")
        if opcode not in CONTROL:
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, f"no opcode {opcode}")
        size = second & LENGTH
        if size > SHORT_LENGTH or not first & FIN:
            raise FrameError(WSCloseCode.PROTOCOL_ERROR, "a control frame is whole and at most 125 bytes")
        start = at + 2 + MASK_BYTES
        end = start + size
        if len(data) < end:
            break
        mask = data[at + 2 : start]
        frames.append((WSMsgType(opcode), bytes(b ^ mask[i % MASK_BYTES] for i, b in enumerate(data[start:end]))))
        at = end
    return frames, data[at:]
