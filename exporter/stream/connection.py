"""One account's user data stream: its listen key's whole life and its socket.

Binance (Portfolio Margin "User Data Streams"): POST /papi/v1/listenKey gives the account's key
(or returns the active one, extended), valid 60 minutes after the last POST or PUT; PUT keeps it
alive, and answers -1125 once the key is gone; DELETE closes it. The socket is
``stream_url`` + key, and Binance cuts any connection at 24 hours. Here: a PUT every
``stream_keepalive_seconds``, a fresh connection before the cut, and any end (a close, an error,
``listenKeyExpired``, a silence of ``stream_silence_seconds`` without a frame or a pong, a run of
garbage) followed by a new POST and a new socket after a back-off with jitter. Nothing raises out
of the loop; the socket's URL holds the key, so it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import orjson
import structlog

from exporter.binance.client import PapiClient
from exporter.binance.errors import ApiError
from exporter.config import AccountConfig
from exporter.scheduler import credentials_for
from exporter.stream.config import StreamSettings
from exporter.stream.events import BadFrame
from exporter.stream.kinds import ListenKeyExpired, parse_frame
from exporter.stream.state import ReconnectReason, StreamState
from exporter.stream.triggers import EarlyPolls

log = structlog.get_logger("exporter.stream")

# Binance cuts a connection at 24 hours; a fresh one comes first, with a margin for back-offs.
MAX_CONNECTION_SECONDS = 23.5 * 3600
RECONNECT_BACKOFF_SECONDS = 1.0  # doubled per failed attempt in a row ...
RECONNECT_BACKOFF_CAP_SECONDS = 60.0  # ... up to this, then drawn in [half, whole] (jitter)
GARBAGE_RUN = 10  # frames in a row that are not events: the socket is not Binance's stream
PINGS_PER_SILENCE = 3  # our pings per silence window, so a live socket always answers in time
MAX_FRAME_BYTES = 1024 * 1024  # Binance's events are a few KiB
KEY_GONE_CODE = -1125  # "This listenKey does not exist."
KEEPALIVE_RETRY_SECONDS = 60.0  # after a failed PUT: the key still has most of its hour
CLOSE_SECONDS = 1.0  # a peer that does not answer our close frame is not waited for longer
_LISTEN_KEY = re.compile(r"[A-Za-z0-9]{1,256}")


def reconnect_delay(failures: int, base: float, cap: float, draw: float) -> float:
    """The wait before attempt ``failures + 1``; ``draw`` in [0, 1) spreads reconnects out."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2 ** min(failures - 1, 32))
    return ceiling * (0.5 + draw / 2)


def stream_proxy(url: str) -> str | None:
    """The proxy the socket leaves through: the one the REST polls take (httpx honours
    HTTPS_PROXY), so a shard's stream comes from its own egress IP too.

    WSS_PROXY (WS_PROXY for ws://) wins when set, as aiohttp would read it; NO_PROXY is honoured.
    """
    parts = urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    fallback = "https" if parts.scheme == "wss" else "http"
    return proxies.get(parts.scheme) or proxies.get(fallback)


@dataclass
class _Deadlines:
    """A live socket's timers, on the loop clock."""

    silent_at: float
    ping_at: float
    keepalive_at: float
    renew_at: float

    def next(self) -> float:
        return min(self.silent_at, self.ping_at, self.keepalive_at, self.renew_at)


