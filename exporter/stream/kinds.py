"""The user data stream's event kinds, in one table: what each frame is and what it does.

One ``EventKind`` per event type (per book for ACCOUNT_UPDATE, whose ``fs`` says UM or CM): the
frame's ``e``, the function that parses a frame into its typed event, the tally that counts it on
the account's ``StreamState`` (and so the families it feeds), the values it carries for the
collectors' gauges (``values``: served at once where newer than the poll, ``exporter.fresh``),
and the collectors whose figures it changes, polled early (``exporter.stream.triggers``). Adding
an event type is its event class, parse function, families and tally below, one entry in
``KINDS``, and its test.

A tally adds a series only for a label set the account's ``LabelBudget`` admits, and says which
rows each event changed, so that ``StreamState`` renders those alone: the cost of an event does
not grow with the series the stream already has.

Field names are Binance's (developers.binance.com, Portfolio Margin "User Data Streams":
riskLevelChange, ACCOUNT_UPDATE, liabilityChange, listenKeyExpired, ORDER_TRADE_UPDATE).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from exporter.collectors._force_orders import ForcedFill
from exporter.fresh import Close, Effect, Push
from exporter.metrics import Family, Samples
from exporter.stream.events import (
    BadFrame,
    Frame,
    asset_field,
    decimal_field,
    decode_frame,
    enum_field,
    event_time,
    integer_field,
    optional_decimal,
    symbol_field,
    transaction_time,
    unknown,
)

# Per account: Binance's syntax alone would let a stream invent a name per event, each a series
# for good (and, before, work on every later event). A PM account holds a few dozen assets, and
# Binance's enums (reasons, types, levels) have a few dozen values.
MAX_ASSETS = 200  # distinct asset label values
MAX_NAMES = 50  # distinct values of each other label (reason, type, level, book)
MAX_LABEL_SETS = 1000  # distinct label sets across the account's tallies


class LabelBudget:
    """The label values one account's stream has admitted, and how many new series it refused.

    A label set is admitted while its new values stay within the caps; past them the event's
    entry is dropped (counted in ``dropped``), and the series already exposed keep counting.
    """

    def __init__(
        self, assets: int = MAX_ASSETS, names: int = MAX_NAMES, label_sets: int = MAX_LABEL_SETS
    ) -> None:
        self._assets, self._names, self._label_sets = assets, names, label_sets
        self.values: dict[str, set[str]] = {}  # label name -> admitted values
        self.label_sets = 0
        self.dropped = 0

    def admit(self, labels: tuple[str, ...], values: tuple[str, ...]) -> bool:
        """Whether a label set new to its tally may become a series; counts a refusal."""
        new = [
            (name, value)
            for name, value in zip(labels, values, strict=True)
            if value not in self.values.get(name, ())
        ]
        fits = self.label_sets < self._label_sets and all(
            len(self.values.get(name, ())) < (self._assets if name == "asset" else self._names)
            for name, _ in new
        )
        if not fits:
            self.dropped += 1
            return False
        for name, value in new:
            self.values.setdefault(name, set()).add(value)
        self.label_sets += 1
        return True


class Tally(Protocol):
    """One kind's counters on an account's stream, and their rows by family name."""

    FAMILIES: ClassVar[tuple[Family, ...]]

    def count(self, event: Any, labels: LabelBudget) -> Samples:
        """Counts ``event``; returns the rows it changed (a new series only if ``labels`` admits
        it)."""
        ...

    def rows(self) -> Samples: ...


E = TypeVar("E")
# An event's values for the collectors' series, and their time on Binance's clock.
Values = tuple[int, tuple[Effect | ForcedFill, ...]]


@dataclass(frozen=True)
class EventKind(Generic[E]):
    event_type: str  # the frame's ``e``
    parse: Callable[[Frame, int], E]  # the frame and the local clock in ms; raises BadFrame
    # Counts the event (one instance per account, shared by the kinds that name it); None: the
    # event only moves the stream's last-event time.
    tally: type[Tally] | None = None
    refreshes: tuple[str, ...] = ()  # collectors whose figures the event says have changed
    book: str | None = None  # ACCOUNT_UPDATE's ``fs``: one entry per book
    values: Callable[[E], Values] | None = None  # what it carries for the collectors' gauges

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
    # Account equity, actual equity and maintenance margin in USD (``eq``, ``ae``, ``m``):
    # documented, served when sent.
    equity: float | None = None
    actual_equity: float | None = None
    maint_margin: float | None = None


def parse_risk_level_change(data: Frame, now_ms: int) -> RiskLevelChange:
    uni_mmr = float(decimal_field(data, "u"))
    eq, ae, m = (_optional_float(data, key) for key in ("eq", "ae", "m"))
    return RiskLevelChange(event_time(data, now_ms), enum_field(data, "s"), uni_mmr, eq, ae, m)


def _optional_float(data: Frame, key: str) -> float | None:
    number = optional_decimal(data, key)
    return None if number is None else float(number)


# The ``account`` collector's families the risk event's figures are served in.
UNI_MMR = "binance_pm_account_uni_mmr"
ACCOUNT_FIGURES = (
    ("equity", "binance_pm_account_equity"),
    ("actual_equity", "binance_pm_account_actual_equity"),
    ("maint_margin", "binance_pm_account_maint_margin"),
)


def risk_values(event: RiskLevelChange) -> Values:
    effects = [Push("account", UNI_MMR, (), event.uni_mmr)]
    for attribute, family in ACCOUNT_FIGURES:
        figure = getattr(event, attribute)
        if figure is not None:
            effects.append(Push("account", family, (), figure))
    return event.time_ms, tuple(effects)


class RiskTally:
    FAMILIES: ClassVar[tuple[Family, ...]] = (RISK_EVENTS, RISK_UNI_MMR, RISK_TIME)

    def __init__(self) -> None:
        self.events: dict[str, int] = dict.fromkeys(RISK_LEVELS, 0)
        self.last_uni_mmr: float | None = None
        self.last_time_ms = -1

    def count(self, event: RiskLevelChange, labels: LabelBudget) -> Samples:
        level = event.level
        if level not in self.events and not labels.admit(RISK_EVENTS.labels, (level,)):
            return {}
        self.events[level] = self.events.get(level, 0) + 1
        changed: Samples = {RISK_EVENTS.name: [((level,), float(self.events[level]))]}
        if event.time_ms >= self.last_time_ms:  # Binance: order updates by E
            self.last_time_ms, self.last_uni_mmr = event.time_ms, event.uni_mmr
            changed[RISK_UNI_MMR.name] = [((), event.uni_mmr)]
            changed[RISK_TIME.name] = [((), event.time_ms / 1000)]
        return changed

    def rows(self) -> Samples:
        out: Samples = {
            RISK_EVENTS.name: [((level,), float(n)) for level, n in self.events.items()]
        }
        if self.last_uni_mmr is not None:  # no series before the first event
            out[RISK_UNI_MMR.name] = [((), self.last_uni_mmr)]
            out[RISK_TIME.name] = [((), self.last_time_ms / 1000)]
        return out


# -- uniMMRDrop: uniMMR fell more than 5% from its reference (PM Pro, once enabled) ------------

UNI_MMR_DROPS = Family(
    "binance_pm_uni_mmr_drop_events_total",
    "uniMMRDrop events: Binance saw uniMMR drop more than 5% from its reference value (PM Pro, "
    "once enabled with POST /papi/v1/unimmr/notification).",
    (),
    "counter",
)


@dataclass(frozen=True)
class UniMMRDrop:
    time_ms: int
    uni_mmr: float  # ``u``: uniMMR after the drop


def parse_uni_mmr_drop(data: Frame, now_ms: int) -> UniMMRDrop:
    return UniMMRDrop(event_time(data, now_ms), float(decimal_field(data, "u")))


class UniMMRDropTally:
    FAMILIES: ClassVar[tuple[Family, ...]] = (UNI_MMR_DROPS,)

    def __init__(self) -> None:
        self.events = 0

    def count(self, event: UniMMRDrop, labels: LabelBudget) -> Samples:
        self.events += 1
        return {UNI_MMR_DROPS.name: [((), float(self.events))]}

    def rows(self) -> Samples:
        return {UNI_MMR_DROPS.name: [((), float(self.events))]}


def uni_mmr_drop_values(event: UniMMRDrop) -> Values:
    return event.time_ms, (Push("account", UNI_MMR, (), event.uni_mmr),)


# -- ACCOUNT_UPDATE: balance changes of the UM or the COIN-M book -----------------------------

# ``bc`` is Binance's "balance change except PnL and commission": funding, transfers,
# insurance clears and auto-exchanges move it, a fill's realized PnL and commission do not.
CREDITED = Family(
    "binance_pm_balance_credited_total",
    "Sum of the positive balance changes (bc: Binance's balance change except PnL and "
    "commission) of ACCOUNT_UPDATE events, by book (UM, CM), asset and reason (ORDER, "
    "FUNDING_FEE, ...). Realized PnL and commission: the income counters "
    "(binance_pm_um_income_*, binance_pm_cm_income_*).",
    ("book", "asset", "reason"),
    "counter",
)
DEBITED = Family(
    "binance_pm_balance_debited_total",
    "Sum of the negative balance changes (bc: except PnL and commission) of ACCOUNT_UPDATE "
    "events, as a positive amount, by book, asset and reason. Realized PnL and commission: "
    "the income counters.",
    ("book", "asset", "reason"),
    "counter",
)


@dataclass(frozen=True)
class Balance:
    asset: str
    change: Decimal  # ``bc``: the balance change except PnL and commission
    wallet: float | None  # ``wb``: the wallet balance after the event
    cross_wallet: float | None  # ``cw``: the cross wallet balance after the event


@dataclass(frozen=True)
class Position:
    symbol: str
    side: str  # ``ps``: BOTH, LONG or SHORT
    amount: float  # ``pa``
    entry_price: float | None  # ``ep``
    unrealized_pnl: float | None  # ``up``


@dataclass(frozen=True)
class AccountUpdate:
    time_ms: int
    book: str  # UM or CM (``fs``)
    reason: str  # ``a.m``: ORDER, FUNDING_FEE, INSURANCE_CLEAR, AUTO_EXCHANGE, ...
    balances: tuple[Balance, ...]
    positions: tuple[Position, ...] = ()
    transaction_ms: int = 0  # ``T``: what REST stamps the entries it changed with

    @property
    def changes(self) -> tuple[tuple[str, Decimal], ...]:
        """(asset, ``bc``) per balance entry."""
        return tuple((b.asset, b.change) for b in self.balances)


def _entries(update: Frame, key: str) -> list[Frame]:
    entries = update.get(key, [])
    if not isinstance(entries, list):
        raise BadFrame("malformed", f"ACCOUNT_UPDATE a.{key} is not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadFrame("malformed", f"ACCOUNT_UPDATE a.{key} entry is not an object")
    return entries


def parse_account_update(data: Frame, now_ms: int) -> AccountUpdate:
    """Either book's: ``parse_frame`` has picked the entry by ``fs``."""
    update = data.get("a")
    if not isinstance(update, dict):
        raise BadFrame("malformed", "ACCOUNT_UPDATE without a")
    balances = tuple(
        Balance(
            asset_field(entry, "a"),
            decimal_field(entry, "bc"),
            _optional_float(entry, "wb"),
            _optional_float(entry, "cw"),
        )
        for entry in _entries(update, "B")
    )
    positions = tuple(
        Position(
            symbol_field(entry, "s"),
            enum_field(entry, "ps"),
            float(decimal_field(entry, "pa")),
            _optional_float(entry, "ep"),
            _optional_float(entry, "up"),
        )
        for entry in _entries(update, "P")
    )
    book, reason = enum_field(data, "fs"), enum_field(update, "m")
    time_ms = event_time(data, now_ms)
    at = transaction_time(data, now_ms, time_ms)
    return AccountUpdate(time_ms, book, reason, balances, positions, at)


