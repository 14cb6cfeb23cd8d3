"""An account's stream series: the event counters, the stream's own health, and their text.

The families are declared here once; ``render`` gives the fragments ``AccountState`` carries in
``stream_fragments`` (absent for accounts without the stream), which the publisher joins like the
per-account self metrics.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Literal, get_args

from exporter.metrics import Family, Row, render_rows
from exporter.stream.events import (
    RISK_LEVELS,
    AccountUpdate,
    BadKind,
    Event,
    LiabilityChange,
    RiskLevelChange,
)

ReconnectReason = Literal[
    "closed",  # Binance (or the network) closed the socket, the 24-hour cut included
    "network",  # the socket failed, or could not be opened
    "silence",  # no frame and no pong for stream_silence_seconds
    "garbage",  # a run of frames that are not JSON events
    "listen_key_expired",  # listenKeyExpired, or a keepalive answered -1125
    "renewal",  # our own fresh connection before Binance's 24-hour cut
    "listen_key",  # POST /papi/v1/listenKey failed
]
RECONNECT_REASONS: tuple[ReconnectReason, ...] = get_args(ReconnectReason)
BAD_KINDS: tuple[BadKind, ...] = get_args(BadKind)

RISK_EVENTS = Family(
    "binance_pm_risk_level_events_total",
    "riskLevelChange events pushed by Binance's user data stream, by level (uniMMR crossed "
    "into MARGIN_CALL, REDUCE_ONLY or FORCE_LIQUIDATION).",
    ("level",),
    "counter",
)
RISK_UNI_MMR = Family(
    "binance_pm_risk_level_last_uni_mmr",
    "uniMMR carried by the latest riskLevelChange event.",
    (),
)
RISK_TIME = Family(
    "binance_pm_risk_level_last_event_timestamp_seconds",
    "Event time (E) of the latest riskLevelChange event.",
    (),
)
CREDITED = Family(
    "binance_pm_balance_credited_total",
    "Sum of the positive balance changes (bc) of ACCOUNT_UPDATE events, by book (UM, CM), "
    "asset and reason (ORDER, FUNDING_FEE, ...).",
    ("book", "asset", "reason"),
    "counter",
)
DEBITED = Family(
    "binance_pm_balance_debited_total",
    "Sum of the negative balance changes (bc) of ACCOUNT_UPDATE events, as a positive amount, "
    "by book, asset and reason.",
    ("book", "asset", "reason"),
    "counter",
)
LIABILITY_EVENTS = Family(
    "binance_pm_liability_change_events_total",
    "liabilityChange events (borrows, interest) by asset and type.",
    ("asset", "type"),
    "counter",
)
STREAM_UP = Family(
    "binance_pm_exporter_stream_up",
    "1 while the account's user data stream is connected.",
    (),
)
STREAM_RECONNECTS = Family(
    "binance_pm_exporter_stream_reconnects_total",
    "Times the user data stream was connected again, by why the previous connection ended.",
    ("reason",),
    "counter",
)
STREAM_LAST_EVENT = Family(
    "binance_pm_exporter_stream_last_event_timestamp_seconds",
    "When the exporter last received an event on the account's stream (0: never).",
    (),
)
STREAM_BAD_FRAMES = Family(
    "binance_pm_exporter_stream_bad_frames_total",
    "Stream frames that could not be counted: malformed, or of an unknown event type.",
    ("kind",),
    "counter",
)
STREAM_FAMILIES = (
    RISK_EVENTS,
    RISK_UNI_MMR,
    RISK_TIME,
    CREDITED,
    DEBITED,
    LIABILITY_EVENTS,
    STREAM_UP,
    STREAM_RECONNECTS,
    STREAM_LAST_EVENT,
    STREAM_BAD_FRAMES,
)

BalanceKey = tuple[str, str, str]  # (book, asset, reason)


class StreamState:
    """Everything one account's stream has counted; the connection is its only writer."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.risk_events: dict[str, int] = dict.fromkeys(RISK_LEVELS, 0)
        self.last_uni_mmr: float | None = None
        self.last_risk_time_ms = -1
        self.credited: dict[BalanceKey, Decimal] = {}
        self.debited: dict[BalanceKey, Decimal] = {}
        self.liability_events: dict[tuple[str, str], int] = {}
        self.up = False
        self.reconnects: dict[ReconnectReason, int] = dict.fromkeys(RECONNECT_REASONS, 0)
        self.last_event_time = 0.0
        self.bad_frames: dict[BadKind, int] = dict.fromkeys(BAD_KINDS, 0)

    def count(self, event: Event, now: float | None = None) -> None:
        """One event into the counters."""
        self.last_event_time = time.time() if now is None else now
        if isinstance(event, RiskLevelChange):
            self.risk_events[event.level] = self.risk_events.get(event.level, 0) + 1
            if event.time_ms >= self.last_risk_time_ms:  # Binance: order updates by E
                self.last_risk_time_ms, self.last_uni_mmr = event.time_ms, event.uni_mmr
        elif isinstance(event, AccountUpdate):
            for asset, change in event.changes:
                key = (event.book, asset, event.reason)
                credited = self.credited.setdefault(key, Decimal(0))
                debited = self.debited.setdefault(key, Decimal(0))
                if change > 0:
                    self.credited[key] = credited + change
                elif change < 0:
                    self.debited[key] = debited - change
        elif isinstance(event, LiabilityChange):
            key2 = (event.asset, event.type)
            self.liability_events[key2] = self.liability_events.get(key2, 0) + 1

    def rows(self) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {
            RISK_EVENTS.name: [((level,), float(n)) for level, n in self.risk_events.items()],
            CREDITED.name: [(k, float(v)) for k, v in sorted(self.credited.items())],
            DEBITED.name: [(k, float(v)) for k, v in sorted(self.debited.items())],
            LIABILITY_EVENTS.name: [
                (k, float(n)) for k, n in sorted(self.liability_events.items())
            ],
            STREAM_UP.name: [((), 1.0 if self.up else 0.0)],
            STREAM_RECONNECTS.name: [((r,), float(n)) for r, n in self.reconnects.items()],
            STREAM_LAST_EVENT.name: [((), self.last_event_time)],
            STREAM_BAD_FRAMES.name: [((k,), float(n)) for k, n in self.bad_frames.items()],
        }
        if self.last_uni_mmr is not None:  # no series before the first event
            out[RISK_UNI_MMR.name] = [((), self.last_uni_mmr)]
            out[RISK_TIME.name] = [((), self.last_risk_time_ms / 1000)]
        return out

    def render(self, label: str) -> dict[str, bytes]:
        """The fragments, by family name, for the account label ``label`` (pre-rendered)."""
        rows = self.rows()
        return {
            fam.name: render_rows(fam.name, label, fam.labels, rows[fam.name]).encode()
            for fam in STREAM_FAMILIES
            if rows.get(fam.name)
        }
