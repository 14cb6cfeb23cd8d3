"""The market streams: one mark price socket per market for the whole process.

Binance's all-market mark price streams (``um_market_stream_url``, ``cm_market_stream_url``)
are public: no listen key, no weight, and the same for every account. So a process opens at most
one connection per market, whatever its number of accounts: a market's stream runs while some
owned account has ``market_stream`` on and polls that market's positions
(``markets_wanted``). Each frame goes into the process's ``MarkBook``.

A socket ends, and is opened again after the user data stream's back-off
(``connection.reconnect_delay``: doubling from 1 s, capped, jittered), when it closes or fails,
or when it is silent: no readable mark price for ``silence_seconds`` (a pong or a ping of the
peer does not count). USDⓈ-M serves mark prices on ``/market`` only: its bare ``/ws`` path
accepts the same stream and then sends nothing, so a connected socket that stays silent is
down, and the log says so once. Cancellation always wins, as in ``connection``: nothing here
suppresses it, and a stop cancels until the task is done, whatever the peer does with our close.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import aiohttp
import structlog

from exporter.config import AccountConfig, Config
from exporter.redaction import redact_url
from exporter.stream import connection
from exporter.stream.connection import (
    MAX_FRAME_BYTES,
    MAX_FRAMES_PER_SECOND,
    YIELD_EVERY,
    FrameBudget,
    next_failures,
    reconnect_delay,
    stream_proxy,
)
from exporter.stream.events import BadFrame
from exporter.stream.marks import MARKETS, MarkBook, Market, parse_marks
from exporter.stream.state import ReconnectReason

log = structlog.get_logger("exporter.stream.market")

# The collectors that serve a market's positions: a market's marks matter only to them.
POSITION_COLLECTORS: dict[Market, frozenset[str]] = {
    "um": frozenset({"um_account", "um_position_risk"}),
    "cm": frozenset({"cm_account", "cm_position_risk"}),
}
# Binance pushes every second: this many seconds without a mark price is a dead stream, even
# when stream_silence_seconds (the user data stream's, which may be quiet for minutes) is longer.
MARKET_SILENCE_SECONDS = 10.0
STOP_WAIT_SECONDS = 0.5  # between two cancellations of a stopping stream
# What the peer sends (the frame budget's business), as against what ends the socket.
_FRAMES = frozenset({aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.PING})


@dataclass(frozen=True)
class MarketStreamPlan:
    """What one market's stream needs: where to connect and its timings."""

    market: Market
    url: str
    silence_seconds: float
    connect_timeout: float


def markets_wanted(accounts: Iterable[AccountConfig]) -> tuple[Market, ...]:
    """The markets some account with ``market_stream`` polls positions of, in MARKETS order."""
    wanted: set[Market] = set()
    for account in accounts:
        if account.market_stream:
            names = set(account.collector_names)
            wanted.update(m for m in MARKETS if names & POSITION_COLLECTORS[m])
    return tuple(m for m in MARKETS if m in wanted)


def market_plans(config: Config) -> dict[Market, MarketStreamPlan]:
    """Each wanted market's stream, from the config."""
    urls: dict[Market, str] = {"um": config.market_stream.um_url, "cm": config.market_stream.cm_url}
    silence = min(config.stream.silence_seconds, MARKET_SILENCE_SECONDS)
    timeout = config.client.request_timeout_seconds
    return {
        m: MarketStreamPlan(m, urls[m], silence, timeout) for m in markets_wanted(config.accounts)
    }