def book_values(account: str, prefix: str, wallet: str) -> Callable[[AccountUpdate], Values]:
    """An ACCOUNT_UPDATE's values for one book: ``wb`` into the ``balance`` collector's wallet
    of the book, ``cw`` into the account detail's cross wallet balance, and each position's
    amount, entry price and unrealized PnL into the account detail (a position at 0 is closed:
    gone, as a poll would leave it out). Timed by ``T``, the time REST stamps the entries with,
    so a poll that already holds the transaction is not taken for an older one."""
    cross_wallet = f"{prefix}_asset_cross_wallet_balance"
    amount = f"{prefix}_position_amount"
    entry_price = f"{prefix}_position_entry_price"
    pnl = f"{prefix}_position_unrealized_pnl"

    def values(event: AccountUpdate) -> Values:
        effects: list[Effect] = []
        for b in event.balances:
            if b.wallet is not None:
                effects.append(Push("balance", wallet, (b.asset,), b.wallet))
            if b.cross_wallet is not None:
                effects.append(Push(account, cross_wallet, (b.asset,), b.cross_wallet))
        for p in event.positions:
            key = (p.symbol, p.side)
            if p.amount == 0:
                effects.append(Close(account, key))
                continue
            effects.append(Push(account, amount, key, p.amount))
            if p.entry_price is not None:
                effects.append(Push(account, entry_price, key, p.entry_price))
            if p.unrealized_pnl is not None:
                effects.append(Push(account, pnl, key, p.unrealized_pnl))
        return event.transaction_ms or event.time_ms, tuple(effects)

    return values


