"""Clock offset to Binance's server time, since PAPI has no time endpoint of its own.

Binance rejects a timestamp 1 s or more ahead of its clock, or older than recvWindow (-1021), so
requests are stamped with local time plus the measured offset.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import structlog

from exporter.redaction import redact_url

log = structlog.get_logger("exporter.clock")

RESYNC_SECONDS = 600.0  # re-measure every 10 minutes
MIN_RESYNC_GAP = 1.0  # many accounts hitting -1021 at once share one measurement


class ServerClock:
    def __init__(self, http: httpx.AsyncClient, time_url: str, timeout: float) -> None:
        self._http = http
        self._url = time_url
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self.offset_seconds = 0.0  # server minus local
        self.synced_at = 0.0  # monotonic time of the last successful measurement

    def now_ms(self) -> int:
        return int((time.time() + self.offset_seconds) * 1000)

    async def sync(self, *, force: bool = True) -> bool:
        """Measure the offset; returns False (keeping the old one) when the time URL fails."""
        requested = time.monotonic()
        async with self._lock:
            if not force and self.synced_at >= requested - MIN_RESYNC_GAP:
                return True  # someone measured while we waited
            try:
                async with asyncio.timeout(self._timeout):
                    sent = time.time()
                    reply = await self._http.get(self._url)
                    received = time.time()
                server_ms = orjson.loads(reply.content)["serverTime"]
                if reply.status_code != 200 or not isinstance(server_ms, int | float):
                    raise ValueError(f"HTTP {reply.status_code}")
            except (TimeoutError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("clock sync failed", url=redact_url(self._url), error=_describe(exc))
                return False
            previous = self.offset_seconds
            # The server read its clock about halfway through the round trip.
            self.offset_seconds = server_ms / 1000.0 - (sent + received) / 2
            self.synced_at = time.monotonic()
            if abs(self.offset_seconds - previous) > 0.5:
                log.info("clock offset changed", offset_seconds=round(self.offset_seconds, 3))
            return True

    async def run_periodic(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            await self.sync(force=False)


def _describe(exc: BaseException) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
