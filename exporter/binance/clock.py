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

from exporter.binance.reply import get_capped
from exporter.redaction import redact_url

log = structlog.get_logger("exporter.clock")

RESYNC_SECONDS = 600.0  # re-measure every 10 minutes
MIN_RESYNC_GAP = 1.0  # many accounts hitting -1021 at once share one measurement
# The server reads its clock somewhere inside the round trip, so a sample is off by up to half of
# it. Binance refuses a timestamp 1000 ms or more ahead of its clock: a round trip of at most 1 s
# keeps the error within 500 ms. A slower sample is discarded and the previous offset kept.
MAX_ROUND_TRIP_SECONDS = 1.0


class ServerClock:
    def __init__(
        self,
        http: httpx.AsyncClient,
        time_url: str,
        timeout: float,
        max_response_bytes: int,
        *,
        offset_seconds: float = 0.0,
    ) -> None:
        self._http = http
        self._url = time_url
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._lock = asyncio.Lock()
        self.offset_seconds = offset_seconds  # server minus local
        self.synced_at = 0.0  # monotonic time of the last successful measurement
        self._failed_at = 0.0  # monotonic time of the last failed or discarded one
        self._failing = False  # the current run of failures has had its warning

    @property
    def url(self) -> str:
        return self._url

    def now_ms(self) -> int:
        return int((time.time() + self.offset_seconds) * 1000)

    async def sync(self, *, force: bool = True) -> bool:
        """Measure the offset; False (keeping the old one) when the sample failed or is unfit.

        Unless forced, a measurement made in the last MIN_RESYNC_GAP seconds, or one that failed
        while we waited, is shared: many accounts refused with -1021 at once cost one request.
        """
        requested = time.monotonic()
        async with self._lock:
            if not force and self.synced_at >= requested - MIN_RESYNC_GAP:
                return True  # someone measured while we waited
            if not force and self._failed_at >= requested:
                return False  # someone tried while we waited, and failed
            try:
                async with asyncio.timeout(self._timeout):
                    sent, started = time.time(), time.monotonic()
                    status, _, body = await get_capped(self._http, self._url, {}, self._max_bytes)
                    received, round_trip = time.time(), time.monotonic() - started
                if status != 200:
                    raise ValueError(f"HTTP {status}")
                server_ms = orjson.loads(body)["serverTime"]
                if not isinstance(server_ms, int | float):
                    raise ValueError(f"serverTime {str(server_ms)[:40]!r} is not a number")
            except Exception as exc:  # any failure, a bug included, keeps the previous offset
                self._fail(_describe(exc))
                return False
            if round_trip > MAX_ROUND_TRIP_SECONDS:
                self._fail(
                    f"round trip {round_trip:.2f}s over {MAX_ROUND_TRIP_SECONDS:g}s, "
                    "sample discarded"
                )
                return False
            previous = self.offset_seconds
            # The server read its clock about halfway through the round trip.
            self.offset_seconds = server_ms / 1000.0 - (sent + received) / 2
            self.synced_at = time.monotonic()
            if self._failing:
                self._failing = False
                log.info("clock sync recovered", offset_seconds=round(self.offset_seconds, 3))
            elif abs(self.offset_seconds - previous) > 0.5:
                log.info("clock offset changed", offset_seconds=round(self.offset_seconds, 3))
            return True

    def _fail(self, error: str) -> None:
        """One warning per run of failed measurements, not one per -1021."""
        self._failed_at = time.monotonic()
        if self._failing:
            log.debug("clock sync failed again", url=redact_url(self._url), error=error)
            return
        self._failing = True
        log.warning(
            "clock sync failed, keeping the previous offset",
            url=redact_url(self._url),
            error=error,
            offset_seconds=round(self.offset_seconds, 3),
        )

    async def run_periodic(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            await self.sync(force=False)


def _describe(exc: BaseException) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