um_values = book_values("um_account", "binance_pm_um", "binance_pm_balance_um_wallet_balance")
cm_values = book_values("cm_account", "binance_pm_cm", "binance_pm_balance_cm_wallet_balance")


BalanceKey = tuple[str, str, str]  # (book, asset, reason)


class BalanceTally:
    """Both books in one tally: their rows sort together under one family."""

    FAMILIES: ClassVar[tuple[Family, ...]] = (CREDITED, DEBITED)

    def __init__(self) -> None:
        self.credited: dict[BalanceKey, Decimal] = {}
        self.debited: dict[BalanceKey, Decimal] = {}

    def count(self, event: AccountUpdate, labels: LabelBudget) -> Samples:
        credited: set[BalanceKey] = set()
        debited: set[BalanceKey] = set()
        for asset, change in event.changes:
            key = (event.book, asset, event.reason)
            if key not in self.credited:
                if not labels.admit(CREDITED.labels, key):
                    continue
                self.credited[key] = self.debited[key] = Decimal(0)
                credited.add(key)  # both series appear, at 0 where nothing moved
                debited.add(key)
            if change > 0:
                self.credited[key] += change
                credited.add(key)
            elif change < 0:
                self.debited[key] -= change
                debited.add(key)
        return {
            CREDITED.name: [(k, float(self.credited[k])) for k in credited],
            DEBITED.name: [(k, float(self.debited[k])) for k in debited],
        }

    def rows(self) -> Samples:
        return {
            CREDITED.name: [(k, float(v)) for k, v in sorted(self.credited.items())],
            DEBITED.name: [(k, float(v)) for k, v in sorted(self.debited.items())],
        }


