"""The user data stream's event kinds, in one table: what each frame is and what it does.

One ``EventKind`` per event type (per book for ACCOUNT_UPDATE, whose ``fs`` says UM or CM): the
frame's ``e``, the function that parses a frame into its typed event, the tally that counts it on
the account's ``StreamState`` (and so the families it feeds), and the collectors whose figures it
changes, polled early (``exporter.stream.triggers``). Adding an event type is its event class,
parse function, families and tally below, one entry in ``KINDS``, and its test.

Field names are Binance's (developers.binance.com, Portfolio Margin "User Data Streams":
riskLevelChange, ACCOUNT_UPDATE, liabilityChange, listenKeyExpired).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from exporter.metrics import Family, Samples
from exporter.stream.events import (
    BadFrame,
    Frame,
    decimal_field,
    decode_frame,
    event_time,
    integer_field,
    name_field,
    unknown,
)


class Tally(Protocol):
    """One kind's counters on an account's stream, and their rows by family name."""

    FAMILIES: ClassVar[tuple[Family, ...]]

    def count(self, event: Any) -> None: ...

    def rows(self) -> Samples: ...


E = TypeVar("E")


@dataclass(frozen=True)
class EventKind(Generic[E]):
    event_type: str  # the frame's ``e``
    parse: Callable[[Frame], E]  # raises BadFrame
    # Counts the event (one instance per account, shared by the kinds that name it); None: the
    # event only moves the stream's last-event time.
    tally: type[Tally] | None = None
    refreshes: tuple[str, ...] = ()  # collectors whose figures the event says have changed
    book: str | None = None  # ACCOUNT_UPDATE's ``fs``: one entry per book

    @property
    def families(self) -> tuple[Family, ...]:
        return () if self.tally is None else self.tally.FAMILIES


# -- riskLevelChange: uniMMR crossed a level --------------------------------------------------

RISK_LEVELS = ("MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION")

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


@dataclass(frozen=True)
class RiskLevelChange:
    time_ms: int
    level: str
    uni_mmr: float


def parse_risk_level_change(data: Frame) -> RiskLevelChange:
    return RiskLevelChange(event_time(data), name_field(data, "s"), float(decimal_field(data, "u")))


class RiskTally:
    FAMILIES: ClassVar[tuple[Family, ...]] = (RISK_EVENTS, RISK_UNI_MMR, RISK_TIME)

    def __init__(self) -> None:
        self.events: dict[str, int] = dict.fromkeys(RISK_LEVELS, 0)
        self.last_uni_mmr: float | None = None
        self.last_time_ms = -1

    def count(self, event: RiskLevelChange) -> None:
        self.events[event.level] = self.events.get(event.level, 0) + 1
        if event.time_ms >= self.last_time_ms:  # Binance: order updates by E
            self.last_time_ms, self.last_uni_mmr = event.time_ms, event.uni_mmr

    def rows(self) -> Samples:
        out: Samples = {
            RISK_EVENTS.name: [((level,), float(n)) for level, n in self.events.items()]
        }
        if self.last_uni_mmr is not None:  # no series before the first event
            out[RISK_UNI_MMR.name] = [((), self.last_uni_mmr)]
            out[RISK_TIME.name] = [((), self.last_time_ms / 1000)]
        return out


# -- ACCOUNT_UPDATE: balance changes of the UM or the COIN-M book -----------------------------

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


@dataclass(frozen=True)
class AccountUpdate:
    time_ms: int
    book: str  # UM or CM (``fs``)
    reason: str  # ``a.m``: ORDER, FUNDING_FEE, INSURANCE_CLEAR, AUTO_EXCHANGE, ...
    changes: tuple[tuple[str, Decimal], ...]  # (asset, ``bc``) per balance entry


def parse_account_update(data: Frame) -> AccountUpdate:
    """Either book's: ``parse_frame`` has picked the entry by ``fs``."""
    update = data.get("a")
    if not isinstance(update, dict):
        raise BadFrame("malformed", "ACCOUNT_UPDATE without a")
    balances = update.get("B", [])
    if not isinstance(balances, list):
        raise BadFrame("malformed", "ACCOUNT_UPDATE a.B is not a list")
    changes = []
    for entry in balances:
        if not isinstance(entry, dict):
            raise BadFrame("malformed", "ACCOUNT_UPDATE balance is not an object")
        changes.append((name_field(entry, "a"), decimal_field(entry, "bc")))
    book, reason = name_field(data, "fs"), name_field(update, "m")
    return AccountUpdate(event_time(data), book, reason, tuple(changes))


BalanceKey = tuple[str, str, str]  # (book, asset, reason)


