"""One account's user data stream: its listen key's whole life and its socket.

Binance (Portfolio Margin "User Data Streams"): POST /papi/v1/listenKey gives the account's key
(or returns the active one, extended), valid 60 minutes after the last POST or PUT; PUT keeps it
alive, and answers -1125 once the key is gone; DELETE closes it. The socket is
``stream_url`` + key, and Binance cuts any connection at 24 hours. Here: a PUT every
``stream_keepalive_seconds``, a fresh connection before the cut, and any other end (a close, an
error, ``listenKeyExpired``, a silence of ``stream_silence_seconds`` without a frame or a pong, a
run of garbage, a refused POST) followed by a new POST and a new socket after one back-off
(doubling from 1 s, capped, jittered): a peer that ends every connection at once costs a POST a
minute, not thousands. Each POST, and each PUT retried after a failure, is taken from the weight
headroom the early polls share (``triggers.Headroom``), so no storm of reconnects brings a 429
on the polls. A connection takes at most ``MAX_FRAMES_PER_SECOND`` frames; the rest of a flood is
read and dropped (counted), and the loop yields to the others as it reads. Cancellation always
wins: nothing here suppresses it, whatever the peer does with our close. Nothing else raises out
of the loop; the socket's URL holds the key, so it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import orjson
import structlog

from exporter.binance.client import PapiClient
from exporter.binance.errors import ApiError
from exporter.config import AccountConfig
from exporter.config.plan import LISTEN_KEY_WEIGHT
from exporter.metrics import Family
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
SEND_SECONDS = 1.0  # a ping or pong the peer does not read within this is given up
DELETE_SECONDS = 2.0  # the DELETE of a listen key on the way out: a stop stays short
# An account's stream carries a few events a second at its busiest (a liquidation's orders and
# balance updates); beyond this many frames (pings included) in a second, frames are read and
# dropped, so a flooding peer costs a bounded share of the loop.
MAX_FRAMES_PER_SECOND = 200
YIELD_EVERY = 16  # frames read in a row before the loop is given to the others
_LISTEN_KEY = re.compile(r"[A-Za-z0-9]{1,256}")
# What the peer sends (the frame budget's business), as against what ends the socket.
_FRAMES = frozenset(
    {
        aiohttp.WSMsgType.TEXT,
        aiohttp.WSMsgType.BINARY,
        aiohttp.WSMsgType.PING,
        aiohttp.WSMsgType.PONG,
    }
)

STREAM_DROPPED_FRAMES = Family(
    "binance_pm_exporter_stream_dropped_frames_total",
    "Stream frames read and dropped unseen: beyond the frames a connection takes per second.",
    (),
    "counter",
)
CONNECTION_FAMILIES = (STREAM_DROPPED_FRAMES,)


def reconnect_delay(failures: int, base: float, cap: float, draw: float) -> float:
    """The wait before attempt ``failures + 1``; ``draw`` in [0, 1) spreads reconnects out."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2 ** min(failures - 1, 32))
    return ceiling * (0.5 + draw / 2)


def next_failures(failures: int, reason: ReconnectReason, lasted: float, silence: float) -> int:
    """The failures in a row after a connection that ended for ``reason`` after ``lasted`` s.

    Only our own renewal before the 24-hour cut reconnects at once. Any other end, whoever
    caused it, counts: a connection that had been working (longer than a silence window) earns
    the shortest back-off, one that ended at once doubles the last.
    """
    if reason == "renewal":
        return 0
    if lasted > silence and reason != "listen_key":
        return 1
    return failures + 1


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