# -- ACCOUNT_UPDATE of a business unit other than UM and CM: recognised, not read ---------------

OTHER_BOOK = "*"  # the entry of every ``fs`` other than the books above
IGNORED_UNITS = Family(
    "binance_pm_exporter_stream_ignored_account_updates_total",
    "ACCOUNT_UPDATE events of a business unit (fs) other than UM and CM: recognised and "
    "ignored, by unit.",
    ("unit",),
    "counter",
)


@dataclass(frozen=True)
class OtherUnitUpdate:
    time_ms: int
    unit: str  # ``fs``


def parse_other_unit_update(data: Frame, now_ms: int) -> OtherUnitUpdate:
    return OtherUnitUpdate(event_time(data, now_ms), enum_field(data, "fs"))


class OtherUnitTally:
    FAMILIES: ClassVar[tuple[Family, ...]] = (IGNORED_UNITS,)

    def __init__(self) -> None:
        self.events: dict[str, int] = {}

    def count(self, event: OtherUnitUpdate, labels: LabelBudget) -> Samples:
        unit = event.unit
        if unit not in self.events and not labels.admit(IGNORED_UNITS.labels, (unit,)):
            return {}
        self.events[unit] = self.events.get(unit, 0) + 1
        return {IGNORED_UNITS.name: [((unit,), float(self.events[unit]))]}

    def rows(self) -> Samples:
        return {IGNORED_UNITS.name: [((u,), float(n)) for u, n in sorted(self.events.items())]}


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
    principal: float | None = None  # ``p``: the asset's cross margin principal
    interest: float | None = None  # ``i``: the interest owed on it
    total: float | None = None  # ``l``: the total liability (principal plus interest)