class BalanceTally:
    """Both books in one tally: their rows sort together under one family."""

    FAMILIES: ClassVar[tuple[Family, ...]] = (CREDITED, DEBITED)

    def __init__(self) -> None:
        self.credited: dict[BalanceKey, Decimal] = {}
        self.debited: dict[BalanceKey, Decimal] = {}

    def count(self, event: AccountUpdate) -> None:
        for asset, change in event.changes:
            key = (event.book, asset, event.reason)
            credited = self.credited.setdefault(key, Decimal(0))
            debited = self.debited.setdefault(key, Decimal(0))
            if change > 0:
                self.credited[key] = credited + change
            elif change < 0:
                self.debited[key] = debited - change

    def rows(self) -> Samples:
        return {
            CREDITED.name: [(k, float(v)) for k, v in sorted(self.credited.items())],
            DEBITED.name: [(k, float(v)) for k, v in sorted(self.debited.items())],
        }


# -- liabilityChange: a borrow, or interest on one --------------------------------------------

LIABILITY_EVENTS = Family(
    "binance_pm_liability_change_events_total",
    "liabilityChange events (borrows, interest) by asset and type.",
    ("asset", "type"),
    "counter",
)


@dataclass(frozen=True)
class LiabilityChange:
    time_ms: int
    asset: str
    type: str  # ``t``: BORROW, INTEREST, ...
    transaction_id: int


def parse_liability_change(data: Frame) -> LiabilityChange:
    transaction = integer_field(data, "T", "liabilityChange")
    return LiabilityChange(
        event_time(data), name_field(data, "a"), name_field(data, "t"), transaction
    )


class LiabilityTally:
    FAMILIES: ClassVar[tuple[Family, ...]] = (LIABILITY_EVENTS,)

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], int] = {}

    def count(self, event: LiabilityChange) -> None:
        key = (event.asset, event.type)
        self.events[key] = self.events.get(key, 0) + 1

    def rows(self) -> Samples:
        return {LIABILITY_EVENTS.name: [(k, float(n)) for k, n in sorted(self.events.items())]}


# -- listenKeyExpired: the connection ends and a new listen key is made -----------------------


@dataclass(frozen=True)
class ListenKeyExpired:
    time_ms: int


def parse_listen_key_expired(data: Frame) -> ListenKeyExpired:
    return ListenKeyExpired(event_time(data))


# -- events of the PM stream this exporter reads nothing from: not unknown, just not counted --


@dataclass(frozen=True)
class Ignored:
    type: str


def parse_ignored(data: Frame) -> Ignored:
    return Ignored(data["e"])


KINDS: tuple[EventKind[Any], ...] = (
    EventKind("riskLevelChange", parse_risk_level_change, RiskTally, ("account",)),
    EventKind(
        "ACCOUNT_UPDATE",
        parse_account_update,
        BalanceTally,
        ("um_account", "um_position_risk"),
        book="UM",
    ),
    EventKind(
        "ACCOUNT_UPDATE",
        parse_account_update,
        BalanceTally,
        ("cm_account", "cm_position_risk"),
        book="CM",
    ),
    EventKind("liabilityChange", parse_liability_change, LiabilityTally, ("balance",)),
    EventKind("listenKeyExpired", parse_listen_key_expired),
    EventKind("ORDER_TRADE_UPDATE", parse_ignored),
    EventKind("CONDITIONAL_ORDER_TRADE_UPDATE", parse_ignored),
    EventKind("ACCOUNT_CONFIG_UPDATE", parse_ignored),
    EventKind("TRADE_LITE", parse_ignored),
    EventKind("openOrderLoss", parse_ignored),
    EventKind("executionReport", parse_ignored),
    EventKind("outboundAccountPosition", parse_ignored),
    EventKind("balanceUpdate", parse_ignored),
)


def _tallies() -> tuple[type[Tally], ...]:
    """Each tally once, in table order: the order of the stream's event families."""
    found: dict[type[Tally], None] = {k.tally: None for k in KINDS if k.tally is not None}
    return tuple(found)


TALLIES = _tallies()
EVENT_FAMILIES: tuple[Family, ...] = tuple(fam for tally in TALLIES for fam in tally.FAMILIES)


def _by_type() -> dict[str, tuple[EventKind[Any], ...]]:
    out: dict[str, tuple[EventKind[Any], ...]] = {}
    for kind in KINDS:
        out[kind.event_type] = (*out.get(kind.event_type, ()), kind)
    return out


_BY_TYPE = _by_type()


def parse_frame(text: str | bytes) -> tuple[EventKind[Any], Any]:
    """One text frame as its kind and typed event; raises BadFrame."""
    data = decode_frame(text)
    event_type = data.get("e")
    kinds = _BY_TYPE.get(event_type) if isinstance(event_type, str) else None
    if kinds is None:
        raise unknown(event_type)
    kind = _of_book(kinds, data)
    return kind, kind.parse(data)


def _of_book(kinds: tuple[EventKind[Any], ...], data: Frame) -> EventKind[Any]:
    """The entry of the frame's book (``fs``), for a type with one entry per book."""
    if len(kinds) == 1 and kinds[0].book is None:
        return kinds[0]
    book = data.get("fs")
    for kind in kinds:
        if kind.book == book:
            return kind
    books = " or ".join(str(k.book) for k in kinds)
    raise BadFrame("malformed", f"{kinds[0].event_type} without fs {books}")