class MarketConnection:
    """One market's stream, run as one task until ``stop``."""

    def __init__(
        self, plan: MarketStreamPlan, book: MarkBook, session: aiohttp.ClientSession
    ) -> None:
        self.plan = plan
        self._book = book
        self._session = session
        self._task: asyncio.Task[None] | None = None
        self._warned: set[str] = set()
        self.connections = 0  # sockets opened so far
        self._delivered = False  # whether the current socket gave a readable mark price
        self.dropped_frames = 0

    def start(self) -> None:
        self._book.open(self.plan.market)
        self._task = asyncio.create_task(self._run(), name=f"market-stream-{self.plan.market}")

    def retune(self, plan: MarketStreamPlan) -> None:
        """New timings for the running socket (same URL): the next wait follows them."""
        self.plan = plan

    async def stop(self) -> None:
        """End the task (cancelled again until it is done), then drop the market's marks."""
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=STOP_WAIT_SECONDS)
        self._book.close(self.plan.market)

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                reason = await self._connect_and_read()
            except Exception as exc:  # a bug must not end the stream, nor flood the log
                self._warn_once("crash", "market stream loop crashed", error=type(exc).__name__)
                log.debug("market stream loop crashed", market=self.plan.market, exc_info=exc)
                reason = "network"
            self._book.down(self.plan.market)
            log.info("market stream reconnecting", market=self.plan.market, reason=reason)
            lasted = loop.time() - started
            if self._delivered:
                failures = next_failures(failures, reason, lasted, self.plan.silence_seconds)
            else:  # a socket that never delivered a mark price had not been working
                failures += 1
            # Read at each use: the same back-off as the user data stream, whatever sets it.
            delay = reconnect_delay(
                failures,
                connection.RECONNECT_BACKOFF_SECONDS,
                connection.RECONNECT_BACKOFF_CAP_SECONDS,
                random.random(),
            )
            await asyncio.sleep(delay)

    async def _connect_and_read(self) -> ReconnectReason:
        url = self.plan.url
        self._delivered = False
        try:
            async with asyncio.timeout(self.plan.connect_timeout):
                ws = await self._session.ws_connect(
                    url,
                    proxy=stream_proxy(url),
                    autoping=False,
                    heartbeat=None,
                    max_msg_size=MAX_FRAME_BYTES,
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._warn_once(
                "connect",
                "market stream connection failed",
                url=redact_url(url),
                error=type(exc).__name__,
                status=getattr(exc, "status", None),
            )
            return "network"
        self.connections += 1
        self._warned.discard("connect")
        try:
            return await self._read(ws)
        finally:
            # A peer that holds our close is not waited for long; a cancellation is never
            # swallowed (aiohttp drops the socket when its close is cancelled).
            with contextlib.suppress(Exception):
                async with asyncio.timeout(connection.CLOSE_SECONDS):
                    await ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> ReconnectReason:
        loop = asyncio.get_running_loop()
        marked = loop.time()  # the last readable mark price (or the connection)
        budget = FrameBudget(MAX_FRAMES_PER_SECOND)
        read = 0
        while True:
            now = loop.time()
            silent_at = marked + self.plan.silence_seconds
            if now >= silent_at:
                self._warn_once(
                    "silence",
                    "market stream connected but silent: no mark prices (USDⓈ-M sends them on "
                    "/market/ws only), reconnecting",
                    url=redact_url(self.plan.url),
                    silence_seconds=self.plan.silence_seconds,
                )
                return "silence"
            try:
                msg = await ws.receive(timeout=max(0.001, silent_at - now))
            except TimeoutError:
                continue
            read += 1
            if read % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a full buffer returns frames without ever yielding
            if msg.type in _FRAMES and not budget.admit(loop.time()):
                self.dropped_frames += 1
                continue
            outcome = await self._on_message(ws, msg)
            if outcome == "marks":
                marked = loop.time()
            elif outcome is not None:
                return outcome

    async def _on_message(
        self, ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage
    ) -> ReconnectReason | Literal["marks"] | None:
        """ "marks" when the frame held a readable mark price, a reason when the socket ended."""
        kind = msg.type
        if kind == aiohttp.WSMsgType.TEXT:
            return "marks" if self._on_frame(msg.data) else None
        if kind == aiohttp.WSMsgType.PING:  # Binance pings every 3 minutes
            await self._pong(ws, msg.data)
            return None
        if kind == aiohttp.WSMsgType.PONG:
            return None
        if kind == aiohttp.WSMsgType.BINARY:
            self._book.count_bad(self.plan.market)
            return None
        if kind == aiohttp.WSMsgType.ERROR:
            self._warn_once("error", "market stream failed", error=type(msg.data).__name__)
            return "network"
        return "closed"  # CLOSE, CLOSING, CLOSED

    def _on_frame(self, text: str) -> bool:
        """Whether the frame held a readable mark price (which keeps the socket alive)."""
        market = self.plan.market
        try:
            updates, bad = parse_marks(text, int(time.time() * 1000))
        except BadFrame as exc:
            self._book.count_bad(market)
            self._warn_once("frame", "market stream frame not read", error=str(exc))
            return False
        self._book.apply(market, updates, bad)
        if updates:
            self._delivered = True
            self._warned.discard("silence")
        return bool(updates)

    async def _pong(self, ws: aiohttp.ClientWebSocketResponse, data: bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
            async with asyncio.timeout(connection.SEND_SECONDS):
                await ws.pong(data)

    def _warn_once(self, once: str, event: str, **fields: object) -> None:
        """One line per kind of trouble until it clears, not one per attempt."""
        if once not in self._warned:
            self._warned.add(once)
            log.warning(event, market=self.plan.market, **fields)


class MarketStreams:
    """The process's market streams: started, changed by reloads and stopped with the exporter.

    Their sockets share one aiohttp session of their own; the book outlives them.
    """

    def __init__(self, config: Config, book: MarkBook) -> None:
        self.config = config
        self.book = book
        self.connections: dict[Market, MarketConnection] = {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await self.apply(self.config)

    async def apply(self, config: Config) -> None:
        """Follow a (re)loaded config: a market no longer wanted stops, a new one starts, one
        whose URL changed starts again; the others take new timings in place."""
        self.config = config
        plans = market_plans(config)
        ending = [
            m for m, c in self.connections.items() if m not in plans or plans[m].url != c.plan.url
        ]
        await asyncio.gather(*(self.connections.pop(m).stop() for m in ending))
        for market, plan in plans.items():
            current = self.connections.get(market)
            if current is not None:
                current.retune(plan)
                continue
            if self._session is None:
                self._session = aiohttp.ClientSession()
            current = self.connections[market] = MarketConnection(plan, self.book, self._session)
            current.start()

    async def stop(self) -> None:
        """Every market stream ended, at once."""
        connections = list(self.connections.values())
        self.connections.clear()
        await asyncio.gather(*(c.stop() for c in connections), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
