"""Per-account results: the latest data of each collector and the exporter's own health counters.

Everything runs on one event loop, so a scrape reads one consistent state without locks; each
piece of it has one writer, and the renderer (``exporter.render``) only reads:

- the scheduler (``exporter.scheduler``): ``Store.accounts`` (which states exist: at start and
  when it applies a reload, rebuilding a state for a new collector list), and in each
  ``AccountState`` the collectors' polls (through ``set_data``), ``provided``, ``memory``
  (created there; the collector's fetch strategy and parse update the object they are handed),
  ``health``, ``self_fragments`` and the roll-up (``up``, ``last_success``, ``ever_succeeded``,
  ``last_error``); in ``ExporterStatus``, ``used_weight_1m`` and ``clock_offset_seconds``;
- the stream manager (``exporter.stream.manager``): each account's ``stream_fragments``, and the
  values its events push (through ``push``), and the forced fills they carry into the
  force-order collectors' ledgers in ``memory`` (``ForceOrderLedger.fill``: the one record of the
  orders counted, which the polls' parse reads too); the mark prices' listener
  (``exporter.stream.mark_values``): the marks and PnL it pushes (through ``push`` too);
- ``AccountState._serve`` alone: the served ``data``, merged from both by ``exporter.fresh``
  (newest wins by Binance's clock). A poll's ``set_data`` also drops the pushed values it
  overtakes (``Pushes.overtaken``): they could never win again;
- the reload path (``exporter.app``): the rest of ``ExporterStatus`` (``reload_*``, the planned
  weight, the poll interval, the account counts; the shard at start).

A poll swaps in new immutable ``CollectorData`` and re-renders the account's text fragments, so
a scrape never mixes two polls of a collector; an event re-renders only the families it touched.
Every writer calls ``Store.changed`` after it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from exporter.binance.errors import REASONS
from exporter.collectors import Provided
from exporter.collectors._force_orders import ForcedFill, ForceOrderLedger
from exporter.fresh import Effect, Pushes, merge
from exporter.metrics import (
    Family,
    Row,
    Samples,
    escape_label_value,
    render_histogram,
    render_rows,
)

# Poll durations: from a fast loopback reply to a request that hit the timeout.
DURATION_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

UP = Family(
    "binance_pm_exporter_up",
    "1 if the latest request of every collector of the account succeeded.",
    (),
)
LAST_SUCCESS = Family(
    "binance_pm_exporter_last_success_timestamp_seconds",
    "When a poll last left every collector of the account succeeded (0: never).",
    (),
)
COLLECTOR_UP = Family(
    "binance_pm_exporter_collector_up",
    "1 if the collector's last request for the account succeeded.",
    ("collector",),
)
COLLECTOR_LAST_SUCCESS = Family(
    "binance_pm_exporter_collector_last_success_timestamp_seconds",
    "When the collector last succeeded for the account (0: never).",
    ("collector",),
)
POLL_DURATION = Family(
    "binance_pm_exporter_poll_duration_seconds",
    "Time taken by one collector's request and parse.",
    ("collector",),
    "histogram",
)
POLL_ERRORS = Family(
    "binance_pm_exporter_poll_errors_total",
    "Failed requests by collector and reason.",
    ("collector", "reason"),
    "counter",
)
SKIPPED = Family(
    "binance_pm_exporter_skipped_entries_total",
    "Malformed or duplicate asset/position entries left out of otherwise good replies.",
    ("collector",),
    "counter",
)
SKIPPED_FIELDS = Family(
    "binance_pm_exporter_skipped_fields_total",
    "Unreadable fields (not a finite decimal, or a documented field missing) left out of "
    "entries that were exported.",
    ("collector",),
    "counter",
)
ENDPOINT_FALLBACKS = Family(
    "binance_pm_exporter_endpoint_fallbacks_total",
    "Times Binance answered that the collector's endpoint is retired and the exporter moved the "
    "account to its successor (UM account detail v1 to v2).",
    ("collector",),
    "counter",
)
DATA_AGE = Family(
    "binance_pm_exporter_data_age_seconds",
    "Seconds since the newest value the collector's data holds, polled or pushed by the user "
    "data stream or a market stream, by Binance's clock (computed each time the exposition is "
    "built).",
    ("collector",),
)
ACCOUNT_FAMILIES = (
    UP,
    LAST_SUCCESS,
    COLLECTOR_UP,
    COLLECTOR_LAST_SUCCESS,
    POLL_DURATION,
    POLL_ERRORS,
    SKIPPED,
    SKIPPED_FIELDS,
    ENDPOINT_FALLBACKS,
)


@dataclass(frozen=True)
class CollectorData:
    """What one collector serves: its latest poll merged with the stream's newer values;
    immutable, replaced whole."""

    samples: Samples  # served: the poll's rows, newer stream values in their place
    fragments: dict[str, bytes]  # family name -> rendered sample lines of ``samples``
    time: float  # wall clock of the poll's success
    stale_after: float  # seconds after ``time`` the data is no longer served
    polled: Samples = field(default_factory=dict)  # the poll's own rows
    families: tuple[Family, ...] = ()
    polled_ms: int = 0  # Binance's clock when the poll was sent
    newest_ms: int = 0  # Binance's clock of the newest value served, polled or pushed

    @property
    def valid_until(self) -> float:
        return self.time + self.stale_after


@dataclass
class CollectorHealth:
    up: bool = False
    last_success: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    duration_sum: float = 0.0
    duration_count: int = 0
    skipped: int = 0
    skipped_fields: int = 0
    failure_logged: bool = False  # the current run of failures has had its warning
    on_successor: bool = False  # Binance retired the endpoint: its successor is polled
    fallbacks: int = 0
    # A request of it has settled, a success or a classified failure (readiness waits for it).
    attempted: bool = False

    def observe(self, seconds: float) -> None:
        self.duration_sum += seconds
        self.duration_count += 1
        i = bisect.bisect_left(DURATION_BUCKETS, seconds)
        if i < len(self.buckets):
            self.buckets[i] += 1

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for bound, n in zip(DURATION_BUCKETS, self.buckets, strict=True):
            total += n
            out.append((_le(bound), float(total)))
        out.append(("+Inf", float(self.duration_count)))
        return out


def _le(bound: float) -> str:
    return repr(float(bound))


class AccountState:
    """Everything the exporter knows about one account."""

    def __init__(self, name: str, collectors: tuple[str, ...]) -> None:
        self.name = name
        self.label = f'account="{escape_label_value(name)}"'
        self.collectors = collectors
        self.data: dict[str, CollectorData] = {}
        self.health = {c: CollectorHealth() for c in collectors}
        # What each collector's fetch strategy keeps across polls (``FetchStrategy.new_memory``).
        self.memory: dict[str, object] = {}
        self.up = False
        self.last_success = 0.0
        self.last_error: str | None = None
        self.last_error_time = 0.0
        self.ever_succeeded = False
        self.self_fragments: dict[str, bytes] = {}
        # What each account-detail collector last exported (its positions), for the collectors
        # that follow it (``exporter.follow``): kept between polls, since they may poll at other
        # intervals.
        self.provided: dict[str, Provided | None] = {}
        # exporter.stream's series, by family; empty for an account without the stream.
        self.stream_fragments: dict[str, bytes] = {}
        # The stream's values of the collectors' series no poll has overtaken yet.
        self.pushes = Pushes()
        self.render_health()

    def with_collectors(self, collectors: tuple[str, ...]) -> AccountState:
        """A copy for a new collector list, keeping what the kept collectors have."""
        state = AccountState(self.name, collectors)
        for name in collectors:
            if name in self.health:
                state.health[name] = self.health[name]
            if name in self.data:
                state.data[name] = self.data[name]
            if name in self.provided:
                state.provided[name] = self.provided[name]
            if name in self.memory:
                state.memory[name] = self.memory[name]
        state.up, state.last_success, state.ever_succeeded = False, self.last_success, False
        state.last_error, state.last_error_time = self.last_error, self.last_error_time
        state.stream_fragments = self.stream_fragments
        state.pushes = self.pushes
        state.render_health()
        return state

    def set_data(
        self,
        collector: str,
        samples: Samples,
        families: tuple[Family, ...],
        now: float,
        stale_after: float,
        polled_ms: int | None = None,
    ) -> None:
        """A poll of ``collector`` (sent at ``polled_ms`` on Binance's clock; default ``now``),
        served with the stream's newer values."""
        if polled_ms is None:
            polled_ms = int(now * 1000)
        self.pushes.overtaken(collector, polled_ms)
        polled = CollectorData(samples, {}, now, stale_after, samples, families, polled_ms)
        self._serve(collector, polled, None)

    def push(self, time_ms: int, effects: tuple[Effect | ForcedFill, ...]) -> None:
        """An event's values (at ``time_ms`` on Binance's clock): the families they touch are
        served anew, where newer than the poll; forced fills count in their collector's ledger."""
        wanted = [e for e in effects if e.collector in self.health]
        fills = [e for e in wanted if isinstance(e, ForcedFill)]
        values = [e for e in wanted if not isinstance(e, ForcedFill)]
        for collector, families in self.pushes.add(time_ms, values).items():
            served = self.data.get(collector)
            if served is not None:
                self._serve(collector, served, families)
        for fill in fills:
            self._count_fill(fill)

    def _count_fill(self, fill: ForcedFill) -> None:
        """A forced fill into the force-order collector's ledger (the one record of which
        orders were counted, shared with its polls); the counters served at once when the
        collector has served data, else with its first poll."""
        ledger = self.memory.get(fill.collector)
        if ledger is None:  # the stream is first: the ledger starts now, as at a first poll
            ledger = self.memory[fill.collector] = ForceOrderLedger()
        if not isinstance(ledger, ForceOrderLedger):
            return
        if not ledger.fill(fill.order_id, fill.key, fill.quantity, fill.time_ms):
            return
        served = self.data.get(fill.collector)
        if served is not None:
            counters = ledger.samples()
            base = replace(served, polled={**served.polled, **counters})
            self._serve(fill.collector, base, set(counters))

    def _serve(self, collector: str, base: CollectorData, only: set[str] | None) -> None:
        """The one writer of ``data``: ``base``'s poll merged with the pushed values, the
        families in ``only`` (None: all) merged and rendered anew."""
        merged, pushed_ms = merge(
            base.polled, base.families, base.polled_ms, self.pushes, collector, only
        )
        if only is None:
            samples, fragments = merged, {}
            newest = max(base.polled_ms, pushed_ms)
        else:
            samples, fragments = {**base.samples, **merged}, dict(base.fragments)
            newest = max(base.newest_ms, pushed_ms)
        caches: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {}
        for fam in base.families:
            if fam.name not in merged:
                continue
            rows = merged[fam.name]
            if rows:
                cache = caches.setdefault(fam.labels, {})
                text = render_rows(fam.name, self.label, fam.labels, rows, cache)
                fragments[fam.name] = text.encode()
            else:
                fragments.pop(fam.name, None)
        self.data[collector] = CollectorData(
            samples,
            fragments,
            base.time,
            base.stale_after,
            base.polled,
            base.families,
            base.polled_ms,
            newest,
        )

    def ages(self) -> dict[str, int]:
        """Each collector's newest value time (Binance's clock, ms), for the data-age gauge."""
        return {name: data.newest_ms for name, data in self.data.items()}

    def health_rows(self) -> dict[str, list[Row]]:
        """Rows of the per-account self metrics (histograms rendered separately)."""
        h = self.health
        return {
            UP.name: [((), 1.0 if self.up else 0.0)],
            LAST_SUCCESS.name: [((), self.last_success)],
            COLLECTOR_UP.name: [((c,), 1.0 if h[c].up else 0.0) for c in self.collectors],
            COLLECTOR_LAST_SUCCESS.name: [((c,), h[c].last_success) for c in self.collectors],
            POLL_ERRORS.name: [
                ((c, r), float(n)) for c in self.collectors for r, n in h[c].errors.items()
            ],
            SKIPPED.name: [((c,), float(h[c].skipped)) for c in self.collectors],
            SKIPPED_FIELDS.name: [((c,), float(h[c].skipped_fields)) for c in self.collectors],
            ENDPOINT_FALLBACKS.name: [((c,), float(h[c].fallbacks)) for c in self.collectors],
        }

    def render_health(self) -> None:
        rows = self.health_rows()
        frags = {
            fam.name: render_rows(fam.name, self.label, fam.labels, rows[fam.name]).encode()
            for fam in ACCOUNT_FAMILIES
            if fam.name in rows
        }
        histograms = []
        for c in self.collectors:
            h = self.health[c]
            prefix = f'{self.label},collector="{c}"'
            histograms.append(
                render_histogram(
                    POLL_DURATION.name,
                    prefix,
                    h.cumulative_buckets(),
                    h.duration_sum,
                    h.duration_count,
                )
            )
        frags[POLL_DURATION.name] = "".join(histograms).encode()
        self.self_fragments = frags


def data_age_lines(label: str, newest: Mapping[str, int], server_now: float) -> bytes:
    """``binance_pm_exporter_data_age_seconds`` of one account at ``server_now`` (Binance's
    clock): computed when the exposition is built, so it is as true as the publish is recent.

    Past a collector's stale_after its data is no longer served, but its age keeps growing, so
    an alert on the age fires rather than going silent.
    """
    rows: list[Row] = [
        ((name,), max(0.0, server_now - ms / 1000)) for name, ms in newest.items() if ms
    ]
    return render_rows(DATA_AGE.name, label, DATA_AGE.labels, rows).encode()


@dataclass
class ExporterStatus:
    """Process-wide values, updated by the scheduler (used weight, clock offset) and the reload
    path (the rest)."""

    version: str
    planned_weight_per_minute: float = 0.0
    poll_interval_seconds: float = 0.0
    used_weight_1m: float = 0.0
    clock_offset_seconds: float = 0.0
    reload_successful: bool = True
    reload_success_time: float = 0.0
    shard_index: int = 0
    shard_count: int = 1
    accounts_configured: int = 0
    accounts_owned: int = 0


class Store:
    """The accounts in config order plus a version that changes with every published poll."""

    def __init__(self, status: ExporterStatus) -> None:
        self.status = status
        self.accounts: dict[str, AccountState] = {}
        self.version = 0
        self.listeners: list[Callable[[], None]] = []  # told of every change (the renderer)

    def changed(self) -> None:
        self.version += 1
        for listener in self.listeners:
            listener()