def parse_liability_change(data: Frame, now_ms: int) -> LiabilityChange:
    transaction = integer_field(data, "T", "liabilityChange")
    asset, type_ = asset_field(data, "a"), enum_field(data, "t")
    p, i, total = (_optional_float(data, key) for key in ("p", "i", "l"))
    return LiabilityChange(event_time(data, now_ms), asset, type_, transaction, p, i, total)


def liability_values(event: LiabilityChange) -> Values:
    """The asset's principal and interest into the ``balance`` collector's loan and interest
    gauges; the total liability has no gauge of its own there (it is their sum)."""
    effects = []
    labels = (event.asset,)
    if event.principal is not None:
        effects.append(Push("balance", BORROWED, labels, event.principal))
    if event.interest is not None:
        effects.append(Push("balance", INTEREST, labels, event.interest))
    return event.time_ms, tuple(effects)


BORROWED = "binance_pm_balance_cross_margin_borrowed"
INTEREST = "binance_pm_balance_cross_margin_interest"


class LiabilityTally:
    FAMILIES: ClassVar[tuple[Family, ...]] = (LIABILITY_EVENTS,)

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], int] = {}

    def count(self, event: LiabilityChange, labels: LabelBudget) -> Samples:
        key = (event.asset, event.type)
        if key not in self.events and not labels.admit(LIABILITY_EVENTS.labels, key):
            return {}
        self.events[key] = self.events.get(key, 0) + 1
        return {LIABILITY_EVENTS.name: [(key, float(self.events[key]))]}

    def rows(self) -> Samples:
        return {LIABILITY_EVENTS.name: [(k, float(n)) for k, n in sorted(self.events.items())]}


# -- balanceUpdate: a Cross Margin wallet movement (deposit, withdrawal, transfer in or out) ----

MARGIN_CREDITED = Family(
    "binance_pm_margin_balance_credited_total",
    "Sum of the positive Cross Margin wallet movements (balanceUpdate d: deposits, transfers "
    "into the Portfolio Margin account), by asset.",
    ("asset",),
    "counter",
)
MARGIN_DEBITED = Family(
    "binance_pm_margin_balance_debited_total",
    "Sum of the negative Cross Margin wallet movements (balanceUpdate d: withdrawals, "
    "transfers out), as a positive amount, by asset.",
    ("asset",),
    "counter",
)


@dataclass(frozen=True)
class MarginBalanceUpdate:
    time_ms: int
    asset: str  # ``a``
    delta: Decimal  # ``d``


