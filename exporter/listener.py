"""The listening socket when clients are hostile or the host is unlucky: fds, floods, log floods.

Under the 1,024 descriptors systemd gives a service by default, a flood of idle connections used
to take every descriptor: scrapes timed out, polls found no socket, and asyncio's accept-error
loop wrote a log line per attempt. So: the soft limit is raised to the hard one at start (as Go
programs do), connections are capped below the limit with room kept for polling, an idle or
header-less connection is closed after ``IDLE_TIMEOUT_SECONDS``, and when the cap is reached the
longest-idle connection makes room for the new one (so a scraper still gets in), and repeated
errors are logged at most once a second.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = structlog.get_logger("exporter.listener")

# aiohttp's keep-alive timer also runs from the moment a connection opens, so it closes
# connections that never send a request, or send their header too slowly.
IDLE_TIMEOUT_SECONDS = 60.0
# Descriptors kept for everything but scrapers: the polling pool (64 connections), the clock,
# the config and secret files on reload, /proc reads, logs, and the listening sockets.
RESERVED_FDS = 160
# asyncio accepts up to the listen backlog in one go before any protocol is made (and so
# before the guard can close an idle connection): those descriptors are kept free too.
LISTEN_BACKLOG = 64
DEFAULT_MAX_CONNECTIONS = 512
MIN_CONNECTIONS = 8


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # a sandbox may refuse; keep what we have
            log.warning("cannot raise the open files limit", soft=soft, hard=hard, error=str(exc))
    return soft, hard


def connection_cap(requested: int) -> int:
    """``requested``, lowered so that scrapers can never take the descriptors polling needs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(MIN_CONNECTIONS, min(requested, soft - RESERVED_FDS - LISTEN_BACKLOG))


class RateLimited:
    """At most one line per ``key`` every ``seconds``; says how many were held back."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None to stay quiet, else how many lines of ``key`` were held back before this one."""
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < self.seconds:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


class ConnectionGuard:
    """Caps the open client connections; at the cap the longest-idle one is closed first."""

    def __init__(self, cap: int) -> None:
        self.server: web.Server | None = None  # set once the runner has made it
        self.cap = cap
        self._last_active: dict[RequestHandler, float] = {}
        self._busy: dict[RequestHandler, int] = {}
        self._quiet = RateLimited(60.0)
        self.evicted = 0
        self.refused = 0

    def protocol(self) -> asyncio.Protocol:
        """The protocol factory for ``loop.create_server``."""
        assert self.server is not None
        # A closed connection stays listed until its handler task ends: count the open ones.
        live = [h for h in self.server.connections if h.transport is not None]
        if len(live) >= self.cap:
            self._forget_closed(live)
            idle = [h for h in live if not self._busy.get(h)]
            if not idle:
                self.refused += 1
                self._warn("connection refused: every connection is busy")
                return _Refused()
            victim = min(idle, key=lambda h: self._last_active.get(h, 0.0))
            victim.force_close()
            self.evicted += 1
            self._warn("idle connection closed to make room")
        handler = self.server()
        self._last_active[handler] = time.monotonic()
        return handler

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> Any:
        """Marks a connection busy while it has a request in flight."""
        protocol = request.protocol
        self._busy[protocol] = self._busy.get(protocol, 0) + 1
        try:
            return await handler(request)
        finally:
            self._busy[protocol] -= 1
            self._last_active[protocol] = time.monotonic()

    def _forget_closed(self, live: list[RequestHandler]) -> None:
        alive = set(live)
        for table in (self._last_active, self._busy):
            for h in [h for h in table if h not in alive]:
                del table[h]

    def _warn(self, event: str) -> None:
        held = self._quiet.allow(event)
        if held is not None:
            log.warning(event, cap=self.cap, evicted=self.evicted, refused=self.refused)


class _Refused(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


def quiet_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio's own errors (accept failures under EMFILE) at most once a second, no traceback."""
    limiter = RateLimited(1.0)

    def handler(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "event loop error"))
        held = limiter.allow(message)
        if held is None:
            return
        exc = context.get("exception")
        log.warning(
            message,
            error=f"{type(exc).__name__}: {exc}" if exc is not None else None,
            suppressed=held,
        )

    loop.set_exception_handler(handler)


class _OneLinePerSecond(logging.Filter):
    """aiohttp logs each malformed request with a traceback: keep one short line a second."""

    def __init__(self) -> None:
        super().__init__()
        self._limiter = RateLimited(1.0)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._limiter.allow(record.name) is None:
            return False
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            record.msg, record.args = f"{record.getMessage()}: {type(exc).__name__}", ()
            text = str(exc).splitlines()[0][:200] if str(exc) else ""
            if text:
                record.msg += f": {text}"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_server_errors() -> None:
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _OneLinePerSecond) for f in logger.filters):
        logger.addFilter(_OneLinePerSecond())
