"""Exposition of the store: pre-rendered text for the common case, prometheus_client otherwise.

The text format (0.0.4) is assembled from fragments rendered once per poll. A background task
(``Renderer.run``) joins them and gzips the result after polls, at most every ``min_gap`` seconds
however many accounts publish, so a scrape only sends finished bytes: it never builds, never
compresses and never waits. OpenMetrics goes through prometheus_client's registry and encoder,
built from the same samples, so both formats agree (tests check it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import CollectorRegistry

from exporter.collectors import COLLECTORS
from exporter.metrics import Family, format_value
from exporter.snapshot import ACCOUNT_FAMILIES, POLL_DURATION, ExporterStatus, Store

log = structlog.get_logger("exporter.render")

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = openmetrics.CONTENT_TYPE_LATEST

USED_WEIGHT = Family(
    "binance_pm_exporter_api_used_weight_1m",
    "Last X-MBX-USED-WEIGHT-1M Binance reported: request weight used this minute by this IP.",
    (),
)
CLOCK_OFFSET = Family(
    "binance_pm_exporter_clock_offset_seconds", "Binance server time minus local time.", ()
)
PLANNED_WEIGHT = Family(
    "binance_pm_exporter_planned_weight_per_minute",
    "Request weight per minute the configured polls need.",
    (),
)
POLL_INTERVAL = Family(
    "binance_pm_exporter_poll_interval_seconds", "Interval between polls of an account.", ()
)
RELOAD_OK = Family(
    "binance_pm_exporter_config_last_reload_successful",
    "Whether the last configuration reload attempt succeeded.",
    (),
)
RELOAD_TIME = Family(
    "binance_pm_exporter_config_last_reload_success_timestamp_seconds",
    "Time of the last successful configuration load.",
    (),
)
BUILD_INFO = Family(
    "binance_pm_exporter_build_info", "Exporter build information; the value is always 1.", ()
)
GLOBAL_FAMILIES = (
    USED_WEIGHT,
    CLOCK_OFFSET,
    PLANNED_WEIGHT,
    POLL_INTERVAL,
    RELOAD_OK,
    RELOAD_TIME,
    BUILD_INFO,
)


def data_families() -> tuple[Family, ...]:
    return tuple(fam for c in COLLECTORS.values() for fam in c.families)


def all_families() -> tuple[Family, ...]:
    """Every family this exporter can expose, in exposition order (the metrics reference)."""
    return (*data_families(), *ACCOUNT_FAMILIES, *GLOBAL_FAMILIES)


def _global_values(status: ExporterStatus) -> dict[str, float]:
    return {
        USED_WEIGHT.name: status.used_weight_1m,
        CLOCK_OFFSET.name: status.clock_offset_seconds,
        PLANNED_WEIGHT.name: status.planned_weight_per_minute,
        POLL_INTERVAL.name: status.poll_interval_seconds,
        RELOAD_OK.name: 1.0 if status.reload_successful else 0.0,
        RELOAD_TIME.name: status.reload_success_time,
    }


@dataclass(frozen=True)
class Published:
    """One finished exposition: the text, its gzip, and until when its data is all fresh."""

    body: bytes
    gzip: bytes
    version: int
    valid_until: float


class Renderer:
    # Publishing coalesces the polls that land within this gap, so many accounts cost one join
    # and one gzip, not one each. On a big store the gap grows to PUBLISH_SHARE times the time
    # one publish takes, so publishing never takes more than ~5% of a core (1,000 accounts:
    # about 80 ms a publish, one every 1.6 s; their data is polled once a minute anyway).
    MIN_GAP_SECONDS = 0.25
    PUBLISH_SHARE = 20

    def __init__(self, store: Store) -> None:
        self.store = store
        self._data_families = data_families()
        self._headers = {fam.name: fam.header() for fam in all_families()}
        self._version = -1
        self._valid_until = -math.inf
        self._body = b""
        self.published: Published | None = None
        self._dirty = asyncio.Event()
        self._min_gap = self.MIN_GAP_SECONDS
        store.listeners.append(self._dirty.set)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StoreCollector(store, self._data_families))

    def text(self, now: float) -> bytes:
        """The current text exposition, built now if anything changed since the last build."""
        if self._version != self.store.version or now >= self._valid_until:
            self._body, self._valid_until = self._build(now)
            self._version = self.store.version
        return self._body

    def serve(self, now: float, *, gzip_ok: bool) -> tuple[bytes, bool]:
        """What a scrape sends, and whether it is gzipped: the latest published exposition.

        It may be a few hundred milliseconds behind the newest poll (never mixing two polls of
        an account); before the first publish, or in the instant data turns stale and the
        publisher has not caught up, the current text is built here, uncompressed.
        """
        published = self.published
        if published is None or now >= published.valid_until:
            return self.text(now), False
        return (published.gzip, True) if gzip_ok else (published.body, False)

    async def publish(self) -> None:
        started = time.perf_counter()
        now = time.time()
        version = self.store.version
        body = self.text(now)
        compressed = await asyncio.get_running_loop().run_in_executor(None, _compress, body)
        self.published = Published(body, compressed, version, self._valid_until)
        spent = time.perf_counter() - started
        self._min_gap = max(self.MIN_GAP_SECONDS, self.PUBLISH_SHARE * spent)

    async def run(self) -> None:
        """Publish after changes (coalesced) and when some data turns stale."""
        while True:
            published = self.published
            wait = None
            if published is not None and published.valid_until != math.inf:
                wait = max(0.0, published.valid_until - time.time())
            # Not wait_for: on Python 3.11 it swallows a cancel that meets a set event, and
            # Exporter.stop() then waits for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.publish()
            except Exception:  # the next change retries; scrapes fall back to text()
                log.exception("publishing the exposition failed")
            await asyncio.sleep(self._min_gap)

    def openmetrics(self) -> bytes:
        return openmetrics.generate_latest(self.registry)

    def _build(self, now: float) -> tuple[bytes, float]:
        store, stale_after = self.store, self.store.stale_after
        accounts = list(store.accounts.values())
        valid_until = math.inf
        fresh_by_account = []
        for acc in accounts:
            fresh = acc.fresh_data(now, stale_after)
            for d in fresh:
                valid_until = min(valid_until, d.time + stale_after)
            fresh_by_account.append(fresh)
        parts: list[bytes] = []
        headers = self._headers
        for fam in self._data_families:
            frags = [
                f for fresh in fresh_by_account for d in fresh if (f := d.fragments.get(fam.name))
            ]
            if frags:
                parts.append(headers[fam.name])
                parts.extend(frags)
        for fam in ACCOUNT_FAMILIES:
            if accounts:
                parts.append(headers[fam.name])
                parts.extend(acc.self_fragments[fam.name] for acc in accounts)
        tail = []
        for name, value in _global_values(store.status).items():
            tail.append(f"{self._headers[name].decode()}{name} {format_value(value)}\n")
        tail.append(headers[BUILD_INFO.name].decode())
        tail.append(f'{BUILD_INFO.name}{{version="{store.status.version}"}} 1.0\n')
        parts.append("".join(tail).encode())
        return b"".join(parts), valid_until


class _StoreCollector:
    """The registry path: the same samples as prometheus_client metric families."""

    def __init__(self, store: Store, families: tuple[Family, ...]) -> None:
        self.store = store
        self.families = families

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        store = self.store
        accounts = list(store.accounts.values())
        fresh = {acc.name: acc.fresh_data(now, store.stale_after) for acc in accounts}
        for fam in self.families:
            metric = GaugeMetricFamily(fam.name, fam.help, labels=("account", *fam.labels))
            for acc in accounts:
                for d in fresh[acc.name]:
                    for labels, value in d.samples.get(fam.name, ()):
                        metric.add_metric((acc.name, *labels), value)
            if metric.samples:
                yield metric
        rows_by_account = {acc.name: acc.health_rows() for acc in accounts}
        for fam in ACCOUNT_FAMILIES:
            if not accounts:
                continue
            labels = ("account", *fam.labels)
            if fam is POLL_DURATION:
                hist = HistogramMetricFamily(fam.name, fam.help, labels=labels)
                for acc in accounts:
                    for c in acc.collectors:
                        h = acc.health[c]
                        hist.add_metric((acc.name, c), h.cumulative_buckets(), h.duration_sum)
                yield hist
                continue
            kind = CounterMetricFamily if fam.type == "counter" else GaugeMetricFamily
            metric = kind(fam.name, fam.help, labels=labels)
            for acc in accounts:
                for values, value in rows_by_account[acc.name][fam.name]:
                    metric.add_metric((acc.name, *values), value)
            yield metric
        for name, value in _global_values(store.status).items():
            fam = next(f for f in GLOBAL_FAMILIES if f.name == name)
            yield GaugeMetricFamily(name, fam.help, value=value)
        info = GaugeMetricFamily(BUILD_INFO.name, BUILD_INFO.help, labels=("version",))
        info.add_metric((store.status.version,), 1.0)
        yield info


def _compress(body: bytes) -> bytes:
    # Level 1: a quarter of level 6's CPU for a body about a fifth larger.
    return gzip.compress(body, compresslevel=1, mtime=0)
