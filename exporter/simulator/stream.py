"""The simulator's Portfolio Margin user data stream: listen keys and a real WebSocket.

Binance's rules (developers.binance.com, Portfolio Margin "User Data Streams"), as served here:

* ``POST /papi/v1/listenKey`` (API key header, no signature, weight 1) returns the account's
  active key, extended, or a new one; a key lives ``validity_seconds`` (60 minutes) after its
  last POST or PUT. ``PUT`` extends it, or answers 400/-1125 "This listenKey does not exist.";
  ``DELETE`` invalidates it and closes its sockets.
* ``GET /pm/ws/<listenKey>`` upgrades to the stream; an unknown or expired key gets 400.
* A key that expires sends ``listenKeyExpired`` to its sockets, which then carry no more events.
* A socket older than ``max_connection_seconds`` (Binance: 24 hours) is closed by the server.
* Events: ``riskLevelChange`` when uniMMR moves into MARGIN_CALL, REDUCE_ONLY or
  FORCE_LIQUIDATION (checked every tick for accounts with a socket), ``ACCOUNT_UPDATE`` when a
  position opens, closes or trades (reason ORDER, ``bc`` its commission and realized PnL) or
  funding is paid (FUNDING_FEE, the knob or a funding round), ``liabilityChange`` on a borrow
  (the knob, or a funding round's auto-repay borrowing; ``p``, ``i`` and ``l`` are the asset's
  principal, interest and total liability after it), ``balanceUpdate`` when a Cross Margin
  wallet moves (the ``set_cross_margin`` knob). The server answers pings, unless told
  to go silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

LISTEN_KEY_PATH = "/papi/v1/listenKey"
STREAM_PREFIX = "/pm/ws/"
KEY_GONE = (-1125, "This listenKey does not exist.")
LEVELS = ("MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION")
_KEY_ALPHABET = string.ascii_letters + string.digits
# Transaction ids of liabilityChange start above 2**53, like Binance's example
# (1352286576452864727): a client that reads them as floats gets them wrong.
FIRST_TRANSACTION_ID = 1352286576452864727


@dataclass
class ListenKey:
    account: str
    key: str
    expires_at: float  # wall clock


@dataclass
class StreamSocket:
    account: str
    key: str
    ws: web.WebSocketResponse
    opened_at: float
    transport: asyncio.Transport | None
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


def risk_level(status: str) -> str | None:
    """The stream's level for an account status; NORMAL has none."""
    if status == "BANKRUPTED":
        return "FORCE_LIQUIDATION"
    return status if status in LEVELS else None


class UserStreams:
    """Every account's listen key and sockets; runs on the simulator's loop."""

    def __init__(self, clock_ms: Callable[[], int]) -> None:
        self.clock_ms = clock_ms
        self.validity_seconds = 3600.0
        self.max_connection_seconds = 86400.0
        self.silent: set[str | None] = set()  # accounts (None: all) whose sockets stay silent
        self.keys: dict[str, ListenKey] = {}  # by account
        self.sockets: list[StreamSocket] = []
        self.levels: dict[str, str | None] = {}  # the last level seen, per streamed account
        self.connections = 0  # sockets ever opened
        self._transaction = FIRST_TRANSACTION_ID

    # -- listen keys ---------------------------------------------------------------------------

    def post(self, account: str, now: float) -> str:
        current = self.keys.get(account)
        if current is None or current.expires_at <= now:
            key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(64))
            current = self.keys[account] = ListenKey(account, key, now)
        current.expires_at = now + self.validity_seconds
        return current.key

    def put(self, account: str, now: float) -> bool:
        current = self.keys.get(account)
        if current is None or current.expires_at <= now:
            return False
        current.expires_at = now + self.validity_seconds
        return True

    def delete(self, account: str) -> bool:
        current = self.keys.pop(account, None)
        if current is None:
            return False
        for sock in self._sockets(account, current.key):
            _close(sock.ws)
        return True

    def valid(self, key: str, now: float) -> ListenKey | None:
        found = next((k for k in self.keys.values() if k.key == key), None)
        return found if found is not None and found.expires_at > now else None

    def expire(self, account: str) -> None:
        """The key expires now: listenKeyExpired on its sockets, no more events on them."""
        current = self.keys.pop(account, None)
        if current is None:
            return
        frame = {"e": "listenKeyExpired", "E": str(self.clock_ms()), "listenKey": current.key}
        for sock in self._sockets(account, current.key):
            self._put(sock, orjson.dumps(frame).decode())

    # -- sockets -------------------------------------------------------------------------------

    async def serve(
        self, request: web.Request, key: ListenKey, now: float
    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        transport = request.transport
        sock = StreamSocket(
            key.account,
            key.key,
            ws,
            now,
            transport if isinstance(transport, asyncio.Transport) else None,
        )
        self.sockets.append(sock)
        self.connections += 1
        writer = asyncio.create_task(self._write(sock))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING and not self._is_silent(sock.account):
                    await ws.pong(msg.data)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if sock in self.sockets:
                self.sockets.remove(sock)
        return ws

    async def _write(self, sock: StreamSocket) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                text = await sock.queue.get()
                if not self._is_silent(sock.account):
                    await sock.ws.send_str(text)

    def _is_silent(self, account: str) -> bool:
        return None in self.silent or account in self.silent

    def _sockets(self, account: str | None, key: str | None = None) -> list[StreamSocket]:
        return [
            s
            for s in self.sockets
            if (account is None or s.account == account) and (key is None or s.key == key)
        ]

    def _put(self, sock: StreamSocket, text: str) -> None:
        sock.queue.put_nowait(text)

    def emit(self, account: str, event: dict[str, Any]) -> None:
        """An event to the account's sockets on its valid key (an expired key carries none)."""
        current = self.keys.get(account)
        if current is None:
            return
        text = orjson.dumps(event).decode()
        for sock in self._sockets(account, current.key):
            self._put(sock, text)

    def send_raw(self, account: str, frames: list[str]) -> None:
        for sock in self._sockets(account):
            for frame in frames:
                self._put(sock, frame)

    def drop(self, account: str | None) -> None:
        """Cut the TCP connection under the sockets, without a close frame."""
        for sock in self._sockets(account):
            if sock.transport is not None:
                sock.transport.abort()

    def streamed_accounts(self) -> set[str]:
        return {s.account for s in self.sockets}

    def next_transaction(self) -> int:
        self._transaction += 1
        return self._transaction

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Expire keys and cut sockets past the connection limit."""
        for account, key in list(self.keys.items()):
            if key.expires_at <= now:
                self.expire(account)
        for sock in self.sockets:
            if now - sock.opened_at >= self.max_connection_seconds:
                _close(sock.ws)

    def risk_level_change(self, account: str, status: str) -> bool:
        """Note the account's status; True when it moved into a level the stream reports."""
        level = risk_level(status)
        previous = self.levels.get(account, level)  # the first look sets the baseline
        self.levels[account] = level
        return level is not None and level != previous


def _close(ws: web.WebSocketResponse) -> None:
    if not ws.closed:
        asyncio.get_running_loop().create_task(ws.close())
