"""Publishing the exposition: every format a scrape can ask for, built after polls, off the loop.

Sample lines are rendered once per poll (``snapshot``). The publisher (``Renderer.run``) joins
them under the headers of each format that scrapers have asked for recently (the Prometheus
text format, OpenMetrics), gzips each where gzip was asked, in a worker thread, and swaps the
finished bytes in. A scrape only picks finished bytes: it never builds, never compresses, and
waits (without blocking the loop) only for a format's very first build or in the instant data
turns stale. Publishes are coalesced: at most one per ``MIN_GAP_SECONDS``, per a share of the
scrape interval seen, and per ``PUBLISH_SHARE`` times the build's own cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import math
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import structlog
from prometheus_client.process_collector import ProcessCollector

from exporter.collectors import COLLECTORS
from exporter.metrics import OPENMETRICS_EOF, Family, collect_families, render_plain
from exporter.negotiation import OPENMETRICS, TEXT
from exporter.process_poll import PROCESS_FAMILIES, ProcessData
from exporter.self_metrics import GLOBAL_FAMILIES, global_sections
from exporter.snapshot import (
    ACCOUNT_FAMILIES,
    DATA_AGE,
    CollectorData,
    ExporterStatus,
    Store,
    data_age_lines,
)
from exporter.stream.connection import CONNECTION_FAMILIES
from exporter.stream.marks import MARKET_STREAM_FAMILIES
from exporter.stream.state import STREAM_FAMILIES

log = structlog.get_logger("exporter.render")

# Every family this exporter can expose, from the modules that declare them, in exposition order:
# the collectors' data, the per-account self metrics, the streams', the market streams', the
# process-wide polls' and the process-wide status.
_DATA_FAMILIES = collect_families(*(c.families for c in COLLECTORS.values()))
_STREAM_FAMILIES = collect_families(STREAM_FAMILIES, CONNECTION_FAMILIES)
_PROCESS_FAMILIES = collect_families(PROCESS_FAMILIES)
_FAMILIES = collect_families(
    _DATA_FAMILIES,
    ACCOUNT_FAMILIES,
    (DATA_AGE,),
    _STREAM_FAMILIES,
    MARKET_STREAM_FAMILIES,
    _PROCESS_FAMILIES,
    GLOBAL_FAMILIES,
)


def all_families() -> tuple[Family, ...]:
    """Every family this exporter can expose, in exposition order (the metrics reference)."""
    return _FAMILIES


@dataclass(frozen=True)
class Published:
    """One finished exposition in one format: its bytes, its gzip if asked, and its validity."""

    format: str
    body: bytes
    gzip: bytes | None
    version: int  # the store version it includes
    valid_until: float  # wall clock: the first instant some of its data is stale


@dataclass(frozen=True)
class AccountView:
    """What a build needs of one account, taken on the loop: references to immutable data."""

    data: tuple[CollectorData, ...]
    self_fragments: Mapping[str, bytes]
    stream_fragments: Mapping[str, bytes]
    label: str = ""
    newest: Mapping[str, int] | None = None  # collector -> its newest value (ms, Binance's clock)


class ProcessSource(Protocol):
    """A process-wide poller (``exporter.process_poll``): what it last published."""

    published: ProcessData


class ExpositionUnavailable(Exception):
    """No exposition could be built (the publisher keeps failing); the scrape gets a 503."""


class Renderer:
    # Publishing coalesces the polls that land within this gap, so many accounts cost one join
    # and one gzip, not one each. On a big store the gap grows to PUBLISH_SHARE times the time
    # one publish takes, so publishing never takes more than ~5% of a core; and to a share of
    # the interval between scrapes, so data is published a few times per scrape, not per poll.
    MIN_GAP_SECONDS = 0.25
    PUBLISH_SHARE = 20
    SCRAPE_SHARE = 4
    MAX_SCRAPE_GAP_SECONDS = 2.0
    # A format (or its gzip) nobody asked for in this long is no longer built.
    DEMAND_SECONDS = 600.0
    # With no poll and no event at all, the exposition is still built anew this often: the
    # process metrics and each collector's data age are computed at the build, so this is how
    # far behind they may be when read (the gap above aside).
    REFRESH_SECONDS = 1.0
    WAIT_ROUNDS = 3  # publishes a scrape waits for before it gives up with a 503

    def __init__(self, store: Store) -> None:
        self.store = store
        self._headers = {
            TEXT: {fam.name: fam.header() for fam in _FAMILIES},
            OPENMETRICS: {fam.name: fam.openmetrics_header() for fam in _FAMILIES},
        }
        self.published: dict[str, Published] = {}
        # The market streams' series (process-wide), by family name; replaced, never mutated.
        self.market_fragments: Mapping[str, bytes] = {}
        # The process-wide pollers running (``app`` adds and removes them).
        self.process_polls: list[ProcessSource] = []
        self.builds = 0  # publishes done: a scrape never adds one (tests check it)
        self._demand: dict[tuple[str, bool], float] = {}  # (format, gzip) -> monotonic
        self._wake = asyncio.Event()
        self._round: asyncio.Future[None] | None = None
        self._gap = self.MIN_GAP_SECONDS
        self._scrape_interval: float | None = None
        self._last_scrape: float | None = None
        self._last_publish = -math.inf  # monotonic
        self._process = ProcessCollector(registry=None)
        # One worker: builds never overlap, and never queue behind other executor work.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="publisher")
        store.listeners.append(self._wake.set)

    async def serve(self, fmt: str, *, gzip_ok: bool) -> tuple[bytes, bool]:
        """The latest published exposition in ``fmt``, and whether it is the gzip.

        It may be a moment behind the newest poll (never mixing two polls of a collector). Only
        a format's first scrape, or one in the instant some data turns stale, waits for the
        publisher; asking for gzip the first time gets the plain body while its gzip is made.
        """
        now = time.monotonic()
        self._note_scrape(now)
        self._demand[(fmt, gzip_ok)] = now
        for _ in range(self.WAIT_ROUNDS):
            published = self.published.get(fmt)
            if published is not None and time.time() < published.valid_until:
                if not gzip_ok:
                    return published.body, False
                if published.gzip is not None:
                    return published.gzip, True
                self._wake.set()  # the next publish makes the gzip
                return published.body, False
            await self._next_round()
        raise ExpositionUnavailable(f"no {fmt} exposition could be published")

    def _note_scrape(self, now: float) -> None:
        if self._last_scrape is not None:
            gap = now - self._last_scrape
            previous = self._scrape_interval
            self._scrape_interval = gap if previous is None else 0.8 * previous + 0.2 * gap
        self._last_scrape = now

    async def _next_round(self) -> None:
        if self._round is None or self._round.done():
            self._round = asyncio.get_running_loop().create_future()
        round_ = self._round
        self._wake.set()
        await asyncio.shield(round_)

    def wanted(self, now: float | None = None) -> dict[str, bool]:
        """Formats asked for within DEMAND_SECONDS, each with whether its gzip was asked."""
        now = time.monotonic() if now is None else now
        out: dict[str, bool] = {}
        for (fmt, gz), at in list(self._demand.items()):
            if now - at > self.DEMAND_SECONDS:
                del self._demand[(fmt, gz)]
                continue
            out[fmt] = out.get(fmt, False) or gz
        return out

    def _up_to_date(self, wanted: dict[str, bool]) -> bool:
        now, version = time.time(), self.store.version
        if time.monotonic() - self._last_publish >= self.REFRESH_SECONDS:
            return False
        for fmt, gz in wanted.items():
            p = self.published.get(fmt)
            if p is None or p.version != version or now >= p.valid_until:
                return False
            if gz and p.gzip is None:
                return False
        return True

    async def publish(self, wanted: dict[str, bool] | None = None) -> None:
        """Build ``wanted`` (default: the formats in demand) off the loop and swap them in."""
        wanted = self.wanted() if wanted is None else wanted
        if not wanted:
            return
        started = time.perf_counter()
        store = self.store
        version = store.version
        views = [
            AccountView(
                tuple(acc.data.values()),
                acc.self_fragments,
                acc.stream_fragments,
                acc.label,
                acc.ages(),
            )
            for acc in store.accounts.values()
        ]
        status = dataclasses.replace(store.status)
        process = [p.published for p in self.process_polls]
        loop = asyncio.get_running_loop()
        built, valid_until = await loop.run_in_executor(
            self._executor,
            self._build,
            views,
            self.market_fragments,
            status,
            time.time(),
            wanted,
            process,
        )
        for fmt, (body, compressed) in built.items():
            current = self.published.get(fmt)
            if current is None or current.version <= version:  # never swap in older data
                self.published[fmt] = Published(fmt, body, compressed, version, valid_until)
        self.builds += 1
        self._last_publish = time.monotonic()
        spent = time.perf_counter() - started
        self._gap = max(self.MIN_GAP_SECONDS, self.PUBLISH_SHARE * spent, self._scrape_gap())

    def _scrape_gap(self) -> float:
        if self._scrape_interval is None:
            return 0.0
        return min(self.MAX_SCRAPE_GAP_SECONDS, self._scrape_interval / self.SCRAPE_SHARE)

    def _wait_seconds(self) -> float:
        """Until the next forced publish: some data turns stale, or the refresh is due."""
        if not self.published:
            return math.inf
        until = min(p.valid_until for p in self.published.values())
        stale_in = until - time.time()
        refresh_in = self._last_publish + self.REFRESH_SECONDS - time.monotonic()
        return max(0.0, min(stale_in, refresh_in))

    async def run(self) -> None:
        """Publish after changes (coalesced), when data turns stale, and when a scraper waits."""
        try:
            while True:
                wait = self._wait_seconds()
                # Not wait_for: on Python 3.11 it swallows a cancel that meets a set event, and
                # Exporter.stop() then waits for this task forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if wait == math.inf else wait):
                        await self._wake.wait()
                self._wake.clear()
                wanted = self.wanted()
                for fmt in [f for f in self.published if f not in wanted]:
                    del self.published[fmt]  # nobody asks for it: free its bytes
                try:
                    if wanted and not self._up_to_date(wanted):
                        await self.publish(wanted)
                except Exception:  # the next change retries; waiting scrapes may get a 503
                    log.exception("publishing the exposition failed")
                finally:
                    self._finish_round()
                await asyncio.sleep(self._gap)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _finish_round(self) -> None:
        round_, self._round = self._round, None
        if round_ is not None and not round_.done():
            round_.set_result(None)

    # -- the build, in the publisher's thread --------------------------------------------------

    def _build(
        self,
        views: list[AccountView],
        market: Mapping[str, bytes],
        status: ExporterStatus,
        now: float,
        wanted: dict[str, bool],
        process: list[ProcessData] | None = None,
    ) -> tuple[dict[str, tuple[bytes, bytes | None]], float]:
        sections, valid_until = self._sections(views, market, status, now, process or [])
        out: dict[str, tuple[bytes, bytes | None]] = {}
        for fmt, gz in wanted.items():
            headers = self._headers[fmt]
            parts: list[bytes] = []
            for fam, lines in sections:
                parts.append(headers[fam.name] if fam.name in headers else _header(fam, fmt))
                parts.extend(lines)
            if fmt == OPENMETRICS:
                parts.append(OPENMETRICS_EOF)
            body = b"".join(parts)
            out[fmt] = (body, _compress(body) if gz else None)
        return out, valid_until

    def _sections(
        self,
        views: list[AccountView],
        market: Mapping[str, bytes],
        status: ExporterStatus,
        now: float,
        process: list[ProcessData],
    ) -> tuple[list[tuple[Family, list[bytes]]], float]:
        """Each family with samples, in exposition order, and until when all of it is fresh.

        Each collector's data has its own staleness (3 x its own interval by default).
        """
        valid_until = math.inf
        fresh: list[CollectorData] = []
        for view in views:
            for d in view.data:
                if now <= d.valid_until:
                    fresh.append(d)
                    valid_until = min(valid_until, d.valid_until)
        sections: list[tuple[Family, list[bytes]]] = []
        for fam in _DATA_FAMILIES:
            name = fam.name
            frags = [f for d in fresh if (f := d.fragments.get(name))]
            if frags:
                sections.append((fam, frags))
        sections.extend(_account_sections(views, now + status.clock_offset_seconds))
        sections.extend((fam, [f]) for fam in MARKET_STREAM_FAMILIES if (f := market.get(fam.name)))
        fresh_process = [p for p in process if now <= p.valid_until]
        valid_until = min([valid_until, *(p.valid_until for p in fresh_process)])
        for fam in _PROCESS_FAMILIES:
            frags = [f for p in fresh_process if (f := p.rows.get(fam.name))]
            frags += [f for p in process if (f := p.health.get(fam.name))]
            if frags:
                sections.append((fam, frags))
        sections.extend(global_sections(status))
        sections.extend(_process_sections(self._process.collect()))
        return sections, valid_until


def _account_sections(
    views: list[AccountView], server_now: float
) -> list[tuple[Family, list[bytes]]]:
    """The per-account self metrics and data ages (as of ``server_now``, Binance's clock), then
    the stream's series of the accounts that have one."""
    sections = []
    if views:
        for fam in ACCOUNT_FAMILIES:
            sections.append((fam, [v.self_fragments[fam.name] for v in views]))
    ages = [data_age_lines(v.label, v.newest, server_now) for v in views if v.newest]
    if ages:
        sections.append((DATA_AGE, ages))
    for fam in _STREAM_FAMILIES:
        if frags := [f for v in views if (f := v.stream_fragments.get(fam.name))]:
            sections.append((fam, frags))
    return sections


def _header(fam: Family, fmt: str) -> bytes:
    return fam.openmetrics_header() if fmt == OPENMETRICS else fam.header()


def _process_sections(metrics: Iterable) -> list[tuple[Family, list[bytes]]]:
    """prometheus_client's process_* metrics (read from /proc) as sections of our exposition."""
    out = []
    for metric in metrics:
        name = metric.name + ("_total" if metric.type == "counter" else "")
        lines = [render_plain(s.name, s.value).encode() for s in metric.samples]
        if lines:
            out.append((Family(name, metric.documentation, (), metric.type), lines))
    return out


def _compress(body: bytes) -> bytes:
    # Level 1: a quarter of level 6's CPU for a body about a fifth larger.
    return gzip.compress(body, compresslevel=1, mtime=0)
