"""An account's cross margin holdings, its income records (the UM and COIN-M books) and the
orders Binance forced on it.

Kept apart from ``accounts`` so the account can hold them and ``ledger`` can move them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
# Binance's PM cross margin rates are per asset and move daily; one rate is enough here (about
# 8.3% a year).
DEFAULT_HOURLY_RATE = Decimal("0.0000095")
# The first tranId of every income type: Binance's tranId is unique only within an income type,
# so two types share ids, as its docs example shows ("9689322392" for both records).
FIRST_TRAN_ID = 9689322392


@dataclass
class CrossMargin:
    """One asset in the cross margin wallet: what is held, and what is owed."""

    free: Decimal = ZERO
    locked: Decimal = ZERO
    borrowed: Decimal = ZERO
    interest: Decimal = ZERO
    hourly_rate: Decimal = DEFAULT_HOURLY_RATE
    update_time: int = 0  # ms of the last change

    def __post_init__(self) -> None:
        for name in ("free", "locked", "borrowed", "interest", "hourly_rate"):
            setattr(self, name, Decimal(getattr(self, name)))

    @property
    def net(self) -> Decimal:
        """What the asset adds to equity: held less owed."""
        return self.free + self.locked - self.borrowed - self.interest


@dataclass(frozen=True)
class IncomeRecord:
    symbol: str
    income_type: str
    income: Decimal
    asset: str
    info: str
    time: int  # ms
    tran_id: int
    trade_id: str


@dataclass
class IncomeBook:
    """One book's income history, oldest first; ids counted per income type."""

    records: list[IncomeRecord] = field(default_factory=list)
    _next_ids: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        income_type: str,
        income: Decimal,
        asset: str,
        time: int,
        symbol: str = "",
        info: str | None = None,
        trade_id: str = "",
    ) -> IncomeRecord:
        tran_id = self._next_ids.get(income_type, FIRST_TRAN_ID)
        self._next_ids[income_type] = tran_id + 1
        record = IncomeRecord(
            symbol,
            income_type,
            income,
            asset,
            income_type if info is None else info,
            time,
            tran_id,
            trade_id,
        )
        # Records are kept in time order, as Binance serves them; a late one is inserted.
        at = len(self.records)
        while at and self.records[at - 1].time > time:
            at -= 1
        self.records.insert(at, record)
        return record


# The first orderId of a forced order (UM's example on Binance's page is 6071832819).
FIRST_FORCE_ORDER_ID = 6071832819


@dataclass(frozen=True)
class ForceOrder:
    """An order Binance placed to close a position: a liquidation, or auto-deleveraging."""

    market: str  # "um", "cm" or "margin"
    order_id: int
    symbol: str
    side: str  # BUY or SELL
    position_side: str  # BOTH, LONG or SHORT (margin: BOTH)
    quantity: Decimal  # executed (COIN-M: contracts)
    price: Decimal
    time: int  # ms
    auto_close_type: str  # LIQUIDATION or ADL

    @property
    def client_order_id(self) -> str:
        """Binance's convention: ``autoclose-...`` for a liquidation, ``adl_autoclose...`` for
        auto-deleveraging (the forceOrders rows and the stream's fills carry the same)."""
        prefix = "adl_autoclose-" if self.auto_close_type == "ADL" else "autoclose-"
        return f"{prefix}{self.time}{self.order_id % 1000000:06d}"


@dataclass
class ForceOrderBook:
    """Every forced order of an account, oldest first; one id sequence for all markets."""

    orders: list[ForceOrder] = field(default_factory=list)
    next_id: int = FIRST_FORCE_ORDER_ID