class StreamConnection:
    """The stream of one account, run as one task until ``stop``."""

    def __init__(
        self,
        account: AccountConfig,
        settings: StreamSettings,
        client: Callable[[], PapiClient],
        session: aiohttp.ClientSession,
        early: EarlyPolls,
        publish: Callable[[StreamState], None],
        state: StreamState | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.account = account
        self.settings = settings
        self._client = client  # read at each request: a reload may replace it
        self._session = session
        self._early = early
        self._publish = publish
        self.state = state or StreamState(account.name)
        self._creds = credentials_for(account)
        self.listen_key: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned: set[str] = set()
        self._garbage = 0
        self._connect_timeout = connect_timeout

    def start(self) -> None:
        self._publish(self.state)
        self._task = asyncio.create_task(self._run(), name=f"stream-{self.account.name}")

    async def stop(self) -> None:
        """Close the socket, then DELETE the listen key (Binance closes the stream with it)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.state.up = False
        if self.listen_key is not None:
            try:
                await self._client().listen_key("DELETE", self._creds)
            except Exception as exc:  # shutting down: say it, do not stop the rest
                log.info("listen key not deleted", account=self.account.name, error=str(exc))
            self.listen_key = None

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                reason = await self._connect_and_read()
            except Exception as exc:  # a bug must not end the stream, nor flood the log
                self._warn_once("crash", "stream loop crashed", error=type(exc).__name__)
                log.debug("stream loop crashed", account=self.account.name, exc_info=exc)
                reason = "network"
            self._ended(reason)
            if reason in ("renewal", "listen_key_expired"):
                failures = 0  # planned: reconnect at once
            elif loop.time() - started > self.settings.silence_seconds and reason != "listen_key":
                failures = 1  # it had been working: the shortest back-off
            else:
                failures += 1
            delay = reconnect_delay(
                failures, RECONNECT_BACKOFF_SECONDS, RECONNECT_BACKOFF_CAP_SECONDS, random.random()
            )
            await asyncio.sleep(delay)

    def _ended(self, reason: ReconnectReason) -> None:
        self.state.up = False
        self.state.reconnects[reason] += 1
        self._publish(self.state)
        log.info("user data stream reconnecting", account=self.account.name, reason=reason)

    async def _connect_and_read(self) -> ReconnectReason:
        key = await self._post_listen_key()
        if key is None:
            return "listen_key"
        try:
            async with asyncio.timeout(self._connect_timeout):
                ws = await self._session.ws_connect(
                    self.settings.url + key,
                    proxy=stream_proxy(self.settings.url),
                    autoping=False,
                    heartbeat=None,
                    max_msg_size=MAX_FRAME_BYTES,
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # The message may quote the URL, which holds the key: only the kind is said.
            status = getattr(exc, "status", None)
            self._warn_once(
                "connect", "stream connection failed", error=type(exc).__name__, status=status
            )
            return "network"
        try:
            self.state.up, self._garbage = True, 0
            self._publish(self.state)
            self._warned.discard("connect")
            return await self._read(ws)
        finally:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(CLOSE_SECONDS):
                    await ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> ReconnectReason:
        loop = asyncio.get_running_loop()
        now, silence = loop.time(), self.settings.silence_seconds
        times = _Deadlines(
            silent_at=now + silence,
            ping_at=now + silence / PINGS_PER_SILENCE,
            keepalive_at=now + self.settings.keepalive_seconds,
            renew_at=now + MAX_CONNECTION_SECONDS,
        )
        while True:
            reason = await self._on_time(ws, times, loop.time())
            if reason is not None:
                return reason
            try:
                msg = await ws.receive(timeout=max(0.001, times.next() - loop.time()))
            except TimeoutError:
                continue
            if msg.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                times.silent_at = loop.time() + silence  # any frame, a pong included
            reason = await self._on_message(ws, msg)
            if reason is not None:
                return reason

    async def _on_time(
        self, ws: aiohttp.ClientWebSocketResponse, times: _Deadlines, now: float
    ) -> ReconnectReason | None:
        """What the timers call for: an end, a keepalive, a ping, or nothing yet."""
        if now >= times.silent_at:
            self._warn_once("silence", "user data stream went silent")
            return "silence"
        if now >= times.renew_at:
            return "renewal"
        if now >= times.keepalive_at:
            outcome = await self._keepalive()
            if outcome == "gone":
                return "listen_key_expired"
            every = self.settings.keepalive_seconds
            times.keepalive_at = now + (
                every if outcome == "ok" else min(every, KEEPALIVE_RETRY_SECONDS)
            )
        if now >= times.ping_at:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.ping()
            times.ping_at = now + self.settings.silence_seconds / PINGS_PER_SILENCE
        return None

    async def _on_message(
        self, ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage
    ) -> ReconnectReason | None:
        kind = msg.type
        if kind == aiohttp.WSMsgType.TEXT:
            return self._on_frame(msg.data)
        if kind == aiohttp.WSMsgType.PING:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.pong(msg.data)
            return None
        if kind == aiohttp.WSMsgType.PONG:
            return None
        if kind == aiohttp.WSMsgType.BINARY:
            return self._bad_frame(BadFrame("malformed", "a binary frame"))
        if kind == aiohttp.WSMsgType.ERROR:
            self._warn_once("error", "user data stream failed", error=type(msg.data).__name__)
            return "network"
        return "closed"  # CLOSE, CLOSING, CLOSED

    def _on_frame(self, text: str) -> ReconnectReason | None:
        try:
            kind, event = parse_frame(text)
        except BadFrame as exc:
            return self._bad_frame(exc)
        self._garbage = 0
        if isinstance(event, ListenKeyExpired):
            self.listen_key = None  # gone: the next POST makes a new one
            return "listen_key_expired"
        self.state.count(kind, event)
        self._publish(self.state)
        wanted = [c for c in kind.refreshes if c in self.account.collector_names]
        self._early.trigger(self.account.name, wanted)
        return None

    def _bad_frame(self, exc: BadFrame) -> ReconnectReason | None:
        self.state.bad_frames[exc.kind] += 1
        self._publish(self.state)
        self._warn_once(
            f"frame:{exc.kind}", "user data stream frame not counted", kind=exc.kind, error=str(exc)
        )
        if exc.kind == "unknown_event":
            return None  # a valid event of a type newer than this exporter
        self._garbage += 1
        return "garbage" if self._garbage >= GARBAGE_RUN else None

    # -- the listen key ------------------------------------------------------------------------

    async def _post_listen_key(self) -> str | None:
        try:
            body = await self._client().listen_key("POST", self._creds)
        except ApiError as exc:
            self._warn_once("post", "listen key refused", reason=exc.reason, error=str(exc))
            return None
        try:
            key = orjson.loads(body).get("listenKey")
        except (orjson.JSONDecodeError, AttributeError):
            key = None
        if not isinstance(key, str) or not _LISTEN_KEY.fullmatch(key):
            self._warn_once("post", "listen key reply without a listen key")
            return None
        self._warned.discard("post")
        self.listen_key = key
        return key

    async def _keepalive(self) -> Literal["ok", "failed", "gone"]:
        """PUT the listen key; "gone" when Binance no longer has it (a new one is needed)."""
        try:
            await self._client().listen_key("PUT", self._creds)
        except ApiError as exc:
            if exc.code == KEY_GONE_CODE:
                self.listen_key = None
                return "gone"
            # Kept for now: the key lives 60 minutes, so a retry soon can still save it.
            self._warn_once("put", "listen key keepalive failed", reason=exc.reason)
            return "failed"
        self._warned.discard("put")
        return "ok"

    def _warn_once(self, once: str, event: str, **fields: object) -> None:
        """One line per kind of trouble per account until it clears, not one per frame."""
        if once not in self._warned:
            self._warned.add(once)
            log.warning(event, account=self.account.name, **fields)