def parse_balance_update(data: Frame, now_ms: int) -> MarginBalanceUpdate:
    time_ms = event_time(data, now_ms)
    return MarginBalanceUpdate(time_ms, asset_field(data, "a"), decimal_field(data, "d"))


class MarginBalanceTally:
    FAMILIES: ClassVar[tuple[Family, ...]] = (MARGIN_CREDITED, MARGIN_DEBITED)

    def __init__(self) -> None:
        self.credited: dict[str, Decimal] = {}
        self.debited: dict[str, Decimal] = {}

    def count(self, event: MarginBalanceUpdate, labels: LabelBudget) -> Samples:
        asset = event.asset
        if asset not in self.credited:
            if not labels.admit(MARGIN_CREDITED.labels, (asset,)):
                return {}
            self.credited[asset] = self.debited[asset] = Decimal(0)
        if event.delta > 0:
            self.credited[asset] += event.delta
        elif event.delta < 0:
            self.debited[asset] -= event.delta
        key = (asset,)
        return {
            MARGIN_CREDITED.name: [(key, float(self.credited[asset]))],
            MARGIN_DEBITED.name: [(key, float(self.debited[asset]))],
        }

    def rows(self) -> Samples:
        return {
            MARGIN_CREDITED.name: [((a,), float(v)) for a, v in sorted(self.credited.items())],
            MARGIN_DEBITED.name: [((a,), float(v)) for a, v in sorted(self.debited.items())],
        }


# -- listenKeyExpired: the connection ends and a new listen key is made -----------------------


@dataclass(frozen=True)
class ListenKeyExpired:
    time_ms: int


def parse_listen_key_expired(data: Frame, now_ms: int) -> ListenKeyExpired:
    return ListenKeyExpired(event_time(data, now_ms))


# -- events of the PM stream this exporter reads nothing from: not unknown, just not counted --


# Binance's client order ids of the orders it forces (its forceOrders pages and the futures
# user data stream's ORDER_TRADE_UPDATE): liquidations and auto-deleveraging.
LIQUIDATION_PREFIX = "autoclose-"
ADL_PREFIX = "adl_autoclose"
FORCED_BOOKS = {"UM": "um", "CM": "cm"}


@dataclass(frozen=True)
class OrderTradeUpdate:
    """An order update; ``fill`` when it is a forced order's fill (its trade time, on
    Binance's clock, in ``fill.time_ms``), else None."""

    fill: ForcedFill | None


def parse_order_trade_update(data: Frame, now_ms: int) -> OrderTradeUpdate:
    """Binance's PM ``ORDER_TRADE_UPDATE`` (``fs`` UM or CM, the order in ``o``): only a fill
    (``x`` TRADE) whose client order id ``c`` marks a liquidation (``autoclose-``) or an
    auto-deleveraging (``adl_autoclose``) is read; any other order update is ignored."""
    order = data.get("o")
    book = data.get("fs")
    market = FORCED_BOOKS.get(book) if isinstance(book, str) else None
    if not isinstance(order, dict) or market is None or order.get("x") != "TRADE":
        return OrderTradeUpdate(None)
    client_id = order.get("c")
    if not isinstance(client_id, str):
        return OrderTradeUpdate(None)
    if client_id.startswith(ADL_PREFIX):
        kind = "adl"
    elif client_id.startswith(LIQUIDATION_PREFIX):
        kind = "liquidation"
    else:
        return OrderTradeUpdate(None)
    at = event_time(data, now_ms)
    order_id = integer_field(order, "i", "ORDER_TRADE_UPDATE")
    key = (market, symbol_field(order, "s"), kind)
    quantity = decimal_field(order, "l")
    if quantity < 0:
        raise BadFrame("malformed", "a filled quantity is not negative")
    time_ms = transaction_time(order, now_ms, at)
    fill = ForcedFill(f"{market}_force_orders", str(order_id), key, quantity, time_ms)
    return OrderTradeUpdate(fill)


