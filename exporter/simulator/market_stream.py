"""The simulator's market streams: Binance's all-market mark price streams on a real WebSocket.

Binance (USDⓈ-M and COIN-M "Mark Price Stream for All market", ``!markPrice@arr@1s``): every
second, one JSON array of ``markPriceUpdate`` objects, one per symbol (``"p"`` the mark, as a
string with 8 decimals; COIN-M entries also carry ``"ps"``, the pair). Served here from the
market's marks, on the simulator's port, on paths that mirror Binance's:

* ``/market/ws/!markPrice@arr@1s``: USDⓈ-M (``fstream.binance.com/market/ws/...``);
* ``/ws/!markPrice@arr@1s``: COIN-M (``dstream.binance.com/ws/...``);
* ``/fstream/ws/!markPrice@arr@1s``: USDⓈ-M's bare ``/ws`` path, which accepts the stream and
  sends nothing (Binance routes mark prices through ``/market`` only).

The interval is ``interval_seconds`` (1 s, as Binance; shorter in tests). The server answers
pings unless told to go silent. The knobs: ``exporter.simulator.market_stream_knobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson
from aiohttp import WSMsgType, web

from exporter.simulator.market import Market

SimMarket = Literal["um", "cm"]
MARK_STREAM = "!markPrice@arr@1s"
UM_MARK_PATH = "/market/ws/" + MARK_STREAM
CM_MARK_PATH = "/ws/" + MARK_STREAM
UM_BARE_PATH = "/fstream/ws/" + MARK_STREAM
SEND_SECONDS = 1.0  # a socket that does not read a frame within this misses it
FUNDING_RATE = "0.00010000"
FUNDING_HOURS_MS = 8 * 3600 * 1000


@dataclass
class MarkSocket:
    market: SimMarket | None  # None: USDⓈ-M's bare /ws path, which sends nothing
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None


def mark_text(mark: object) -> str:
    """A mark as Binance spells it in this stream: 8 decimals."""
    return f"{mark:.8f}"


class MarkStreams:
    """Every market stream socket and the task that pushes to them; on the simulator's loop."""

    def __init__(self, market: Market, clock_ms: Callable[[], int]) -> None:
        self.market = market
        self.clock_ms = clock_ms
        self.interval_seconds = 1.0
        self.silent: set[SimMarket | None] = set()  # markets (None: both) that send nothing
        self.sockets: list[MarkSocket] = []
        self.connections: dict[str, int] = {"um": 0, "cm": 0, "bare": 0}  # sockets ever opened
        self.frames_sent = 0
        self._pusher: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def frame(self, market: SimMarket) -> str:
        """The market's array of every symbol's mark, as Binance pushes it."""
        now = self.clock_ms()
        funding = (now // FUNDING_HOURS_MS + 1) * FUNDING_HOURS_MS
        if market == "um":
            entries = [
                {
                    "e": "markPriceUpdate",
                    "E": now,
                    "s": s.symbol,
                    "p": mark_text(s.mark),
                    "P": mark_text(s.mark),
                    "i": mark_text(s.mark),
                    "r": FUNDING_RATE,
                    "T": funding,
                }
                for s in self.market.um.values()
            ]
        else:
            entries = []
            for c in self.market.cm.values():
                perpetual = c.symbol.endswith("_PERP")
                entries.append(
                    {
                        "e": "markPriceUpdate",
                        "E": now,
                        "s": c.symbol,
                        "ps": c.symbol.split("_")[0],
                        "p": mark_text(c.mark),
                        "P": mark_text(c.mark),
                        "i": mark_text(c.mark),
                        "r": FUNDING_RATE if perpetual else "",
                        "T": funding if perpetual else 0,
                    }
                )
        return orjson.dumps(entries).decode()

    async def serve(self, request: web.Request, market: SimMarket | None) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        transport = request.transport
        sock = MarkSocket(
            market, ws, transport if isinstance(transport, asyncio.Transport) else None
        )
        self.sockets.append(sock)
        self.connections[market or "bare"] += 1
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push_forever(), name="sim-mark-streams")
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING and not self._is_silent(market):
                    await ws.pong(msg.data)
        finally:
            if sock in self.sockets:
                self.sockets.remove(sock)
        return ws

    def _is_silent(self, market: SimMarket | None) -> bool:
        return None in self.silent or market in self.silent

    async def _push_forever(self) -> None:
        """Every interval, each market's frame to its sockets; ends with the last socket."""
        while self.sockets:
            await asyncio.sleep(self.interval_seconds)
            markets: tuple[SimMarket, ...] = ("um", "cm")
            for market in markets:
                targets = [s for s in self.sockets if s.market == market]
                if targets and not self._is_silent(market):
                    await self.send(market, [self.frame(market)])

    def send_soon(self, market: SimMarket, frames: list[str]) -> None:
        """``send`` from plain code (a knob over HTTP): in a task of its own."""
        task = asyncio.get_running_loop().create_task(self.send(market, frames))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def send(self, market: SimMarket, frames: list[str]) -> None:
        """These text frames to every socket of ``market``, side by side."""
        targets = [s for s in self.sockets if s.market == market]
        await asyncio.gather(*(self._send(s, frames) for s in targets))

    async def _send(self, sock: MarkSocket, frames: list[str]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
            async with asyncio.timeout(SEND_SECONDS):
                for text in frames:
                    await sock.ws.send_str(text)
                    self.frames_sent += 1

    def drop(self, market: SimMarket | None) -> None:
        """Cut the TCP connections under the market's (None: every) sockets, no close frame."""
        for sock in self.sockets:
            if (market is None or sock.market == market) and sock.transport is not None:
                sock.transport.abort()

    async def close(self) -> None:
        """Every socket closed and the pusher ended: the simulator stops."""
        for sock in list(self.sockets):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await sock.ws.close()
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
