"""Clock offset to Binance's server time, since PAPI has no time endpoint of its own.

Binance refuses (-1021) a timestamp 1 s or more ahead of its clock, or older than recvWindow, so
requests are stamped with local time plus the measured offset.

A measurement is shared: whoever asks while one is in flight waits for it (bounded by the
request timeout) instead of sending another, so ten accounts refused at once cost one request
and are all retried with its result. One that has already taken longer than
MAX_ROUND_TRIP_SECONDS is not joined: its sample could not be trusted, and a time URL that has
just recovered its speed answers the next one at once. A slow sample is still used when Binance
has refused the offset in use and the round trip fits recvWindow: its safe end, which puts
stamps behind Binance's clock, never ahead (see ``ServerClock.sync``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

import httpx
import orjson
import structlog

from exporter.binance.reply import get_capped
from exporter.redaction import redact_url

log = structlog.get_logger("exporter.clock")

RESYNC_SECONDS = 600.0  # re-measure every 10 minutes
# The server reads its clock somewhere inside the round trip, so a sample is off by up to half of
# it. Binance refuses a timestamp 1000 ms or more ahead of its clock: a round trip of at most 1 s
# keeps the midpoint's error within 500 ms. Such a sample is trusted.
MAX_ROUND_TRIP_SECONDS = 1.0
# An offset from a slow sample is replaced as soon as a trusted one can be had: the time URL is
# asked again this often until one is.
UNTRUSTED_RESYNC_SECONDS = 30.0
# A slow sample leaves stamps behind by up to its round trip, and the request itself takes time
# to arrive: a sample is usable when its round trip is within recvWindow less this.
SLOW_SAMPLE_MARGIN_SECONDS = 1.0


Outcome = Literal["synced", "failed", "slow"]


@dataclass
class _Measurement:
    """One request to the time URL, run as a task of its own so that nobody who waits for it
    has to stay until it ends; ``outcome`` is what all who joined it get.

    ``failed``: an error answer, which asking again at once would get too; ``slow``: no usable
    sample in time, which the next measurement may well have.
    """

    started: float  # monotonic
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ServerClock:
    def __init__(
        self,
        http: httpx.AsyncClient,
        time_url: str,
        timeout: float,
        max_response_bytes: int,
        *,
        recv_window_ms: int = 5000,
        offset_seconds: float = 0.0,
    ) -> None:
        self._http = http
        self._url = time_url
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._usable_round_trip = recv_window_ms / 1000 - SLOW_SAMPLE_MARGIN_SECONDS
        # Past this a measurement can give no usable sample: it is given up on.
        self._measure_for = min(timeout, max(MAX_ROUND_TRIP_SECONDS, self._usable_round_trip))
        self.offset_seconds = offset_seconds  # server minus local
        self.trusted = True  # False while the offset comes from a slow sample
        self.synced_at = 0.0  # monotonic time the offset was last set from a sample
        self._refused = False  # Binance refused a stamp made with the offset in use
        self._failed_at = 0.0  # monotonic time of the last measurement answered with an error
        self._failing = False  # the current run of failures has had its warning
        self._latest: _Measurement | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # measurements in flight
        self._offset_set: asyncio.Future[None] | None = None  # resolved when an offset is set

    @property
    def url(self) -> str:
        return self._url

    def now_ms(self) -> int:
        return int((time.time() + self.offset_seconds) * 1000)

    async def resync(self, stamped_at: float) -> bool:
        """After a -1021 for a request stamped at ``stamped_at`` (monotonic): True when an offset
        measured since is in place, so that the request is worth sending again.

        An offset set since the stamp is used at once. Otherwise the request waits, up to the
        request timeout, for the first usable sample of the measurement in flight, of a new one,
        or of the next ones while they are too slow to use. A measurement answered with an
        error since the stamp is not repeated for it (it would fail again: the caller's next
        poll asks again).
        """
        if self.synced_at > stamped_at:
            return True
        if self._failed_at > stamped_at:
            return False
        self._refused = True
        deadline = time.monotonic() + self._timeout
        while (left := deadline - time.monotonic()) > 0:
            outcome = self._measurement().outcome
            if self._offset_set is None:
                self._offset_set = asyncio.get_running_loop().create_future()
            # Not cancelled when this waiter is: they are shared.
            await asyncio.wait(
                (outcome, self._offset_set), timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            if self.synced_at > stamped_at:
                return True
            if outcome.done() and outcome.result() == "failed":
                return False
        return False

    async def sync(self) -> bool:
        """Measure the offset (at start and periodically); False keeps the old one."""
        return await asyncio.shield(self._measurement().outcome) == "synced"

    def _measurement(self) -> _Measurement:
        """The measurement in flight, or a new one when there is none or the one in flight has
        run past MAX_ROUND_TRIP_SECONDS (its sample could not be trusted)."""
        latest = self._latest
        if (
            latest is not None
            and not latest.outcome.done()
            and time.monotonic() - latest.started <= MAX_ROUND_TRIP_SECONDS
        ):
            return latest
        measurement = _Measurement(time.monotonic())
        self._latest = measurement
        task = asyncio.create_task(self._run(measurement), name="clock sync")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return measurement

    async def _run(self, measurement: _Measurement) -> None:
        outcome: Outcome = "slow"
        try:
            outcome = await self._measure()
        finally:  # cancelled too: whoever waits is released
            measurement.outcome.set_result(outcome)

    async def _measure(self) -> Outcome:
        try:
            async with asyncio.timeout(self._measure_for):
                sent, started = time.time(), time.monotonic()
                status, _, body = await get_capped(self._http, self._url, {}, self._max_bytes)
                received, round_trip = time.time(), time.monotonic() - started
        except (TimeoutError, httpx.TimeoutException):
            self._fail(f"no answer within {self._measure_for:g}s, too slow to use", slow=True)
            return "slow"
        except Exception as exc:  # any failure, a bug included, keeps the previous offset
            self._fail(_describe(exc), slow=False)
            return "failed"
        try:
            if status != 200:
                raise ValueError(f"HTTP {status}")
            server_ms = orjson.loads(body)["serverTime"]
            if not isinstance(server_ms, int | float):
                raise ValueError(f"serverTime {str(server_ms)[:40]!r} is not a number")
        except Exception as exc:
            self._fail(_describe(exc), slow=False)
            return "failed"
        server = server_ms / 1000.0
        if round_trip <= MAX_ROUND_TRIP_SECONDS:
            # The server read its clock about halfway through the round trip.
            self._set(server - (sent + received) / 2, trusted=True)
            return "synced"
        slow = f"round trip {round_trip:.2f}s over {MAX_ROUND_TRIP_SECONDS:g}s"
        if not self._refused or round_trip > self._usable_round_trip:
            self._fail(f"{slow}, sample discarded", slow=True)
            return "slow"
        # Binance refused the offset in use, and this is the best there is. The server read its
        # clock after ``sent``: taking it as read at ``received`` can only put stamps behind by
        # up to the round trip, which recvWindow allows, never ahead, which it does not.
        if self.trusted:
            log.warning(
                "clock offset taken from a slow sample until a fast one",
                url=redact_url(self._url),
                round_trip_seconds=round(round_trip, 2),
                offset_seconds=round(server - received, 3),
            )
        self._set(server - received, trusted=False)
        return "synced"

    def _set(self, offset: float, *, trusted: bool) -> None:
        previous, self.offset_seconds = self.offset_seconds, offset
        self.synced_at = time.monotonic()
        self._refused = False
        if self._offset_set is not None:
            self._offset_set.set_result(None)
            self._offset_set = None
        recovered = trusted and (self._failing or not self.trusted)
        self.trusted = trusted
        if recovered:
            self._failing = False
            log.info("clock sync recovered", offset_seconds=round(offset, 3))
        elif trusted and abs(offset - previous) > 0.5:
            log.info("clock offset changed", offset_seconds=round(offset, 3))

    def _fail(self, error: str, *, slow: bool) -> None:
        """One warning per run of failed measurements, not one per -1021."""
        if not slow:
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
        """Every RESYNC_SECONDS; every UNTRUSTED_RESYNC_SECONDS while the offset is untrusted."""
        while True:
            await asyncio.sleep(UNTRUSTED_RESYNC_SECONDS)
            if self.trusted and time.monotonic() - self.synced_at < RESYNC_SECONDS:
                continue
            await self.sync()


def _describe(exc: BaseException) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
