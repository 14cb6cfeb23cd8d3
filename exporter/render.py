"""Exposition of the store: pre-rendered text for the common case, prometheus_client otherwise.

The text format (0.0.4) is assembled from fragments rendered once per poll and cached, with its
gzip, until a poll publishes or some data turns stale. OpenMetrics goes through prometheus_client's
registry and encoder, built from the same samples, so both formats agree (tests check it).
"""

from __future__ import annotations

import asyncio
import gzip
import math
from collections.abc import Iterator

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


class Renderer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._data_families = data_families()
        self._headers = {fam.name: fam.header() for fam in all_families()}
        self._version = -1
        self._valid_until = -math.inf
        self._body = b""
        self._gzip: bytes | None = None  # the gzip of _body, once made
        self._compressing: asyncio.Future[bytes] | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StoreCollector(store, self._data_families))

    def text(self, now: float) -> bytes:
        """The whole text exposition; rebuilt only after a poll or when data turns stale."""
        if self._version != self.store.version or now >= self._valid_until:
            self._body, self._valid_until = self._build(now)
            self._version, self._gzip = self.store.version, None
        return self._body

    def gzipped(self, now: float) -> bytes | None:
        """The gzip of the current text exposition, or None while it is being compressed.

        Compressing megabytes takes tens of milliseconds; zlib releases the GIL, so it runs in a
        thread while scrapes go on. Until it is done a scrape gets the current body
        uncompressed (Content-Encoding is the server's choice), never an older state and never
        a wait.
        """
        body = self.text(now)
        if self._gzip is not None:
            return self._gzip
        if self._compressing is None:
            loop = asyncio.get_running_loop()
            self._compressing = loop.run_in_executor(None, _compress, body)
            self._compressing.add_done_callback(lambda f, b=body: self._compressed(b, f))
        return None

    def _compressed(self, body: bytes, future: asyncio.Future[bytes]) -> None:
        self._compressing = None
        if not future.cancelled() and future.exception() is None and body is self._body:
            self._gzip = future.result()

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
        parts: list[str] = []
        headers = self._headers
        for fam in self._data_families:
            frags = [
                f for fresh in fresh_by_account for d in fresh if (f := d.fragments.get(fam.name))
            ]
            if frags:
                parts.append(headers[fam.name].decode())
                parts.extend(frags)
        for fam in ACCOUNT_FAMILIES:
            if accounts:
                parts.append(headers[fam.name].decode())
                parts.extend(acc.self_fragments[fam.name] for acc in accounts)
        for name, value in _global_values(store.status).items():
            parts.append(headers[name].decode())
            parts.append(f"{name} {format_value(value)}\n")
        parts.append(headers[BUILD_INFO.name].decode())
        parts.append(f'{BUILD_INFO.name}{{version="{store.status.version}"}} 1.0\n')
        return "".join(parts).encode(), valid_until


class _StoreCollector:
    """The registry path: the same samples as prometheus_client metric families."""

    def __init__(self, store: Store, families: tuple[Family, ...]) -> None:
        self.store = store
        self.families = families

    def collect(self) -> Iterator[Metric]:
        import time

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
    return gzip.compress(body, compresslevel=6, mtime=0)
