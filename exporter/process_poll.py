"""Process-wide polls: endpoints whose reply is the same for every account, polled once per
process on a host of their own (``collateral_rate`` on the SAPI host).

Not the scheduler's: its polls are per account, on the PAPI host and its weight budget. This
poller has its own ``PapiClient`` on ``sapi_base_url``, its own ``RetryAfterGate`` (a ban of the
SAPI host must not stop the PAPI polls, nor the other way round) and its own budget, checked at
load (``config.plan.check_sapi_budget``). It signs nothing: the collateral rates are MARKET_DATA,
sent with the API key of the first account this replica owns. Its rows and its own health are an
immutable ``ProcessData`` that ``render`` collects as a global section (no ``account`` label).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson
import structlog

from exporter.binance.client import Credentials, PapiClient
from exporter.binance.errors import ApiError
from exporter.collectors import BadPayload, ParseOptions
from exporter.collectors import _collateral_rate as collateral_rate
from exporter.config.model import STALE_INTERVALS, SapiSettings
from exporter.metrics import Family, label_text, render_plain

log = structlog.get_logger("exporter.process_poll")

POLL_ERRORS = Family(
    "binance_pm_exporter_process_poll_errors_total",
    "Failed requests of the process-wide polls (once per process, not per account), by reason.",
    ("collector", "reason"),
    "counter",
)
LAST_SUCCESS = Family(
    "binance_pm_exporter_process_poll_last_success_timestamp_seconds",
    "Last success of a process-wide poll (0: never).",
    ("collector",),
)
PROCESS_FAMILIES: tuple[Family, ...] = (*collateral_rate.FAMILIES, POLL_ERRORS, LAST_SUCCESS)


@dataclass(frozen=True)
class ProcessData:
    """What one process-wide poller publishes: its data rows (fresh until ``valid_until``,
    wall clock) and its own health (always served), each as rendered lines by family name."""

    rows: Mapping[str, bytes]
    valid_until: float
    health: Mapping[str, bytes]


class CollateralRatePoller:
    """``GET /sapi/v1/portfolio/collateralRate`` every ``collateral_rate_interval_seconds``."""

    name = collateral_rate.NAME

    def __init__(
        self,
        settings: SapiSettings,
        client: PapiClient,
        credentials: Credentials,
        changed: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.client = client
        self._credentials = credentials
        self._changed = changed  # wakes the publisher (``Store.changed``)
        self._rows: Mapping[str, bytes] = {}
        self._valid_until = -math.inf
        self._errors: dict[str, int] = {}
        self._last_success = 0.0
        self.published = self._publish()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"process-poll-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.settings.collateral_rate_interval_seconds)

    async def poll(self) -> bool:
        """One poll; a failure is counted by reason and logged, the last rows stay until stale."""
        try:
            body = await self.client.get_keyed(collateral_rate.PATH, self._credentials)
            result = collateral_rate.parse(orjson.loads(body), ParseOptions())
        except ApiError as exc:
            self._failed(exc.reason, str(exc))
            return False
        except (orjson.JSONDecodeError, BadPayload) as exc:
            self._failed("bad_response", str(exc) or "body is not JSON")
            return False
        now = time.time()
        self._rows = {
            name: "".join(
                render_plain(name, value, label_text(("asset",), labels)) for labels, value in rows
            ).encode()
            for name, rows in result.samples.items()
            if rows
        }
        interval = self.settings.collateral_rate_interval_seconds
        self._valid_until = now + STALE_INTERVALS * interval
        self._last_success = now
        self._update()
        return True

    def _failed(self, reason: str, message: str) -> None:
        self._errors[reason] = self._errors.get(reason, 0) + 1
        log.warning("process-wide poll failed", collector=self.name, reason=reason, error=message)
        self._update()

    def _update(self) -> None:
        self.published = self._publish()
        self._changed()

    def _publish(self) -> ProcessData:
        collector = label_text(("collector",), (self.name,))
        errors = "".join(
            render_plain(
                POLL_ERRORS.name,
                float(n),
                label_text(("collector", "reason"), (self.name, reason)),
            )
            for reason, n in sorted(self._errors.items())
        )
        health = {LAST_SUCCESS.name: render_plain(LAST_SUCCESS.name, self._last_success, collector)}
        if errors:
            health[POLL_ERRORS.name] = errors
        return ProcessData(
            dict(self._rows),
            self._valid_until,
            {name: text.encode() for name, text in health.items()},
        )
