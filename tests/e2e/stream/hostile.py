"""A hostile user data stream server of the tests' own, on 127.0.0.1, in a thread.

It speaks just enough HTTP and WebSocket (RFC 6455) by hand to misbehave in ways a real library
would not let it: hold our close frame forever, never answer the handshake, reset the
connection, answer every connection with ``listenKeyExpired``, or flood frames and pings. It
also hands out listen keys (``POST /papi/v1/listenKey``, the key being the caller's API key) and
the server time, so a test with many accounts needs no simulator. Everything is bounded: it
serves only loopback, and a flood is a fixed number of frames.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Literal

import orjson

Mode = Literal["hold", "no_handshake", "reset", "expired", "flood", "ping_flood"]
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EXPIRED = orjson.dumps({"e": "listenKeyExpired", "E": 1700000000000, "listenKey": "x"})
# A valid event of a type this exporter does not know: counted, never a reason to reconnect.
UNKNOWN_EVENT = b'{"e":"x","E":1}'
CLOSE_OPCODE = 0x8
PONG_OPCODE = 0xA


def frame(opcode: int, payload: bytes = b"") -> bytes:
    """A server-to-client frame: final, unmasked."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


class HostileStream:
    """The server; ``mode`` says what the next connections get (it may change at any time)."""

    def __init__(self, mode: Mode = "hold", flood_frames: int = 300_000) -> None:
        self.mode: Mode = mode
        self.flood_frames = flood_frames
        self.attempts = 0  # WebSocket handshakes asked for, whatever the answer
        self.connections = 0  # WebSocket connections accepted
        self.open = 0  # of which still open
        self.listen_keys_posted = 0
        self.close_seen = threading.Event()  # set when a client's close frame arrives
        self.closes = 0
        self.pongs = 0  # pong frames received
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileStream:
        self._thread.start()
        self.call(self._start)
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self._stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def call(self, fn: Callable[[], object]) -> object:
        async def run() -> object:
            result = fn()
            if asyncio.iscoroutine(result):
                return await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, backlog=2048, limit=2**16
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._serve_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # HTTP requests kept alive, until a WebSocket handshake
            head = await reader.readuntil(b"\r\n\r\n")
            request, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)
            }
            if "websocket" in headers.get("upgrade", "").lower():
                break
            await self._answer_http(request, headers, reader, writer)
        self.attempts += 1
        mode = self.mode
        if mode == "no_handshake":
            await reader.read()  # until the client gives up
            return
        if mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        accept = base64.b64encode(
            hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.connections += 1
        self.open += 1
        try:
            if mode == "expired":
                writer.write(frame(0x1, EXPIRED))
            elif mode == "flood":
                writer.write(frame(0x1, UNKNOWN_EVENT) * self.flood_frames)
            elif mode == "ping_flood":
                writer.write(frame(0x9) * self.flood_frames)
            await self._hold(reader)
        finally:
            self.open -= 1

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Read the client's frames and answer none: a close frame is noted, never returned."""
        while True:
            first, second = await reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await reader.readexactly(8))
            await reader.readexactly(size + (4 if second & 0x80 else 0))
            if first & 0x0F == PONG_OPCODE:
                self.pongs += 1
            if first & 0x0F == CLOSE_OPCODE:
                self.closes += 1
                self.close_seen.set()

    async def _answer_http(
        self,
        request: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Listen keys and the time; anything else is a 404."""
        method, path = request.split(" ")[:2]
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        status, body = 404, b'{"code":-1,"msg":"not here"}'
        if path.startswith("/papi/v1/listenKey"):
            status, body = 200, b"{}"
            if method == "POST":
                self.listen_keys_posted += 1
                body = orjson.dumps({"listenKey": headers.get("x-mbx-apikey", "")})
        elif path.startswith("/fapi/v1/time"):
            status, body = 200, orjson.dumps({"serverTime": int(time.time() * 1000)})
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