def forced_fill_values(event: OrderTradeUpdate) -> Values:
    if event.fill is None:
        return 0, ()
    return event.fill.time_ms, (event.fill,)


@dataclass(frozen=True)
class Ignored:
    type: str


def parse_ignored(data: Frame, now_ms: int) -> Ignored:
    return Ignored(data["e"])


KINDS: tuple[EventKind[Any], ...] = (
    EventKind(
        "riskLevelChange",
        parse_risk_level_change,
        RiskTally,
        ("account",),
        values=risk_values,
    ),
    # The same event as Binance's change log and some SDKs spell it.
    EventKind(
        "RISK_LEVEL_CHANGE",
        parse_risk_level_change,
        RiskTally,
        ("account",),
        values=risk_values,
    ),
    EventKind(
        "uniMMRDrop",
        parse_uni_mmr_drop,
        UniMMRDropTally,
        ("account",),
        values=uni_mmr_drop_values,
    ),
    EventKind(
        "ACCOUNT_UPDATE",
        parse_account_update,
        BalanceTally,
        ("um_account", "um_position_risk"),
        book="UM",
        values=um_values,
    ),
    EventKind(
        "ACCOUNT_UPDATE",
        parse_account_update,
        BalanceTally,
        ("cm_account", "cm_position_risk"),
        book="CM",
        values=cm_values,
    ),
    EventKind("ACCOUNT_UPDATE", parse_other_unit_update, OtherUnitTally, book=OTHER_BOOK),
    EventKind(
        "liabilityChange",
        parse_liability_change,
        LiabilityTally,
        ("balance",),
        values=liability_values,
    ),
    EventKind("listenKeyExpired", parse_listen_key_expired),
    # Forced fills count in the force-order collectors' counters (their ledger dedups with
    # the polls); every other order update only moves the stream's last-event time.
    EventKind("ORDER_TRADE_UPDATE", parse_order_trade_update, values=forced_fill_values),
    EventKind("ALGO_UPDATE", parse_ignored),
    EventKind("CONDITIONAL_ORDER_TRADE_UPDATE", parse_ignored),
    EventKind("ACCOUNT_CONFIG_UPDATE", parse_ignored),
    EventKind("TRADE_LITE", parse_ignored),
    EventKind("openOrderLoss", parse_ignored),
    EventKind("executionReport", parse_ignored),
    EventKind("outboundAccountPosition", parse_ignored),
    EventKind("balanceUpdate", parse_balance_update, MarginBalanceTally, ("balance",)),
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


def parse_frame(text: str | bytes, now: float | None = None) -> tuple[EventKind[Any], Any]:
    """One text frame as its kind and typed event; raises BadFrame (and nothing else).

    ``now``: the local clock (default: the wall clock), which event times are checked against.
    """
    now_ms = int((time.time() if now is None else now) * 1000)
    data = decode_frame(text)
    event_type = data.get("e")
    kinds = _BY_TYPE.get(event_type) if isinstance(event_type, str) else None
    if kinds is None:
        raise unknown(event_type)
    kind = _of_book(kinds, data)
    return kind, kind.parse(data, now_ms)


def _of_book(kinds: tuple[EventKind[Any], ...], data: Frame) -> EventKind[Any]:
    """The entry of the frame's book (``fs``), for a type with one entry per book."""
    if len(kinds) == 1 and kinds[0].book is None:
        return kinds[0]
    book = data.get("fs")
    for kind in kinds:
        if kind.book == book:
            return kind
    # A unit Binance may add (or one this exporter does not read): counted by unit, not
    # malformed; only a frame without a readable ``fs`` is.
    for kind in kinds:
        if kind.book == OTHER_BOOK:
            return kind
    books = " or ".join(str(k.book) for k in kinds)
    raise BadFrame("malformed", f"{kinds[0].event_type} without fs {books}")