class FrameBudget:
    """Frames a connection takes per one-second window; ``admit`` says no to the rest."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._window = -1
        self._taken = 0

    def admit(self, now: float) -> bool:
        window = int(now)
        if window != self._window:
            self._window, self._taken = window, 0
        self._taken += 1
        return self._taken <= self.per_second


@dataclass
class _Times:
    """When a live socket last did each thing, on the loop clock. The deadlines are derived
    from them and the current settings, so a reload's new timings apply to a running socket."""

    opened: float
    frame: float  # the last frame or pong
    ping: float  # our last ping
    keepalive: float  # the last PUT (or the POST)
    keepalive_failed: bool = False


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
        dropped_frames: int = 0,
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
        self.dropped_frames = dropped_frames  # kept across a restart: a counter never goes back
        self._dropped_shown = dropped_frames
        self._shown_at = -math.inf

    def start(self) -> None:
        self._publish(self.state)
        self._task = asyncio.create_task(self._run(), name=f"stream-{self.account.name}")

    def retune(self, account: AccountConfig, settings: StreamSettings) -> None:
        """A reload's new timings or collectors, applied to the running socket (same key): the
        next wake of the loop, within a ping interval, follows them."""
        self.account, self.settings = account, settings

    async def stop(self) -> None:
        """End the task, then DELETE the listen key (Binance closes the stream with it).

        The task is cancelled again until it is done: whatever a library below does with one
        cancellation, a stop always ends the stream.
        """
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=CLOSE_SECONDS)
        self.state.up = False
        if self.listen_key is not None:
            try:
                async with asyncio.timeout(DELETE_SECONDS):
                    await self._client().listen_key("DELETE", self._creds)
            except Exception as exc:  # a timeout, a refusal: say it, stop the rest all the same
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
            lasted = loop.time() - started
            failures = next_failures(failures, reason, lasted, self.settings.silence_seconds)
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
            # A peer that holds our close is not waited for; a cancellation is never swallowed
            # (aiohttp drops the socket when its close is cancelled).
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_SECONDS):
                    await ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> ReconnectReason:
        loop = asyncio.get_running_loop()
        now = loop.time()
        times = _Times(opened=now, frame=now, ping=now, keepalive=now)
        budget = FrameBudget(MAX_FRAMES_PER_SECOND)
        read = 0
        while True:
            now = loop.time()
            reason = await self._on_time(ws, times, now)
            if reason is not None:
                return reason
            self._show_dropped(now)
            try:
                msg = await ws.receive(timeout=self._wait(times, now))
            except TimeoutError:
                continue
            read += 1
            if read % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a full buffer returns frames without ever yielding
            now = loop.time()
            if msg.type in _FRAMES:
                times.frame = now  # any frame, a pong included
                if not budget.admit(now):
                    self.dropped_frames += 1
                    continue
            reason = await self._on_message(ws, msg)
            if reason is not None:
                return reason

    def _deadlines(self, times: _Times) -> tuple[float, float, float, float]:
        """When the socket is silent, a ping is due, a keepalive is due, a renewal is due."""
        every, silence = self.settings.keepalive_seconds, self.settings.silence_seconds
        if times.keepalive_failed:
            every = min(every, KEEPALIVE_RETRY_SECONDS)
        return (
            times.frame + silence,
            times.ping + silence / PINGS_PER_SILENCE,
            times.keepalive + every,
            times.opened + MAX_CONNECTION_SECONDS,
        )

    def _wait(self, times: _Times, now: float) -> float:
        """How long to wait for a frame: until the next deadline, or a second while dropped
        frames are not yet shown."""
        wait = min(self._deadlines(times)) - now
        if self.dropped_frames != self._dropped_shown:
            wait = min(wait, 1.0)
        return max(0.001, wait)

    def _show_dropped(self, now: float) -> None:
        """Publish the dropped count at most once a second, not once per dropped frame."""
        if self.dropped_frames != self._dropped_shown and now >= self._shown_at + 1.0:
            self._dropped_shown, self._shown_at = self.dropped_frames, now
            self._publish(self.state)

    async def _on_time(
        self, ws: aiohttp.ClientWebSocketResponse, times: _Times, now: float
    ) -> ReconnectReason | None:
        """What the timers call for: an end, a keepalive, a ping, or nothing yet."""
        silent_at, ping_at, keepalive_at, renew_at = self._deadlines(times)
        if now >= silent_at:
            self._warn_once("silence", "user data stream went silent")
            return "silence"
        if now >= renew_at:
            return "renewal"
        if now >= keepalive_at:
            outcome = await self._keepalive(retry=times.keepalive_failed)
            if outcome == "gone":
                return "listen_key_expired"
            times.keepalive, times.keepalive_failed = now, outcome == "failed"
        if now >= ping_at:
            await self._send(ws.ping())
            times.ping = now
        return None

    async def _send(self, sending: Coroutine[object, object, None]) -> None:
        """A ping or a pong, given up when the peer does not read it in time."""
        with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
            async with asyncio.timeout(SEND_SECONDS):
                await sending

    async def _on_message(
        self, ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage
    ) -> ReconnectReason | None:
        kind = msg.type
        if kind == aiohttp.WSMsgType.TEXT:
            return self._on_frame(msg.data)
        if kind == aiohttp.WSMsgType.PING:
            await self._send(ws.pong(msg.data))
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
        await self._early.headroom.take(LISTEN_KEY_WEIGHT)
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

    async def _keepalive(self, *, retry: bool) -> Literal["ok", "failed", "gone"]:
        """PUT the listen key; "gone" when Binance no longer has it (a new one is needed).

        The planned PUTs are in the weight plan; a retry after a failure is not, so it is taken
        from the headroom."""
        if retry:
            await self._early.headroom.take(LISTEN_KEY_WEIGHT)
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
